"""PipelineService beyond the routes: triggered runs, state machine failures and races, naming,
and the schedule preview."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from cirrus_core.audit.log import AuditLog
from cirrus_core.contention import CAP_SECONDS
from cirrus_core.errors import (
    AccessDenied,
    InvalidRunParameters,
    InvalidSchedule,
    PipelineNotFound,
    TooMuchContention,
)
from cirrus_core.pipelines.definition import PipelineDefinitionRequest
from cirrus_core.pipelines.models import ExecutePipelineRequest, RunTrigger, TriggerType
from cirrus_core.pipelines.orchestrator import Orchestrator, execution_arn
from cirrus_core.pipelines.scheduler import ScheduleRefused, Schedules, next_fire_times, schedule_name
from cirrus_core.pipelines.service import PipelineService
from cirrus_core.pipelines.settings import PipelineSettings
from cirrus_core.pipelines.store import PipelineChange, PipelineStore
from cirrus_core.pipelines.wiring import state_machine_arn_base
from tests.support.authz import caller
from tests.support.aws import TABLE_NAMES
from tests.unit.pipelines.api_support import (
    ENV,
    PIPELINE_ID,
    PIPELINES_TABLE,
    SCHEDULER_GROUP,
    STATE_MACHINE_PREFIX,
    TRAINING_ARN,
    PipelineWorld,
    sample_definition,
    state_machine_arn,
    subject,
)

WEBHOOK = {
    "type": "webhook",
    "detail": {"provider": "github", "repository": "acme/fraud-models", "sha": "9f2c"},
}


@pytest.fixture
def world(aws: Any) -> PipelineWorld:
    return PipelineWorld(aws)


def make_service(
    world: PipelineWorld,
    *,
    role: str | None = None,
    store: PipelineStore | None = None,
    schedules: Schedules | None = None,
    **options: Any,
) -> PipelineService:
    settings = PipelineSettings.from_environ(ENV)
    role = role or settings.state_machine_role_arn
    return PipelineService(
        store
        or PipelineStore(
            world.aws.dynamodb, PIPELINES_TABLE, AuditLog(world.aws.dynamodb, TABLE_NAMES["AuditTable"])
        ),
        Orchestrator(world.sfn, role, STATE_MACHINE_PREFIX, state_machine_arn_base(TRAINING_ARN)),
        schedules or Schedules(world.scheduler, SCHEDULER_GROUP, ENV["SCHEDULER_ROLE_ARN"]),
        placeholders=settings.placeholders(),
        training_pipeline_arn=TRAINING_ARN,
        **options,
    )


def definition(**changes: Any) -> PipelineDefinitionRequest:
    return PipelineDefinitionRequest.model_validate(sample_definition(**changes))


# -- runs a trigger starts ----------------------------------------------------------------------------


def test_a_triggered_run_acts_for_the_author_of_the_current_definition(world: PipelineWorld) -> None:
    service = make_service(world)
    service.put_pipeline(definition(), caller("admin"))

    started = service.start_triggered_run(PIPELINE_ID, {"target_accuracy": 0.8}, WEBHOOK)

    document = world.execution_input(started.execution_arn)
    assert document["actor"] == {"sub": subject("admin"), "username": "ada@example.com", "groups": ["admin"]}
    assert document["trigger"] == WEBHOOK
    assert document["parameters"]["target_accuracy"] == 0.8
    assert document["parameters"]["data_source"] == sample_definition()["default_parameters"]["data_source"]
    assert (started.pipeline_id, started.trigger.type) == (PIPELINE_ID, TriggerType.WEBHOOK)
    (record,) = world.audit("trigger_pipeline")
    assert (record.actor, record.resource) == (
        "ada@example.com",
        f"pipeline/{PIPELINE_ID}/run/{started.run_id}",
    )


def test_a_triggered_run_takes_a_trigger_model_too(world: PipelineWorld) -> None:
    service = make_service(world)
    service.put_pipeline(definition(), caller("admin"))

    started = service.start_triggered_run(
        PIPELINE_ID, {}, RunTrigger(type=TriggerType.WEBHOOK, detail={"a": 1})
    )

    assert world.execution_input(started.execution_arn)["trigger"] == {"type": "webhook", "detail": {"a": 1}}


def test_a_trigger_stops_when_its_author_may_no_longer_start_runs(world: PipelineWorld) -> None:
    service = make_service(world)
    service.put_pipeline(definition(), caller("admin"))
    world.aws.dynamodb.update_item(
        TableName=PIPELINES_TABLE,
        Key={"pk": {"S": f"PIPELINE#{PIPELINE_ID}"}, "sk": {"S": "META"}},
        UpdateExpression="SET updated_by_principal.#groups = :none",
        ExpressionAttributeNames={"#groups": "groups"},
        ExpressionAttributeValues={":none": {"L": []}},
    )

    with pytest.raises(AccessDenied):
        service.start_triggered_run(PIPELINE_ID, {}, WEBHOOK)
    assert world.executions() == []


@pytest.mark.parametrize("pipeline_id", ["training", "nope"])
def test_the_built_in_and_unknown_pipelines_take_no_triggers(world: PipelineWorld, pipeline_id: str) -> None:
    with pytest.raises(PipelineNotFound):
        make_service(world).start_triggered_run(pipeline_id, {}, WEBHOOK)


def test_a_trigger_with_invalid_parameters_starts_nothing(world: PipelineWorld) -> None:
    service = make_service(world)
    service.put_pipeline(definition(), caller("admin"))

    with pytest.raises(InvalidRunParameters) as refused:
        service.start_triggered_run(PIPELINE_ID, {"model_type": "catboost"}, WEBHOOK)

    assert refused.value.details[0]["field"] == "parameters.model_type"
    assert world.executions() == []


# -- the state machine --------------------------------------------------------------------------------


def test_when_the_state_machine_cannot_be_created_nothing_is_stored(world: PipelineWorld) -> None:
    from botocore.exceptions import ClientError

    service = make_service(world, role="not-a-role-arn")

    with pytest.raises(ClientError):
        service.put_pipeline(definition(), caller("admin"))

    assert world.items("PIPELINE#") == []
    assert world.items("TRIGGER#") == []
    assert world.audit("put_pipeline") == []


def test_a_state_machine_left_by_an_earlier_attempt_is_updated_in_place(world: PipelineWorld) -> None:
    world.sfn.create_state_machine(
        name=f"{STATE_MACHINE_PREFIX}{PIPELINE_ID}",
        definition=json.dumps({"StartAt": "Old", "States": {"Old": {"Type": "Succeed"}}}),
        roleArn=ENV["PIPELINE_STATE_MACHINE_ROLE_ARN"],
    )

    stored = make_service(world).put_pipeline(definition(), caller("admin"))

    assert stored.state_machine_arn == state_machine_arn()
    machine = world.state_machines()[f"{STATE_MACHINE_PREFIX}{PIPELINE_ID}"]["definition"]
    assert "Old" not in machine["States"]


class RacingStore(PipelineStore):
    """Lets another definition land between this writer's read and its commit, `races` times."""

    def __init__(self, base: PipelineStore, rival: PipelineService, races: int = 1) -> None:
        super().__init__(base._client, base._table, base.audit)
        self.rival = rival
        self.races = races
        self.commits = 0

    def commit(self, change: PipelineChange) -> None:
        self.commits += 1
        if self.races:
            self.races -= 1
            self.rival.put_pipeline(definition(description=f"Rival {self.races}."), caller("admin"))
        super().commit(change)


