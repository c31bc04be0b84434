"""Where conditions come from: drift.detected, pipeline.failed and serving rollbacks through the event
function at once; Lambda errors (CloudWatch AWS/Lambda Errors) and dead-letter queue depths (SQS) on
schedule. A system_failures rule's alert is per subject: a pipeline, a model's environment, a function,
a queue. Event-fed subjects resolve after a window without failures."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from cirrus_core.alerting.rules_store import AlertRuleStore
from cirrus_core.monitoring.models import AlertRule
from tests.support.api import LambdaContextStub
from tests.support.aws import AwsResources, load_sample
from tests.unit.alerting.rules_support import (
    ALERTS_ENVIRONMENT,
    FUNCTION_PREFIX,
    MONITORING_TABLE,
    Clock,
    Deliveries,
    alert_events,
    clear_alert_wiring,
    evaluator,
    store_rule,
    store_run,
)

CREATED = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
SYSTEM: dict[str, Any] = {
    "alert_type": "system_failures",
    "model_id": None,
    "environment": None,
    "threshold": 1,
}


@pytest.fixture
def deliveries(aws: AwsResources) -> Deliveries:
    return Deliveries(aws)


@pytest.fixture
def wired(aws: AwsResources, deliveries: Deliveries, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The functions' environment: the evaluator is built by its wiring, on moto."""
    for name, value in {**ALERTS_ENVIRONMENT, "ALERT_DELIVERY_QUEUE_URL": deliveries.url}.items():
        monkeypatch.setenv(name, value)
    clear_alert_wiring()
    yield
    clear_alert_wiring()


def on_event(event: dict[str, Any]) -> dict[str, Any]:
    module = importlib.import_module("functions.monitoring.steps.on_alert_event")
    result: dict[str, Any] = module.lambda_handler(event, LambdaContextStub())
    return result


def evaluate_on_schedule() -> dict[str, Any]:
    module = importlib.import_module("functions.monitoring.steps.evaluate_alerts")
    result: dict[str, Any] = module.lambda_handler(
        load_sample("eventbridge/drift.detected"), LambdaContextStub()
    )
    return result


def pipeline_failed(pipeline_id: str = "nightly", run_id: str = "run-0001") -> dict[str, Any]:
    event = load_sample("eventbridge/pipeline.failed")
    event["detail"]["data"].update(pipeline_id=pipeline_id, run_id=run_id)
    return event


def channels(deliveries: Deliveries) -> list[tuple[str, str, str]]:
    return [
        (request["channel"], request["notification"]["kind"], request["notification"]["values"]["subject"])
        for request in deliveries.received()
    ]


def states(aws: AwsResources, rule: AlertRule) -> dict[str, str]:
    store = AlertRuleStore(aws.dynamodb, MONITORING_TABLE)
    return {state.subject: state.status.value for state in store.states(rule.alert_id)}


# -- drift.detected ---------------------------------------------------------------------------------------


def test_drift_detected_fires_the_models_drift_rules_at_once(
    aws: AwsResources, deliveries: Deliveries, wired: None
) -> None:
    event = load_sample("eventbridge/drift.detected")
    data = event["detail"]["data"]
    rule = store_rule(aws, CREATED, model_id=data["model_id"], environment=data["environment"], threshold=0.1)
    other_environment = store_rule(
        aws, CREATED, model_id=data["model_id"], environment="staging", threshold=0.1
    )
    too_high = store_rule(aws, CREATED, model_id=data["model_id"], environment="prod", threshold=1.0)

    result = on_event(event)

    assert result["changed"] == [{"alert_id": rule.alert_id, "subject": "-", "action": "triggered"}]
    assert {request["notification"]["alert_id"] for request in deliveries.received()} == {rule.alert_id}
    notification = deliveries.received()[0]["notification"]
    assert notification["report_url"] == (
        f"/api/v1/monitoring/models/{data['model_id']}/drift-runs/{data['run_id']}/report"
    )
    assert notification["values"]["drift_share"] == data["drift_share"]
    (triggered,) = alert_events(aws, "alert.triggered")
    assert triggered["detail"]["data"]["report_url"] == notification["report_url"]
    assert states(aws, other_environment) == {}
    assert states(aws, too_high) == {}


