"""EventBridge Scheduler adapter: the schedules that start pipeline runs, in SCHEDULER_GROUP_NAME.

A schedule's target is the pipeline's state machine (Step Functions StartExecution, a templated
target) with the run's execution input. Its name is derived from the pipeline id and a hash of what
it runs, so asking twice for the same schedule finds the first one instead of making a second.
Also here: the next fire times of a cron expression, which the Scheduler API does not tell.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mypy_boto3_scheduler import EventBridgeSchedulerClient
    from mypy_boto3_scheduler.type_defs import TargetTypeDef

MAX_NAME_LENGTH = 64
_DIGEST_LENGTH = 16
_MAX_RETRY_ATTEMPTS = 3
_MAX_EVENT_AGE_SECONDS = 3600


class ScheduleRefused(Exception):
    """EventBridge Scheduler refused the schedule (an expression or time zone it does not take)."""


@dataclass(frozen=True)
class Schedule:
    """A schedule as GetSchedule tells it (`target_input` is the execution input, JSON text)."""

    name: str
    expression: str
    timezone: str
    state: str
    target_arn: str
    target_input: str | None = None
    description: str = ""
    created_at: datetime | None = None


def schedule_name(pipeline_id: str, fingerprint: Mapping[str, Any]) -> str:
    """`<pipeline_id>-<16 hex of a hash of what the schedule runs>`, at most 64 characters."""
    canonical = json.dumps({"pipeline_id": pipeline_id, **fingerprint}, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:_DIGEST_LENGTH]
    return f"{name_prefix(pipeline_id)}{digest}"


def name_prefix(pipeline_id: str) -> str:
    """What every schedule name of a pipeline starts with (a long id is cut short)."""
    return f"{pipeline_id[: MAX_NAME_LENGTH - _DIGEST_LENGTH - 1]}-"


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class Schedules:
    """Creates, reads, lists and deletes schedules in one schedule group."""

    def __init__(self, client: EventBridgeSchedulerClient, group: str, role_arn: str) -> None:
        self._client = client
        self._group = group
        self._role_arn = role_arn

    def create(
        self, name: str, expression: str, timezone: str, target_arn: str, target_input: str, description: str
    ) -> bool:
        """Create the schedule; False when one of that name exists already (nothing changes then)."""
        try:
            self._client.create_schedule(
                Name=name,
                GroupName=self._group,
                ScheduleExpression=expression,
                ScheduleExpressionTimezone=timezone,
                FlexibleTimeWindow={"Mode": "OFF"},
                Target=self._target(target_arn, target_input),
                State="ENABLED",
                Description=description,
                ActionAfterCompletion="NONE",
            )
        except ClientError as error:
            if _code(error) == "ConflictException":
                return False
            if _code(error) == "ValidationException":
                raise ScheduleRefused(str(error.response.get("Error", {}).get("Message", ""))) from error
            raise
        return True

    def _target(self, target_arn: str, target_input: str) -> TargetTypeDef:
        """Step Functions StartExecution (a templated target) with the run's execution input."""
        return {
            "Arn": target_arn,
            "RoleArn": self._role_arn,
            "Input": target_input,
            "RetryPolicy": {
                "MaximumRetryAttempts": _MAX_RETRY_ATTEMPTS,
                "MaximumEventAgeInSeconds": _MAX_EVENT_AGE_SECONDS,
            },
        }

    def get(self, name: str) -> Schedule | None:
        """The schedule, or None when the group holds none of that name."""
        try:
            response = self._client.get_schedule(Name=name, GroupName=self._group)
        except ClientError as error:
            if _code(error) == "ResourceNotFoundException":
                return None
            raise
        target = response.get("Target")
        return Schedule(
            name=response.get("Name", name),
            expression=response.get("ScheduleExpression", ""),
            timezone=response.get("ScheduleExpressionTimezone") or "UTC",
            state=str(response.get("State", "ENABLED")),
            target_arn=target["Arn"] if target else "",
            target_input=target.get("Input") if target else None,
            description=response.get("Description") or "",
            created_at=response.get("CreationDate"),
        )

    def names_targeting(self, prefix: str, target_arn: str) -> list[str]:
        """The names of the group's schedules that start with `prefix` and target `target_arn`."""
        names: list[str] = []
        params: dict[str, Any] = {"GroupName": self._group, "NamePrefix": prefix}
        while True:
            response = self._client.list_schedules(**params)
            for summary in response.get("Schedules", []):
                target = summary.get("Target")
                if target is not None and target["Arn"] == target_arn and "Name" in summary:
                    names.append(summary["Name"])
            token = response.get("NextToken")
            if not token:
                return sorted(names)
            params["NextToken"] = token

    def replace_input(self, schedule: Schedule, target_input: str, target_arn: str) -> None:
        """Give a schedule a new execution input (and target), keeping everything else."""
        self._client.update_schedule(
            Name=schedule.name,
            GroupName=self._group,
            ScheduleExpression=schedule.expression,
            ScheduleExpressionTimezone=schedule.timezone,
            FlexibleTimeWindow={"Mode": "OFF"},
            Target=self._target(target_arn, target_input),
            State="ENABLED" if schedule.state == "ENABLED" else "DISABLED",
            Description=schedule.description,
            ActionAfterCompletion="NONE",
        )

    def delete(self, name: str) -> bool:
        """Delete the schedule; False when there was none of that name."""
        try:
            self._client.delete_schedule(Name=name, GroupName=self._group)
        except ClientError as error:
            if _code(error) == "ResourceNotFoundException":
                return False
            raise
        return True


