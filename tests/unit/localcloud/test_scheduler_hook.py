"""The scheduler hook fires EventBridge Scheduler schedules and schedule rules, which moto never runs.

Passes are driven here with a clock the test sets (`ScheduleRunner.run_once`), so what fires when
is exact; one test lets the installed hook's own thread deliver a due schedule.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cirrus.localcloud.emulator import Emulator
from cirrus.localcloud.hooks import scheduler as scheduler_hook
from cirrus.localcloud.hooks.scheduler import Fired, ScheduleRunner
from cirrus.localcloud.provisioner import deploy as deploy_template
from cirrus_core.pipelines.scheduler import Schedules
from tests.unit.localcloud.conftest import Deployer
from tests.unit.localcloud.deploy_fixtures import write_project
from tests.unit.localcloud.helpers import unique, wait_for

# The hook under test is installed by hand where a test needs its thread; the Lambda runtime runs
# the handlers schedule rules invoke.
EMULATOR_HOOKS = ("cirrus.localcloud.hooks.lambda_runtime",)

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


# ---------------------------------------------------------------------------------------- schedule rules

START = datetime(2030, 1, 1, tzinfo=UTC)


class Rules:
    """Schedule rules on the default bus; what a test leaves is deleted after it."""

    def __init__(self, emulator: Emulator) -> None:
        self.events = emulator.client("events")
        self.arns: list[str] = []

    def put(self, expression: str, *targets: dict[str, Any], **extra: Any) -> str:
        name = unique("rule")
        arn = str(self.events.put_rule(Name=name, ScheduleExpression=expression, **extra)["RuleArn"])
        if targets:
            self.events.put_targets(Rule=name, Targets=[{"Id": f"t{i}", **t} for i, t in enumerate(targets)])
        self.arns.append(arn)
        return arn

    def delete(self, arn: str) -> None:
        name = arn.rsplit("/", 1)[-1]
        ids = [target["Id"] for target in self.events.list_targets_by_rule(Rule=name)["Targets"]]
        if ids:
            self.events.remove_targets(Rule=name, Ids=ids)
        self.events.delete_rule(Name=name)

    def delete_all(self) -> None:
        for arn in self.arns:
            with contextlib.suppress(ClientError):  # deleted by the test
                self.delete(arn)


@pytest.fixture
def rules(emulator: Emulator) -> Iterator[Rules]:
    made = Rules(emulator)
    yield made
    made.delete_all()


def rule_runner(emulator: Emulator, clock: Clock) -> ScheduleRunner:
    return ScheduleRunner(
        emulator.client("scheduler"),
        emulator.client("stepfunctions"),
        events=emulator.client("events"),
        lambda_client=emulator.client("lambda"),
        clock=clock,
    )


def fired_at(passes: ScheduleRunner, clock: Clock, now: datetime, rule_arn: str) -> list[Fired]:
    """Run one pass at `now`; what it delivered for `rule_arn`."""
    clock.now = now
    return [item for item in passes.run_once() if item.schedule_arn == rule_arn]


def recording_function(emulator: Emulator, deploy: Deployer, seen: Path) -> str:
    """A function that writes each event it receives to a file of its own in `seen`; its ARN."""
    seen.mkdir(parents=True, exist_ok=True)
    name = deploy.function({"app.py": RECORDING_CODE}, Environment={"Variables": {"SEEN_DIR": str(seen)}})
    return str(emulator.client("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"])


RECORDING_CODE = """
    import json
    import os
    import uuid


    def handler(event, context):
        path = os.path.join(os.environ["SEEN_DIR"], uuid.uuid4().hex)
        with open(path + ".partial", "w") as out:
            json.dump(event, out)
        os.replace(path + ".partial", path + ".json")  # the test never reads a half-written file
