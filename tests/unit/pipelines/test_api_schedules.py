"""A pipeline's schedules: listed by any role, deleted by those who start runs; a new definition
reaches the schedules, so scheduled runs match the pipeline's state machine."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit.pipelines.api_support import (
    PIPELINE_ID,
    REVIEWER,
    SCIENTIST,
    PipelineWorld,
    Untouched,
    api,
    ok,
    sample_definition,
)


@pytest.fixture
def world(aws: Any) -> PipelineWorld:
    world = PipelineWorld(aws)
    world.define()
    world.define(pipeline_id="fraud_detection_eu")  # its schedules share the sample's name prefix
    return world


@pytest.fixture
def untouched(world: PipelineWorld) -> Untouched:
    return Untouched(world)


def schedule_path(name: str, pipeline_id: str = PIPELINE_ID) -> dict[str, str]:
    return {"pipeline_id": pipeline_id, "schedule_name": name}


def test_a_pipelines_schedules_are_listed_and_only_its_own(world: PipelineWorld) -> None:
    nightly = world.schedule("0 2 * * *")
    weekly = world.schedule("0 3 * * 0")
    world.schedule("0 2 * * *", pipeline_id="fraud_detection_eu")

    body = ok(api("list_schedules"), 200)

    assert sorted(item["schedule_name"] for item in body["items"]) == sorted(
        [nightly["schedule_name"], weekly["schedule_name"]]
    )
    listed = {item["schedule_name"]: item for item in body["items"]}
    assert listed[weekly["schedule_name"]]["cron"] == "0 3 * * 0"
    assert listed[weekly["schedule_name"]]["expression"] == "cron(0 3 ? * 1 *)"
    assert len(listed[nightly["schedule_name"]]["next_runs"]) == 3


def test_a_pipeline_without_schedules_lists_none(world: PipelineWorld) -> None:
    assert ok(api("list_schedules", claims=REVIEWER), 200) == {"items": []}


def test_the_schedules_of_an_unknown_pipeline_are_not_found(world: PipelineWorld) -> None:
    response = api("list_schedules", path={"pipeline_id": "nope"})

    assert (response.status, response.error_code) == (404, "pipeline_not_found")


def test_a_schedule_is_deleted_and_audited(world: PipelineWorld) -> None:
    nightly = world.schedule()

    response = api("delete_schedule", path=schedule_path(nightly["schedule_name"]), claims=SCIENTIST)

    assert (response.status, response.raw_body or "") == (204, "")
    assert world.schedules() == {}
    (record,) = world.audit("delete_pipeline_schedule")
    assert (record.resource, record.actor) == (
        f"pipeline/{PIPELINE_ID}/schedule/{nightly['schedule_name']}",
        "dana@example.com",
    )


def test_an_unknown_schedule_is_not_found(untouched: Untouched) -> None:
    with untouched:
        response = api("delete_schedule", path=schedule_path(f"{PIPELINE_ID}-0000000000000000"))

    assert (response.status, response.error_code) == (404, "schedule_not_found")


def test_another_pipelines_schedule_is_not_found_under_this_one(world: PipelineWorld) -> None:
    other = world.schedule(pipeline_id="fraud_detection_eu")

    with Untouched(world):
        response = api("delete_schedule", path=schedule_path(other["schedule_name"]))

    assert (response.status, response.error_code) == (404, "schedule_not_found")


def test_a_model_reviewer_may_not_delete_schedules(world: PipelineWorld) -> None:
    nightly = world.schedule()

    with Untouched(world):
        response = api("delete_schedule", path=schedule_path(nightly["schedule_name"]), claims=REVIEWER)

    assert (response.status, response.error_code) == (403, "access_denied")
    assert response.body["error"]["details"][0]["action"] == "DeletePipelineSchedule"


def test_a_new_definition_reaches_the_pipelines_schedules(world: PipelineWorld) -> None:
    nightly = world.schedule()
    other = world.schedule(pipeline_id="fraud_detection_eu")
    steps = sample_definition()["steps"]
    steps[2]["parameters"] = {"max_depth": 9}

    world.define(steps=steps)

    schedules = world.schedules()
    document = json.loads(schedules[nightly["schedule_name"]]["Target"]["Input"])
    assert document["pipeline"]["definition_version"] == 2
    assert document["pipeline"]["definition"]["steps"][2]["parameters"] == {"max_depth": 9}
    assert document["trigger"] == {"type": "schedule", "detail": {"schedule": nightly["schedule_name"]}}
    assert document["actor"]["username"] == "alice@example.com"
    assert schedules[nightly["schedule_name"]]["ScheduleExpression"] == "cron(0 2 * * ? *)"
    untouched_other = json.loads(schedules[other["schedule_name"]]["Target"]["Input"])
    assert untouched_other["pipeline"]["definition_version"] == 1
