"""POST /api/v1/pipelines/webhooks/{provider}: the HTTP answers of the webhook route.

The route has no Cognito authorizer: the sample events carry no claims, and the delivery's
signature is what authenticates it. Runs are started by a recording starter here (the pipeline
service's own tests cover what starting a run does).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from cirrus_core.pipelines import webhooks
from cirrus_core.pipelines.webhooks import WebhookReceiver, WebhookStore, provider_secret
from tests.support.api import ApiResponse, build_event, call
from tests.support.aws import TABLE_NAMES, AwsResources
from tests.support.registry import Unchanged
from tests.unit.pipelines.webhook_support import (
    PIPELINES_TABLE,
    RecordingStarter,
    add_trigger,
    deliveries,
    sign,
    store_secrets,
)

ROUTE = "webhook"


@pytest.fixture
def starter(aws: AwsResources, monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingStarter]:
    store_secrets(aws)
    recording = RecordingStarter()
    receiver = WebhookReceiver(WebhookStore(aws.dynamodb, PIPELINES_TABLE), recording, provider_secret)
    monkeypatch.setattr("functions.pipelines.webhook.webhook_receiver", lambda: receiver)
    yield recording
    webhooks.webhook_receiver.cache_clear()


@pytest.fixture
def unchanged(aws: AwsResources) -> Unchanged:
    return Unchanged(aws)


def deliver(sample: str, **parts: Any) -> ApiResponse:
    """POST a sample delivery to the route, as API Gateway would (no authorizer, no claims)."""
    return call(ROUTE, build_event(sample, **parts), package="pipelines")


def test_a_matching_push_is_accepted_with_the_runs_it_started(
    aws: AwsResources, starter: RecordingStarter
) -> None:
    add_trigger(aws, "fraud")

    response = deliver("webhook_github_push")

    assert response.status == 202
    assert response.body["runs"] == [{"pipeline_id": "fraud", "run_id": "run-1"}]
    assert response.body["duplicate"] is False
    assert response.headers["Content-Type"] == "application/json"


def test_no_token_is_needed_and_no_caller_is_counted_against_the_rate_limit(
    aws: AwsResources, starter: RecordingStarter
) -> None:
    add_trigger(aws, "fraud")
    event = build_event("webhook_github_push")
    assert "authorizer" not in event["requestContext"]

    response = call(ROUTE, event, package="pipelines")

    assert response.status == 202
    assert aws.dynamodb.scan(TableName=TABLE_NAMES["RateLimitTable"])["Items"] == []


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"X-Hub-Signature-256": sign(b"something else")}, id="bad-signature"),
        pytest.param({"X-Hub-Signature-256": ""}, id="empty-signature"),
    ],
)
def test_a_bad_signature_is_401_and_nothing_is_written_or_started(
    aws: AwsResources, starter: RecordingStarter, unchanged: Unchanged, headers: dict[str, str]
) -> None:
    add_trigger(aws, "fraud")

    with unchanged:
        response = deliver("webhook_github_push", headers=headers)

    assert response.status == 401
    assert response.error_code == "invalid_webhook_signature"
    assert set(response.body) == {"error", "request_id"}
    assert starter.calls == []


def test_a_missing_signature_header_is_401(
    aws: AwsResources, starter: RecordingStarter, unchanged: Unchanged
) -> None:
    add_trigger(aws, "fraud")
    event = build_event("webhook_github_push")
    del event["headers"]["X-Hub-Signature-256"]

    with unchanged:
        response = call(ROUTE, event, package="pipelines")

    assert (response.status, response.error_code) == (401, "invalid_webhook_signature")
    assert starter.calls == []


def test_an_unknown_provider_is_404(starter: RecordingStarter, unchanged: Unchanged) -> None:
    with unchanged:
        response = deliver("webhook_github_push", path={"provider": "bitbucket"})

    assert (response.status, response.error_code) == (404, "unknown_webhook_provider")


def test_a_ping_is_200_without_a_run(
    aws: AwsResources, starter: RecordingStarter, unchanged: Unchanged
) -> None:
    add_trigger(aws, "fraud")

    with unchanged:
        response = deliver("webhook_github_ping")

    assert response.status == 200
    assert (response.body["event"], response.body["runs"]) == ("ping", [])
    assert starter.calls == []


def test_a_replayed_delivery_is_200_duplicate_and_starts_nothing(
    aws: AwsResources, starter: RecordingStarter
) -> None:
    add_trigger(aws, "fraud")
    assert deliver("webhook_github_push").status == 202

    replay = deliver("webhook_github_push")

    assert replay.status == 200
    assert replay.body["duplicate"] is True
    assert replay.body["runs"] == []
    assert starter.started == ["fraud"]


def test_a_push_no_rule_asks_for_is_200_without_runs(aws: AwsResources, starter: RecordingStarter) -> None:
    add_trigger(aws, "fraud", branches=["release/*"])

    response = deliver("webhook_github_push")

    assert response.status == 200
    assert response.body["runs"] == []
    assert response.body["ignored"] == "no_matching_trigger"


def test_malformed_json_with_a_valid_signature_is_422(
    starter: RecordingStarter, unchanged: Unchanged
) -> None:
    body = '{"ref": "refs/heads/main",'

    with unchanged:
        response = deliver(
            "webhook_github_push", raw_body=body, headers={"X-Hub-Signature-256": sign(body.encode())}
        )

    assert (response.status, response.error_code) == (422, "invalid_webhook_payload")


def test_a_json_array_body_is_checked_for_its_signature_first(
    starter: RecordingStarter, unchanged: Unchanged
) -> None:
    # The shared entry point refuses array bodies of authenticated routes with 422 before routing;
    # here an unsigned body of any shape is a 401, and a signed array is not the event it claims.
    with unchanged:
        unsigned = deliver("webhook_github_push", raw_body="[]")
        signed = deliver("webhook_github_push", raw_body="[]", headers={"X-Hub-Signature-256": sign(b"[]")})

    assert (unsigned.status, signed.status) == (401, 422)


def test_a_base64_encoded_body_is_verified_on_its_decoded_bytes(
    aws: AwsResources, starter: RecordingStarter
) -> None:
    add_trigger(aws, "fraud")
    event = build_event("webhook_github_push")
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    event["isBase64Encoded"] = True

    response = call(ROUTE, event, package="pipelines")

    assert response.status == 202


def test_gitlab_deliveries_are_served_by_the_same_route(aws: AwsResources, starter: RecordingStarter) -> None:
    add_trigger(
        aws,
        "fraud",
        provider="gitlab",
        repository="acme/ml/fraud-model",
        events=["push", "tag"],
        branches=["*"],
    )

    pushed = deliver("webhook_gitlab_push")
    tagged = deliver("webhook_gitlab_tag_push")
    wrong_token = deliver("webhook_gitlab_push", headers={"X-Gitlab-Token": "guess"})

    assert (pushed.status, tagged.status, wrong_token.status) == (202, 202, 401)
    assert [call["trigger"]["detail"]["event"] for call in starter.calls] == ["push", "tag"]
    assert len(deliveries(aws)) == 4  # each delivery under its event UUID and its body digest


def test_the_response_body_is_json_with_the_delivery_id(aws: AwsResources, starter: RecordingStarter) -> None:
    add_trigger(aws, "fraud")

    response = deliver("webhook_github_push")

    assert json.loads(response.raw_body)["delivery_id"] == "6f1e0a52-1f9b-11ef-8b3e-2a1d5c7e9f00"
