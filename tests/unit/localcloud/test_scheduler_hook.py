"""The scheduler hook fires EventBridge Scheduler schedules, which moto stores but never runs.

Passes are driven here with a clock the test sets (`ScheduleRunner.run_once`), so what fires when
is exact; one test lets the installed hook's own thread deliver a due schedule.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cirrus.localcloud.emulator import Emulator
from cirrus.localcloud.hooks import scheduler as scheduler_hook
from cirrus.localcloud.hooks.scheduler import ScheduleRunner
from cirrus_core.pipelines.scheduler import Schedules
from tests.unit.localcloud.helpers import unique, wait_for

EMULATOR_HOOKS = ()  # the hook under test is installed by hand where a test needs its thread

ROLE_ARN = "arn:aws:iam::123456789012:role/cirrus-test-scheduler"
PASS_MACHINE = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})


class Clock:
    """Now, as the test says."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def machine(emulator: Emulator) -> str:
    response = emulator.client("stepfunctions").create_state_machine(
        name=unique("scheduled"), definition=PASS_MACHINE, roleArn=ROLE_ARN
    )
    return str(response["stateMachineArn"])


@pytest.fixture
def group(emulator: Emulator) -> Iterator[str]:
    name = unique("group")
    client = emulator.client("scheduler")
    client.create_schedule_group(Name=name)
    yield name
    for item in client.list_schedules(GroupName=name)["Schedules"]:
        client.delete_schedule(Name=item["Name"], GroupName=name)


def runner(emulator: Emulator, clock: Clock) -> ScheduleRunner:
    return ScheduleRunner(emulator.client("scheduler"), emulator.client("stepfunctions"), clock=clock)


def create(emulator: Emulator, group: str, machine: str, expression: str, **extra: Any) -> dict[str, Any]:
    client = emulator.client("scheduler")
    name = unique("schedule")
    client.create_schedule(
        Name=name,
        GroupName=group,
        ScheduleExpression=expression,
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": machine, "RoleArn": ROLE_ARN, "Input": json.dumps({"schedule": name})},
        **extra,
    )
    return dict(client.get_schedule(Name=name, GroupName=group))


def inputs(emulator: Emulator, machine: str) -> list[dict[str, Any]]:
    """The input of every execution of the machine, oldest first."""
    sfn = emulator.client("stepfunctions")
    listed = sfn.list_executions(stateMachineArn=machine)["executions"]
    ordered = sorted(listed, key=lambda item: item["startDate"])
    return [
        json.loads(sfn.describe_execution(executionArn=item["executionArn"])["input"]) for item in ordered
    ]


def test_a_rate_schedule_fires_every_interval_from_its_creation(
    emulator: Emulator, group: str, machine: str
) -> None:
    schedule = create(emulator, group, machine, "rate(5 minutes)")
    created = schedule["CreationDate"].astimezone(UTC)
    clock = Clock(created)
    passes = runner(emulator, clock)

    fired = []
    for offset in (0, 4, 5, 6, 9, 10):
        clock.now = created + timedelta(minutes=offset, seconds=1 if offset else 0)
        fired.append(len(passes.run_once()))

    assert fired == [0, 0, 1, 0, 0, 1]
    assert inputs(emulator, machine) == [{"schedule": schedule["Name"]}] * 2


def test_a_cron_schedule_fires_at_its_times_in_its_time_zone(
    emulator: Emulator, group: str, machine: str
) -> None:
    create(
        emulator,
        group,
        machine,
        "cron(0 2 * * ? *)",
        ScheduleExpressionTimezone="Europe/Paris",
    )
    # 02:00 in Paris on 1 June 2030 (summer time) is 00:00 UTC.
    clock = Clock(datetime(2030, 5, 31, 23, 59, tzinfo=UTC))
    passes = runner(emulator, clock)
    assert passes.run_once() == []

    clock.now = datetime(2030, 6, 1, 0, 0, 30, tzinfo=UTC)
    (first,) = passes.run_once()
    clock.now = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
    assert passes.run_once() == []
    clock.now = datetime(2030, 6, 2, 0, 0, 5, tzinfo=UTC)
    (second,) = passes.run_once()

    assert (first.due, second.due) == (
        datetime(2030, 6, 1, 0, 0, tzinfo=UTC),
        datetime(2030, 6, 2, 0, 0, tzinfo=UTC),
    )
    assert len(inputs(emulator, machine)) == 2