def test_the_same_drift_event_delivered_twice_notifies_once(
    aws: AwsResources, deliveries: Deliveries, wired: None
) -> None:
    event = load_sample("eventbridge/drift.detected")
    store_rule(aws, CREATED, threshold=0.1)

    on_event(event)
    again = on_event(event)

    assert again["changed"] == []
    assert len(deliveries.received()) == 2


def test_an_event_alert_rules_do_not_watch_is_ignored(aws: AwsResources, wired: None) -> None:
    assert on_event(load_sample("eventbridge/model.deployed")) == {"changed": []}


def test_a_drift_rule_resolves_on_schedule_after_a_clean_run(
    aws: AwsResources, deliveries: Deliveries, wired: None
) -> None:
    now = datetime.now(UTC)
    rule = store_rule(aws, now - timedelta(hours=2), threshold=0.1)
    store_run(aws, now - timedelta(minutes=30), drifted=("amount",))
    first = evaluate_on_schedule()
    store_rule_evaluated_long_ago(aws, rule)
    store_run(aws, now - timedelta(minutes=1))

    second = evaluate_on_schedule()

    assert [change["action"] for change in first["changed"] + second["changed"]] == ["triggered", "resolved"]
    assert [event["detail-type"] for event in alert_events(aws)] == ["alert.triggered", "alert.resolved"]


def store_rule_evaluated_long_ago(aws: AwsResources, rule: AlertRule) -> None:
    """Move the rule's last scheduled evaluation back, as if a minute had passed."""
    aws.dynamodb.put_item(
        TableName=MONITORING_TABLE,
        Item={
            "pk": {"S": f"ALERT#{rule.alert_id}"},
            "sk": {"S": "EVAL"},
            "evaluated_at": {"S": (datetime.now(UTC) - timedelta(minutes=5)).isoformat()},
        },
    )


# -- pipeline failures and rollbacks -----------------------------------------------------------------------


def test_a_failed_pipeline_fires_a_system_rule_for_that_pipeline(
    aws: AwsResources, deliveries: Deliveries, wired: None
) -> None:
    rule = store_rule(aws, CREATED, **SYSTEM)

    result = on_event(pipeline_failed("nightly"))

    assert result["changed"] == [
        {"alert_id": rule.alert_id, "subject": "pipeline:nightly", "action": "triggered"}
    ]
    assert channels(deliveries) == [
        ("ml-oncall", "trigger", "pipeline:nightly"),
        ("pager", "trigger", "pipeline:nightly"),
    ]
    notification = deliveries.received()[0]["notification"]
    assert (notification["severity"], notification["model_id"]) == ("critical", None)
    assert notification["summary"].startswith("pipeline nightly (run run-0001 failed at")
    (event,) = alert_events(aws)
    assert event["detail"]["data"]["subject"] == "pipeline:nightly"


def test_each_failing_pipeline_is_its_own_alert(
    aws: AwsResources, deliveries: Deliveries, wired: None
) -> None:
    rule = store_rule(aws, CREATED, **SYSTEM)

    on_event(pipeline_failed("nightly"))
    on_event(pipeline_failed("weekly"))
    on_event(pipeline_failed("nightly", "run-0002"))

    assert states(aws, rule) == {"pipeline:nightly": "firing", "pipeline:weekly": "firing"}
    assert len(deliveries.received()) == 4
    assert len({event["detail"]["data"]["dedup_key"] for event in alert_events(aws)}) == 2


def test_a_threshold_of_two_fires_on_the_second_failure_within_the_window(
    aws: AwsResources, deliveries: Deliveries, wired: None
) -> None:
    store_rule(aws, CREATED, **{**SYSTEM, "threshold": 2})

    first = on_event(pipeline_failed())
    second = on_event(pipeline_failed(run_id="run-0002"))

    assert first["changed"] == []
    assert [change["action"] for change in second["changed"]] == ["triggered"]
    assert deliveries.received()[0]["notification"]["values"]["count"] == 2


