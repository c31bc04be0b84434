"""POST /pipelines/execute: start a run now (202), or on a schedule (201), with the documented input.

The parameters are merged over the definition's defaults and validated before anything starts; a
refusal starts, schedules and writes nothing.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from cirrus_core.pipelines.compiler import builtin_training_definition
from tests.unit.pipelines.api_support import (
    ENGINEER,
    ENV,
    NOBODY,
    PIPELINE_ID,
    REVIEWER,
    SCHEDULER_GROUP,
    SCIENTIST,
    TRAINING_ARN,
    PipelineWorld,
    Untouched,
    api,
    ok,
    sample_definition,
    sample_execute,
    state_machine_arn,
    subject,
)


@pytest.fixture
def world(aws: Any) -> PipelineWorld:
    world = PipelineWorld(aws)
    world.define()
    return world


@pytest.fixture
def untouched(world: PipelineWorld) -> Untouched:
    return Untouched(world)


def execute(body: dict[str, Any] | None = None, **parts: Any) -> Any:
    return api("execute_pipeline", body=sample_execute() if body is None else body, **parts)


# -- starting a run -----------------------------------------------------------------------------------


def test_a_run_is_started_and_answered_with_202(world: PipelineWorld) -> None:
    response = execute()

    body = ok(response, 202)
    assert (body["pipeline_id"], body["status"], body["definition_version"]) == (PIPELINE_ID, "RUNNING", 1)
    assert body["execution_arn"].endswith(f":execution:cirrus-test-pipeline-{PIPELINE_ID}:{body['run_id']}")
    assert body["trigger"] == {"type": "api", "detail": {}}
    assert body["links"]["self"] == f"/api/v1/pipelines/{PIPELINE_ID}/runs/{body['run_id']}"
    (execution,) = world.executions()
    assert (execution["executionArn"], execution["status"]) == (body["execution_arn"], "RUNNING")


def test_the_execution_input_freezes_the_definition_and_names_the_actor_and_trigger(
    world: PipelineWorld,
) -> None:
    body = ok(execute(), 202)

    document = world.execution_input(body["execution_arn"])
    assert set(document) == {"pipeline", "parameters", "actor", "trigger"}
    assert document["pipeline"]["pipeline_id"] == PIPELINE_ID
    assert document["pipeline"]["definition_version"] == 1
    assert document["pipeline"]["definition"]["steps"][2]["parameters"] == {"max_depth": 6, "eta": 0.3}
    assert document["actor"] == {
        "sub": subject("ml_engineer"),
        "username": "alice@example.com",
        "groups": ["ml_engineer"],
    }
    assert document["trigger"] == {"type": "api", "detail": {}}


def test_the_parameters_are_merged_over_the_definitions_defaults_and_completed(world: PipelineWorld) -> None:
    body = ok(execute(sample_execute(parameters={"target_accuracy": 0.95, "window_days": 30})), 202)

    parameters = world.execution_input(body["execution_arn"])["parameters"]
    defaults = sample_definition()["default_parameters"]
    assert parameters["data_source"] == defaults["data_source"]
    assert parameters["target_accuracy"] == 0.95
    assert parameters["window_days"] == 30
    assert (parameters["task"], parameters["target_column"], parameters["seed"]) == (
        "classification",
        "label",
        42,
    )


def test_a_data_scientist_starts_runs_too(world: PipelineWorld) -> None:
    body = ok(execute(claims=SCIENTIST), 202)

    assert world.execution_input(body["execution_arn"])["actor"]["username"] == "dana@example.com"


def test_the_built_in_pipeline_runs_on_its_own_state_machine(world: PipelineWorld) -> None:
    body = ok(execute(sample_execute(pipeline_id="training")), 202)

    assert body["execution_arn"].startswith(TRAINING_ARN.replace(":stateMachine:", ":execution:") + ":")
    frozen = world.execution_input(body["execution_arn"])["pipeline"]
    assert frozen["definition"] == builtin_training_definition().model_dump(mode="json")
    assert frozen["definition_version"] == 1


def test_a_started_run_is_audited_as_the_caller(world: PipelineWorld) -> None:
    body = ok(execute(), 202)

    (record,) = world.audit("execute_pipeline")
    assert record.resource == f"pipeline/{PIPELINE_ID}/run/{body['run_id']}"
    assert (record.actor, record.category.value, record.decision.value) == (
        "alice@example.com",
        "change",
        "allow",
    )


def test_a_retried_request_with_an_idempotency_key_starts_one_run(world: PipelineWorld) -> None:
    headers = {"Idempotency-Key": "nightly-2024-06-01"}

    first = ok(execute(headers=headers), 202)
    again = ok(execute(headers=headers), 202)

    assert again["run_id"] == first["run_id"]
    assert len(world.executions()) == 1


# -- refusals -----------------------------------------------------------------------------------------


def test_a_model_reviewer_may_not_start_runs(untouched: Untouched) -> None:
    with untouched:
        response = execute(claims=REVIEWER)

    assert (response.status, response.error_code) == (403, "access_denied")
    assert response.body["error"]["details"][0]["action"] == "ExecutePipeline"


def test_a_user_in_no_role_may_not_start_runs(untouched: Untouched) -> None:
    with untouched:
        response = execute(claims=NOBODY)

    assert response.status == 403


def test_an_unknown_pipeline_is_not_found(untouched: Untouched) -> None:
    with untouched:
        response = execute(sample_execute(pipeline_id="nope"))

    assert (response.status, response.error_code) == (404, "pipeline_not_found")


@pytest.mark.parametrize(
    ("parameters", "field"),
    [
        ({"target_accuracy": 1.5}, "parameters.target_accuracy"),
        ({"model_type": "catboost"}, "parameters.model_type"),
        ({"approval_timeout_seconds": 5}, "parameters.approval_timeout_seconds"),
        ({"bad key!": 1}, "parameters.bad key!"),
        ({"nested": {"a": 1}}, "parameters.nested"),
    ],
)
def test_invalid_parameters_are_refused_naming_the_field(
    untouched: Untouched, parameters: dict[str, Any], field: str
) -> None:
    with untouched:
        response = execute(sample_execute(parameters=parameters))

    assert (response.status, response.error_code) == (422, "invalid_run_parameters")
    assert response.body["error"]["details"][0]["field"].startswith(field)


def test_a_run_of_the_built_in_pipeline_needs_a_data_source(untouched: Untouched) -> None:
    with untouched:
        response = execute({"pipeline_id": "training", "parameters": {"model_type": "sklearn"}})

    assert (response.status, response.error_code) == (422, "invalid_run_parameters")
    assert response.body["error"]["details"][0]["field"] == "parameters.data_source"


def test_an_unknown_field_in_the_payload_is_refused(untouched: Untouched) -> None:
    with untouched:
        response = execute(sample_execute(priority="high"))

    assert (response.status, response.error_code) == (422, "validation_error")


# -- schedules ----------------------------------------------------------------------------------------


def test_a_schedule_is_created_for_the_cron_expression_and_answered_with_201(world: PipelineWorld) -> None:
    response = execute(sample_execute(schedule="0 2 * * *"))

    body = ok(response, 201)
    assert body["schedule_name"].startswith(f"{PIPELINE_ID}-")
    assert len(body["schedule_name"]) <= 64
    assert (body["cron"], body["expression"], body["timezone"], body["state"]) == (
        "0 2 * * *",
        "cron(0 2 * * ? *)",
        "UTC",
        "ENABLED",
    )
    assert body["parameters"]["target_accuracy"] == 0.92
    runs = [datetime.fromisoformat(moment) for moment in body["next_runs"]]
    assert len(runs) == 3
    assert runs == sorted(runs)
    assert all((moment.hour, moment.minute) == (2, 0) for moment in runs)
    assert world.executions() == []


def test_the_schedule_starts_the_pipelines_state_machine_with_the_execution_input(
    world: PipelineWorld,
) -> None:
    body = ok(execute(sample_execute(schedule="30 6 * * 1-5", timezone="Europe/Paris")), 201)

    schedule = world.schedules()[body["schedule_name"]]
    assert schedule["GroupName"] == SCHEDULER_GROUP
    assert (schedule["ScheduleExpression"], schedule["ScheduleExpressionTimezone"]) == (
        "cron(30 6 ? * 2-6 *)",
        "Europe/Paris",
    )
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = schedule["Target"]
    assert (target["Arn"], target["RoleArn"]) == (state_machine_arn(), ENV["SCHEDULER_ROLE_ARN"])
    document = json.loads(target["Input"])
    assert document["trigger"] == {"type": "schedule", "detail": {"schedule": body["schedule_name"]}}
    assert document["actor"]["username"] == "alice@example.com"
    assert document["pipeline"]["definition_version"] == 1
    assert document["parameters"]["data_source"].endswith("/2024-06-01/")


def test_the_same_schedule_asked_for_twice_is_one_schedule(world: PipelineWorld) -> None:
    first = ok(execute(sample_execute(schedule="0 2 * * *")), 201)
    again = ok(execute(sample_execute(schedule="0 2 * * *")), 201)

    assert again["schedule_name"] == first["schedule_name"]
    assert len(world.schedules()) == 1
    assert len(world.audit("schedule_pipeline")) == 1


def test_other_parameters_make_another_schedule(world: PipelineWorld) -> None:
    first = ok(execute(sample_execute(schedule="0 2 * * *")), 201)
    other = ok(execute(sample_execute(schedule="0 2 * * *", parameters={"target_accuracy": 0.8})), 201)

    assert other["schedule_name"] != first["schedule_name"]
    assert len(world.schedules()) == 2


def test_a_schedule_is_audited_as_the_caller(world: PipelineWorld) -> None:
    body = ok(execute(sample_execute(schedule="@daily"), claims=SCIENTIST), 201)

    (record,) = world.audit("schedule_pipeline")
    assert record.resource == f"pipeline/{PIPELINE_ID}/schedule/{body['schedule_name']}"
    assert record.actor == "dana@example.com"


@pytest.mark.parametrize(
    ("cron", "field"),
    [("0 25 * * *", "hour"), ("0 2 * *", "expression"), ("0 0 1 * 1", "day-of-week"), ("", "expression")],
)
def test_a_bad_cron_expression_is_refused_and_nothing_is_scheduled(
    untouched: Untouched, cron: str, field: str
) -> None:
    with untouched:
        response = execute(sample_execute(schedule=cron))

    assert (response.status, response.error_code) == (422, "invalid_schedule")
    assert response.body["error"]["details"][0]["field"] == field


@pytest.mark.parametrize("timezone", ["Mars/Olympus_Mons", "not a zone", "../../etc/passwd"])
def test_an_unknown_time_zone_is_refused(untouched: Untouched, timezone: str) -> None:
    with untouched:
        response = execute(sample_execute(schedule="0 2 * * *", timezone=timezone))

    assert (response.status, response.error_code) == (422, "invalid_schedule")
    assert response.body["error"]["details"] == [{"field": "timezone", "value": timezone}]


def test_a_schedule_with_invalid_parameters_is_refused(untouched: Untouched) -> None:
    with untouched:
        response = execute(sample_execute(schedule="0 2 * * *", parameters={"target_accuracy": -1}))

    assert (response.status, response.error_code) == (422, "invalid_run_parameters")


def test_a_model_reviewer_may_not_schedule_runs(untouched: Untouched) -> None:
    with untouched:
        response = execute(sample_execute(schedule="0 2 * * *"), claims=REVIEWER)

    assert (response.status, response.error_code) == (403, "access_denied")
    assert response.body["error"]["details"][0]["action"] == "SchedulePipeline"


def test_an_engineer_schedules_the_built_in_pipeline(world: PipelineWorld) -> None:
    body = ok(execute(sample_execute(pipeline_id="training", schedule="@weekly"), claims=ENGINEER), 201)

    assert world.schedules()[body["schedule_name"]]["Target"]["Arn"] == TRAINING_ARN
