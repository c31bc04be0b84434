"""Fires EventBridge Scheduler schedules in the local cloud: moto 5.2.5 stores schedules, runs none.

A daemon thread reads the emulator's schedules through the Scheduler API every `TICK_SECONDS` and,
when one is due, delivers to its target as the service does. Step Functions state machines (the
templated target pipeline schedules use) get StartExecution with the target's `Input` and a fresh
execution name; other targets are logged and skipped.

Expressions, in the schedule's `ScheduleExpressionTimezone`:
- `rate(<n> minute[s] | hour[s] | day[s])`: every n units from the schedule's creation;
- `cron(<6 fields>)`: its next time after the schedule was first seen (the fields
  `cirrus_core.pipelines.scheduler.next_fire_times` evaluates; one it cannot is logged, not fired);
- `at(yyyy-mm-ddThh:mm:ss)`: once, then deleted when `ActionAfterCompletion` is DELETE.
DISABLED schedules and `StartDate`/`EndDate` are honoured; a changed schedule is timed afresh.
Unlike the service, a failed delivery is logged and not retried (`RetryPolicy` has no local
meaning), and times missed while nothing ran (a stopped local cloud) are not made up.

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

if TYPE_CHECKING:
    from collections.abc import Callable

    from cirrus.localcloud.hooks import HookContext, Undo

LOG = logging.getLogger(__name__)

TICK_SECONDS: Final = 1.0
_RATE = re.compile(r"^rate\(\s*(?P<value>\d+)\s+(?P<unit>minutes?|hours?|days?)\s*\)$")
_AT = re.compile(r"^at\((?P<moment>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_UNITS: Final = {"minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class Fired:
    """One delivery the runner made: which schedule, to which target, when it was due."""

    schedule_arn: str
    target_arn: str
    due: datetime
    execution_arn: str


@dataclass
class _Timing:
    signature: tuple[Any, ...]  # what the due time was computed from; a change recomputes it
    due: datetime | None


class ScheduleRunner:
    """Delivers due schedules; `run_once()` is one pass, `start()` runs passes on a thread."""

    def __init__(
        self,
        scheduler: Any,
        stepfunctions: Any,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        tick_seconds: float = TICK_SECONDS,
    ) -> None:
        self._scheduler = scheduler
        self._stepfunctions = stepfunctions
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
        """Deliver every schedule that is due now; returns what was delivered."""
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
            self._warn(schedule, "an at() expression it cannot read")
            return None
        return datetime.fromisoformat(match["moment"]).replace(tzinfo=zone).astimezone(UTC)

    def _cron_after(self, schedule: dict[str, Any], after: datetime) -> datetime | None:
        from cirrus_core.pipelines.scheduler import next_fire_times

        expression = str(schedule.get("ScheduleExpression", ""))
        times = next_fire_times(
            expression, str(schedule.get("ScheduleExpressionTimezone") or "UTC"), after, 1
        )
        if not times:
            self._warn(schedule, "an expression it does not evaluate")
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
        self._warn(schedule, f"a target it does not deliver to ({target_arn})")
        return None

    def _warn(self, schedule: dict[str, Any], what: str) -> None:
        arn = str(schedule.get("Arn", ""))
        if arn not in self._warned:
            self._warned.add(arn)
            LOG.warning("the local scheduler skips %s: %s", arn, what)


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
    """Start firing the emulator's schedules; the returned Undo stops the thread."""
    runner = ScheduleRunner(
        new_client("scheduler", context.endpoint_url, context.region),
        new_client("stepfunctions", context.endpoint_url, context.region),
    ).start()
    return runner.stop
