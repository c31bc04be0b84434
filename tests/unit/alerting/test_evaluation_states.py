"""An alert's state machine: ok -> firing sends a trigger to every channel and publishes alert.triggered
once; while firing, a reminder at most once per cooldown; firing -> ok sends a resolve notice and
publishes alert.resolved once. Two evaluations that see the same transition notify once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cirrus_core.alerting.queue import DeliveryQueue
from cirrus_core.alerting.rules_store import AlertRuleStore, AlertState
from cirrus_core.monitoring.models import AlertRule
from tests.support.aws import AwsResources
from tests.unit.alerting.rules_support import (
    MONITORING_TABLE,
    Clock,
    Deliveries,
    MetricValues,
    alert_events,
    evaluator,
    store_rule,
    store_run,
)

CREATED = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(CREATED + timedelta(minutes=5))


@pytest.fixture
def deliveries(aws: AwsResources) -> Deliveries:
    return Deliveries(aws)


@pytest.fixture
def rule(aws: AwsResources) -> AlertRule:
    return store_rule(aws, CREATED)


def drifted(aws: AwsResources, clock: Clock) -> None:
    """A run in which two of four features drifted (share 0.5, over the rule's 0.25)."""
    store_run(aws, clock.now - timedelta(minutes=1), drifted=("amount", "age"))


def clean(aws: AwsResources, clock: Clock) -> None:
    store_run(aws, clock.now - timedelta(minutes=1))


def state(aws: AwsResources, rule: AlertRule, subject: str = "-") -> AlertState:
    return AlertRuleStore(aws.dynamodb, MONITORING_TABLE).state(rule.alert_id, subject)


def kinds(deliveries: Deliveries) -> list[tuple[str, str, bool]]:
    return [
        (request["channel"], request["notification"]["kind"], request["notification"]["values"]["reminder"])
        for request in deliveries.received()
    ]


# -- trigger ---------------------------------------------------------------------------------------------


def test_a_holding_condition_fires_once_with_a_trigger_per_channel(
    aws: AwsResources, rule: AlertRule, deliveries: Deliveries, clock: Clock
) -> None:
    drifted(aws, clock)
    subject = evaluator(aws, deliveries, clock)

    (outcome,) = subject.evaluate_due()

    assert outcome.action == "triggered"
    assert kinds(deliveries) == [("ml-oncall", "trigger", False), ("pager", "trigger", False)]
    notification = deliveries.received()[0]["notification"]
    assert (notification["alert_id"], notification["severity"], notification["model_id"]) == (
        rule.alert_id,
        "warning",
        "fraud_detection_v2",
    )
    assert notification["condition"] == "share of drifted features >= 0.25 (one monitor run)"
    assert notification["values"]["drift_share"] == 0.5
    assert notification["values"]["drifted_features"] == ["amount", "age"]
    assert notification["summary"].startswith("Drift on fraud_detection_v2 (prod): 50% of features drifted")
    assert notification["report_url"].endswith(f"/drift-runs/{notification['values']['run_id']}/report")


@pytest.mark.parametrize(
    ("spacing", "later", "evaluated_again"), [(50, 49, False), (50, 50, True), (5, 5, True)]
)
def test_a_rule_is_taken_up_again_only_once_its_evaluation_spacing_has_passed(
    aws: AwsResources,
    rule: AlertRule,
    deliveries: Deliveries,
    clock: Clock,
    spacing: int,
    later: int,
    evaluated_again: bool,
) -> None:
    # GIVEN a rule evaluated once (it fired)
    drifted(aws, clock)
    subject = evaluator(aws, deliveries, clock, spacing=timedelta(seconds=spacing))
    subject.evaluate_due()
    # WHEN the evaluator runs again `later` seconds on, after a clean run
    clock.advance(seconds=later)
    clean(aws, clock)

    outcomes = subject.evaluate_due()

    # THEN it is evaluated (and resolves) only when the spacing has passed
    assert [outcome.action for outcome in outcomes] == (["resolved"] if evaluated_again else [])


def test_firing_publishes_alert_triggered_with_the_dedup_key_of_the_notifications(
    aws: AwsResources, rule: AlertRule, deliveries: Deliveries, clock: Clock
) -> None:
    drifted(aws, clock)

    evaluator(aws, deliveries, clock).evaluate_due()

    (event,) = alert_events(aws)
    data = event["detail"]["data"]
    assert (event["source"], event["detail-type"]) == ("cirrus.monitoring", "alert.triggered")
    assert (data["alert_id"], data["subject"], data["value"], data["threshold"]) == (
        rule.alert_id,
        "-",
        0.5,
        0.25,
    )
    assert {request["notification"]["dedup_key"] for request in deliveries.received()} == {data["dedup_key"]}
    stored = state(aws, rule)
    assert (stored.status.value, stored.dedup_key, stored.fired_at) == (
        "firing",
        data["dedup_key"],
        clock.now,
    )


def test_a_condition_that_does_not_hold_notifies_nobody(
    aws: AwsResources, rule: AlertRule, deliveries: Deliveries, clock: Clock
) -> None:
    clean(aws, clock)

    (outcome,) = evaluator(aws, deliveries, clock).evaluate_due()

    assert outcome.action == "unchanged"
    assert deliveries.received() == []
    assert alert_events(aws) == []


def test_a_run_older_than_the_rule_is_not_evaluated(
    aws: AwsResources, rule: AlertRule, deliveries: Deliveries, clock: Clock
) -> None:
    store_run(aws, CREATED - timedelta(minutes=10), drifted=("amount", "age", "channel"))

    assert evaluator(aws, deliveries, clock).evaluate_due() == []
    assert deliveries.received() == []


@pytest.mark.parametrize("status", ["insufficient_data", "failed"])
def test_a_run_without_a_verdict_neither_fires_nor_resolves(
    aws: AwsResources, rule: AlertRule, deliveries: Deliveries, clock: Clock, status: str
) -> None:
    from cirrus_core.monitoring.models import DriftRunStatus

    drifted(aws, clock)
    subject = evaluator(aws, deliveries, clock)
    subject.evaluate_due()
    clock.advance(minutes=2)
    store_run(aws, clock.now - timedelta(seconds=30), status=DriftRunStatus(status))

    assert subject.evaluate_due() == []
    assert state(aws, rule).status.value == "firing"


# -- reminders -------------------------------------------------------------------------------------------


def test_while_firing_nothing_more_is_sent_within_the_cooldown(
    aws: AwsResources, rule: AlertRule, deliveries: Deliveries, clock: Clock
) -> None:
    drifted(aws, clock)
    subject = evaluator(aws, deliveries, clock)
    subject.evaluate_due()

    outcomes = []
    for _ in range(5):
        clock.advance(minutes=10)
        outcomes += subject.evaluate_due()

    assert [outcome.action for outcome in outcomes] == ["unchanged"] * 5
    assert len(deliveries.received()) == 2
    assert len(alert_events(aws)) == 1


def test_a_reminder_goes_out_once_the_cooldown_has_passed_without_an_event(
    aws: AwsResources, rule: AlertRule, deliveries: Deliveries, clock: Clock
) -> None:
    drifted(aws, clock)
    subject = evaluator(aws, deliveries, clock)
    subject.evaluate_due()
    fired = state(aws, rule)

    clock.advance(hours=1)
    (outcome,) = subject.evaluate_due()

    assert outcome.action == "reminded"
    assert kinds(deliveries)[2:] == [("ml-oncall", "trigger", True), ("pager", "trigger", True)]
    reminder = deliveries.received()[2]["notification"]
    assert reminder["dedup_key"] == fired.dedup_key
    assert reminder["summary"].startswith("Still firing since 2024-06-01 12:05 UTC")
    assert [event["detail-type"] for event in alert_events(aws)] == ["alert.triggered"]


# -- resolve ---------------------------------------------------------------------------------------------


def test_a_cleared_condition_resolves_once_with_a_notice_per_channel(
    aws: AwsResources, rule: AlertRule, deliveries: Deliveries, clock: Clock
) -> None:
    drifted(aws, clock)
    subject = evaluator(aws, deliveries, clock)
    subject.evaluate_due()
    clock.advance(minutes=30)
    clean(aws, clock)

    (outcome,) = subject.evaluate_due()
    clock.advance(minutes=5)
    (again,) = subject.evaluate_due()

    assert (outcome.action, again.action) == ("resolved", "unchanged")
    assert kinds(deliveries)[2:] == [("ml-oncall", "resolve", False), ("pager", "resolve", False)]
    triggered, resolved = alert_events(aws)
    assert resolved["detail-type"] == "alert.resolved"
    assert resolved["detail"]["data"]["dedup_key"] == triggered["detail"]["data"]["dedup_key"]
    assert resolved["detail"]["data"]["resolved_at"] == clock.now.replace(minute=35).isoformat()
    assert state(aws, rule).status.value == "ok"


def test_an_alert_that_fires_again_gets_a_new_dedup_key(
    aws: AwsResources, rule: AlertRule, deliveries: Deliveries, clock: Clock
) -> None:
    subject = evaluator(aws, deliveries, clock)
    keys = []
    for run in (drifted, clean, drifted):
        clock.advance(minutes=5)
        run(aws, clock)
        subject.evaluate_due()
        keys.append(state(aws, rule).dedup_key)

    assert keys[0] == keys[1]
    assert keys[2] != keys[0]


# -- due rules and concurrency ---------------------------------------------------------------------------


def test_a_rule_evaluated_less_than_a_minute_ago_is_not_due(
    aws: AwsResources, rule: AlertRule, deliveries: Deliveries, clock: Clock
) -> None:
    drifted(aws, clock)
    subject = evaluator(aws, deliveries, clock)

    first = subject.evaluate_due()
    clock.advance(seconds=20)
    second = evaluator(aws, deliveries, clock).evaluate_due()
    clock.advance(seconds=40)
    third = subject.evaluate_due()

    assert ([o.action for o in first], second, [o.action for o in third]) == (
        ["triggered"],
        [],
        ["unchanged"],
    )


class RacingStore(AlertRuleStore):
    """The real store, except that between reading a state and writing it back, another evaluation
    (the competitor) runs to completion: the interleaving of two overlapping evaluations."""

    def __init__(self, aws: AwsResources, competitor: Any) -> None:
        super().__init__(aws.dynamodb, MONITORING_TABLE)
        self.competitor = competitor

    def state(self, alert_id: str, subject: str) -> AlertState:
        seen = super().state(alert_id, subject)
        competitor, self.competitor = self.competitor, None
        if competitor is not None:
            competitor()
        return seen


@pytest.mark.parametrize("transition", ["trigger", "resolve"])
def test_two_evaluations_of_the_same_transition_notify_once(
    aws: AwsResources, rule: AlertRule, deliveries: Deliveries, clock: Clock, transition: str
) -> None:
    if transition == "resolve":
        drifted(aws, clock)
        evaluator(aws, deliveries, clock).evaluate_due()
        clock.advance(minutes=5)
        clean(aws, clock)
    else:
        drifted(aws, clock)
    before = len(deliveries.received())
    other = evaluator(aws, deliveries, clock)
    racing = RacingStore(aws, lambda: other.apply(rule, observation(aws, rule, clock), clock.now))
    subject = evaluator(aws, deliveries, clock, store=racing)

    outcome = subject.apply(rule, observation(aws, rule, clock), clock.now)

    assert outcome.action == "lost_race"
    assert len(deliveries.received()) - before == 2
    expected = {"trigger": "alert.triggered", "resolve": "alert.resolved"}[transition]
    assert [event["detail-type"] for event in alert_events(aws)].count(expected) == 1


def observation(aws: AwsResources, rule: AlertRule, clock: Clock) -> Any:
    from cirrus_core.alerting.evaluation import drift_observation
    from cirrus_core.alerting.evaluation_sources import DriftRunsReader
    from cirrus_core.monitoring.store import MonitoringStore

    verdict = DriftRunsReader(MonitoringStore(aws.dynamodb, MONITORING_TABLE)).latest_finished(
        "fraud_detection_v2", "prod", rule.created_at
    )
    assert verdict is not None
    made = drift_observation(rule, verdict)
    assert made is not None
    return made


def test_a_notification_that_cannot_be_queued_leaves_the_alert_to_fire_at_the_next_evaluation(
    aws: AwsResources, rule: AlertRule, deliveries: Deliveries, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    drifted(aws, clock)
    subject = evaluator(aws, deliveries, clock)

    def refuse(self: DeliveryQueue, requests: Any) -> None:
        raise RuntimeError("SQS refused delivery requests")

    with monkeypatch.context() as patch:
        patch.setattr(DeliveryQueue, "send", refuse)
        with pytest.raises(RuntimeError, match="SQS refused"):
            subject.apply(rule, observation(aws, rule, clock), clock.now)
    assert state(aws, rule).status.value == "ok"

    clock.advance(minutes=1)
    (outcome,) = subject.evaluate_due()

    assert outcome.action == "triggered"
    assert len(deliveries.received()) == 2


# -- performance rules -------------------------------------------------------------------------------------


def test_a_performance_rule_reads_its_metric_over_the_last_window(
    aws: AwsResources, deliveries: Deliveries, clock: Clock
) -> None:
    rule = store_rule(
        aws,
        CREATED,
        alert_type="performance_degradation",
        metric="latency_p95_ms",
        comparison="gt",
        threshold=250,
        evaluation_window="15m",
    )
    metrics = MetricValues()
    metrics.value = 312.5

    (outcome,) = evaluator(aws, deliveries, clock, metrics=metrics).evaluate_due()

    assert outcome.action == "triggered"
    (asked,) = metrics.asked
    assert asked[:3] == ("fraud_detection_v2", "prod", rule.metric)
    assert (asked[3], asked[4]) == (clock.now - timedelta(minutes=15), clock.now)
    notification = deliveries.received()[0]["notification"]
    assert (notification["severity"], notification["condition"]) == ("error", "latency_p95_ms over 15m > 250")
    assert notification["values"]["value"] == 312.5


@pytest.mark.parametrize(
    ("comparison", "value", "fires"),
    [("gt", 0.1, False), ("gt", 0.11, True), ("gte", 0.1, True), ("lt", 0.1, False), ("lte", 0.1, True)],
)
def test_a_comparison_decides_at_the_threshold(
    aws: AwsResources, deliveries: Deliveries, clock: Clock, comparison: str, value: float, fires: bool
) -> None:
    store_rule(
        aws,
        CREATED,
        alert_type="performance_degradation",
        metric="error_rate",
        comparison=comparison,
        threshold=0.1,
    )
    metrics = MetricValues()
    metrics.value = value

    (outcome,) = evaluator(aws, deliveries, clock, metrics=metrics).evaluate_due()

    assert outcome.action == ("triggered" if fires else "unchanged")


def test_a_metric_with_nothing_measured_neither_fires_nor_resolves(
    aws: AwsResources, deliveries: Deliveries, clock: Clock
) -> None:
    rule = store_rule(
        aws, CREATED, alert_type="performance_degradation", metric="accuracy", comparison="lt", threshold=0.9
    )
    metrics = MetricValues()
    metrics.value = 0.7
    subject = evaluator(aws, deliveries, clock, metrics=metrics)
    subject.evaluate_due()

    metrics.value = None
    clock.advance(minutes=2)

    assert subject.evaluate_due() == []
    assert state(aws, rule).status.value == "firing"
    assert len(alert_events(aws)) == 1


# -- notifying that fails part-way -------------------------------------------------------------------------


def test_a_trigger_queued_in_part_is_retried_as_the_same_notification_under_the_same_dedup_key(
    aws: AwsResources, rule: AlertRule, deliveries: Deliveries, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    drifted(aws, clock)
    subject = evaluator(aws, deliveries, clock)
    send = DeliveryQueue.send

    def first_only(self: DeliveryQueue, requests: Any) -> None:
        send(self, requests[:1])
        raise RuntimeError("SQS refused delivery requests")

    with monkeypatch.context() as patch:
        patch.setattr(DeliveryQueue, "send", first_only)
        subject.evaluate_due()  # the failure is logged; the rule's other subjects go on
    clock.advance(minutes=1)
    (outcome,) = subject.evaluate_due()

    assert outcome.action == "triggered"
    requests = deliveries.received()
    assert [request["channel"] for request in requests] == ["ml-oncall", "ml-oncall", "pager"]
    assert len({request["notification"]["dedup_key"] for request in requests}) == 1
    assert len({request["notification"]["notification_id"] for request in requests}) == 1
    assert requests[0]["delivery_id"] == requests[1]["delivery_id"]
    (event,) = alert_events(aws)
    assert event["detail"]["data"]["dedup_key"] == requests[0]["notification"]["dedup_key"]
    assert state(aws, rule).fired_at == clock.now - timedelta(minutes=1)


def test_an_event_that_cannot_be_published_is_retried_with_the_notifications_already_queued(
    aws: AwsResources, rule: AlertRule, deliveries: Deliveries, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cirrus_core.events import EventPublisher

    drifted(aws, clock)
    subject = evaluator(aws, deliveries, clock)

    def refuse(self: EventPublisher, events: Any) -> None:
        raise RuntimeError("EventBridge refused the event")

    with monkeypatch.context() as patch:
        patch.setattr(EventPublisher, "publish", refuse)
        subject.evaluate_due()  # the failure is logged; the rule's other subjects go on
    clock.advance(minutes=1)
    subject.evaluate_due()

    requests = deliveries.received()
    assert len(requests) == 4
    assert (
        len({(r["notification"]["notification_id"], r["notification"]["dedup_key"]) for r in requests}) == 1
    )
    assert len({r["delivery_id"] for r in requests}) == 2
    (event,) = alert_events(aws)
    assert event["detail"]["data"]["dedup_key"] == requests[0]["notification"]["dedup_key"]


def test_a_resolve_that_cannot_be_queued_is_retried_as_the_same_notification(
    aws: AwsResources, rule: AlertRule, deliveries: Deliveries, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    drifted(aws, clock)
    subject = evaluator(aws, deliveries, clock)
    subject.evaluate_due()
    clock.advance(minutes=5)
    clean(aws, clock)
    send = DeliveryQueue.send

    def first_only(self: DeliveryQueue, requests: Any) -> None:
        send(self, requests[:1])
        raise RuntimeError("SQS refused delivery requests")

    with monkeypatch.context() as patch:
        patch.setattr(DeliveryQueue, "send", first_only)
        subject.evaluate_due()  # the failure is logged; the rule's other subjects go on
    clock.advance(minutes=1)
    (outcome,) = subject.evaluate_due()

    assert outcome.action == "resolved"
    resolves = [r["notification"] for r in deliveries.received() if r["notification"]["kind"] == "resolve"]
    assert len(resolves) == 3
    assert len({(n["notification_id"], n["dedup_key"], n["occurred_at"]) for n in resolves}) == 1
    assert [event["detail-type"] for event in alert_events(aws)] == ["alert.triggered", "alert.resolved"]


# -- what every notification shows -------------------------------------------------------------------------


def fire_drift(aws: AwsResources, deliveries: Deliveries, clock: Clock) -> None:
    drifted(aws, clock)
    evaluator(aws, deliveries, clock).evaluate_due()


def fire_performance(aws: AwsResources, deliveries: Deliveries, clock: Clock) -> None:
    metrics = MetricValues()
    metrics.value = 0.5
    evaluator(aws, deliveries, clock, metrics=metrics).evaluate_due()


def fire_system(aws: AwsResources, deliveries: Deliveries, clock: Clock) -> None:
    dlq = aws.sqs.create_queue(QueueName="cirrus-dev-pipeline-events-dlq")["QueueUrl"]
    aws.sqs.send_message(QueueUrl=dlq, MessageBody="{}")
    evaluator(aws, deliveries, clock, dead_letter_queue_urls=[dlq]).evaluate_due()


@pytest.mark.parametrize(
    ("fields", "fire", "observed", "threshold"),
    [
        ({}, fire_drift, 0.5, 0.25),
        (
            {
                "alert_type": "performance_degradation",
                "metric": "error_rate",
                "comparison": "gt",
                "threshold": 0.1,
            },
            fire_performance,
            0.5,
            0.1,
        ),
        (
            {
                "alert_type": "system_failures",
                "model_id": None,
                "environment": None,
                "threshold": 1,
                "sources": ["dlq_messages"],
            },
            fire_system,
            1,
            1,
        ),
    ],
    ids=["drift_detection", "performance_degradation", "system_failures"],
)
def test_every_rule_types_notification_shows_what_was_observed_against_its_threshold(
    aws: AwsResources,
    deliveries: Deliveries,
    clock: Clock,
    fields: dict[str, Any],
    fire: Any,
    observed: float,
    threshold: float,
) -> None:
    from cirrus_core.alerting.formatting import email_message
    from cirrus_core.alerting.notification import Notification

    store_rule(aws, CREATED, **fields)
    fire(aws, deliveries, clock)

    notification = Notification.model_validate(deliveries.received()[0]["notification"])
    assert (notification.values["observed"], notification.values["threshold"]) == (observed, threshold)
    _, text = email_message(notification)
    assert f"Observed:   {observed:.6g} (threshold {threshold:.6g})" in text
