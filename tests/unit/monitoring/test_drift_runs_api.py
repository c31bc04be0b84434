"""Drift runs through the API: POST starts one over a window of an environment's captured traffic (202),
GETs list a model's runs newest first, read one with its scores, and serve its HTML report.

A start is refused, with nothing stored or started, when the model is unknown, the environment serves
nothing, or the version it serves has no baseline.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cirrus_core.monitoring.drift_runner import read_step_event, run_identity
from cirrus_core.monitoring.models import DriftRun, DriftRunStatus, DriftRunSummary, DriftRunTrigger
from cirrus_core.monitoring.store import MonitoringStore
from cirrus_core.pagination import encode_token
from cirrus_core.registry.primitives import Environment
from tests.support.api import ApiResponse
from tests.support.authz import claims
from tests.support.aws import TABLE_NAMES
from tests.support.registry import MODEL_ID
from tests.unit.monitoring.support import (
    DRIFT_STATE_MACHINE_ARN,
    MONITORING_BUCKET,
    MONITORING_TABLE,
    MonitoringWorld,
    Untouched,
    api,
    ok,
)

RUN_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{12}$")
BASE = f"/api/v1/monitoring/models/{MODEL_ID}/drift-runs"


@pytest.fixture
def deployed(world: MonitoringWorld) -> MonitoringWorld:
    """Version 1, with the seeded baseline, serving prod."""
    world.register_with_baseline()
    world.deploy(1, "prod")
    return world


def start(body: dict[str, Any] | None = None, **parts: Any) -> ApiResponse:
    return api("start_drift_run", body={} if body is None else body, **parts)


def listing(query: dict[str, str] | None = None, **parts: Any) -> ApiResponse:
    return api("list_drift_runs", query=query, **parts)


def get_run(run_id: str, **parts: Any) -> ApiResponse:
    return api("get_drift_run", path={"model_id": MODEL_ID, "run_id": run_id}, **parts)


def get_report(run_id: str, **parts: Any) -> ApiResponse:
    return api("get_drift_report", path={"model_id": MODEL_ID, "run_id": run_id}, **parts)


# -- starting --------------------------------------------------------------------------------------------


def test_a_run_is_started_running_over_the_last_hour_and_answered_with_202(deployed: MonitoringWorld) -> None:
    before = datetime.now(UTC)

    run = ok(start(), 202)

    assert RUN_ID.fullmatch(run["run_id"])
    assert (run["model_id"], run["environment"], run["version"]) == (MODEL_ID, "prod", 1)
    assert (run["status"], run["trigger"], run["started_by"]) == ("running", "api", "alice@example.com")
    start_at, end_at = datetime.fromisoformat(run["window_start"]), datetime.fromisoformat(run["window_end"])
    assert end_at - start_at == timedelta(hours=1)
    assert before <= end_at <= datetime.now(UTC)
    assert (
        run["baseline_uri"]
        == f"s3://{MONITORING_BUCKET}/baselines/fraud_detection_v2/v1/seeded/baseline.json"
    )
    assert run["links"] == {"self": f"{BASE}/{run['run_id']}", "model": f"/api/v1/models/{MODEL_ID}"}


def test_the_drift_monitor_is_started_named_by_the_run_with_its_window_and_actor(
    deployed: MonitoringWorld,
) -> None:
    run = ok(start(), 202)

    (execution,) = deployed.executions()
    assert (execution["name"], execution["stateMachineArn"]) == (run["run_id"], DRIFT_STATE_MACHINE_ARN)
    assert execution["executionArn"] == run["execution_arn"]
    assert json.loads(execution["input"]) == {
        "run_id": run["run_id"],
        "model_id": MODEL_ID,
        "environment": "prod",
        "window_start": datetime.fromisoformat(run["window_start"]).isoformat(),
        "window_end": datetime.fromisoformat(run["window_end"]).isoformat(),
        "trigger": "api",
        "actor": "alice@example.com",
    }


def test_the_drift_monitor_reads_the_execution_input_as_the_same_run(deployed: MonitoringWorld) -> None:
    run = ok(start({"window": "30m"}), 202)
    (execution,) = deployed.executions()

    event = read_step_event(
        {
            "input": json.loads(execution["input"]),
            "execution_name": run["run_id"],
            "execution_start": run["started_at"],
        }
    )

    assert run_identity(event) == (
        run["run_id"],
        datetime.fromisoformat(run["window_start"]),
        datetime.fromisoformat(run["window_end"]),
    )
    assert (event.input.trigger, event.input.actor) == (DriftRunTrigger.API, "alice@example.com")


def test_a_run_may_check_a_window_given_by_its_start_and_end(deployed: MonitoringWorld) -> None:
    body = {"window_start": "2024-06-01T12:00:00+02:00", "window_end": "2024-06-01T10:30:00Z"}

    run = ok(start(body), 202)

    assert (run["window_start"], run["window_end"]) == ("2024-06-01T10:00:00Z", "2024-06-01T10:30:00Z")


def test_a_run_checks_the_version_the_environment_serves(world: MonitoringWorld) -> None:
    baseline = world.put_baseline()
    world.register(baseline_uri=baseline)
    world.register(baseline_uri=world.put_baseline("baselines/fraud_detection_v2/v2/other/baseline.json"))
    world.deploy(1, "prod")
    world.deploy(2, "staging")

    run = ok(start({"environment": "staging"}), 202)

    assert (run["environment"], run["version"]) == ("staging", 2)
    assert run["baseline_uri"].endswith("/v2/other/baseline.json")


def test_the_run_is_stored_running_under_the_model(deployed: MonitoringWorld) -> None:
    run = ok(start(), 202)

    (item,) = deployed.monitoring_items()
    assert (item["pk"]["S"], item["sk"]["S"]) == (f"MODEL#{MODEL_ID}", f"RUN#{run['run_id']}")
    assert (item["status"]["S"], item["environment"]["S"]) == ("running", "prod")
    assert json.loads(item["features"]["S"]) == []


def test_starting_a_run_is_audited(deployed: MonitoringWorld) -> None:
    run = ok(start(), 202)

    (record,) = deployed.audit_records("start_drift_run")
    assert (record.resource, record.actor) == (
        f"model/{MODEL_ID}/drift-run/{run['run_id']}",
        "alice@example.com",
    )


def test_a_retry_with_the_same_idempotency_key_starts_one_run(deployed: MonitoringWorld) -> None:
    first = ok(start(headers={"Idempotency-Key": "drift-run-0001"}), 202)
    second = ok(start(headers={"Idempotency-Key": "drift-run-0001"}), 202)

    assert second["run_id"] == first["run_id"]
    assert len(deployed.executions()) == 1


@pytest.mark.parametrize("role", ["ml_engineer", "data_scientist", "admin"])
def test_data_access_may_start_runs(deployed: MonitoringWorld, role: str) -> None:
    assert start(claims=claims(role)).status == 202


def test_a_run_that_the_drift_monitor_did_not_take_is_recorded_failed(deployed: MonitoringWorld) -> None:
    deployed.sfn.delete_state_machine(stateMachineArn=DRIFT_STATE_MACHINE_ARN)

    with pytest.raises(ClientError, match="StateMachineDoesNotExist"):
        start()

    (item,) = deployed.monitoring_items()
    run = json.loads(item["run"]["S"])
    assert (run["status"], item["status"]["S"]) == ("failed", "failed")
    assert run["failure_reason"].startswith("The drift monitor did not start:")
    assert run["finished_at"] is not None


# -- refusals ------------------------------------------------------------------------------------------


def test_a_run_of_an_environment_that_serves_nothing_is_refused_with_nothing_stored(
    world: MonitoringWorld, untouched: Untouched
) -> None:
    world.register_with_baseline()
    world.deploy(1, "staging")

    with untouched:
        response = start({"environment": "prod"})

    assert (response.status, response.error_code) == (404, "environment_not_deployed")
    assert response.body["error"]["details"] == [{"model_id": MODEL_ID, "environment": "prod"}]


def test_a_run_of_an_environment_still_on_its_first_deployment_is_refused(
    world: MonitoringWorld, untouched: Untouched
) -> None:
    world.register_with_baseline()
    world.aws.dynamodb.put_item(
        TableName=TABLE_NAMES["ServingTable"],
        Item={
            "pk": {"S": f"MODEL#{MODEL_ID}"},
            "sk": {"S": "ENV#prod"},
            "environment": {"S": "prod"},
            "status": {"S": "deploying"},
            "active_deployment_id": {"S": "0a1b2c3d4e5f40718293a4b5c6d7e8f9"},
            "serverless": {"BOOL": False},
            "updated_at": {"S": "2024-06-01T12:00:00+00:00"},
        },
    )

    with untouched:
        response = start()

    assert (response.status, response.error_code) == (404, "environment_not_deployed")


def test_a_run_of_a_version_without_a_baseline_is_a_conflict_with_nothing_stored(
    world: MonitoringWorld, untouched: Untouched
) -> None:
    world.register_with_baseline()
    world.register()  # version 2, no baseline
    world.deploy(2, "prod")

    with untouched:
        response = start()

    assert (response.status, response.error_code) == (409, "no_baseline")
    assert response.body["error"]["details"] == [{"version": 2, "environment": "prod"}]


def test_a_run_of_a_model_nobody_registered_is_not_found(
    world: MonitoringWorld, untouched: Untouched
) -> None:
    with untouched:
        response = start()

    assert (response.status, response.error_code) == (404, "model_not_found")


def test_a_reviewer_may_not_start_runs(deployed: MonitoringWorld, untouched: Untouched) -> None:
    with untouched:
        response = start(claims=claims("model_reviewer"))

    assert (response.status, response.error_code) == (403, "access_denied")


@pytest.mark.parametrize(
    "body",
    [
        {"window": "4m"},
        {"window": "1h", "window_start": "2024-06-01T10:00:00Z", "window_end": "2024-06-01T11:00:00Z"},
        {"window_start": "2024-06-01T10:00:00", "window_end": "2024-06-01T11:00:00"},
        {"window_start": "2024-06-01T11:00:00Z", "window_end": "2024-06-01T10:00:00Z"},
        {"environment": "qa"},
    ],
)
def test_an_invalid_window_is_refused_with_nothing_stored(
    deployed: MonitoringWorld, untouched: Untouched, body: dict[str, Any]
) -> None:
    with untouched:
        response = start(body)

    assert (response.status, response.error_code) == (422, "validation_error")


# -- reading -------------------------------------------------------------------------------------------------


def seed_run(
    world: MonitoringWorld,
    minute: int,
    environment: str = "prod",
    *,
    status: DriftRunStatus = DriftRunStatus.RUNNING,
    report: str | None = None,
    failure_reason: str | None = None,
) -> str:
    """A run started `minute` minutes after 2024-06-01T10:00Z, stored as the monitor stores runs; its id."""
    started = datetime(2024, 6, 1, 10, tzinfo=UTC) + timedelta(minutes=minute)
    run_id = f"{started:%Y%m%dT%H%M%SZ}-{minute:012x}"
    run = DriftRunSummary(
        run_id=run_id,
        model_id=MODEL_ID,
        environment=Environment(environment),
        version=1,
        status=DriftRunStatus.RUNNING,
        trigger=DriftRunTrigger.SCHEDULE,
        window_start=started - timedelta(hours=1),
        window_end=started,
        started_at=started,
        started_by="scheduler",
    )
    store = MonitoringStore(world.aws.dynamodb, MONITORING_TABLE)
    store.create_run(run)
    if status is not DriftRunStatus.RUNNING:
        report_uri = None
        if report is not None:
            key = f"drift/{MODEL_ID}/{environment}/{run_id}/report.html"
            world.aws.s3.put_object(Bucket=MONITORING_BUCKET, Key=key, Body=report.encode())
            report_uri = f"s3://{MONITORING_BUCKET}/{key}"
        finished = {"status": status, "finished_at": started, "report_uri": report_uri}
        store.finish_run(
            DriftRun.model_validate({**run.model_dump(), **finished, "failure_reason": failure_reason})
        )
    return run_id


@pytest.fixture
def registered(world: MonitoringWorld) -> MonitoringWorld:
    world.register()
    return world


def run_ids(page: dict[str, Any]) -> list[str]:
    return [item["run_id"] for item in page["items"]]


def test_a_models_runs_are_listed_newest_first(registered: MonitoringWorld) -> None:
    ids = [seed_run(registered, minute) for minute in (5, 50, 20)]

    page = ok(listing())

    assert run_ids(page) == [ids[1], ids[2], ids[0]]
    assert page["next_token"] is None
    assert page["items"][0]["links"]["self"] == f"{BASE}/{ids[1]}"


def test_runs_are_listed_a_page_at_a_time(registered: MonitoringWorld) -> None:
    ids = [seed_run(registered, minute) for minute in range(5)]

    first = ok(listing({"limit": "2"}))
    second = ok(listing({"limit": "2", "next_token": first["next_token"]}))
    third = ok(listing({"limit": "2", "next_token": second["next_token"]}))

    assert [run_ids(first), run_ids(second), run_ids(third)] == [[ids[4], ids[3]], [ids[2], ids[1]], [ids[0]]]
    assert third["next_token"] is None


def test_a_last_full_page_has_no_next_token(registered: MonitoringWorld) -> None:
    for minute in range(2):
        seed_run(registered, minute)

    assert ok(listing({"limit": "2"}))["next_token"] is None


def test_runs_may_be_listed_for_one_environment_a_page_at_a_time(registered: MonitoringWorld) -> None:
    staging = [seed_run(registered, minute, "staging") for minute in (1, 3, 5)]
    for minute in (2, 4, 6):
        seed_run(registered, minute, "prod")

    first = ok(listing({"environment": "staging", "limit": "2"}))
    second = ok(listing({"environment": "staging", "limit": "2", "next_token": first["next_token"]}))

    assert run_ids(first) + run_ids(second) == staging[::-1]
    assert {item["environment"] for item in first["items"] + second["items"]} == {"staging"}
    assert second["next_token"] is None


def test_a_model_without_runs_lists_none(registered: MonitoringWorld) -> None:
    assert ok(listing()) == {"items": [], "next_token": None}


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token!",
        encode_token({"m": "another_model", "r": "20240601T100000Z-000000000001", "e": None}),
        encode_token({"m": MODEL_ID, "r": "20240601T100000Z-000000000001", "e": "staging"}),
        encode_token({"m": MODEL_ID, "r": 5, "e": None}),
        encode_token({"model": MODEL_ID}),
    ],
    ids=["garbage", "another-model", "another-environment", "not-a-run-id", "another-listing"],
)
def test_a_next_token_that_is_not_this_listings_is_refused(registered: MonitoringWorld, token: str) -> None:
    response = listing({"next_token": token})

    assert (response.status, response.error_code) == (400, "invalid_next_token")


def test_runs_of_a_model_nobody_registered_are_not_found(world: MonitoringWorld) -> None:
    response = listing()

    assert (response.status, response.error_code) == (404, "model_not_found")


@pytest.mark.parametrize("role", ["ml_engineer", "data_scientist", "model_reviewer", "admin"])
def test_every_role_reads_runs(registered: MonitoringWorld, role: str) -> None:
    run_id = seed_run(registered, 1)

    assert listing(claims=claims(role)).status == 200
    assert get_run(run_id, claims=claims(role)).status == 200


def test_a_run_is_read_with_its_scores_and_no_report_link_while_running(registered: MonitoringWorld) -> None:
    run_id = seed_run(registered, 1)

    run = ok(get_run(run_id))

    assert (run["run_id"], run["status"], run["features"]) == (run_id, "running", [])
    assert run["links"] == {"self": f"{BASE}/{run_id}", "model": f"/api/v1/models/{MODEL_ID}"}


def test_a_finished_runs_report_is_served_as_html(registered: MonitoringWorld) -> None:
    html = "<!doctype html><title>Drift</title><p>amount drifted</p>"
    run_id = seed_run(registered, 1, status=DriftRunStatus.SUCCEEDED, report=html)

    run = ok(get_run(run_id))
    response = get_report(run_id)

    assert run["links"]["report"] == f"{BASE}/{run_id}/report"
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.raw_body == html


def test_a_run_nobody_started_is_not_found(registered: MonitoringWorld) -> None:
    for response in (get_run("20240601T100000Z-0123456789ab"), get_report("20240601T100000Z-0123456789ab")):
        assert (response.status, response.error_code) == (404, "drift_run_not_found")


def test_a_malformed_run_id_is_refused(registered: MonitoringWorld) -> None:
    response = get_run("latest")

    assert (response.status, response.error_code) == (422, "validation_error")


def test_the_report_of_a_running_run_is_not_ready(registered: MonitoringWorld) -> None:
    run_id = seed_run(registered, 1)

    response = get_report(run_id)

    assert (response.status, response.error_code) == (409, "drift_report_not_ready")
    assert response.body["error"]["details"] == [{"status": "running", "failure_reason": None}]


def test_a_failed_run_has_no_report_and_says_why(registered: MonitoringWorld) -> None:
    run_id = seed_run(
        registered, 1, status=DriftRunStatus.FAILED, failure_reason="The baseline is unreadable."
    )

    response = get_report(run_id)

    assert (response.status, response.error_code) == (409, "drift_report_not_ready")
    assert response.body["error"]["details"] == [
        {"status": "failed", "failure_reason": "The baseline is unreadable."}
    ]


def test_a_run_is_read_only_under_its_own_model(registered: MonitoringWorld) -> None:
    run_id = seed_run(registered, 1)

    response = api("get_drift_run", path={"model_id": "another_model", "run_id": run_id})

    assert (response.status, response.error_code) == (404, "drift_run_not_found")
