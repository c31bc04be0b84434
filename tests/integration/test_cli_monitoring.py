"""`cirrus monitor channels|alerts|metrics|watch` against the running local cloud, as a user types it."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner, Result
from prometheus_client.parser import text_string_to_metric_families

from cirrus.cli import cli
from cirrus.client import CirrusClient
from tests.integration.test_registry_http import registration
from tests.support.endpoints import serve_model

if TYPE_CHECKING:
    from cirrus.localcloud.cloud import LocalCloud, LocalCloudState
    from cirrus.localcloud.receiver import Receiver
    from tests.support.endpoints import ServedModel

SECRET = "whsec_" + base64.b64encode(b"cli-test-secret-of-thirty-two-by").decode()  # nosec B105


def monitor(state: LocalCloudState, role: str, *args: str) -> Result:
    command = ["monitor", "--endpoint-url", state.api_url, "--token", state.token(role), *args]
    return CliRunner().invoke(cli, command, catch_exceptions=False)


def answer(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture(scope="module")
def served(local_cloud: LocalCloud, clients: dict[str, CirrusClient]) -> ServedModel:
    return serve_model(local_cloud, clients, f"it_cli_mon_{uuid.uuid4().hex[:10]}")


def test_a_channel_and_rule_made_with_the_cli_deliver_a_signed_test_notification(
    state: LocalCloudState, clients: dict[str, CirrusClient], receiver: Receiver, model_id: str
) -> None:
    # GIVEN a model, a webhook channel pointed at the local receiver, and a rule naming it
    clients["ml_engineer"].register_model(registration(model_id, state.artifact_bucket))
    path = receiver.mailbox()
    channel = f"cli-{uuid.uuid4().hex[:8]}"
    created = answer(
        monitor(
            state,
            "admin",
            "channels",
            "create",
            channel,
            "--type",
            "webhook",
            "--url",
            receiver.url(path),
            "--signing-secret",
            SECRET,
        )
    )
    rule = answer(
        monitor(state, "admin", "alerts", "create", model_id, "--threshold", "0.3", "--channel", channel)
    )

    # WHEN the admin sends a test notification and reads the deliveries
    queued = answer(monitor(state, "admin", "alerts", "test", rule["alert_id"]))
    (arrived,) = receiver.wait_for(path, 1)

    # THEN the channel shows no secret, the notification arrived, and its delivery is listed
    assert SECRET not in json.dumps(created)
    assert arrived.json()["kind"] == "test"
    assert [d["channel"] for d in queued["deliveries"]] == [channel]
    listing = monitor(state, "model_reviewer", "alerts", "deliveries", rule["alert_id"])
    assert channel in listing.output


def test_deleting_a_channel_a_rule_names_is_refused_with_the_error_body(state: LocalCloudState) -> None:
    result = monitor(state, "admin", "channels", "delete", "no-such-channel")

    assert result.exit_code == 1
    assert json.loads(result.output)["code"] == "channel_not_found"


def test_metrics_show_and_scrape_print_the_served_models_invocations(
    state: LocalCloudState, clients: dict[str, CirrusClient], served: ServedModel
) -> None:
    clients["data_scientist"].predict(served.model_id, [[1.0, 2.0]])

    history = answer(
        monitor(
            state, "model_reviewer", "metrics", "show", served.model_id, "--metric", "invocations", "--json"
        )
    )
    scraped = monitor(state, "model_reviewer", "metrics", "scrape")

    assert history["metric"] == "invocations"
    families = {family.name: family for family in text_string_to_metric_families(scraped.output)}
    assert "cirrus_model_invocations" in families


def test_metrics_show_refuses_an_unknown_metric(state: LocalCloudState, served: ServedModel) -> None:
    result = monitor(state, "model_reviewer", "metrics", "show", served.model_id, "--metric", "happiness")

    assert result.exit_code == 1
    assert json.loads(result.output)["code"] == "unknown_metric"


def test_watch_prints_the_events_of_the_models_it_follows(
    local_cloud: LocalCloud, state: LocalCloudState, served: ServedModel
) -> None:
    # GIVEN `watch` following the served model, stopping after one notice
    output: dict[str, Result] = {}
    watcher = threading.Thread(
        target=lambda: output.setdefault(
            "result",
            CliRunner().invoke(
                cli,
                [
                    "monitor",
                    "--token",
                    state.token("model_reviewer"),
                    "--endpoint-url",
                    state.api_url,
                    "watch",
                    served.model_id,
                    "--feed-url",
                    state.websocket_url,
                    "--json",
                    "--count",
                    "1",
                ],
            ),
        ),
        daemon=True,
    )
    watcher.start()

    # WHEN an event about that model is published on the bus (until the subscription is in place)
    events = local_cloud.emulator.client("events")
    detail = {
        "metadata": {
            "event_version": "1.0",
            "correlation_id": "cli-watch",
            "actor": "test",
            "occurred_at": "2026-01-01T00:00:00+00:00",
        },
        "data": {
            "deployment_id": uuid.uuid4().hex,
            "model_id": served.model_id,
            "version": served.version,
            "environment": "prod",
            "endpoint_name": served.endpoint_name,
            "endpoint_config_name": f"{served.endpoint_name}-cfg",
            "previous_version": None,
            "serverless": False,
        },
    }
    while watcher.is_alive():
        events.put_events(
            Entries=[
                {
                    "Source": "cirrus.serving",
                    "DetailType": "model.deployed",
                    "Detail": json.dumps(detail),
                    "EventBusName": "cirrus-dev",
                }
            ]
        )
        watcher.join(timeout=1.0)

    # THEN it printed the notice as JSON
    result = output["result"]
    assert result.exit_code == 0, result.output
    notice = json.loads(result.output.strip().splitlines()[-1])
    assert (notice["type"], notice["model_id"]) == ("model.deployed", served.model_id)
