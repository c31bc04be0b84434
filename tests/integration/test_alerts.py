"""Alert rules on the local cloud: CRUD over HTTP, and a drift_detection rule on a served model whose
drift monitor flags drift: it fires once (alert.triggered, one delivery to its webhook channel), sends
nothing more within its cooldown, and resolves after a clean run (alert.resolved, a resolve notice)."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import pytest
import requests

from tests.integration.test_drift import finished, next_second, rows, send
from tests.support.endpoints import ServedModel, serve_model

if TYPE_CHECKING:
    from cirrus.client import CirrusClient
    from cirrus.localcloud.cloud import LocalCloud
    from cirrus.localcloud.receiver import Receiver

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # a test's own signing secret  # nosec B105
# A clean state resolves at the next evaluation that takes the rule up: at most about two minutes.
RESOLVE_TIMEOUT_SECONDS = 150.0


class Api:
    """Plain HTTP calls to the local API as one role."""

    def __init__(self, local_cloud: LocalCloud, role: str) -> None:
        self._base = local_cloud.state.api_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {local_cloud.token(role)}", "Accept": "application/json"}

    def call(self, method: str, path: str, body: Any = None, **params: str) -> requests.Response:
        headers = dict(self._headers)
        if method == "POST":
            headers["Idempotency-Key"] = uuid.uuid4().hex
        return requests.request(
            method, f"{self._base}{path}", json=body, params=params or None, headers=headers, timeout=30
        )


def ok(response: requests.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.status_code} {response.text}"
    return response.json() if response.content else None


@pytest.fixture(scope="module")
def admin(local_cloud: LocalCloud) -> Api:
    return Api(local_cloud, "admin")


@pytest.fixture(scope="module")
def monitored(local_cloud: LocalCloud, clients: dict[str, CirrusClient]) -> ServedModel:
    """A served model whose version has a baseline built from its training data (as in test_drift)."""
    served = serve_model(local_cloud, clients, f"it_alerts_{uuid.uuid4().hex[:10]}")
    bucket = local_cloud.state.artifact_bucket
    key = f"datasets/{served.model_id}/train.csv"
    training = "a,b,y\n" + "".join(f"{a},{b},{2 * a + 3 * b + 1}\n" for a, b in rows(1, n=4000))
    local_cloud.emulator.client("s3").put_object(Bucket=bucket, Key=key, Body=training.encode())
    clients["data_scientist"].create_baseline(
        served.model_id, served.version, f"s3://{bucket}/{key}", target_column="y"
    )
    return served


def test_rules_are_created_listed_read_replaced_and_deleted_over_http(
    monitored: ServedModel, admin: Api, local_cloud: LocalCloud
) -> None:
    reviewer = Api(local_cloud, "model_reviewer")
    rule = ok(
        admin.call(
            "POST",
            "/monitoring/alerts",
            {
                "model_id": monitored.model_id,
                "alert_type": "performance_degradation",
                "metric": "latency_p95_ms",
                "comparison": "gt",
                "threshold": 500,
                "notification_channels": [],
                "evaluation_window": "15m",
            },
        ),
        201,
    )
    alert_id = rule["alert_id"]

    listed = ok(reviewer.call("GET", "/monitoring/alerts", model_id=monitored.model_id, limit="10"))
    assert [item["alert_id"] for item in listed["items"]] == [alert_id]
    assert ok(reviewer.call("GET", f"/monitoring/alerts/{alert_id}"))["states"] == []
    replaced = ok(
        admin.call(
            "PUT",
            f"/monitoring/alerts/{alert_id}",
            {
                "alert_type": "performance_degradation",
                "metric": "error_rate",
                "comparison": "gte",
                "threshold": 0.1,
            },
        )
    )
    assert (replaced["metric"], replaced["threshold"], replaced["evaluation_window"]) == (
        "error_rate",
        0.1,
        "1h",
    )
    refused = reviewer.call("DELETE", f"/monitoring/alerts/{alert_id}")
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "access_denied")
    assert ok(admin.call("DELETE", f"/monitoring/alerts/{alert_id}"), 204) is None
    gone = reviewer.call("GET", f"/monitoring/alerts/{alert_id}")
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "alert_not_found")


def test_a_rule_naming_a_missing_channel_is_refused_over_http(monitored: ServedModel, admin: Api) -> None:
    response = admin.call(
        "POST",
        "/monitoring/alerts",
        {
            "alert_type": "system_failures",
            "threshold": 1,
            "notification_channels": [f"nobody-{uuid.uuid4().hex[:6]}"],
        },
    )

    assert (response.status_code, response.json()["error"]["code"]) == (422, "unknown_channel")


def evaluate(local_cloud: LocalCloud) -> dict[str, Any]:
    """One run of the evaluator, as its schedule starts it (the local cloud also runs it every minute)."""
    function = local_cloud.deployment.physical_id("EvaluateAlertsFunction")
    response = local_cloud.emulator.client("lambda").invoke(FunctionName=function, Payload=b"{}")
    payload = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, payload
    return dict(payload)


def test_a_drift_alert_fires_once_within_its_cooldown_then_resolves_at_the_receiver(
    monitored: ServedModel,
    admin: Api,
    clients: dict[str, CirrusClient],
    local_cloud: LocalCloud,
    receiver: Receiver,
    event_tap: Any,
) -> None:
    path = receiver.mailbox()
    channel = f"it-{uuid.uuid4().hex[:10]}"
    ok(
        admin.call(
            "POST",
            "/monitoring/channels",
            {
                "name": channel,
                "type": "webhook",
                "config": {"url": receiver.url(path), "signing_secret": SECRET},
            },
        ),
        201,
    )
    rule = ok(
        admin.call(
            "POST",
            "/monitoring/alerts",
            {
                "model_id": monitored.model_id,
                "alert_type": "drift_detection",
                "threshold": 0.4,
                "notification_channels": [channel],
                "evaluation_window": "1h",
                "cooldown": "1h",
            },
        ),
        201,
    )
    scientist = clients["data_scientist"]
    start = next_second()
    send(scientist, monitored.model_id, rows(2))
    middle = next_second()
    send(scientist, monitored.model_id, rows(3, b_shift=0.75))
    end = next_second()
    event_tap.drain()

    # Drift: the monitor flags `b` (one feature of two, 0.5 >= 0.4) and drift.detected fires the rule.
    drifted = scientist.start_drift_run(monitored.model_id, window_start=middle, window_end=end)
    assert finished(clients["model_reviewer"], monitored.model_id, drifted.run_id).drifted_features == ["b"]
    (trigger,) = receiver.wait_for(path, 1)
    notification = trigger.json()
    assert (notification["kind"], notification["alert_id"], notification["values"]["drift_share"]) == (
        "trigger",
        rule["alert_id"],
        0.5,
    )
    assert notification["report_url"].endswith(f"/drift-runs/{drifted.run_id}/report")
    # Within the cooldown: drift again, and a scheduled evaluation, send nothing more.
    again = scientist.start_drift_run(monitored.model_id, window_start=middle, window_end=end)
    finished(clients["model_reviewer"], monitored.model_id, again.run_id)
    assert evaluate(local_cloud)["changed"] == []

    # A clean run, then an evaluation: the alert resolves. The local cloud takes a rule up at most
    # every 5 s, so this test's call resolves it, or the next scheduled run (every minute) does.
    clean = scientist.start_drift_run(monitored.model_id, window_start=start, window_end=middle)
    assert finished(clients["model_reviewer"], monitored.model_id, clean.run_id).drifted_features == []
    evaluate(local_cloud)
    first, resolve = receiver.wait_for(path, 2, timeout=RESOLVE_TIMEOUT_SECONDS)
    assert first == trigger
    assert (resolve.json()["kind"], resolve.json()["dedup_key"]) == ("resolve", notification["dedup_key"])
    events = [
        event
        for event in event_tap.drain()
        if str(event["detail-type"]).startswith("alert.")
        and event["detail"]["data"]["alert_id"] == rule["alert_id"]
    ]
    assert [event["detail-type"] for event in events] == ["alert.triggered", "alert.resolved"]
    detail = ok(admin.call("GET", f"/monitoring/alerts/{rule['alert_id']}"))
    assert [(state["subject"], state["status"]) for state in detail["states"]] == [("-", "ok")]
