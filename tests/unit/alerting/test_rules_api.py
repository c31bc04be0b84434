"""Alert rules over the API: POST/GET /monitoring/alerts, GET/PUT/DELETE /monitoring/alerts/{alert_id}.

Three types, each with its own fields: drift_detection (a share of drifted features, and a schedule
of drift monitor runs), performance_degradation (a metric, a comparison, a threshold) and
system_failures (failures per subject; the model is optional). Channels must exist. A refusal
stores no rule and creates no schedule."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cirrus_core.alerting.rules import schedule_expression
from cirrus_core.alerting.rules_store import AlertRuleStore
from cirrus_core.pipelines.scheduler import Schedules
from tests.support.api import ApiResponse
from tests.support.authz import claims
from tests.support.aws import AwsResources
from tests.support.registry import MODEL_ID
from tests.unit.alerting.rules_support import (
    ALERTS_ENVIRONMENT,
    MONITORING_TABLE,
    clear_alert_wiring,
    put_channel,
)
from tests.unit.monitoring.support import (
    DRIFT_STATE_MACHINE_ARN,
    SCHEDULER_ROLE_ARN,
    MonitoringWorld,
    Untouched,
    api,
    ok,
)

DRIFT = {
    "model_id": MODEL_ID,
    "alert_type": "drift_detection",
    "threshold": 0.25,
    "notification_channels": ["ml-oncall"],
    "evaluation_window": "1h",
}
PERFORMANCE = {
    "model_id": MODEL_ID,
    "alert_type": "performance_degradation",
    "metric": "latency_p95_ms",
    "comparison": "gt",
    "threshold": 250,
    "notification_channels": ["ml-oncall"],
    "evaluation_window": "15m",
}
SYSTEM = {"alert_type": "system_failures", "threshold": 1, "notification_channels": ["ml-oncall"]}


@pytest.fixture(autouse=True)
def alerts_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in ALERTS_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    clear_alert_wiring()
    yield
    clear_alert_wiring()


@pytest.fixture
def world(aws: AwsResources) -> MonitoringWorld:
    return MonitoringWorld(aws)


@pytest.fixture
def untouched(world: MonitoringWorld) -> Untouched:
    return Untouched(world)


@pytest.fixture
def ready(world: MonitoringWorld) -> MonitoringWorld:
    """The sample model registered and the channel `ml-oncall` created."""
    world.register()
    put_channel(world.aws, "ml-oncall")
    return world


def create(body: dict[str, Any], **parts: Any) -> ApiResponse:
    return api("create_alert", body=body, **parts)


def created(body: dict[str, Any]) -> dict[str, Any]:
    return ok(create(body), 201)


def get(alert_id: str, **parts: Any) -> ApiResponse:
    return api("get_alert", path={"alert_id": alert_id}, **parts)


def update(alert_id: str, body: dict[str, Any], **parts: Any) -> ApiResponse:
    return api("update_alert", path={"alert_id": alert_id}, body=body, **parts)


def delete(alert_id: str, **parts: Any) -> ApiResponse:
    return api("delete_alert", path={"alert_id": alert_id}, **parts)


def listing(query: dict[str, str] | None = None, **parts: Any) -> ApiResponse:
    return api("list_alerts", query=query, **parts)


def rule_items(world: MonitoringWorld) -> list[dict[str, Any]]:
    return [item for item in world.monitoring_items() if item["sk"]["S"] == "RULE"]


# -- create -----------------------------------------------------------------------------------------------


def test_a_drift_rule_is_created_with_the_schedule_of_its_monitor_runs(ready: MonitoringWorld) -> None:
    rule = created(DRIFT)

    assert (rule["alert_type"], rule["model_id"], rule["environment"], rule["threshold"]) == (
        "drift_detection",
        MODEL_ID,
        "prod",
        0.25,
    )
    assert (rule["severity"], rule["cooldown"]) == ("warning", "1h")
    assert (rule["schedule_name"], rule["schedule_expression"]) == (
        f"drift-{rule['alert_id']}",
        "rate(1 hour)",
    )
    ((name, schedule),) = ready.schedules().items()
    assert name == rule["schedule_name"]
    assert (schedule["Target"]["Arn"], schedule["Target"]["RoleArn"]) == (
        DRIFT_STATE_MACHINE_ARN,
        SCHEDULER_ROLE_ARN,
    )
    assert json.loads(schedule["Target"]["Input"]) == {
        "model_id": MODEL_ID,
        "environment": "prod",
        "alert_id": rule["alert_id"],
        "window": "1h",
        "trigger": "schedule",
    }
    assert rule["links"] == {
        "self": f"/api/v1/monitoring/alerts/{rule['alert_id']}",
        "model": f"/api/v1/models/{MODEL_ID}",
    }


def test_a_performance_rule_keeps_its_metric_and_comparison_and_schedules_nothing(
    ready: MonitoringWorld,
) -> None:
    rule = created({**PERFORMANCE, "cooldown": "15m", "severity": "critical"})

    assert (rule["metric"], rule["comparison"], rule["threshold"]) == ("latency_p95_ms", "gt", 250)
    assert (rule["cooldown"], rule["severity"], rule["schedule_name"]) == ("15m", "critical", None)
    assert ready.schedules() == {}


def test_a_system_rule_without_a_model_watches_the_whole_platform(ready: MonitoringWorld) -> None:
    rule = created(SYSTEM)

    assert (rule["model_id"], rule["environment"], rule["severity"], rule["threshold"]) == (
        None,
        None,
        "critical",
        1,
    )
    assert rule["sources"] == ["pipeline_failures", "deployment_rollbacks", "function_errors", "dlq_messages"]
    assert ready.schedules() == {}


def test_a_rule_is_stored_under_its_id_and_indexed_with_every_rule(ready: MonitoringWorld) -> None:
    rule = created(PERFORMANCE)

    (item,) = rule_items(ready)
    assert (item["pk"]["S"], item["gsi1pk"]["S"]) == (f"ALERT#{rule['alert_id']}", "ALERTS")
    assert item["gsi1sk"]["S"].endswith(f"#{rule['alert_id']}")
    stored = json.loads(item["rule"]["S"])
    assert stored == {key: value for key, value in rule.items() if key != "links"}
    assert stored["notification_channels"] == ["ml-oncall"]


def test_creating_a_rule_is_audited(ready: MonitoringWorld) -> None:
    rule = created(SYSTEM)

    (record,) = ready.audit_records("create_alert")
    assert (record.resource, record.actor) == (f"model/*/alert/{rule['alert_id']}", "ada@example.com")


def test_a_retry_with_the_same_idempotency_key_creates_one_rule_and_one_schedule(
    ready: MonitoringWorld,
) -> None:
    first = ok(create(DRIFT, headers={"Idempotency-Key": "alert-0001"}), 201)
    second = ok(create(DRIFT, headers={"Idempotency-Key": "alert-0001"}), 201)

    assert second == first
    assert list(ready.schedules()) == [first["schedule_name"]]
    assert len(rule_items(ready)) == 1


@pytest.mark.parametrize(("window", "expression"), [("5m", "rate(5 minutes)"), ("1d", "rate(1 day)")])
def test_an_evaluation_window_is_scheduled_as_a_rate(window: str, expression: str) -> None:
    assert schedule_expression(window) == expression


# -- create: refusals ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "kind"),
    [
        ({**DRIFT, "metric": "accuracy"}, "body.drift_detection.metric", "extra_forbidden"),
        ({**DRIFT, "threshold": 0}, "body.drift_detection.threshold", "greater_than"),
        ({**DRIFT, "threshold": 1.5}, "body.drift_detection.threshold", "less_than_equal"),
        ({**DRIFT, "evaluation_window": "4m"}, "body.drift_detection.evaluation_window", "value_error"),
        ({**DRIFT, "evaluation_window": "8d"}, "body.drift_detection.evaluation_window", "value_error"),
        ({**DRIFT, "cooldown": "30s"}, "body.drift_detection.cooldown", "string_pattern_mismatch"),
        ({**DRIFT, "cooldown": "8d"}, "body.drift_detection.cooldown", "value_error"),
        ({**DRIFT, "severity": "high"}, "body.drift_detection.severity", "enum"),
        ({**DRIFT, "sources": ["dlq_messages"]}, "body.drift_detection.sources", "extra_forbidden"),
        (
            {**DRIFT, "notification_channels": ["a", "a"]},
            "body.drift_detection.notification_channels",
            "value_error",
        ),
        ({**DRIFT, "model_id": None}, "body.drift_detection.model_id", "string_type"),
        (
            {k: v for k, v in PERFORMANCE.items() if k != "metric"},
            "body.performance_degradation.metric",
            "missing",
        ),
        ({**PERFORMANCE, "metric": "happiness"}, "body.performance_degradation.metric", "enum"),
        ({**PERFORMANCE, "comparison": "eq"}, "body.performance_degradation.comparison", "enum"),
        (
            {**PERFORMANCE, "sources": ["dlq_messages"]},
            "body.performance_degradation.sources",
            "extra_forbidden",
        ),
        (
            {k: v for k, v in PERFORMANCE.items() if k != "model_id"},
            "body.performance_degradation.model_id",
            "missing",
        ),
        ({**SYSTEM, "threshold": 0}, "body.system_failures.threshold", "greater_than_equal"),
        ({**SYSTEM, "threshold": 1.5}, "body.system_failures.threshold", "int_from_float"),
        ({**SYSTEM, "sources": []}, "body.system_failures.sources", "too_short"),
        (
            {**SYSTEM, "sources": ["dlq_messages", "dlq_messages"]},
            "body.system_failures.sources",
            "value_error",
        ),
        ({**SYSTEM, "metric": "accuracy"}, "body.system_failures.metric", "extra_forbidden"),
        ({**DRIFT, "alert_type": "latency"}, "body", "union_tag_invalid"),
        ({k: v for k, v in DRIFT.items() if k != "alert_type"}, "body", "union_tag_not_found"),
    ],
)
def test_an_invalid_rule_is_refused_naming_the_field_with_nothing_stored_or_scheduled(
    ready: MonitoringWorld, untouched: Untouched, body: dict[str, Any], field: str, kind: str
) -> None:
    with untouched:
        response = create(body)

    assert (response.status, response.error_code) == (422, "validation_error")
    assert [(detail["field"], detail["type"]) for detail in response.body["error"]["details"]] == [
        (field, kind)
    ]


def test_a_rule_naming_a_channel_that_does_not_exist_is_refused(
    ready: MonitoringWorld, untouched: Untouched
) -> None:
    with untouched:
        response = create({**DRIFT, "notification_channels": ["ml-oncall", "nobody", "noone"]})

    assert (response.status, response.error_code) == (422, "unknown_channel")
    assert response.body["error"]["details"] == [
        {"field": "notification_channels", "unknown": ["nobody", "noone"]}
    ]


def test_a_rule_on_a_model_nobody_registered_is_not_found(
    world: MonitoringWorld, untouched: Untouched
) -> None:
    put_channel(world.aws, "ml-oncall")
    with untouched:
        response = create(PERFORMANCE)

    assert (response.status, response.error_code) == (404, "model_not_found")


@pytest.mark.parametrize("role", ["ml_engineer", "data_scientist", "model_reviewer"])
@pytest.mark.parametrize("body", [DRIFT, SYSTEM])
def test_only_system_config_may_create_rules(
    ready: MonitoringWorld, untouched: Untouched, role: str, body: dict[str, Any]
) -> None:
    with untouched:
        response = create(body, claims=claims(role))

    assert (response.status, response.error_code) == (403, "access_denied")


def test_a_drift_rule_whose_schedule_cannot_be_created_is_not_stored(
    ready: MonitoringWorld, untouched: Untouched, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> bool:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "CreateSchedule")

    monkeypatch.setattr(Schedules, "create", refuse)

    with untouched, pytest.raises(ClientError, match="AccessDenied"):
        create(DRIFT)

    assert ready.audit_records("create_alert") == []


def test_a_drift_rule_that_cannot_be_stored_leaves_no_schedule(
    ready: MonitoringWorld, untouched: Untouched, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "down"}}, "TransactWriteItems")

    monkeypatch.setattr(AlertRuleStore, "create_rule", refuse)

    with untouched, pytest.raises(ClientError, match="InternalServerError"):
        create(DRIFT)


# -- list and get --------------------------------------------------------------------------------------------


def test_rules_list_newest_first_a_page_at_a_time(ready: MonitoringWorld) -> None:
    ids = [created({**DRIFT, "threshold": share})["alert_id"] for share in (0.1, 0.2, 0.3)]

    first = ok(listing({"limit": "2"}, claims=claims("model_reviewer")))
    second = ok(listing({"limit": "2", "next_token": first["next_token"]}, claims=claims("model_reviewer")))

    assert [item["alert_id"] for item in first["items"] + second["items"]] == ids[::-1]
    assert second["next_token"] is None


def test_rules_list_filtered_by_model(ready: MonitoringWorld) -> None:
    mine = created(PERFORMANCE)
    platform = created(SYSTEM)

    of_model = ok(listing({"model_id": MODEL_ID}))
    platform_wide = ok(listing({"model_id": "*"}))

    assert [item["alert_id"] for item in of_model["items"]] == [mine["alert_id"]]
    assert [item["alert_id"] for item in platform_wide["items"]] == [platform["alert_id"]]


@pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": "101"}, {"model_id": "Not A Model"}])
def test_a_bad_listing_query_is_refused(ready: MonitoringWorld, query: dict[str, str]) -> None:
    assert listing(query).status == 422


def test_a_next_token_of_another_listing_is_refused(ready: MonitoringWorld) -> None:
    created(DRIFT)
    created(DRIFT)
    token = ok(listing({"limit": "1"}))["next_token"]

    response = listing({"limit": "1", "next_token": token, "model_id": MODEL_ID})

    assert (response.status, response.error_code) == (400, "invalid_next_token")


def test_a_rule_reads_with_its_alerts_state(ready: MonitoringWorld) -> None:
    rule = created(DRIFT)

    body = ok(get(rule["alert_id"], claims=claims("data_scientist")))

    assert {key: value for key, value in body.items() if key != "states"} == rule
    assert body["states"] == []


def test_an_unknown_rule_is_not_found(ready: MonitoringWorld) -> None:
    response = get("0" * 32)

    assert (response.status, response.error_code) == (404, "alert_not_found")


def test_a_malformed_alert_id_is_refused(ready: MonitoringWorld) -> None:
    assert get("not-an-id").status == 422


# -- update --------------------------------------------------------------------------------------------


def test_put_replaces_every_mutable_field(ready: MonitoringWorld) -> None:
    rule = created({**PERFORMANCE, "cooldown": "15m", "description": "p95 too slow"})
    put_channel(ready.aws, "pager")

    changed = ok(
        update(
            rule["alert_id"],
            {
                "alert_type": "performance_degradation",
                "metric": "error_rate",
                "comparison": "gte",
                "threshold": 0.05,
                "notification_channels": ["pager"],
                "evaluation_window": "30m",
            },
        )
    )

    assert (changed["metric"], changed["comparison"], changed["threshold"]) == ("error_rate", "gte", 0.05)
    assert (changed["notification_channels"], changed["evaluation_window"]) == (["pager"], "30m")
    assert (changed["cooldown"], changed["description"], changed["severity"]) == ("1h", "", "error")
    assert (changed["model_id"], changed["created_at"], changed["updated_by"]) == (
        MODEL_ID,
        rule["created_at"],
        "ada@example.com",
    )
    assert ok(get(rule["alert_id"]))["metric"] == "error_rate"
    (record,) = ready.audit_records("update_alert")
    assert record.resource == f"model/{MODEL_ID}/alert/{rule['alert_id']}"


def test_a_drift_rules_schedule_follows_its_new_window(ready: MonitoringWorld) -> None:
    rule = created(DRIFT)

    settings = {key: value for key, value in DRIFT.items() if key != "model_id"}

    changed = ok(update(rule["alert_id"], {**settings, "evaluation_window": "30m"}))

    assert changed["schedule_expression"] == "rate(30 minutes)"
    (schedule,) = ready.schedules().values()
    assert schedule["ScheduleExpression"] == "rate(30 minutes)"
    assert json.loads(schedule["Target"]["Input"])["window"] == "30m"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({**SYSTEM}, 422, "alert_type_change"),
        ({**PERFORMANCE, "model_id": None, "notification_channels": ["nobody"]}, 422, "unknown_channel"),
        ({**PERFORMANCE, "model_id": "another_model"}, 422, "validation_error"),
        ({**PERFORMANCE, "model_id": None, "environment": "dev"}, 422, "validation_error"),
    ],
)
def test_a_refused_put_changes_nothing(
    ready: MonitoringWorld, untouched: Untouched, body: dict[str, Any], status: int, code: str
) -> None:
    rule = created(PERFORMANCE)
    body = {key: value for key, value in body.items() if value is not None}

    with untouched:
        response = update(rule["alert_id"], body)

    assert (response.status, response.error_code) == (status, code)


def test_put_of_an_unknown_rule_is_not_found(ready: MonitoringWorld, untouched: Untouched) -> None:
    with untouched:
        response = update("0" * 32, {**SYSTEM})

    assert (response.status, response.error_code) == (404, "alert_not_found")


def test_only_system_config_may_change_a_rule(ready: MonitoringWorld, untouched: Untouched) -> None:
    rule = created(SYSTEM)

    with untouched:
        response = update(rule["alert_id"], {**SYSTEM, "threshold": 3}, claims=claims("ml_engineer"))

    assert (response.status, response.error_code) == (403, "access_denied")


# -- delete --------------------------------------------------------------------------------------------


def test_delete_removes_the_rule_its_schedule_and_its_state(ready: MonitoringWorld) -> None:
    rule = created(DRIFT)
    ready.aws.dynamodb.put_item(
        TableName=MONITORING_TABLE,
        Item={
            "pk": {"S": f"ALERT#{rule['alert_id']}"},
            "sk": {"S": "STATE#-"},
            "subject": {"S": "-"},
            "status": {"S": "firing"},
            "version": {"N": "1"},
        },
    )

    response = delete(rule["alert_id"])

    assert response.status == 204
    assert [item for item in ready.monitoring_items() if item["pk"]["S"].startswith("ALERT#")] == []
    assert ready.schedules() == {}
    (record,) = ready.audit_records("delete_alert")
    assert record.resource == f"model/{MODEL_ID}/alert/{rule['alert_id']}"
    assert (get(rule["alert_id"]).status, delete(rule["alert_id"]).status) == (404, 404)


def test_only_system_config_may_delete_a_rule(ready: MonitoringWorld, untouched: Untouched) -> None:
    rule = created(DRIFT)

    with untouched:
        response = delete(rule["alert_id"], claims=claims("data_scientist"))

    assert (response.status, response.error_code) == (403, "access_denied")


def test_deleting_an_unknown_rule_is_not_found(ready: MonitoringWorld) -> None:
    response = delete("0" * 32)

    assert (response.status, response.error_code) == (404, "alert_not_found")
