"""Alert evaluation: each rule's condition against what was observed, and the alert's state machine.

    ok --(condition holds)--> firing      trigger to every channel, `alert.triggered`
    firing --(still holds)--> firing      a reminder, at most once per cooldown
    firing --(clears)-------> ok          resolve notice to every channel, `alert.resolved`

A state is written before anyone is notified, with a condition on the version it was read at: of two
evaluations that see the same transition, one wins the write and notifies, the other changes nothing.
If notifying fails (some channels may have been queued already, or only the event failed), the state is
put back (when nobody changed it since) with the notice remembered as pending: the next evaluation that
makes the same transition sends it again as the same notice (notification id, delivery ids, time) under
the same dedup key and fired_at, so no channel sees a second alert. An observation without a value
(nothing measured) changes nothing.

Every observation's values carry `observed` and `threshold` (what each channel shows).

Conditions per type:
- drift_detection: the share of drifted features of the newest finished drift monitor run of the
  model's environment (started since the rule was created) >= threshold;
- performance_degradation: the metric over the last evaluation_window `comparison` threshold;
- system_failures, per subject: pipeline failures and serving rollbacks (events) counted within the
  window >= threshold, cleared after a window without any (a failure is counted once however often its
  event arrives: by its run or deployment id); Lambda `Errors` summed over the window per
  function >= threshold; messages visible in a dead-letter queue >= threshold.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from cirrus_core.alerting.notification import DeliveryRequest, Notification, NotificationKind
from cirrus_core.alerting.rules_store import Hit, PendingNotice
from cirrus_core.events import LifecycleEvent
from cirrus_core.invariants import given
from cirrus_core.monitoring.models import (
    EVENT_SOURCES,
    AlertRule,
    AlertStatus,
    AlertType,
    SystemFailureSource,
)
from cirrus_core.observability import logger

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from cirrus_core.alerting.rules_store import AlertState
    from cirrus_core.metrics.query import MetricName

EVALUATOR_ACTOR = "alerts"
WHOLE_RULE = "-"
# Scheduled evaluations of one rule at least this far apart by default (the evaluator runs every
# minute); the local cloud spaces them less, so that a test's own evaluation is rarely turned away.
EVALUATION_INTERVAL = timedelta(seconds=50)
MAX_HITS = 1000
# How long a counted failure's identity is kept (beyond its window) so that a late redelivery of its
# event (EventBridge retries for up to 24 hours) is still recognised.
REDELIVERY_HORIZON = timedelta(hours=24)


# -- ports ------------------------------------------------------------------------------------------------


class StatePort(Protocol):
    def all_rules(self) -> list[AlertRule]: ...

    def state(self, alert_id: str, subject: str) -> AlertState: ...

    def states(self, alert_id: str) -> list[AlertState]: ...

    def save_state(self, state: AlertState) -> AlertState | None: ...

    def claim_evaluation(self, alert_id: str, now: datetime, due_before: datetime) -> bool: ...


@dataclass(frozen=True)
class DriftVerdict:
    """A finished drift monitor run as a drift rule reads it."""

    run_id: str
    drift_share: float | None  # None: the run gave no verdict (insufficient data, failed)
    drifted_features: tuple[str, ...]
    version: int | None
    window_start: datetime
    window_end: datetime


class DriftRunsPort(Protocol):
    def latest_finished(self, model_id: str, environment: str, since: datetime) -> DriftVerdict | None: ...


class MetricsPort(Protocol):
    def window_value(
        self, model_id: str, environment: str, metric: MetricName, start: datetime, end: datetime
    ) -> float | None: ...


class FunctionErrorsPort(Protocol):
    def errors(self, start: datetime, end: datetime) -> dict[str, float]:
        """Lambda `Errors` summed over [start, end) per function of the stack."""
        ...


class DeadLetterQueuesPort(Protocol):
    def depths(self) -> dict[str, int]:
        """Messages visible per dead-letter queue of the stack, by queue name."""
        ...


class DeliveryPort(Protocol):
    def send(self, requests: Sequence[DeliveryRequest]) -> None: ...


class EventsPort(Protocol):
    def publish(self, events: Sequence[LifecycleEvent]) -> None: ...


# -- observations ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Observation:
    """What a rule's condition saw for one subject: whether it holds, the value, and what to show."""

    subject: str
    holds: bool
    value: float | None
    summary: str
    values: dict[str, Any] = field(default_factory=dict)
    report_url: str | None = None
    links: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """What one evaluation of one subject did."""

    alert_id: str
    subject: str
    action: str  # triggered | reminded | resolved | unchanged | lost_race
    status: AlertStatus