def test_a_lost_race_re_reads_redeploys_and_stores_the_next_version(world: PipelineWorld) -> None:
    rival = make_service(world)
    base = PipelineStore(
        world.aws.dynamodb, PIPELINES_TABLE, AuditLog(world.aws.dynamodb, TABLE_NAMES["AuditTable"])
    )
    racing = RacingStore(base, rival)
    service = make_service(world, store=racing, sleep=lambda _: None)
    steps = sample_definition()["steps"][:3]

    stored = service.put_pipeline(definition(steps=steps, description="Mine."), caller("admin"))

    assert racing.commits == 2
    assert (stored.definition_version, stored.description) == (2, "Mine.")
    machine = world.state_machines()[f"{STATE_MACHINE_PREFIX}{PIPELINE_ID}"]["definition"]
    assert "evaluate" not in json.dumps(machine)  # the winner's (last committed) definition is deployed
    assert [item.resource for item in world.audit("put_pipeline")] == [
        f"pipeline/{PIPELINE_ID}/version/2",
        f"pipeline/{PIPELINE_ID}/version/1",
    ]


def test_too_many_lost_races_give_up_with_429(world: PipelineWorld) -> None:
    class Refusing(PipelineStore):
        def commit(self, change: PipelineChange) -> None:
            from cirrus_core.pipelines.store import ConcurrentPipelineUpdate

            raise ConcurrentPipelineUpdate(change.record.pipeline_id)

    sleeps: list[float] = []
    store = Refusing(world.aws.dynamodb, PIPELINES_TABLE)
    service = make_service(world, store=store, sleep=sleeps.append, max_attempts=4)

    with pytest.raises(TooMuchContention):
        service.put_pipeline(definition(), caller("admin"))

    assert len(sleeps) == 4
    assert all(0 <= pause <= CAP_SECONDS for pause in sleeps)


# -- schedules ----------------------------------------------------------------------------------------


class RefusingSchedules(Schedules):
    """EventBridge Scheduler refusing what the cron module accepted (a rule it checks on its own)."""

    def create(self, *args: Any, **kwargs: Any) -> bool:
        raise ScheduleRefused("Invalid Schedule Expression")