def test_a_disabled_schedule_never_fires(emulator: Emulator, group: str, machine: str) -> None:
    create(emulator, group, machine, "cron(* * * * ? *)", State="DISABLED")
    clock = Clock(datetime(2030, 1, 1, tzinfo=UTC))
    passes = runner(emulator, clock)

    for minute in range(3):
        clock.now = datetime(2030, 1, 1, 0, minute, 30, tzinfo=UTC)
        passes.run_once()

    assert inputs(emulator, machine) == []


def test_a_one_time_schedule_fires_once_and_is_deleted_when_asked(
    emulator: Emulator, group: str, machine: str
) -> None:
    schedule = create(emulator, group, machine, "at(2030-03-01T09:30:00)", ActionAfterCompletion="DELETE")
    clock = Clock(datetime(2030, 3, 1, 9, 29, tzinfo=UTC))
    passes = runner(emulator, clock)
    assert passes.run_once() == []

    clock.now = datetime(2030, 3, 1, 9, 30, 1, tzinfo=UTC)
    fired = passes.run_once()
    clock.now = datetime(2030, 3, 1, 9, 31, tzinfo=UTC)
    again = passes.run_once()

    assert [item.schedule_arn for item in fired] == [schedule["Arn"]]
    assert again == []
    assert emulator.client("scheduler").list_schedules(GroupName=group)["Schedules"] == []


def test_a_changed_expression_is_timed_afresh(emulator: Emulator, group: str, machine: str) -> None:
    schedule = create(emulator, group, machine, "cron(0 2 * * ? *)")
    clock = Clock(datetime(2030, 6, 1, 1, 0, tzinfo=UTC))
    passes = runner(emulator, clock)
    passes.run_once()
    emulator.client("scheduler").update_schedule(
        Name=schedule["Name"],
        GroupName=group,
        ScheduleExpression="cron(30 1 * * ? *)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target=schedule["Target"],
    )

    clock.now = datetime(2030, 6, 1, 1, 10, tzinfo=UTC)
    assert passes.run_once() == []
    clock.now = datetime(2030, 6, 1, 1, 30, 10, tzinfo=UTC)
    (fired,) = passes.run_once()
    clock.now = datetime(2030, 6, 1, 2, 0, 10, tzinfo=UTC)
    at_the_old_time = passes.run_once()

    assert fired.due == datetime(2030, 6, 1, 1, 30, tzinfo=UTC)
    assert at_the_old_time == []


def test_a_target_other_than_a_state_machine_is_skipped(emulator: Emulator, group: str) -> None:
    queue_arn = "arn:aws:sqs:us-east-1:123456789012:cirrus-test-queue"
    create(emulator, group, queue_arn, "at(2030-03-01T09:30:00)")
    passes = runner(emulator, Clock(datetime(2030, 3, 1, 10, 0, tzinfo=UTC)))

    assert passes.run_once() == []


def test_a_pipeline_schedule_starts_its_state_machine_with_the_runs_input(
    emulator: Emulator, group: str, machine: str
) -> None:
    # Created by the pipelines' own adapter, as POST /pipelines/execute with a schedule does.
    execution_input = {"pipeline": {"pipeline_id": "fraud"}, "trigger": {"type": "schedule", "detail": {}}}
    Schedules(emulator.client("scheduler"), group, ROLE_ARN).create(
        "fraud-nightly", "cron(0 2 * * ? *)", "UTC", machine, json.dumps(execution_input), "nightly"
    )
    clock = Clock(datetime(2030, 6, 1, 1, 0, tzinfo=UTC))
    passes = runner(emulator, clock)
    passes.run_once()

    clock.now = datetime(2030, 6, 1, 2, 0, 1, tzinfo=UTC)
    (fired,) = passes.run_once()

    described = emulator.client("stepfunctions").describe_execution(executionArn=fired.execution_arn)
    assert json.loads(described["input"]) == execution_input
    assert described["stateMachineArn"] == machine


def test_the_installed_hook_delivers_due_schedules_on_its_own_thread(
    emulator: Emulator, group: str, machine: str
) -> None:
    due = (datetime.now(UTC) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")
    schedule = create(emulator, group, machine, f"at({due})")
    undo = scheduler_hook.install(emulator.hook_context())
    try:
        started = wait_for(lambda: inputs(emulator, machine) or None, "the scheduled execution")
    finally:
        undo()

    assert started == [{"schedule": schedule["Name"]}]
