"""Fires schedules in the local cloud: moto 5.2.5 stores them, runs none.

Two kinds, read through the emulator's own API by a daemon thread every `TICK_SECONDS`:

- EventBridge Scheduler schedules (ListSchedules / GetSchedule). Step Functions state machines
  (the templated target pipeline schedules use) get StartExecution with the target's `Input` and a
  fresh execution name; other targets are logged and skipped.
- EventBridge rules with a `ScheduleExpression` on the default bus (ListRules / ListTargetsByRule;
  EventBridge takes schedule expressions on the default bus only), which is what SAM's
  `Type: Schedule` function event becomes. Each due time, every target of the rule gets the
  scheduled event EventBridge sends (`"source": "aws.events"`, `"detail-type": "Scheduled Event"`,
  `time` the due time, `resources` the rule's ARN, `detail` {}) or what the target's `Input`,
  `InputPath` or `InputTransformer` makes of it (as the eventbridge hook builds it). Lambda
  functions are invoked asynchronously (InvocationType Event, so the local runtime runs the real
  handler), state machines get StartExecution; other targets are logged and skipped.

Expressions (a schedule's in its `ScheduleExpressionTimezone`, a rule's in UTC):
- `rate(<n> minute[s] | hour[s] | day[s])`: every n units from the schedule's creation, or from
  when the rule was first seen;
- `cron(<6 fields>)`: its next time after the schedule or rule was first seen (the fields
  `cirrus_core.pipelines.scheduler.next_fire_times` evaluates; one it cannot is logged, not fired);
- `at(yyyy-mm-ddThh:mm:ss)` (schedules only): once, then deleted when `ActionAfterCompletion` is
  DELETE.
DISABLED schedules and rules never fire, and `StartDate`/`EndDate` are honoured; a schedule or rule
whose expression changed is timed afresh, a deleted one is forgotten, and a rule's targets are read
when it fires. Unlike the services, a failed delivery is logged and not retried (`RetryPolicy` and
`DeadLetterConfig` have no local meaning here), and times missed while nothing ran (a stopped local
cloud) are not made up.

No moto internal is patched: the hook only calls the emulator's own API, on a thread it owns.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from botocore.exceptions import BotoCoreError, ClientError

from cirrus.localcloud.clients import new_client
from cirrus.localcloud.hooks.eventbridge import target_input

if TYPE_CHECKING:
    from collections.abc import Callable

    from cirrus.localcloud.hooks import HookContext, Undo

LOG = logging.getLogger(__name__)

TICK_SECONDS: Final = 1.0
_RATE = re.compile(r"^rate\(\s*(?P<value>\d+)\s+(?P<unit>minutes?|hours?|days?)\s*\)$")
_AT = re.compile(r"^at\((?P<moment>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_UNITS: Final = {"minute": 60, "hour": 3600, "day": 86400}
_DEFAULT_BUS: Final = "default"  # the only bus EventBridge takes schedule expressions on


@dataclass(frozen=True)
class Fired:
    """One delivery the runner made: which schedule or rule, to which target, when it was due.

    `execution_arn` is the execution a state machine target started ("" for a Lambda target).
    """

    schedule_arn: str
    target_arn: str
    due: datetime
    execution_arn: str


@dataclass
class _Timing:
    signature: tuple[Any, ...]  # what the due time was computed from; a change recomputes it
    due: datetime | None


class ScheduleRunner:
    """Delivers due schedules and schedule rules; `run_once()` is one pass, `start()` runs passes.

    Schedule rules are read only when an `events` client is given; their Lambda targets need the
    `lambda_client`.
    """

    def __init__(
        self,
        scheduler: Any,
        stepfunctions: Any,
        *,
        events: Any = None,
        lambda_client: Any = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        tick_seconds: float = TICK_SECONDS,
    ) -> None:
        self._scheduler = scheduler
        self._stepfunctions = stepfunctions
        self._events = events
        self._lambda = lambda_client
        self._clock = clock
        self._tick = tick_seconds
        self._timings: dict[str, _Timing] = {}
        self._warned: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the thread -------------------------------------------------------------------------------

    def start(self) -> ScheduleRunner:
        """Run a pass every tick on a daemon thread until `stop()`."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="cirrus-local-scheduler", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread (a pass under way finishes first); idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self._tick):
            try:
                self.run_once()
            except Exception:  # a pass must never end the thread: the next one tries again
                LOG.exception("the local scheduler's pass failed")

    # -- one pass ---------------------------------------------------------------------------------

    def run_once(self) -> list[Fired]:
        """Deliver every schedule and schedule rule that is due now; returns what was delivered."""
        now = self._clock()
        fired: list[Fired] = []
        seen: set[str] = set()
        for summary in self._summaries():
            schedule = self._scheduler.get_schedule(Name=summary["Name"], GroupName=summary["GroupName"])
            arn = str(schedule["Arn"])
            seen.add(arn)
            delivered = self._consider(schedule, now)
            if delivered is not None:
                fired.append(delivered)
        if self._events is not None:
            for rule in self._rules():
                seen.add(str(rule["Arn"]))
                fired.extend(self._consider_rule(rule, now))
        for gone in set(self._timings) - seen:
            del self._timings[gone]
        return fired

    def _summaries(self) -> list[dict[str, Any]]:
        summaries: list[dict[str, Any]] = []
        params: dict[str, Any] = {}
        while True:
            response = self._scheduler.list_schedules(**params)
            summaries.extend(response.get("Schedules", []))
            token = response.get("NextToken")
            if not token:
                return summaries
            params["NextToken"] = token

    def _rules(self) -> list[dict[str, Any]]:
        rules: list[dict[str, Any]] = []
        params: dict[str, Any] = {"EventBusName": _DEFAULT_BUS}
        while True:
            response = self._events.list_rules(**params)
            rules.extend(rule for rule in response.get("Rules", []) if rule.get("ScheduleExpression"))
            token = response.get("NextToken")
            if not token:
                return rules
            params["NextToken"] = token

    def _consider_rule(self, rule: dict[str, Any], now: datetime) -> list[Fired]:
        arn = str(rule["Arn"])
        if not str(rule.get("State", "ENABLED")).startswith("ENABLED"):
            self._timings.pop(arn, None)
            return []
        # A rule has no creation or modification date: a rate counts from when it was first seen,
        # and a new expression is timed afresh.
        signature = (str(rule["ScheduleExpression"]),)
        timing = self._timings.get(arn)
        if timing is None or timing.signature != signature:
            timing = _Timing(signature, self._first_due(rule, now))
            self._timings[arn] = timing
        if timing.due is None or now < timing.due:
            return []
        due = timing.due
        timing.due = self._next_due(rule, due, now)
        return self._deliver_rule(rule, due)

    def _consider(self, schedule: dict[str, Any], now: datetime) -> Fired | None:
        arn = str(schedule["Arn"])
        if schedule.get("State", "ENABLED") != "ENABLED":
            self._timings.pop(arn, None)
            return None
        expression = str(schedule.get("ScheduleExpression", ""))
        signature = (
            expression,
            schedule.get("ScheduleExpressionTimezone"),
            schedule.get("StartDate"),
            schedule.get("LastModificationDate"),
        )
        timing = self._timings.get(arn)
        if timing is None or timing.signature != signature:
            timing = _Timing(signature, self._first_due(schedule, now))
            self._timings[arn] = timing
        if timing.due is None or now < timing.due:
            return None
        due = timing.due
        timing.due = self._next_due(schedule, due, now)
        end = _moment(schedule.get("EndDate"))
        if end is not None and due > end:
            timing.due = None
            return None
        fired = self._deliver(schedule, due)
        if expression.startswith("at(") and schedule.get("ActionAfterCompletion") == "DELETE":
            self._scheduler.delete_schedule(Name=schedule["Name"], GroupName=schedule["GroupName"])
            self._timings.pop(arn, None)
        return fired

    # -- timing -----------------------------------------------------------------------------------

    def _first_due(self, schedule: dict[str, Any], now: datetime) -> datetime | None:
        expression = str(schedule.get("ScheduleExpression", ""))
        start = _moment(schedule.get("StartDate"))
        rate = _rate(expression)
        if rate is not None:
            anchor = start or _moment(schedule.get("CreationDate")) or now
            due = anchor + rate
            while due < now:
                due += rate
            return due
        if expression.startswith("at("):
            return self._at(schedule)
        return self._cron_after(schedule, max(now, start) if start else now)

    def _next_due(self, schedule: dict[str, Any], due: datetime, now: datetime) -> datetime | None:
        expression = str(schedule.get("ScheduleExpression", ""))
        rate = _rate(expression)
        if rate is not None:
            following = due + rate
            while following <= now:  # a pass came late: skip, do not burst
                following += rate
            return following
        if expression.startswith("at("):
            return None
        return self._cron_after(schedule, max(due, now))

    def _at(self, schedule: dict[str, Any]) -> datetime | None:
        match = _AT.match(str(schedule.get("ScheduleExpression", "")))
        zone = self._zone(schedule)
        if match is None or zone is None:
            self._warn(str(schedule["Arn"]), "an at() expression it cannot read")
            return None
        return datetime.fromisoformat(match["moment"]).replace(tzinfo=zone).astimezone(UTC)

    def _cron_after(self, schedule: dict[str, Any], after: datetime) -> datetime | None:
        from cirrus_core.pipelines.scheduler import next_fire_times

        expression = str(schedule.get("ScheduleExpression", ""))
        times = next_fire_times(
            expression, str(schedule.get("ScheduleExpressionTimezone") or "UTC"), after, 1
        )
        if not times:
            self._warn(str(schedule["Arn"]), "an expression it does not evaluate")
            return None
        return times[0]

    def _zone(self, schedule: dict[str, Any]) -> ZoneInfo | None:
        try:
            return ZoneInfo(str(schedule.get("ScheduleExpressionTimezone") or "UTC"))
        except (ZoneInfoNotFoundError, ValueError):
            return None

    # -- delivery ---------------------------------------------------------------------------------

    def _deliver(self, schedule: dict[str, Any], due: datetime) -> Fired | None:
        target = schedule.get("Target") or {}
        target_arn = str(target.get("Arn", ""))
        payload = str(target.get("Input") or "{}")
        arn = str(schedule["Arn"])
        try:
            if ":states:" in target_arn and ":stateMachine:" in target_arn:
                started = self._stepfunctions.start_execution(
                    stateMachineArn=target_arn, name=str(uuid.uuid4()), input=payload
                )
                LOG.info("schedule %s started %s", arn, started["executionArn"])
                return Fired(arn, target_arn, due, str(started["executionArn"]))
        except (ClientError, BotoCoreError) as error:
            LOG.warning("schedule %s could not deliver to %s: %s", arn, target_arn, error)
            return None
        self._warn(str(schedule["Arn"]), f"a target it does not deliver to ({target_arn})")
        return None

    def _deliver_rule(self, rule: dict[str, Any], due: datetime) -> list[Fired]:
        arn, name = str(rule["Arn"]), str(rule["Name"])
        event = scheduled_event(arn, due)
        fired: list[Fired] = []
        for target in self._targets(name):
            target_arn = str(target.get("Arn", ""))
            try:
                payload = target_input(target, event, arn, name)
            except (ValueError, KeyError, TypeError) as error:  # an input EventBridge would refuse
                LOG.warning("rule %s could not build the input of %s: %s", arn, target_arn, error)
                continue
            try:
                execution_arn = self._send(target_arn, payload)
            except (ClientError, BotoCoreError) as error:
                LOG.warning("rule %s could not deliver to %s: %s", arn, target_arn, error)
                continue
            if execution_arn is None:
                self._warn(f"{arn} -> {target_arn}", "a target it does not deliver to")
                continue
            LOG.info("rule %s delivered to %s %s", arn, target_arn, execution_arn)
            fired.append(Fired(arn, target_arn, due, execution_arn))
        return fired

    def _send(self, target_arn: str, payload: str) -> str | None:
        """Deliver to one rule target: the execution started ("" for a function), None if skipped."""
        service = target_arn.split(":")[2] if target_arn.count(":") >= 2 else ""
        if service == "lambda" and self._lambda is not None:
            # EventBridge invokes functions asynchronously: delivered once Lambda accepts the event.
            self._lambda.invoke(FunctionName=target_arn, InvocationType="Event", Payload=payload.encode())
            return ""
        if service == "states" and ":stateMachine:" in target_arn:
            started = self._stepfunctions.start_execution(
                stateMachineArn=target_arn, name=str(uuid.uuid4()), input=payload
            )
            return str(started["executionArn"])
        return None

    def _targets(self, rule_name: str) -> list[dict[str, Any]]:
        targets: list[dict[str, Any]] = []
        params: dict[str, Any] = {"Rule": rule_name, "EventBusName": _DEFAULT_BUS}
        try:
            while True:
                response = self._events.list_targets_by_rule(**params)
                targets.extend(response.get("Targets", []))
                token = response.get("NextToken")
                if not token:
                    return targets
                params["NextToken"] = token
        except ClientError as error:  # deleted since it was listed
            LOG.info("rule %s has gone: %s", rule_name, error)
            return []

    def _warn(self, key: str, what: str) -> None:
        """Log `what` once for `key` (a schedule or rule ARN, or a rule's target), not every pass."""
        if key not in self._warned:
            self._warned.add(key)
            LOG.warning("the local scheduler skips %s: %s", key, what)


def scheduled_event(rule_arn: str, due: datetime) -> dict[str, Any]:
    """The event EventBridge sends a schedule rule's targets for the time `due`."""
    _, _, _, region, account, _ = rule_arn.split(":", 5)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": due.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


def _rate(expression: str) -> timedelta | None:
    match = _RATE.match(expression)
    if match is None:
        return None
    return timedelta(seconds=int(match["value"]) * _UNITS[match["unit"].rstrip("s")])


def _moment(value: Any) -> datetime | None:
    """A Scheduler API date (a datetime from boto3) in UTC, or None."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def install(context: HookContext) -> Undo:
    """Start firing the emulator's schedules and schedule rules; the returned Undo stops the thread."""
    runner = ScheduleRunner(
        new_client("scheduler", context.endpoint_url, context.region),
        new_client("stepfunctions", context.endpoint_url, context.region),
        events=new_client("events", context.endpoint_url, context.region),
        lambda_client=new_client("lambda", context.endpoint_url, context.region),
    ).start()
    return runner.stop