def condition_text(rule: AlertRule) -> str:
    """The rule in words."""
    if rule.alert_type is AlertType.DRIFT_DETECTION:
        return f"share of drifted features >= {rule.threshold:g} (one monitor run)"
    if rule.alert_type is AlertType.PERFORMANCE_DEGRADATION:
        metric, comparison = given(rule.metric, "metric"), given(rule.comparison, "comparison")
        return f"{metric.value} over {rule.evaluation_window} {comparison.symbol} {rule.threshold:g}"
    sources = ", ".join(source.value for source in rule.watched_sources)
    return (
        f"at least {int(rule.threshold)} failure(s) per subject within {rule.evaluation_window} ({sources})"
    )


def subject_source(subject: str) -> SystemFailureSource | None:
    prefix = subject.partition(":")[0]
    return {
        "pipeline": SystemFailureSource.PIPELINE_FAILURES,
        "deployment": SystemFailureSource.DEPLOYMENT_ROLLBACKS,
        "function": SystemFailureSource.FUNCTION_ERRORS,
        "queue": SystemFailureSource.DLQ_MESSAGES,
    }.get(prefix)


def drift_report_link(model_id: str, run_id: str) -> str:
    from cirrus_core.api import API_PREFIX

    return f"{API_PREFIX}/monitoring/models/{model_id}/drift-runs/{run_id}/report"


def drift_observation(rule: AlertRule, verdict: DriftVerdict, api_base_url: str = "") -> Observation | None:
    """A drift rule's observation of a finished run; None when the run gave no verdict."""
    if verdict.drift_share is None or rule.model_id is None:
        return None
    report = drift_report_link(rule.model_id, verdict.run_id)
    holds = verdict.drift_share >= rule.threshold
    features = ", ".join(verdict.drifted_features[:10]) or "none"
    return Observation(
        subject=WHOLE_RULE,
        holds=holds,
        value=verdict.drift_share,
        summary=(
            f"Drift on {rule.model_id} ({_environment(rule)}): {verdict.drift_share:.0%} of features drifted "
            f"({features})"
            if holds
            else f"No drift on {rule.model_id} ({_environment(rule)}): "
            f"{verdict.drift_share:.0%} of features drifted"
        ),
        values={
            "observed": verdict.drift_share,
            "threshold": rule.threshold,
            "drift_share": verdict.drift_share,
            "drifted_features": list(verdict.drifted_features),
            "run_id": verdict.run_id,
            "version": verdict.version,
            "window_start": verdict.window_start.isoformat(),
            "window_end": verdict.window_end.isoformat(),
        },
        report_url=f"{api_base_url}{report}",
        links={"report": f"{api_base_url}{report}", "run": f"{api_base_url}{report.removesuffix('/report')}"},
    )


def _environment(rule: AlertRule) -> str:
    return rule.environment.value if rule.environment else "every environment"


# -- the evaluator -----------------------------------------------------------------------------------


