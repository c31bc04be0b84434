"""POST /monitoring/alerts: the spec's alert payload. A drift_detection rule is stored and schedules a
drift monitor run every evaluation window (EventBridge Scheduler, in the monitoring schedule group).
A refusal stores no rule and creates no schedule."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cirrus_core.monitoring.drift_runner import read_step_event, run_identity
from cirrus_core.monitoring.models import DriftRunTrigger
from cirrus_core.monitoring.service import schedule_expression
from cirrus_core.monitoring.store import MonitoringStore
from cirrus_core.pipelines.scheduler import Schedules
from tests.support.api import ApiResponse
from tests.support.authz import claims
from tests.support.registry import MODEL_ID
from tests.unit.monitoring.support import (
    DRIFT_STATE_MACHINE_ARN,
    MONITORING_TABLE,
    SCHEDULER_ROLE_ARN,
    MonitoringWorld,
    Untouched,
    api,
    ok,
    sample_body,
)


@pytest.fixture
def registered(world: MonitoringWorld) -> MonitoringWorld:
    world.register()
    return world


def create(body: dict[str, Any] | None = None, **parts: Any) -> ApiResponse:
    return api("create_alert", body=sample_body("create_alert") if body is None else body, **parts)


def test_a_drift_alert_is_created_with_its_schedule(registered: MonitoringWorld) -> None:
    rule = ok(create(), 201)

    assert (rule["model_id"], rule["alert_type"], rule["threshold"]) == (MODEL_ID, "drift_detection", 0.1)
    assert (rule["evaluation_window"], rule["environment"], rule["notification_channels"]) == (
        "1h",
        "prod",
        ["ml-oncall"],
    )
    assert (rule["schedule_name"], rule["schedule_expression"]) == (
        f"drift-{rule['alert_id']}",
        "rate(1 hour)",
    )
    assert rule["created_by"] == "ada@example.com"
    assert rule["links"] == {"model": f"/api/v1/models/{MODEL_ID}"}


def test_the_schedule_starts_the_drift_monitor_every_window_for_the_model_and_environment(
    registered: MonitoringWorld,
) -> None:
    rule = ok(create(sample_body("create_alert", evaluation_window="30m", environment="staging")), 201)

    ((name, schedule),) = registered.schedules().items()
    assert name == rule["schedule_name"]
    assert (schedule["ScheduleExpression"], schedule["ScheduleExpressionTimezone"]) == (
        "rate(30 minutes)",
        "UTC",
    )
    assert (schedule["State"], schedule["FlexibleTimeWindow"]) == ("ENABLED", {"Mode": "OFF"})
    assert (schedule["Target"]["Arn"], schedule["Target"]["RoleArn"]) == (
        DRIFT_STATE_MACHINE_ARN,
        SCHEDULER_ROLE_ARN,
    )
    assert json.loads(schedule["Target"]["Input"]) == {
        "model_id": MODEL_ID,
        "environment": "staging",
        "alert_id": rule["alert_id"],
        "window": "30m",
        "trigger": "schedule",
    }


def test_the_drift_monitor_reads_a_scheduled_input_as_a_run_over_the_window_that_just_ended(
    registered: MonitoringWorld,
) -> None:
    rule = ok(create(sample_body("create_alert", evaluation_window="2h")), 201)
    (schedule,) = registered.schedules().values()
    started = datetime(2024, 6, 1, 12, 0, 7, tzinfo=UTC)

    event = read_step_event(
        {
            "input": json.loads(schedule["Target"]["Input"]),
            "execution_name": "6f1d2c3b-aaaa-4bbb-8ccc-0123456789ab",
            "execution_start": "2024-06-01T12:00:07.318Z",
        }
    )
    _, start, end = run_identity(event)

    assert (event.input.trigger, event.input.alert_id) == (DriftRunTrigger.SCHEDULE, rule["alert_id"])
    assert (start, end) == (datetime(2024, 6, 1, 10, 0, tzinfo=UTC), started.replace(second=0))


def test_the_rule_is_stored_under_the_model(registered: MonitoringWorld) -> None:
    rule = ok(create(), 201)

    (item,) = registered.monitoring_items()
    assert (item["pk"]["S"], item["sk"]["S"]) == (f"ALERT#{rule['alert_id']}", "RULE")
    assert item["gsi1pk"]["S"] == f"MODEL#{MODEL_ID}"
    assert item["gsi1sk"]["S"].startswith("ALERT#")
    assert item["gsi1sk"]["S"].endswith(f"#{rule['alert_id']}")
    stored = json.loads(item["rule"]["S"])
    assert stored == {key: value for key, value in rule.items() if key != "links"}


def test_creating_an_alert_is_audited(registered: MonitoringWorld) -> None:
    rule = ok(create(), 201)

    (record,) = registered.audit_records("create_alert")
    assert (record.resource, record.actor) == (
        f"model/{MODEL_ID}/alert/{rule['alert_id']}",
        "ada@example.com",
    )


def test_a_retry_with_the_same_idempotency_key_creates_one_rule_and_one_schedule(
    registered: MonitoringWorld,
) -> None:
    first = ok(create(headers={"Idempotency-Key": "alert-0001"}), 201)
    second = ok(create(headers={"Idempotency-Key": "alert-0001"}), 201)

    assert second == first
    assert list(registered.schedules()) == [first["schedule_name"]]
    assert len(registered.aws.dynamodb.scan(TableName=MONITORING_TABLE)["Items"]) == 1


@pytest.mark.parametrize(
    ("window", "expression"),
    [
        ("5m", "rate(5 minutes)"),
        ("1m", "rate(1 minute)"),
        ("1h", "rate(1 hour)"),
        ("12h", "rate(12 hours)"),
        ("1d", "rate(1 day)"),
        ("7d", "rate(7 days)"),
    ],
)
def test_an_evaluation_window_is_scheduled_as_a_rate(window: str, expression: str) -> None:
    assert schedule_expression(window) == expression


# -- refusals -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("alert_type", ["performance_degradation", "system_failures"])
def test_an_alert_type_monitoring_cannot_watch_yet_is_refused_with_nothing_stored_or_scheduled(
    registered: MonitoringWorld, untouched: Untouched, alert_type: str
) -> None:
    with untouched:
        response = create(sample_body("create_alert", alert_type=alert_type))

    assert (response.status, response.error_code) == (422, "unsupported_alert_type")
    assert response.body["error"]["details"] == [{"field": "alert_type", "supported": ["drift_detection"]}]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"evaluation_window": "4m"}, "body"),
        ({"evaluation_window": "8d"}, "body"),
        ({"evaluation_window": "0h"}, "body.evaluation_window"),
        ({"threshold": 0}, "body.threshold"),
        ({"threshold": 1.5}, "body.threshold"),
        ({"alert_type": "latency"}, "body.alert_type"),
        ({"severity": "high"}, "body.severity"),
    ],
)
def test_an_invalid_alert_is_refused_with_nothing_stored_or_scheduled(
    registered: MonitoringWorld, untouched: Untouched, changes: dict[str, Any], field: str
) -> None:
    with untouched:
        response = create(sample_body("create_alert", **changes))

    assert (response.status, response.error_code) == (422, "validation_error")
    assert [detail["field"] for detail in response.body["error"]["details"]] == [field]


def test_a_window_too_short_says_so(registered: MonitoringWorld) -> None:
    response = create(sample_body("create_alert", evaluation_window="4m"))

    (detail,) = response.body["error"]["details"]
    assert "shorter than 5 minutes" in detail["message"]


def test_an_alert_on_a_model_nobody_registered_is_not_found(
    world: MonitoringWorld, untouched: Untouched
) -> None:
    with untouched:
        response = create()

    assert (response.status, response.error_code) == (404, "model_not_found")


@pytest.mark.parametrize("role", ["ml_engineer", "data_scientist", "model_reviewer"])
def test_only_system_config_may_create_alerts(
    registered: MonitoringWorld, untouched: Untouched, role: str
) -> None:
    with untouched:
        response = create(claims=claims(role))

    assert (response.status, response.error_code) == (403, "access_denied")


def test_an_alert_whose_schedule_cannot_be_created_stores_no_rule(
    registered: MonitoringWorld, untouched: Untouched, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> bool:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "CreateSchedule")

    monkeypatch.setattr(Schedules, "create", refuse)

    with untouched, pytest.raises(ClientError, match="AccessDenied"):
        create()

    assert registered.audit_records("create_alert") == []


def test_an_alert_whose_rule_cannot_be_stored_leaves_no_schedule(
    registered: MonitoringWorld, untouched: Untouched, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "down"}}, "TransactWriteItems")

    monkeypatch.setattr(MonitoringStore, "create_alert", refuse)

    with untouched, pytest.raises(ClientError, match="InternalServerError"):
        create()