def test_a_pipeline_failure_delivered_twice_counts_once(
    aws: AwsResources, deliveries: Deliveries, wired: None
) -> None:
    rule = store_rule(aws, CREATED, **{**SYSTEM, "threshold": 2})

    on_event(pipeline_failed(run_id="run-0001"))
    again = on_event(pipeline_failed(run_id="run-0001"))

    assert again["changed"] == []
    assert deliveries.received() == []
    assert states(aws, rule) == {"pipeline:nightly": "ok"}


def test_a_serving_rollback_delivered_twice_counts_once(
    aws: AwsResources, deliveries: Deliveries, wired: None
) -> None:
    event = load_sample("eventbridge/model.rolled_back")
    event["source"] = "cirrus.serving"
    event["detail"]["data"].update(deployment_id="d" * 32, cause="health check failed")
    store_rule(aws, CREATED, **{**SYSTEM, "threshold": 2})

    on_event(event)
    again = on_event(event)

    assert again["changed"] == []
    assert deliveries.received() == []


def test_a_failure_redelivered_after_its_alert_resolved_does_not_fire_it_again(
    aws: AwsResources, deliveries: Deliveries
) -> None:
    clock = Clock(CREATED + timedelta(minutes=1))
    store_rule(aws, CREATED, **{**SYSTEM, "sources": ["pipeline_failures"], "evaluation_window": "30m"})
    subject = evaluator(aws, deliveries, clock)
    failure = pipeline_failed()["detail"]["data"]
    subject.on_pipeline_failed(failure)
    clock.advance(minutes=31)
    subject.evaluate_due()

    clock.advance(hours=2)
    (outcome,) = subject.on_pipeline_failed(failure)

    assert outcome.action == "unchanged"
    assert [kind for _, kind, _ in channels(deliveries)] == ["trigger", "trigger", "resolve", "resolve"]


def test_a_rule_not_watching_pipelines_ignores_their_failures(
    aws: AwsResources, deliveries: Deliveries, wired: None
) -> None:
    store_rule(aws, CREATED, **{**SYSTEM, "sources": ["function_errors", "dlq_messages"]})

    assert on_event(pipeline_failed())["changed"] == []


def test_a_serving_rollback_fires_the_rules_of_its_model_and_environment(
    aws: AwsResources, deliveries: Deliveries, wired: None
) -> None:
    event = load_sample("eventbridge/model.rolled_back")
    event["source"] = "cirrus.serving"
    data = event["detail"]["data"]
    mine = store_rule(aws, CREATED, **{**SYSTEM, "model_id": data["model_id"]})
    platform = store_rule(aws, CREATED, **SYSTEM)
    other_model = store_rule(aws, CREATED, **{**SYSTEM, "model_id": "another_model"})
    other_environment = store_rule(
        aws, CREATED, **{**SYSTEM, "environment": "dev" if data["environment"] != "dev" else "staging"}
    )

    result = on_event(event)

    subject = f"deployment:{data['model_id']}/{data['environment']}"
    assert {change["alert_id"] for change in result["changed"]} == {mine.alert_id, platform.alert_id}
    assert {change["subject"] for change in result["changed"]} == {subject}
    assert (states(aws, other_model), states(aws, other_environment)) == ({}, {})


def test_a_registry_rollback_is_not_a_failed_deployment(aws: AwsResources, wired: None) -> None:
    store_rule(aws, CREATED, **SYSTEM)
    event = load_sample("eventbridge/model.rolled_back")
    event["source"] = "cirrus.registry"

    assert on_event(event) == {"changed": []}


def test_a_failure_resolves_after_a_window_without_another(aws: AwsResources, deliveries: Deliveries) -> None:
    clock = Clock(CREATED + timedelta(minutes=1))
    rule = store_rule(
        aws, CREATED, **{**SYSTEM, "sources": ["pipeline_failures"], "evaluation_window": "30m"}
    )
    subject = evaluator(aws, deliveries, clock)
    subject.on_pipeline_failed(pipeline_failed()["detail"]["data"])

    clock.advance(minutes=29)
    quiet_not_yet = subject.evaluate_due()
    clock.advance(minutes=2)
    quiet = subject.evaluate_due()

    assert quiet_not_yet == []
    assert [(o.subject, o.action) for o in quiet] == [("pipeline:nightly", "resolved")]
    assert channels(deliveries)[2:] == [
        ("ml-oncall", "resolve", "pipeline:nightly"),
        ("pager", "resolve", "pipeline:nightly"),
    ]
    assert states(aws, rule) == {"pipeline:nightly": "ok"}


