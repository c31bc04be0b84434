"""Pipeline schedules: the spec's five-field cron (`0 2 * * *`) as an EventBridge Scheduler expression.

EventBridge Scheduler's cron has six fields (minutes, hours, day-of-month, month, day-of-week,
year), numbers Sunday 1 rather than 0, and needs `?` in exactly one of the two day fields. So:

- `0 2 * * *` -> `cron(0 2 * * ? *)`; `30 6 * * 1-5` -> `cron(30 6 ? * 2-6 *)`; `0 0 1 * *` ->
  `cron(0 0 1 * ? *)`. A day field left `*` (or `?`) becomes `?` when the other one is restricted.
- Each field takes `*`, a value, a range `a-b`, a step `*/n`, `a/n` or `a-b/n`, and comma lists of
  those. Months take `JAN`-`DEC` and days of the week `SUN`-`SAT` (any case); day-of-week numbers
  are 0-7 with both 0 and 7 for Sunday, as in cron. Day-of-month also takes AWS's `L` (last day),
  `LW` (last weekday) and `<n>W` (the weekday nearest day n).
- Steps over a range (`10-50/10`) are written out as a list (`10,20,30,40,50`), and day-of-week
  values are renumbered and written as numbers, so the output uses only forms AWS documents.
- Unix cron runs a job when either day field matches if both are restricted (`0 0 1 * 1`: the 1st
  and every Monday); AWS cannot say that, so it is refused rather than silently changed.
- `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`) and `@hourly` are
  accepted; `rate(<n> minute[s]|hour[s]|day[s])` passes through after checking. `at(...)` (a
  single run) and AWS's own `cron(...)` are refused: a pipeline schedule is recurring, and one
  cron dialect is enough.

Every refusal is an `InvalidSchedule` whose details name the field and its value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NoReturn

from cirrus_core.errors import InvalidSchedule

MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_UNRESTRICTED = ("*", "?", "*/1")
_RATE = re.compile(r"^rate\((\d{1,9}) (minutes?|hours?|days?)\)$")
_DAY_OF_MONTH_SPECIAL = re.compile(r"^(L|LW|([1-9]|[12]\d|3[01])W)$")
_ITEM = re.compile(r"^(?P<start>\*|[A-Za-z0-9]+)(?:-(?P<end>[A-Za-z0-9]+))?(?:/(?P<step>\d+))?$")


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    names_start: int = 0


MINUTE = _Field("minute", 0, 59)
HOUR = _Field("hour", 0, 23)
DAY_OF_MONTH = _Field("day-of-month", 1, 31)
MONTH = _Field("month", 1, 12, MONTH_NAMES, 1)
DAY_OF_WEEK = _Field("day-of-week", 0, 7, DAY_NAMES, 0)
FIELDS = (MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK)


class _FieldError(ValueError):
    """One field's problem; `to_schedule_expression` collects them into one InvalidSchedule."""


def to_schedule_expression(cron: str) -> str:
    """The EventBridge Scheduler expression for a five-field cron expression (see the module doc)."""
    text = " ".join(cron.split())
    if not text:
        _refuse("expression", cron, "a schedule needs a cron expression such as `0 2 * * *`")
    if text.startswith("rate("):
        return _rate(text)
    if text.startswith(("at(", "cron(")):
        _refuse(
            "expression",
            cron,
            "give a five-field cron expression such as `0 2 * * *` (or rate(...)); "
            "at(...) and AWS's six-field cron(...) are not accepted",
        )
    if text.startswith("@"):
        if text.lower() not in MACROS:
            known = ", ".join(MACROS)
            _refuse("expression", cron, f"{text!r} is not a schedule macro; use one of {known}")
        text = MACROS[text.lower()]
    parts = text.split(" ")
    if len(parts) != len(FIELDS):
        _refuse(
            "expression",
            cron,
            f"a cron expression has 5 fields (minute hour day-of-month month day-of-week), not {len(parts)}",
        )

    problems: list[dict[str, str]] = []
    converted: list[str] = []
    for field, value in zip(FIELDS, parts, strict=True):
        try:
            converted.append(_convert(field, value))
        except _FieldError as error:
            problems.append({"field": field.name, "value": value, "message": str(error)})
            converted.append("")
    minute, hour, day_of_month, month, day_of_week = converted
    # Judged on the text as written: cron's either-day rule applies to `0-6` as much as to `1`.
    if parts[2] not in _UNRESTRICTED and parts[4] not in _UNRESTRICTED:
        problems.append(
            {
                "field": "day-of-week",
                "value": parts[4],
                "message": f"day-of-month ({parts[2]}) and day-of-week ({parts[4]}) are both "
                "restricted; cron runs when either matches, which EventBridge Scheduler cannot "
                "express: leave one of them `*`",
            }
        )
    if problems:
        summary = "; ".join(f"{item['field']} {item['value']!r}: {item['message']}" for item in problems)
        raise InvalidSchedule(f"invalid cron expression {cron!r}: {summary}", problems)
    if parts[4] in _UNRESTRICTED:
        day_of_week = "?"
    else:
        day_of_month = "?"
    return f"cron({minute} {hour} {day_of_month} {month} {day_of_week} *)"