class BrokenUpdates(Schedules):
    def replace_input(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("scheduler is down")


def test_a_schedule_eventbridge_refuses_is_invalid_schedule(world: PipelineWorld) -> None:
    schedules = RefusingSchedules(world.scheduler, SCHEDULER_GROUP, ENV["SCHEDULER_ROLE_ARN"])
    service = make_service(world, schedules=schedules)
    service.put_pipeline(definition(), caller("admin"))
    request = ExecutePipelineRequest(pipeline_id=PIPELINE_ID, schedule="0 2 * * *")

    with pytest.raises(InvalidSchedule) as refused:
        service.schedule(request, caller("ml_engineer"))

    assert "Invalid Schedule Expression" in refused.value.message
    assert refused.value.details == [
        {"field": "schedule", "expression": "cron(0 2 * * ? *)", "timezone": "UTC"}
    ]
    assert world.schedules() == {}


def test_a_schedule_left_on_the_old_definition_does_not_fail_the_new_one(world: PipelineWorld) -> None:
    schedules = BrokenUpdates(world.scheduler, SCHEDULER_GROUP, ENV["SCHEDULER_ROLE_ARN"])
    service = make_service(world, schedules=schedules)
    service.put_pipeline(definition(), caller("admin"))
    service.schedule(
        ExecutePipelineRequest(pipeline_id=PIPELINE_ID, schedule="@daily"), caller("ml_engineer")
    )

    stored = service.put_pipeline(definition(description="Second."), caller("admin"))

    assert (stored.changed, stored.definition_version) == (True, 2)
    (schedule,) = world.schedules().values()
    assert json.loads(schedule["Target"]["Input"])["pipeline"]["definition_version"] == 1


# -- names --------------------------------------------------------------------------------------------


def test_a_long_pipeline_id_still_names_a_state_machine_within_80_characters(world: PipelineWorld) -> None:
    orchestrator = Orchestrator(world.sfn, "role", "cirrus-production-pipeline-", "")
    long_id = "a" * 63

    name = orchestrator.state_machine_name(long_id)

    assert len(name) <= 80
    assert name != orchestrator.state_machine_name("a" * 62 + "b")
    assert orchestrator.state_machine_name("fraud") == "cirrus-production-pipeline-fraud"


def test_schedule_names_fit_and_differ_by_what_they_run() -> None:
    first = schedule_name("f" * 63, {"cron": "0 2 * * *", "parameters": {}})
    second = schedule_name("f" * 63, {"cron": "0 3 * * *", "parameters": {}})

    assert len(first) <= 64
    assert first != second
    assert schedule_name("fraud", {"cron": "0 2 * * *"}) == schedule_name("fraud", {"cron": "0 2 * * *"})


def test_an_execution_arn_follows_from_the_state_machine_and_the_run_id() -> None:
    assert (
        execution_arn(TRAINING_ARN, "run-1")
        == "arn:aws:states:us-east-1:123456789012:execution:cirrus-test-training:run-1"
    )


# -- the schedule preview -----------------------------------------------------------------------------

SATURDAY = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def test_weekday_schedules_skip_the_weekend() -> None:
    runs = next_fire_times("cron(30 6 ? * 2-6 *)", "UTC", SATURDAY, count=2)

    assert runs == [datetime(2024, 6, 3, 6, 30, tzinfo=UTC), datetime(2024, 6, 4, 6, 30, tzinfo=UTC)]


def test_fire_times_follow_the_time_zone_and_skip_a_time_the_clocks_jump_over() -> None:
    # Paris moves from UTC+1 to UTC+2 at 02:00 on 31 March 2024: that day has no 02:00, and
    # EventBridge Scheduler skips the invocation.
    runs = next_fire_times(
        "cron(0 2 * * ? *)", "Europe/Paris", datetime(2024, 3, 29, 12, tzinfo=UTC), count=3
    )

    assert runs == [
        datetime(2024, 3, 30, 1, 0, tzinfo=UTC),
        datetime(2024, 4, 1, 0, 0, tzinfo=UTC),
        datetime(2024, 4, 2, 0, 0, tzinfo=UTC),
    ]


def test_a_time_the_clocks_repeat_fires_once() -> None:
    # Paris goes back from 03:00 to 02:00 on 27 October 2024.
    runs = next_fire_times(
        "cron(30 2 * * ? *)", "Europe/Paris", datetime(2024, 10, 26, 12, tzinfo=UTC), count=2
    )

    assert runs == [datetime(2024, 10, 27, 0, 30, tzinfo=UTC), datetime(2024, 10, 28, 1, 30, tzinfo=UTC)]


def test_steps_lists_and_month_names_are_evaluated() -> None:
    runs = next_fire_times("cron(0/30 9 1 JAN,JUL ? *)", "UTC", SATURDAY, count=3)

    assert runs == [
        datetime(2024, 7, 1, 9, 0, tzinfo=UTC),
        datetime(2024, 7, 1, 9, 30, tzinfo=UTC),
        datetime(2025, 1, 1, 9, 0, tzinfo=UTC),
    ]


@pytest.mark.parametrize(
    "expression", ["cron(0 0 L * ? *)", "rate(6 hours)", "cron(0 0 ? * 6#3 *)", "cron(1 2 3)"]
)
def test_what_the_preview_does_not_evaluate_gives_no_fire_times(expression: str) -> None:
    assert next_fire_times(expression, "UTC", SATURDAY) == []


def test_an_unknown_zone_gives_no_fire_times() -> None:
    assert next_fire_times("cron(0 2 * * ? *)", "Mars/Olympus", SATURDAY) == []