class AlertEvaluator:
    """Evaluates rules on schedule and on events, moves their alerts' state, and notifies."""

    def __init__(
        self,
        states: StatePort,
        drift_runs: DriftRunsPort,
        metrics: Callable[[], MetricsPort],
        function_errors: FunctionErrorsPort,
        dead_letter_queues: DeadLetterQueuesPort,
        delivery: DeliveryPort,
        events: EventsPort,
        *,
        api_base_url: str = "",
        evaluation_spacing: timedelta = EVALUATION_INTERVAL,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._states = states
        self._spacing = evaluation_spacing
        self._drift_runs = drift_runs
        self._metrics = metrics
        self._function_errors = function_errors
        self._dead_letter_queues = dead_letter_queues
        self._delivery = delivery
        self._events = events
        self._api = api_base_url.rstrip("/")
        self._clock = clock

    # -- on schedule --------------------------------------------------------------------------------

    def evaluate_due(self) -> list[Outcome]:
        """Evaluate every rule not evaluated in the last interval (claimed, so overlapping runs share)."""
        now = self._clock()
        outcomes: list[Outcome] = []
        measured: dict[str, Any] = {}
        for rule in self._states.all_rules():
            if not self._states.claim_evaluation(rule.alert_id, now, now - self._spacing):
                continue
            try:
                outcomes.extend(self._evaluate_rule(rule, now, measured))
            except Exception:
                # One rule's failing source must not keep the others from being evaluated.
                logger.exception("Alert rule evaluation failed", extra={"alert_id": rule.alert_id})
        return outcomes

    def _evaluate_rule(self, rule: AlertRule, now: datetime, measured: dict[str, Any]) -> list[Outcome]:
        if rule.alert_type is AlertType.DRIFT_DETECTION:
            model_id, environment = given(rule.model_id, "model_id"), given(rule.environment, "environment")
            verdict = self._drift_runs.latest_finished(model_id, environment.value, rule.created_at)
            observation = drift_observation(rule, verdict, self._api) if verdict else None
            return [self.apply(rule, observation, now)] if observation else []
        if rule.alert_type is AlertType.PERFORMANCE_DEGRADATION:
            observation = self._performance(rule, now)
            return [self.apply(rule, observation, now)] if observation else []
        return [self.apply(rule, observation, now) for observation in self._system(rule, now, measured)]

    def _performance(self, rule: AlertRule, now: datetime) -> Observation | None:
        model_id, environment = given(rule.model_id, "model_id"), given(rule.environment, "environment")
        metric, comparison = given(rule.metric, "metric"), given(rule.comparison, "comparison")
        value = self._metrics().window_value(model_id, environment.value, metric, now - rule.window, now)
        if value is None:
            return None
        holds = comparison.holds(value, rule.threshold)
        name = metric.value
        return Observation(
            subject=WHOLE_RULE,
            holds=holds,
            value=value,
            summary=(
                f"{name} of {model_id} ({environment.value}) is {value:g} over the last "
                f"{rule.evaluation_window}: {'' if holds else 'no longer '}"
                f"{comparison.symbol} {rule.threshold:g}"
            ),
            values={
                "observed": value,
                "metric": name,
                "value": value,
                "comparison": comparison.value,
                "threshold": rule.threshold,
                "window_start": (now - rule.window).isoformat(),
                "window_end": now.isoformat(),
            },
            links={"metrics": f"{self._api}/api/v1/monitoring/models/{model_id}/metrics?metric={name}"},
        )

    def _system(self, rule: AlertRule, now: datetime, measured: dict[str, Any]) -> list[Observation]:
        sources = set(rule.watched_sources)
        observations: list[Observation] = []
        start = now - rule.window
        if SystemFailureSource.FUNCTION_ERRORS in sources:
            key = f"errors:{int(rule.window.total_seconds())}"
            if key not in measured:
                measured[key] = self._function_errors.errors(start, now)
            for function, errors in sorted(measured[key].items()):
                observations.append(
                    self._count(rule, f"function:{function}", errors, f"function {function}", "errors")
                )
        if SystemFailureSource.DLQ_MESSAGES in sources:
            if "queues" not in measured:
                measured["queues"] = self._dead_letter_queues.depths()
            for queue, depth in sorted(measured["queues"].items()):
                observations.append(
                    self._count(
                        rule, f"queue:{queue}", float(depth), f"dead-letter queue {queue}", "messages"
                    )
                )
        seen = {observation.subject for observation in observations}
        # Firing subjects nobody measures any more, and event-fed subjects quiet for a window, clear.
        for state in self._states.states(rule.alert_id):
            if state.status is not AlertStatus.FIRING or state.subject in seen:
                continue
            source = subject_source(state.subject)
            if source in EVENT_SOURCES:
                if state.last_true_at is not None and now - state.last_true_at < rule.window:
                    continue
                count = float(len([hit for hit in state.hits if hit.at > start]))
            else:
                count = 0.0
            observations.append(
                Observation(
                    subject=state.subject,
                    holds=False,
                    value=count,
                    summary=(
                        f"{_subject_words(state.subject)}: no failures in the last {rule.evaluation_window}"
                    ),
                    values=_count_values(state.subject, count, rule.threshold),
                )
            )
        return observations

    def _count(self, rule: AlertRule, subject: str, count: float, words: str, unit: str) -> Observation:
        holds = count >= rule.threshold
        return Observation(
            subject=subject,
            holds=holds,
            value=count,
            summary=(
                f"{words}: {count:g} {unit} in the last {rule.evaluation_window}"
                if unit == "errors"
                else f"{words}: {count:g} {unit} waiting"
            ),
            values=_count_values(subject, count, rule.threshold),
        )

    # -- on events -------------------------------------------------------------------------------------

    def on_drift_detected(self, data: dict[str, Any]) -> list[Outcome]:
        """Evaluate the drift rules of the run's model and environment with the run's verdict."""
        now = self._clock()
        verdict = DriftVerdict(
            run_id=str(data["run_id"]),
            drift_share=float(data["drift_share"]),
            drifted_features=tuple(str(feature["name"]) for feature in data.get("drifted_features", [])),
            version=data.get("version"),
            window_start=datetime.fromisoformat(str(data["window_start"])),
            window_end=datetime.fromisoformat(str(data["window_end"])),
        )
        outcomes: list[Outcome] = []
        for rule in self._states.all_rules():
            if (
                rule.alert_type is AlertType.DRIFT_DETECTION
                and rule.model_id == data["model_id"]
                and rule.environment is not None
                and rule.environment.value == data["environment"]
            ):
                observation = drift_observation(rule, verdict, self._api)
                if observation is not None:
                    outcomes.append(self.apply(rule, observation, now))
        return outcomes

    def on_pipeline_failed(self, data: dict[str, Any]) -> list[Outcome]:
        """A failed pipeline run counts against its pipeline in every system rule that watches them."""
        pipeline = str(data["pipeline_id"])
        details = {
            "pipeline_id": pipeline,
            "run_id": data.get("run_id"),
            "failed_step": data.get("failed_step"),
            "error": data.get("error"),
            "cause": (data.get("cause") or "")[:500] or None,
        }
        words = f"pipeline {pipeline}"
        if data.get("run_id"):
            words += f" (run {data['run_id']} failed at {data.get('failed_step') or 'an unknown step'})"
        link = (
            f"{self._api}/api/v1/pipelines/{pipeline}/runs/{data['run_id']}" if data.get("run_id") else None
        )
        return self._event_hit(
            lambda rule: SystemFailureSource.PIPELINE_FAILURES in rule.watched_sources,
            f"pipeline:{pipeline}",
            _failure_key("run", data.get("run_id"), data),
            words,
            details,
            link,
        )

    def on_deployment_rolled_back(self, data: dict[str, Any]) -> list[Outcome]:
        """A deployment the serving module rolled back counts against its model's environment."""
        model_id, environment = str(data["model_id"]), str(data["environment"])

        def concerned(rule: AlertRule) -> bool:
            return (
                SystemFailureSource.DEPLOYMENT_ROLLBACKS in rule.watched_sources
                and rule.model_id in (None, model_id)
                and (rule.environment is None or rule.environment.value == environment)
            )

        details = {
            "model_id": model_id,
            "environment": environment,
            "deployment_id": data.get("deployment_id"),
            "from_version": data.get("from_version"),
            "to_version": data.get("to_version"),
            "cause": (data.get("cause") or "")[:500] or None,
        }
        words = (
            f"deployment of {model_id} v{data.get('from_version')} to {environment} rolled back "
            f"to v{data.get('to_version')}"
        )
        link = (
            f"{self._api}/api/v1/models/{model_id}/deployments/{data['deployment_id']}"
            if data.get("deployment_id")
            else None
        )
        return self._event_hit(
            concerned,
            f"deployment:{model_id}/{environment}",
            _failure_key("deployment", data.get("deployment_id"), data),
            words,
            details,
            link,
        )

    def _event_hit(
        self,
        concerned: Callable[[AlertRule], bool],
        subject: str,
        key: str,
        words: str,
        details: dict[str, Any],
        link: str | None,
    ) -> list[Outcome]:
        now = self._clock()
        outcomes: list[Outcome] = []
        for rule in self._states.all_rules():
            if rule.alert_type is not AlertType.SYSTEM_FAILURES or not concerned(rule):
                continue
            kept_since = now - max(rule.window, REDELIVERY_HORIZON)
            for _ in range(3):  # the hit list is read-modify-write: retry a lost race
                state = self._states.state(rule.alert_id, subject)
                if any(hit.key == key for hit in state.hits):
                    # The same failure delivered again (EventBridge delivers at least once).
                    outcomes.append(Outcome(rule.alert_id, subject, "unchanged", state.status))
                    break
                kept = tuple(hit for hit in state.hits if hit.at > kept_since)[-MAX_HITS + 1 :]
                hits = (*kept, Hit(now, key))
                count = len([hit for hit in hits if hit.at > now - rule.window])
                observation = Observation(
                    subject=subject,
                    holds=count >= rule.threshold,
                    value=float(count),
                    summary=f"{words}; {count} failure(s) in the last {rule.evaluation_window}",
                    values={**details, **_count_values(subject, count, rule.threshold)},
                    report_url=link,
                    links={"subject": link} if link else {},
                )
                outcome = self._transition(rule, state, observation, now, hits=hits)
                if outcome.action != "lost_race":
                    outcomes.append(outcome)
                    break
        return outcomes

    # -- the state machine ------------------------------------------------------------------------------

    def apply(self, rule: AlertRule, observation: Observation, now: datetime) -> Outcome:
        """Move the subject's alert by the observation; notify on a won transition."""
        state = self._states.state(rule.alert_id, observation.subject)
        return self._transition(rule, state, observation, now, hits=None)

    def _transition(
        self,
        rule: AlertRule,
        state: AlertState,
        observation: Observation,
        now: datetime,
        *,
        hits: tuple[Hit, ...] | None,
    ) -> Outcome:
        kept_hits = hits if hits is not None else state.hits
        firing = state.status is AlertStatus.FIRING
        kind: NotificationKind | None = None
        action = "unchanged"
        retry: PendingNotice | None = None
        if observation.holds and not firing:
            retry = _pending(state, NotificationKind.TRIGGER, reminder=False, dedup_key=None)
            fired_at = retry.fired_at if retry else now
            new = replace(
                state,
                status=AlertStatus.FIRING,
                dedup_key=retry.dedup_key
                if retry
                else dedup_key(rule.alert_id, observation.subject, fired_at),
                fired_at=fired_at,
                last_notified_at=now,
                resolved_at=None,
                last_true_at=now,
                value=observation.value,
                hits=kept_hits,
            )
            kind, action = NotificationKind.TRIGGER, "triggered"
        elif observation.holds:
            reminder_due = (
                state.last_notified_at is None or now - state.last_notified_at >= rule.cooldown_length
            )
            new = replace(
                state,
                last_notified_at=now if reminder_due else state.last_notified_at,
                last_true_at=now,
                value=observation.value,
                hits=kept_hits,
            )
            if reminder_due:
                kind, action = NotificationKind.TRIGGER, "reminded"
                retry = _pending(state, kind, reminder=True, dedup_key=state.dedup_key)
        elif firing:
            retry = _pending(state, NotificationKind.RESOLVE, reminder=False, dedup_key=state.dedup_key)
            new = replace(
                state,
                status=AlertStatus.OK,
                resolved_at=retry.occurred_at if retry else now,
                value=observation.value,
                hits=kept_hits,
            )
            kind, action = NotificationKind.RESOLVE, "resolved"
        else:
            if hits is None or hits == state.hits:
                return Outcome(rule.alert_id, observation.subject, "unchanged", state.status)
            new = replace(state, hits=kept_hits, value=observation.value)
        if kind is None and hits is None and new.value == state.value:
            # Firing, still holding, no reminder due, nothing new to remember: no write.
            return Outcome(rule.alert_id, observation.subject, "unchanged", state.status)
        notice: PendingNotice | None = None
        if kind is not None:
            # A new notice supersedes whatever was pending; a retried one is sent as it was.
            notice = retry or PendingNotice(
                kind=kind,
                reminder=action == "reminded",
                notification_id=uuid.uuid4().hex,
                occurred_at=now,
                dedup_key=given(new.dedup_key, "dedup_key"),
                fired_at=given(new.fired_at, "fired_at"),
            )
            new = replace(new, pending=None)
        stored = self._states.save_state(new)
        if stored is None:
            return Outcome(rule.alert_id, observation.subject, "lost_race", state.status)
        if notice is not None:
            try:
                self._notify(rule, stored, observation, notice)
            except Exception:
                # Put the alert back, unless someone moved it since, so the next evaluation retries; it
                # sends the same notice again (some channels may have it already).
                self._states.save_state(replace(state, pending=notice, version=stored.version))
                raise
        logger.info(
            "Alert evaluated",
            extra={"alert_id": rule.alert_id, "subject": observation.subject, "action": action},
        )
        return Outcome(rule.alert_id, observation.subject, action, stored.status)

    def _notify(
        self, rule: AlertRule, state: AlertState, observation: Observation, notice: PendingNotice
    ) -> None:
        summary = observation.summary
        if notice.kind is NotificationKind.RESOLVE:
            summary = f"Resolved: {summary}"
        elif notice.reminder:
            summary = f"Still firing since {notice.fired_at:%Y-%m-%d %H:%M} UTC: {summary}"
        links = {"alert": f"{self._api}/api/v1/monitoring/alerts/{rule.alert_id}", **observation.links}
        notification = Notification(
            notification_id=notice.notification_id,
            alert_id=rule.alert_id,
            kind=notice.kind,
            alert_type=rule.alert_type.value,
            severity=rule.effective_severity,
            dedup_key=notice.dedup_key,
            model_id=rule.model_id,
            environment=rule.environment.value if rule.environment else None,
            summary=summary[:1024],
            condition=condition_text(rule),
            values={**observation.values, "subject": observation.subject, "reminder": notice.reminder},
            report_url=observation.report_url,
            links=links,
            occurred_at=notice.occurred_at,
        )
        requests = [
            # The same delivery id for the same notice and channel: a retried notice's deliveries are
            # the ones already logged, and the sender does not send a settled one again.
            DeliveryRequest(
                delivery_id=_delivery_id(notice.notification_id, channel),
                channel=channel,
                notification=notification,
            )
            for channel in rule.notification_channels
        ]
        if requests:
            self._delivery.send(requests)
        if notice.reminder:
            return
        self._events.publish([self._event(rule, state, observation, notice)])

    @staticmethod
    def _event(
        rule: AlertRule, state: AlertState, observation: Observation, notice: PendingNotice
    ) -> LifecycleEvent:
        data: dict[str, Any] = {
            "alert_id": rule.alert_id,
            "alert_type": rule.alert_type.value,
            "model_id": rule.model_id,
            "environment": rule.environment.value if rule.environment else None,
            "subject": observation.subject,
            "severity": rule.effective_severity.value,
            "dedup_key": notice.dedup_key,
            "condition": condition_text(rule),
            "threshold": rule.threshold,
            "value": observation.value,
            "summary": observation.summary[:1024],
            "fired_at": notice.fired_at.isoformat(),
            "report_url": observation.report_url,
            "notification_channels": list(rule.notification_channels),
        }
        if notice.kind is NotificationKind.RESOLVE:
            data["resolved_at"] = notice.occurred_at.isoformat()
            return LifecycleEvent("alert.resolved", data, EVALUATOR_ACTOR, notice.occurred_at)
        return LifecycleEvent("alert.triggered", data, EVALUATOR_ACTOR, notice.occurred_at)


def _pending(
    state: AlertState, kind: NotificationKind, *, reminder: bool, dedup_key: str | None
) -> PendingNotice | None:
    """The state's pending notice when it is the one this transition sends (of the same alert when
    `dedup_key` is given: a trigger from `ok` takes the pending trigger's own key)."""
    pending = state.pending
    if pending is None or pending.kind is not kind or pending.reminder is not reminder:
        return None
    if dedup_key is not None and pending.dedup_key != dedup_key:
        return None
    return pending


def _delivery_id(notification_id: str, channel: str) -> str:
    return hashlib.sha256(f"{notification_id}|{channel}".encode()).hexdigest()[:32]


def _count_values(subject: str, count: float, threshold: float) -> dict[str, Any]:
    return {"subject": subject, "observed": count, "count": count, "threshold": threshold}


def _failure_key(kind: str, identity: Any, data: dict[str, Any]) -> str:
    """Which failure an event reports: its run or deployment, else (a failure before either was known)
    the event's content, which is the same on every delivery of the event."""
    if identity:
        return f"{kind}:{identity}"
    content = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return f"{kind}-event:{hashlib.sha256(content.encode()).hexdigest()[:32]}"


def dedup_key(alert_id: str, subject: str, fired_at: datetime) -> str:
    """Stable while one alert stays open: the rule, the subject and when it fired (at most 64 chars)."""
    digest = hashlib.sha256(f"{subject}|{fired_at.isoformat()}".encode()).hexdigest()[:24]
    return f"{alert_id}-{digest}"


def _subject_words(subject: str) -> str:
    kind, _, name = subject.partition(":")
    return {
        "pipeline": f"pipeline {name}",
        "deployment": f"deployments of {name}",
        "function": f"function {name}",
        "queue": f"dead-letter queue {name}",
    }.get(kind, subject)
