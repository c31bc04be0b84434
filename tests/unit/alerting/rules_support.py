"""What the alert rule and evaluation tests share: the monitoring functions' environment, channels as
the channels API stores them, and building the evaluator on moto's services."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3

from cirrus_core.alerting import rules_wiring
from cirrus_core.alerting.evaluation import AlertEvaluator
from cirrus_core.alerting.evaluation_sources import DeadLetterQueues, DriftRunsReader, LambdaErrors
from cirrus_core.alerting.queue import DeliveryQueue
from cirrus_core.alerting.rules_store import AlertRuleStore
from cirrus_core.events import EventPublisher
from cirrus_core.monitoring.models import AlertRule, DriftRun, DriftRunStatus, DriftRunSummary, new_run_id
from cirrus_core.monitoring.store import MonitoringStore
from tests.support.aws import EVENT_BUS, TABLE_NAMES
from tests.support.events import assert_valid_event
from tests.unit.monitoring.support import MONITORING_ENVIRONMENT, clear_monitoring_wiring

if TYPE_CHECKING:
    from collections.abc import Callable

    from cirrus_core.metrics.query import MetricName
    from tests.support.aws import AwsResources

MONITORING_TABLE = TABLE_NAMES["MonitoringTable"]
FUNCTION_PREFIX = "cirrus-dev-"
ALERTS_ENVIRONMENT = {
    **MONITORING_ENVIRONMENT,
    "ALERT_FUNCTION_PREFIX": FUNCTION_PREFIX,
}
_SESSION = boto3.session.Session()


def clear_alert_wiring() -> None:
    clear_monitoring_wiring()
    rules_wiring.alert_rules_service.cache_clear()
    rules_wiring.alert_evaluator.cache_clear()
    rules_wiring.evaluation_settings.cache_clear()


def put_channel(aws: AwsResources, name: str) -> None:
    """A channel as the channels API stores it (the rules only check that the key exists)."""
    aws.dynamodb.put_item(
        TableName=MONITORING_TABLE,
        Item={
            "pk": {"S": f"CHANNEL#{name}"},
            "sk": {"S": "CHANNEL"},
            "channel": {"S": json.dumps({"name": name, "type": "webhook"})},
        },
    )


def alert_events(aws: AwsResources, detail_type: str | None = None) -> list[dict[str, Any]]:
    """The alert events published so far, each checked against its schema."""
    events = [
        event
        for event in aws.published_events()
        if str(event["detail-type"]).startswith("alert.")
        and (detail_type is None or event["detail-type"] == detail_type)
    ]
    for event in events:
        assert_valid_event(event)
    return events


class Clock:
    """A clock the test moves."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


class MetricValues:
    """A MetricsReader (cirrus_core.metrics.query) answering what the test sets, and remembering asks."""

    def __init__(self) -> None:
        self.value: float | None = None
        self.asked: list[tuple[str, str, MetricName, datetime, datetime]] = []

    def window_value(
        self, model_id: str, environment: str, metric: MetricName, start: datetime, end: datetime
    ) -> float | None:
        self.asked.append((model_id, environment, metric, start, end))
        return self.value


class Deliveries:
    """The delivery queue, read back."""

    def __init__(self, aws: AwsResources) -> None:
        self.sqs = aws.sqs
        self.url = aws.sqs.create_queue(QueueName="cirrus-test-alert-delivery")["QueueUrl"]
        self._seen: list[dict[str, Any]] = []

    def received(self) -> list[dict[str, Any]]:
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return list(self._seen)
            for message in messages:
                self._seen.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])


def evaluator(
    aws: AwsResources,
    deliveries: Deliveries,
    clock: Callable[[], datetime],
    *,
    metrics: MetricValues | None = None,
    dead_letter_queue_urls: list[str] | None = None,
    store: Any = None,
    spacing: timedelta | None = None,
) -> AlertEvaluator:
    """The evaluator on moto's DynamoDB, SQS, CloudWatch and EventBridge, as the wiring builds it."""
    reader = metrics or MetricValues()
    return AlertEvaluator(
        store or AlertRuleStore(aws.dynamodb, MONITORING_TABLE),
        DriftRunsReader(MonitoringStore(aws.dynamodb, MONITORING_TABLE)),
        lambda: reader,
        LambdaErrors(_SESSION.client("cloudwatch", region_name="us-east-1"), FUNCTION_PREFIX),
        DeadLetterQueues(aws.sqs, dead_letter_queue_urls or []),
        DeliveryQueue(aws.sqs, deliveries.url),
        EventPublisher(aws.events, EVENT_BUS, "cirrus.monitoring"),
        clock=clock,
        **({"evaluation_spacing": spacing} if spacing is not None else {}),
    )


def store_rule(aws: AwsResources, created_at: datetime, **fields: Any) -> AlertRule:
    """A rule stored as the rules API stores it (drift on the sample model by default)."""
    document: dict[str, Any] = {
        "alert_id": uuid.uuid4().hex,
        "model_id": "fraud_detection_v2",
        "alert_type": "drift_detection",
        "environment": "prod",
        "threshold": 0.25,
        "notification_channels": ["ml-oncall", "pager"],
        "evaluation_window": "1h",
        "cooldown": "1h",
        "created_at": created_at,
        "created_by": "ada@example.com",
        **fields,
    }
    rule = AlertRule.model_validate(document)
    AlertRuleStore(aws.dynamodb, MONITORING_TABLE).create_rule(rule, None)
    return rule


def store_run(
    aws: AwsResources,
    started_at: datetime,
    *,
    drifted: tuple[str, ...] = (),
    features: int = 4,
    status: DriftRunStatus = DriftRunStatus.SUCCEEDED,
    model_id: str = "fraud_detection_v2",
    environment: str = "prod",
) -> DriftRunSummary:
    """A finished drift monitor run in the monitoring table, as the drift runner records it."""
    run = DriftRun.model_validate(
        {
            "run_id": new_run_id(started_at),
            "model_id": model_id,
            "environment": environment,
            "version": 1,
            "status": status,
            "trigger": "schedule",
            "window_start": started_at - timedelta(hours=1),
            "window_end": started_at,
            "rows": 500,
            "drifted_features": list(drifted),
            "drift_share": len(drifted) / features if status is DriftRunStatus.SUCCEEDED else None,
            "started_at": started_at,
            "started_by": "scheduler",
            "finished_at": started_at + timedelta(seconds=20),
        }
    )
    store = MonitoringStore(aws.dynamodb, MONITORING_TABLE)
    store.create_run(run.model_copy(update={"status": DriftRunStatus.RUNNING}))
    store.finish_run(run)
    return run
