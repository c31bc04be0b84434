"""to_schedule_expression: five-field cron in, EventBridge Scheduler's six-field form out."""

from __future__ import annotations

import pytest

from cirrus_core.errors import InvalidSchedule
from cirrus_core.pipelines.cron import to_schedule_expression


@pytest.mark.parametrize(
    ("cron", "expression"),
    [
        ("0 2 * * *", "cron(0 2 * * ? *)"),  # the spec's example
        ("  0   2 * * * ", "cron(0 2 * * ? *)"),
        ("*/5 * * * *", "cron(0/5 * * * ? *)"),
        ("0 */2 * * *", "cron(0 0/2 * * ? *)"),
        ("5/15 * * * *", "cron(5/15 * * * ? *)"),
        ("*/1 * * * *", "cron(* * * * ? *)"),
        ("10-50/10 * * * *", "cron(10,20,30,40,50 * * * ? *)"),
        ("0,30 8-18 * * *", "cron(0,30 8-18 * * ? *)"),
        ("0 0 1 * *", "cron(0 0 1 * ? *)"),
        ("0 0 1,15 * *", "cron(0 0 1,15 * ? *)"),
        ("0 0 */10 * *", "cron(0 0 1/10 * ? *)"),
        ("0 0 L * *", "cron(0 0 L * ? *)"),
        ("0 0 lw * *", "cron(0 0 LW * ? *)"),
        ("0 0 15W * *", "cron(0 0 15W * ? *)"),
        ("0 0 1 */3 *", "cron(0 0 1 1/3 ? *)"),
        ("0 0 1 jan-mar,DEC *", "cron(0 0 1 1-3,12 ? *)"),
        ("0 0 ? * *", "cron(0 0 * * ? *)"),
    ],
)
def test_conversions(cron: str, expression: str) -> None:
    assert to_schedule_expression(cron) == expression


@pytest.mark.parametrize(
    ("day_of_week", "aws"),
    [
        ("0", "1"),  # Sunday is 0 in cron, 1 in AWS
        ("7", "1"),  # and 7 in cron too
        ("0,7", "1"),
        ("1-5", "2-6"),  # Monday to Friday
        ("MON-FRI", "2-6"),
        ("sat,sun", "1,7"),
        ("6", "7"),  # Saturday
        ("5-7", "1,6,7"),  # Friday to Sunday, no wrapping range in AWS
        ("*/2", "1,3,5,7"),  # Sun, Tue, Thu, Sat
        ("1-5/2", "2,4,6"),
        ("3/2", "4,6"),  # Wednesday and Friday
        ("0-6", "*"),
    ],
)
def test_day_of_week_is_renumbered_for_aws(day_of_week: str, aws: str) -> None:
    assert to_schedule_expression(f"30 6 * * {day_of_week}") == f"cron(30 6 ? * {aws} *)"


@pytest.mark.parametrize(
    ("macro", "expression"),
    [
        ("@daily", "cron(0 0 * * ? *)"),
        ("@midnight", "cron(0 0 * * ? *)"),
        ("@hourly", "cron(0 * * * ? *)"),
        ("@weekly", "cron(0 0 ? * 1 *)"),
        ("@monthly", "cron(0 0 1 * ? *)"),
        ("@yearly", "cron(0 0 1 1 ? *)"),
        ("@ANNUALLY", "cron(0 0 1 1 ? *)"),
    ],
)
def test_macros(macro: str, expression: str) -> None:
    assert to_schedule_expression(macro) == expression


@pytest.mark.parametrize(
    "rate", ["rate(5 minutes)", "rate(1 minute)", "rate(1 hour)", "rate(12 hours)", "rate(7 days)"]
)
def test_rates_pass_through(rate: str) -> None:
    assert to_schedule_expression(rate) == rate


def refusal(cron: str) -> InvalidSchedule:
    with pytest.raises(InvalidSchedule) as refused:
        to_schedule_expression(cron)
    assert refused.value.status == 422
    assert refused.value.code == "invalid_schedule"
    return refused.value


@pytest.mark.parametrize(
    ("cron", "field", "value", "says"),
    [
        ("60 2 * * *", "minute", "60", "outside minute's range 0-59"),
        ("0 24 * * *", "hour", "24", "outside hour's range 0-23"),
        ("0 2 0 * *", "day-of-month", "0", "outside day-of-month's range 1-31"),
        ("0 2 32 * *", "day-of-month", "32", "outside day-of-month's range 1-31"),
        ("0 2 * 13 *", "month", "13", "outside month's range 1-12"),
        ("0 2 * 0 *", "month", "0", "outside month's range 1-12"),
        ("0 2 * * 8", "day-of-week", "8", "outside day-of-week's range 0-7"),
        ("0 2 * FOO *", "month", "FOO", "not a number or JAN-DEC"),
        ("0 2 * * funday", "day-of-week", "funday", "not a number or SUN-SAT"),
        ("x 2 * * *", "minute", "x", "not a number"),
        ("0 2-1 * * *", "hour", "2-1", "runs backwards"),
        ("*/0 * * * *", "minute", "*/0", "step 0"),
        ("*/60 * * * *", "minute", "*/60", "step 60"),
        ("*-5 * * * *", "minute", "*-5", "cannot start a range"),
        ("1,,2 * * * *", "minute", "1,,2", "is not a value"),
        ("0 2 * * 1#2", "day-of-week", "1#2", "is not a value"),
        ("? 2 * * *", "minute", "?", "day-of-month and day-of-week only"),
        ("0 0-70/5 * * *", "hour", "0-70/5", "70 (in '0-70/5') is outside"),
    ],
)
def test_a_bad_field_is_named_with_its_value(cron: str, field: str, value: str, says: str) -> None:
    error = refusal(cron)
    assert error.details == [{"field": field, "value": value, "message": error.details[0]["message"]}]
    assert says in error.details[0]["message"]
    assert field in error.message
    assert repr(value) in error.message


def test_every_bad_field_is_reported() -> None:
    error = refusal("99 99 * 13 *")
    assert [item["field"] for item in error.details] == ["minute", "hour", "month"]


def test_both_day_fields_restricted_is_refused_with_the_reason() -> None:
    error = refusal("0 0 1 * 1")
    assert error.details[0]["field"] == "day-of-week"
    assert "both restricted" in error.message
    assert "either" in error.message


@pytest.mark.parametrize("cron", ["0 0 1-31 * 0-6", "0 0 */2 * MON", "0 0 L * 5"])
def test_any_restriction_of_both_day_fields_is_refused(cron: str) -> None:
    assert "both restricted" in refusal(cron).message


@pytest.mark.parametrize(
    ("cron", "says"),
    [
        ("", "needs a cron expression"),
        ("   ", "needs a cron expression"),
        ("0 2 * *", "5 fields"),
        ("0 2 * * * *", "not 6"),
        ("cron(0 2 * * ? *)", "five-field cron"),
        ("at(2030-01-01T00:00:00)", "at(...)"),
        ("rate(5 weeks)", "rate(<n> minutes|hours|days)"),
        ("rate(1 hours)", "rate(1 hour)"),
        ("rate(2 hour)", "rate(2 hours)"),
        ("rate(0 minutes)", "positive"),
        ("@reboot", "not a schedule macro"),
    ],
)
def test_a_bad_expression_is_refused_as_a_whole(cron: str, says: str) -> None:
    error = refusal(cron)
    assert error.details[0]["field"] == "expression"
    assert error.details[0]["value"] == cron
    assert says in error.message