def _refuse(field: str, value: str, message: str) -> NoReturn:
    raise InvalidSchedule(
        f"invalid schedule {value!r}: {message}", [{"field": field, "value": value, "message": message}]
    )


def _rate(text: str) -> str:
    match = _RATE.match(text)
    if match is None:
        _refuse("expression", text, "a rate is `rate(<n> minutes|hours|days)`, for instance rate(6 hours)")
    value, unit = int(match.group(1)), match.group(2)
    if value < 1:
        _refuse("expression", text, "a rate needs a positive number")
    if (value == 1) != (not unit.endswith("s")):
        singular = unit.rstrip("s")
        wanted = singular if value == 1 else f"{singular}s"
        _refuse("expression", text, f"write rate({value} {wanted})")
    return text


def _convert(field: _Field, value: str) -> str:
    """The field in AWS's form, or `_FieldError` saying what is wrong with it."""
    if value == "?" and field not in (DAY_OF_MONTH, DAY_OF_WEEK):
        raise _FieldError(f"`?` is for day-of-month and day-of-week only, not {field.name}")
    if value in _UNRESTRICTED:
        return "*"
    if field is DAY_OF_MONTH and _DAY_OF_MONTH_SPECIAL.match(value.upper()):
        return value.upper()
    items = [_item(field, item) for item in value.split(",")]
    if field is DAY_OF_WEEK:
        # cron: 0 and 7 are Sunday; AWS: 1 is Sunday, 7 Saturday.
        return _compact(sorted({day % 7 + 1 for item in items for day in item.values}))
    return ",".join(item.text for item in items)


@dataclass(frozen=True, slots=True)
class _Item:
    """One comma-separated part of a field: its AWS text and the values it stands for."""

    text: str
    values: tuple[int, ...]


def _item(field: _Field, text: str) -> _Item:
    match = _ITEM.match(text)
    if match is None:
        raise _FieldError(
            f"{text!r} is not a value, a range (a-b), a step (*/n, a/n, a-b/n) or `*`; "
            f"{field.name} takes {field.low}-{field.high}"
        )
    start_text, end_text, step_text = match.group("start"), match.group("end"), match.group("step")
    step = int(step_text) if step_text is not None else 1
    if not 1 <= step <= field.high - field.low:
        raise _FieldError(f"step {step} in {text!r} is out of range for {field.name}")
    if start_text == "*":
        if end_text is not None:
            raise _FieldError(f"{text!r}: `*` cannot start a range")
        high = field.high - 1 if field is DAY_OF_WEEK else field.high  # 7 repeats Sunday
        return _Item(f"{field.low}/{step}", tuple(range(field.low, high + 1, step)))
    start = _number(field, start_text, text)
    if end_text is None:
        if step_text is None:
            return _Item(str(start), (start,))
        high = field.high - 1 if field is DAY_OF_WEEK else field.high
        return _Item(f"{start}/{step}", tuple(range(start, high + 1, step)))
    end = _number(field, end_text, text)
    if end < start:
        raise _FieldError(f"range {text!r} runs backwards")
    values = tuple(range(start, end + 1, step))
    if step == 1:
        return _Item(f"{start}-{end}", values)
    return _Item(",".join(str(number) for number in values), values)


def _number(field: _Field, token: str, item: str) -> int:
    if token.upper() in field.names:
        return field.names.index(token.upper()) + field.names_start
    where = "" if token == item else f" (in {item!r})"
    if not token.isdigit():
        names = f" or {field.names[0]}-{field.names[-1]}" if field.names else ""
        raise _FieldError(f"{token!r}{where} is not a number{names}")
    number = int(token)
    if not field.low <= number <= field.high:
        raise _FieldError(f"{number}{where} is outside {field.name}'s range {field.low}-{field.high}")
    return number


def _compact(days: list[int]) -> str:
    """AWS day-of-week numbers (1 = Sunday) as a list, runs of three or more as ranges."""
    if len(days) == 7:
        return "*"
    runs: list[list[int]] = []
    for day in days:
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts: list[str] = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{run[0]}-{run[-1]}")
        else:
            parts.extend(str(day) for day in run)
    return ",".join(parts)
