"""EventPublisher puts lifecycle events on the bus in DESIGN.md's envelope, and never drops one silently."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from cirrus_core.events import EVENT_VERSION, EventPublisher, EventPublishFailed, LifecycleEvent
from tests.support.aws import EVENT_BUS, AwsResources

SOURCE = "cirrus.registry"
OCCURRED_AT = datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC)


def registered(version: int) -> LifecycleEvent:
    return LifecycleEvent(
        "model.registered", {"model_id": "fraud_detection_v2", "version": version}, "alice", OCCURRED_AT
    )


def entry(detail_type: str) -> dict[str, Any]:
    """The PutEvents entry the publisher sends for an event of this detail-type."""
    return {
        "Source": SOURCE,
        "DetailType": detail_type,
        "Detail": ANY,
        "EventBusName": EVENT_BUS,
        "Time": ANY,
    }


def refused(error_code: str = "InternalFailure") -> dict[str, str]:
    return {"ErrorCode": error_code, "ErrorMessage": "EventBridge could not take the entry."}


def accepted(event_id: str = "11111111-2222-3333-4444-555555555555") -> dict[str, str]:
    return {"EventId": event_id}


def test_an_event_reaches_the_bus_in_the_cirrus_envelope(aws: AwsResources) -> None:
    publisher = EventPublisher(aws.events, EVENT_BUS, SOURCE, correlation_id=lambda: "request-1")

    publisher.publish([registered(3)])

    [envelope] = aws.published_events()
    assert envelope["source"] == SOURCE
    assert envelope["detail-type"] == "model.registered"
    assert envelope["detail"] == {
        "metadata": {
            "event_version": EVENT_VERSION,
            "correlation_id": "request-1",
            "actor": "alice",
            "occurred_at": "2024-06-01T12:00:00+00:00",
        },
        "data": {"model_id": "fraud_detection_v2", "version": 3},
    }


def test_the_event_time_is_when_the_change_happened(aws: AwsResources) -> None:
    EventPublisher(aws.events, EVENT_BUS, SOURCE).publish([registered(1)])

    [envelope] = aws.published_events()
    assert envelope["time"] == "2024-06-01T12:00:00Z"


def test_without_a_request_the_correlation_id_is_null(aws: AwsResources) -> None:
    EventPublisher(aws.events, EVENT_BUS, SOURCE).publish([registered(1)])

    [envelope] = aws.published_events()
    assert envelope["detail"]["metadata"]["correlation_id"] is None


def test_events_are_put_in_batches_of_ten_in_order(aws: AwsResources) -> None:
    batch_sizes: list[int] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        batch_sizes.append(len(params["Entries"]))

    aws.events.meta.events.register("before-parameter-build.events.PutEvents", record)
    publisher = EventPublisher(aws.events, EVENT_BUS, SOURCE)

    publisher.publish([registered(version) for version in range(1, 24)])

    assert batch_sizes == [10, 10, 3]
    versions = [envelope["detail"]["data"]["version"] for envelope in aws.published_events()]
    assert sorted(versions) == list(range(1, 24))


def test_publishing_nothing_puts_nothing(aws: AwsResources) -> None:
    calls: list[object] = []
    aws.events.meta.events.register("before-parameter-build.events.PutEvents", lambda **kw: calls.append(kw))

    EventPublisher(aws.events, EVENT_BUS, SOURCE).publish([])

    assert calls == []


@pytest.fixture
def stubbed_events() -> Any:
    """A real EventBridge client whose answers the test scripts."""
    client = boto3.client("events", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_only_the_refused_entries_are_retried(stubbed_events: Any) -> None:
    client, stubber = stubbed_events
    approved = LifecycleEvent("model.approved", {"model_id": "m", "version": 1}, "bob", OCCURRED_AT)
    # GIVEN EventBridge takes the first entry and refuses the second, then takes the second
    stubber.add_response(
        "put_events",
        {"FailedEntryCount": 1, "Entries": [accepted(), refused()]},
        {"Entries": [entry("model.registered"), entry("model.approved")]},
    )
    stubber.add_response(
        "put_events", {"FailedEntryCount": 0, "Entries": [accepted()]}, {"Entries": [entry("model.approved")]}
    )

    # WHEN both are published THEN no error is raised and the Stubber saw exactly these calls
    EventPublisher(client, EVENT_BUS, SOURCE).publish([registered(1), approved])


def test_entries_refused_on_every_attempt_raise_event_publish_failed(stubbed_events: Any) -> None:
    client, stubber = stubbed_events
    stubber.add_response(
        "put_events",
        {"FailedEntryCount": 1, "Entries": [accepted(), refused("ThrottlingException")]},
        {"Entries": [entry("model.registered"), entry("model.registered")]},
    )
    for _ in range(2):
        stubber.add_response(
            "put_events",
            {"FailedEntryCount": 1, "Entries": [refused("ThrottlingException")]},
            {"Entries": [entry("model.registered")]},
        )

    with pytest.raises(EventPublishFailed) as raised:
        EventPublisher(client, EVENT_BUS, SOURCE).publish([registered(1), registered(2)])

    assert raised.value.details == [{"detail_type": "model.registered"}]
    assert raised.value.status == 500


@pytest.mark.parametrize("source", ["aws.registry", "aws.events"])
def test_a_source_starting_with_aws_is_refused(source: str) -> None:
    client = boto3.client("events", region_name="us-east-1")

    with pytest.raises(ValueError, match=r"aws\."):
        EventPublisher(client, EVENT_BUS, source)