# -- Lambda errors -----------------------------------------------------------------------------------------


def put_errors(function: str, count: float, at: datetime) -> None:
    boto3.client("cloudwatch", region_name="us-east-1").put_metric_data(
        Namespace="AWS/Lambda",
        MetricData=[
            {
                "MetricName": "Errors",
                "Dimensions": [{"Name": "FunctionName", "Value": function}],
                "Timestamp": at,
                "Value": count,
                "Unit": "Count",
            }
        ],
    )


def test_the_stacks_function_errors_fire_per_function(aws: AwsResources, deliveries: Deliveries) -> None:
    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    rule = store_rule(
        aws, clock.now - timedelta(hours=1), **{**SYSTEM, "threshold": 3, "sources": ["function_errors"]}
    )
    failing = f"{FUNCTION_PREFIX}PredictFunction-ABC123"
    put_errors(failing, 2, clock.now - timedelta(minutes=20))
    put_errors(failing, 1, clock.now - timedelta(minutes=5))
    put_errors(f"{FUNCTION_PREFIX}CreateAlertFunction-DEF456", 1, clock.now - timedelta(minutes=5))
    put_errors("someone-elses-function", 50, clock.now - timedelta(minutes=5))
    put_errors(failing, 40, clock.now - timedelta(hours=3))  # before the window

    outcomes = evaluator(aws, deliveries, clock).evaluate_due()

    assert {(o.subject, o.action) for o in outcomes} == {
        (f"function:{failing}", "triggered"),
        (f"function:{FUNCTION_PREFIX}CreateAlertFunction-DEF456", "unchanged"),
    }
    notification = deliveries.received()[0]["notification"]
    assert (notification["values"]["count"], notification["values"]["threshold"]) == (3.0, 3)
    assert states(aws, rule) == {f"function:{failing}": "firing"}


def test_function_errors_resolve_once_the_window_holds_none(
    aws: AwsResources, deliveries: Deliveries
) -> None:
    clock = Clock(datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2))
    rule = store_rule(aws, clock.now - timedelta(hours=1), **{**SYSTEM, "sources": ["function_errors"]})
    failing = f"{FUNCTION_PREFIX}PredictFunction-ABC123"
    put_errors(failing, 1, clock.now - timedelta(minutes=5))
    subject = evaluator(aws, deliveries, clock)
    subject.evaluate_due()

    clock.advance(hours=2)
    (outcome,) = subject.evaluate_due()

    assert (outcome.subject, outcome.action) == (f"function:{failing}", "resolved")
    assert states(aws, rule) == {f"function:{failing}": "ok"}


# -- dead-letter queues ------------------------------------------------------------------------------------


def test_a_message_in_a_dead_letter_queue_fires_until_the_queue_is_drained(
    aws: AwsResources, deliveries: Deliveries
) -> None:
    clock = Clock(CREATED + timedelta(minutes=1))
    dlq = aws.sqs.create_queue(QueueName="cirrus-dev-pipeline-events-dlq")["QueueUrl"]
    empty = aws.sqs.create_queue(QueueName="cirrus-dev-alert-delivery-dlq")["QueueUrl"]
    rule = store_rule(aws, CREATED, **{**SYSTEM, "sources": ["dlq_messages"]})
    aws.sqs.send_message(QueueUrl=dlq, MessageBody="{}")
    subject = evaluator(aws, deliveries, clock, dead_letter_queue_urls=[dlq, empty])

    fired = subject.evaluate_due()
    aws.sqs.purge_queue(QueueUrl=dlq)
    clock.advance(minutes=1)
    drained = subject.evaluate_due()

    assert {(o.subject, o.action) for o in fired} == {
        ("queue:cirrus-dev-pipeline-events-dlq", "triggered"),
        ("queue:cirrus-dev-alert-delivery-dlq", "unchanged"),
    }
    assert ("queue:cirrus-dev-pipeline-events-dlq", "resolved") in {(o.subject, o.action) for o in drained}
    assert states(aws, rule) == {"queue:cirrus-dev-pipeline-events-dlq": "ok"}