"""


def received(seen: Path, count: int) -> list[Any]:
    """The `count` events the recording function received, in the order of their `time`."""

    def probe() -> list[Any] | None:
        events = [json.loads(path.read_text()) for path in seen.glob("*.json")]
        return events if len(events) >= count else None

    events = wait_for(probe, f"{count} scheduled invocation(s)")
    return sorted(events, key=lambda event: str(event.get("time", "")))


def scheduled(rule_arn: str, time: str, event_id: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": time,
        "region": "us-east-1",
        "resources": [rule_arn],
        "detail": {},
    }


def test_a_rate_rule_invokes_its_function_with_the_scheduled_event(
    emulator: Emulator, deploy: Deployer, rules: Rules, tmp_path: Path
) -> None:
    function = recording_function(emulator, deploy, tmp_path / "seen")
    arn = rules.put("rate(1 minute)", {"Arn": function})
    clock = Clock(START)
    passes = rule_runner(emulator, clock)

    counts = [
        len(fired_at(passes, clock, START + timedelta(seconds=seconds), arn))
        for seconds in (0, 59, 60, 90, 120)
    ]

    assert counts == [0, 0, 1, 0, 1]  # every minute from when the rule was first seen
    first, second = received(tmp_path / "seen", 2)
    assert first == scheduled(arn, "2030-01-01T00:01:00Z", first["id"])
    assert second == scheduled(arn, "2030-01-01T00:02:00Z", second["id"])
    assert first["id"] != second["id"]


def test_a_late_pass_fires_a_rate_rule_once_not_for_every_missed_time(
    emulator: Emulator, rules: Rules, machine: str
) -> None:
    arn = rules.put("rate(1 minute)", {"Arn": machine})
    clock = Clock(START)
    passes = rule_runner(emulator, clock)
    fired_at(passes, clock, START, arn)

    late = fired_at(passes, clock, START + timedelta(minutes=10, seconds=30), arn)
    before_next = fired_at(passes, clock, START + timedelta(minutes=10, seconds=59), arn)
    (following,) = fired_at(passes, clock, START + timedelta(minutes=11), arn)

    assert len(late) == 1
    assert before_next == []
    assert following.due == START + timedelta(minutes=11)


def test_a_targets_input_is_sent_instead_of_the_event(
    emulator: Emulator, deploy: Deployer, rules: Rules, tmp_path: Path
) -> None:
    function = recording_function(emulator, deploy, tmp_path / "seen")
    arn = rules.put("rate(5 minutes)", {"Arn": function, "Input": '{"job": "collect", "dry_run": false}'})
    clock = Clock(START)
    passes = rule_runner(emulator, clock)
    fired_at(passes, clock, START, arn)

    (fired,) = fired_at(passes, clock, START + timedelta(minutes=5), arn)

    assert fired.target_arn == function
    assert received(tmp_path / "seen", 1) == [{"job": "collect", "dry_run": False}]


def test_a_cron_rule_fires_at_its_next_time_in_utc_to_every_target(
    emulator: Emulator, rules: Rules, machine: str
) -> None:
    transformer = {
        "InputPathsMap": {"at": "$.time"},
        "InputTemplate": '{"rule": <aws.events.rule-name>, "at": <at>}',
    }
    arn = rules.put(
        "cron(15 10 * * ? *)", {"Arn": machine}, {"Arn": machine, "InputTransformer": transformer}
    )
    clock = Clock(datetime(2030, 6, 1, 9, 0, tzinfo=UTC))
    passes = rule_runner(emulator, clock)

    assert fired_at(passes, clock, datetime(2030, 6, 1, 9, 0, tzinfo=UTC), arn) == []
    assert fired_at(passes, clock, datetime(2030, 6, 1, 10, 14, 59, tzinfo=UTC), arn) == []
    today = fired_at(passes, clock, datetime(2030, 6, 1, 10, 15, 0, tzinfo=UTC), arn)
    assert fired_at(passes, clock, datetime(2030, 6, 2, 10, 14, tzinfo=UTC), arn) == []
    tomorrow = fired_at(passes, clock, datetime(2030, 6, 2, 10, 15, 1, tzinfo=UTC), arn)

    assert [item.due for item in today + tomorrow] == [datetime(2030, 6, 1, 10, 15, tzinfo=UTC)] * 2 + [
        datetime(2030, 6, 2, 10, 15, tzinfo=UTC)
    ] * 2
    sfn = emulator.client("stepfunctions")
    plain, transformed = (
        json.loads(sfn.describe_execution(executionArn=item.execution_arn)["input"]) for item in today
    )
    assert plain == scheduled(arn, "2030-06-01T10:15:00Z", plain["id"])
    assert transformed == {"rule": arn.rsplit("/", 1)[-1], "at": "2030-06-01T10:15:00Z"}


def test_a_disabled_rule_does_not_fire_until_enabled(emulator: Emulator, rules: Rules, machine: str) -> None:
    arn = rules.put("rate(1 minute)", {"Arn": machine}, State="DISABLED")
    name = arn.rsplit("/", 1)[-1]
    clock = Clock(START)
    passes = rule_runner(emulator, clock)

    disabled = [fired_at(passes, clock, START + timedelta(minutes=minute), arn) for minute in range(3)]
    emulator.client("events").enable_rule(Name=name)
    fired_at(passes, clock, START + timedelta(minutes=3), arn)
    (enabled,) = fired_at(passes, clock, START + timedelta(minutes=4), arn)

    assert disabled == [[], [], []]
    assert enabled.due == START + timedelta(minutes=4)  # timed from when it was seen enabled


def test_a_deleted_rule_stops_firing(emulator: Emulator, rules: Rules, machine: str) -> None:
    arn = rules.put("rate(1 minute)", {"Arn": machine})
    clock = Clock(START)
    passes = rule_runner(emulator, clock)
    fired_at(passes, clock, START, arn)
    assert len(fired_at(passes, clock, START + timedelta(minutes=1), arn)) == 1

    rules.delete(arn)

    assert fired_at(passes, clock, START + timedelta(minutes=2), arn) == []
    assert fired_at(passes, clock, START + timedelta(minutes=3), arn) == []


def test_a_changed_rule_expression_is_timed_afresh(emulator: Emulator, rules: Rules, machine: str) -> None:
    arn = rules.put("rate(1 minute)", {"Arn": machine})
    name = arn.rsplit("/", 1)[-1]
    clock = Clock(START)
    passes = rule_runner(emulator, clock)
    fired_at(passes, clock, START, arn)

    emulator.client("events").put_rule(Name=name, ScheduleExpression="rate(10 minutes)")
    at_the_old_time = fired_at(passes, clock, START + timedelta(minutes=1), arn)
    (fired,) = fired_at(passes, clock, START + timedelta(minutes=11), arn)

    assert at_the_old_time == []
    assert fired.due == START + timedelta(minutes=11)  # ten minutes from when the change was seen


def test_a_rule_target_it_does_not_deliver_to_is_skipped(emulator: Emulator, rules: Rules) -> None:
    queue_arn = "arn:aws:sqs:us-east-1:123456789012:cirrus-test-queue"
    arn = rules.put("rate(1 minute)", {"Arn": queue_arn})
    clock = Clock(START)
    passes = rule_runner(emulator, clock)
    fired_at(passes, clock, START, arn)

    assert fired_at(passes, clock, START + timedelta(minutes=1), arn) == []


SAM_SCHEDULE_TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Ticker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code/
      Handler: app.handler
      Runtime: python3.13
      Environment:
        Variables:
          SEEN_DIR: "@SEEN_DIR@"
      Events:
        EveryMinute:
          Type: Schedule
          Properties:
            Schedule: rate(1 minute)
            Description: Tick every minute.
        Paused:
          Type: Schedule
          Properties:
            Schedule: rate(1 minute)
            Enabled: false
            Input: '{"paused": true}'
"""


def test_a_sam_schedule_event_fires_its_function(emulator: Emulator, rules: Rules, tmp_path: Path) -> None:
    seen = tmp_path / "seen"
    seen.mkdir()
    template = write_project(
        tmp_path / "project",
        SAM_SCHEDULE_TEMPLATE.replace("@SEEN_DIR@", str(seen)),
        {"app.py": RECORDING_CODE},
    )
    deployment = deploy_template(emulator, template, stack_name=unique("ticker"))
    every_minute = str(deployment.resource("TickerEveryMinute").attributes["Arn"])
    paused = str(deployment.resource("TickerPaused").attributes["Arn"])
    rules.arns += [every_minute, paused]  # deleted after the test, so no later pass fires them
    clock = Clock(START)
    passes = rule_runner(emulator, clock)

    first_seen = passes.run_once()
    clock.now = START + timedelta(minutes=1)
    fired = passes.run_once()

    assert [item for item in first_seen if item.schedule_arn in (every_minute, paused)] == []
    assert [item.schedule_arn for item in fired if item.schedule_arn in (every_minute, paused)] == [
        every_minute
    ]
    (event,) = received(seen, 1)
    assert event == scheduled(every_minute, "2030-01-01T00:01:00Z", event["id"])
