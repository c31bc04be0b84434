"""Alerts that arrive, on the local cloud: channels pointed at a local receiver (allowed through
LocalReceiverOrigins), an alert rule naming them, POST .../test, and the real SQS event source driving
the sender: the receiver gets the Slack, PagerDuty and signed webhook payloads; a receiver failing twice
shows three attempts; one always failing ends on the dead-letter queue; refused destinations are
refused at creation."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
import requests

from cirrus.client import CirrusClient
from cirrus.localcloud.cloud import LocalCloud
from cirrus.localcloud.receiver import Receiver
from cirrus_core.monitoring.destinations import verify
from tests.integration.test_registry_http import registration

SECRET = "whsec_" + base64.b64encode(b"integration-shared-secret-32-bytes!!").decode()
ROUTING_KEY = "0123456789abcdef0123456789ABCDEF"


class Api:
    """Raw calls to the monitoring routes as an admin (status and body, refusals included)."""

    def __init__(self, local_cloud: LocalCloud) -> None:
        self._base = f"{local_cloud.state.api_url}/monitoring"
        self._headers = {"Authorization": f"Bearer {local_cloud.token('admin')}"}

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        response = requests.request(
            method, f"{self._base}{path}", json=body, headers=self._headers, timeout=30
        )
        return response.status_code, (response.json() if response.content else None)


@pytest.fixture(scope="module")
def api(local_cloud: LocalCloud) -> Api:
    return Api(local_cloud)


def channel(api: Api, name: str, kind: str, config: dict[str, Any]) -> dict[str, Any]:
    status, body = api.call("POST", "/channels", {"name": name, "type": kind, "config": config})
    assert status == 201, body
    return dict(body)


def rule_naming(
    api: Api, clients: dict[str, CirrusClient], local_cloud: LocalCloud, model_id: str, channels: list[str]
) -> str:
    clients["ml_engineer"].register_model(registration(model_id, local_cloud.state.artifact_bucket))
    body = {
        "model_id": model_id,
        "alert_type": "drift_detection",
        "threshold": 0.25,
        "notification_channels": channels,
        "evaluation_window": "1h",
    }
    status, rule = api.call("POST", "/alerts", body)
    assert status == 201, rule
    return str(rule["alert_id"])


def deliveries(api: Api, alert_id: str) -> list[dict[str, Any]]:
    status, body = api.call("GET", f"/alerts/{alert_id}/deliveries")
    assert status == 200, body
    return list(body["items"])


def settled(api: Api, alert_id: str, channel_name: str, timeout: float = 60.0) -> dict[str, Any]:
    """The delivery to `channel_name`, once delivered or dead-lettered."""
    deadline = time.monotonic() + timeout
    while True:
        records = [r for r in deliveries(api, alert_id) if r["channel"] == channel_name]
        if records and records[0]["status"] in {"delivered", "dead_lettered"}:
            return records[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"{channel_name}: not settled in {timeout} s: {records}")
        time.sleep(0.5)


def test_a_test_notification_reaches_slack_pagerduty_and_the_signed_webhook(
    api: Api, clients: dict[str, CirrusClient], local_cloud: LocalCloud, receiver: Receiver, model_id: str
) -> None:
    slack, pagerduty, hook = receiver.mailbox(), receiver.mailbox(), receiver.mailbox()
    suffix = model_id[-8:]
    channel(api, f"slack-{suffix}", "slack", {"webhook_url": receiver.url(slack)})
    channel(
        api, f"pd-{suffix}", "pagerduty", {"routing_key": ROUTING_KEY, "events_url": receiver.url(pagerduty)}
    )
    created = channel(api, f"hook-{suffix}", "webhook", {"url": receiver.url(hook), "signing_secret": SECRET})
    assert SECRET not in json.dumps(created)
    alert_id = rule_naming(
        api, clients, local_cloud, model_id, [f"slack-{suffix}", f"pd-{suffix}", f"hook-{suffix}"]
    )

    status, queued = api.call("POST", f"/alerts/{alert_id}/test")

    assert status == 202, queued
    assert len(queued["deliveries"]) == 3
    (slack_message,) = receiver.wait_for(slack, 1)
    (pd_event,) = receiver.wait_for(pagerduty, 1)
    (webhook,) = receiver.wait_for(hook, 1)
    assert model_id in slack_message.json()["text"]
    assert slack_message.json()["blocks"][0]["type"] == "header"
    event = pd_event.json()
    assert (event["routing_key"], event["event_action"], event["payload"]["severity"]) == (
        ROUTING_KEY,
        "trigger",
        "info",
    )
    assert event["payload"]["source"] == f"cirrus/{model_id}/prod"
    assert verify(SECRET, webhook.headers, webhook.body, now=int(time.time()))
    assert webhook.headers["webhook-id"] == queued["notification_id"]
    assert webhook.json()["alert_id"] == alert_id
    for name in (f"slack-{suffix}", f"pd-{suffix}", f"hook-{suffix}"):
        record = settled(api, alert_id, name)
        assert record["status"] == "delivered"
        assert [a["status_code"] for a in record["attempts"]] == [200]


def test_a_receiver_failing_twice_shows_three_attempts_in_the_log(
    api: Api, clients: dict[str, CirrusClient], local_cloud: LocalCloud, receiver: Receiver, model_id: str
) -> None:
    path = receiver.mailbox()
    receiver.fail_first(path, 2)
    name = f"flaky-{model_id[-8:]}"
    channel(api, name, "slack", {"webhook_url": receiver.url(path)})
    alert_id = rule_naming(api, clients, local_cloud, model_id, [name])

    assert api.call("POST", f"/alerts/{alert_id}/test")[0] == 202

    record = settled(api, alert_id, name)
    assert record["status"] == "delivered"
    assert [(a["attempt"], a["status_code"]) for a in record["attempts"]] == [(1, 500), (2, 500), (3, 200)]
    assert len(receiver.wait_for(path, 3)) == 3


def test_a_receiver_that_always_fails_ends_on_the_dead_letter_queue(
    api: Api, clients: dict[str, CirrusClient], local_cloud: LocalCloud, receiver: Receiver, model_id: str
) -> None:
    path = receiver.mailbox()
    receiver.always_fail(path)
    name = f"down-{model_id[-8:]}"
    channel(api, name, "webhook", {"url": receiver.url(path), "signing_secret": SECRET})
    alert_id = rule_naming(api, clients, local_cloud, model_id, [name])

    status, queued = api.call("POST", f"/alerts/{alert_id}/test")
    assert status == 202

    record = settled(api, alert_id, name, timeout=120)
    assert record["status"] == "dead_lettered"
    assert [a["status_code"] for a in record["attempts"]] == [500] * 5
    sqs = local_cloud.emulator.client("sqs")
    dlq = sqs.get_queue_url(QueueName="cirrus-dev-alert-delivery-dlq")["QueueUrl"]
    letters = [
        json.loads(message["Body"])
        for message in sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
    ]
    mine = [
        letter
        for letter in letters
        if letter.get("request", {}).get("delivery_id") == queued["deliveries"][0]["delivery_id"]
    ]
    assert len(mine) == 1
    assert len(mine[0]["attempts"]) == 5


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data/",
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "http://hooks.example.com/hook",
    ],
)
def test_a_refused_destination_is_refused_at_creation(api: Api, receiver: Receiver, url: str) -> None:
    name = f"refused-{abs(hash(url)) % 10_000}"

    status, body = api.call(
        "POST", "/channels", {"name": name, "type": "slack", "config": {"webhook_url": url}}
    )

    assert (status, body["error"]["code"]) == (422, "destination_refused")
    assert api.call("GET", f"/channels/{name}")[0] == 404


def test_loopback_outside_the_allowlist_is_refused(api: Api, receiver: Receiver) -> None:
    port = int(receiver.origin.rpartition(":")[2])

    status, body = api.call(
        "POST",
        "/channels",
        {"name": "other-port", "type": "slack", "config": {"webhook_url": f"http://127.0.0.1:{port + 1}/x"}},
    )

    assert (status, body["error"]["code"]) == (422, "destination_refused")