# -- next fire times --------------------------------------------------------------------------------

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1
    )
}
# EventBridge numbers days of the week 1 (Sunday) to 7 (Saturday).
_DAYS = {
    name: number for number, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), start=1)
}
_CRON = re.compile(r"^cron\((?P<fields>[^)]+)\)$")
_SEARCH_DAYS = 366 * 8


class _Unsupported(Exception):
    """A cron feature this calculator does not evaluate (L, W, #, wrapping ranges)."""


def _values(spec: str, low: int, high: int, names: Mapping[str, int] | None = None) -> frozenset[int] | None:
    """The values a cron field allows; None for `?` (no constraint)."""
    if spec == "?":
        return None
    allowed: set[int] = set()
    for part in spec.split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise _Unsupported(part)
        if body == "*":
            start, end = low, high
        else:
            first, dash, last = body.partition("-")
            start = _number(first, names)
            end = _number(last, names) if dash else (high if step_text else start)
        if not low <= start <= end <= high:
            raise _Unsupported(part)
        allowed.update(range(start, end + 1, step))
    return frozenset(allowed)


def _number(text: str, names: Mapping[str, int] | None) -> int:
    if names is not None and text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        raise _Unsupported(text)
    return int(text)


def _weekday(day: date) -> int:
    """EventBridge's day of the week: 1 is Sunday."""
    return (day.weekday() + 1) % 7 + 1


def next_fire_times(expression: str, timezone: str, after: datetime, count: int = 3) -> list[datetime]:
    """The next `count` times (UTC) a `cron(...)` expression fires after `after`, in its time zone.

    Empty when the expression uses what this does not evaluate (L, W, #) or the zone is unknown here:
    the schedule still runs, only the preview is missing.
    """
    match = _CRON.match(expression)
    if match is None:
        return []
    fields = match.group("fields").split()
    if len(fields) != 6:
        return []
    try:
        zone = ZoneInfo(timezone)
        minutes = _values(fields[0], 0, 59) or frozenset()
        hours = _values(fields[1], 0, 23) or frozenset()
        days = _values(fields[2], 1, 31)
        months = _values(fields[3], 1, 12, _MONTHS)
        weekdays = _values(fields[4], 1, 7, _DAYS)
        years = _values(fields[5], 1970, 2199)
    except (_Unsupported, ValueError, KeyError):
        return []
    start = after.astimezone(UTC)
    day = start.astimezone(zone).date()
    found: list[datetime] = []
    for _ in range(_SEARCH_DAYS):
        if (
            (years is None or day.year in years)
            and (months is None or day.month in months)
            and (days is None or day.day in days)
            and (weekdays is None or _weekday(day) in weekdays)
        ):
            for hour in sorted(hours):
                for minute in sorted(minutes):
                    local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
                    moment = local.astimezone(UTC)
                    if moment.astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
                        continue  # a local time the clocks skip over
                    if moment > start:
                        found.append(moment)
                        if len(found) == count:
                            return found
        day += timedelta(days=1)
    return found
