"""POST /pipelines: validate as a DAG, compile, deploy the state machine, store version N+1.

A refusal (forbidden, reserved id, invalid definition) writes nothing: no item, no state machine.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit.pipelines.api_support import (
    ADMIN,
    ENGINEER,
    ENV,
    PIPELINE_ID,
    REVIEWER,
    SCIENTIST,
    STATE_MACHINE_PREFIX,
    PipelineWorld,
    Untouched,
    api,
    ok,
    sample_definition,
    state_machine_arn,
    subject,
)


@pytest.fixture
def world(aws: Any) -> PipelineWorld:
    return PipelineWorld(aws)


@pytest.fixture
def untouched(world: PipelineWorld) -> Untouched:
    return Untouched(world)


def put(body: dict[str, Any] | None = None, **parts: Any) -> Any:
    return api("put_pipeline", body=body or sample_definition(), **{"claims": ADMIN, **parts})


def steps_with(**changes: Any) -> list[dict[str, Any]]:
    """The sample's steps with the training step's parameters changed."""
    steps: list[dict[str, Any]] = sample_definition()["steps"]
    for step in steps:
        if step["id"] == "train":
            step["parameters"] = {**step["parameters"], **changes}
    return steps


# -- what storing a definition creates ----------------------------------------------------------------


def test_a_new_pipeline_is_stored_as_version_1_with_its_state_machine(world: PipelineWorld) -> None:
    response = put()

    body = ok(response, 201)
    assert (body["pipeline_id"], body["definition_version"], body["latest_version"]) == (PIPELINE_ID, 1, 1)
    assert body["changed"] is True
    assert body["state_machine_arn"] == state_machine_arn()
    assert body["stages"] == [["preprocess"], ["features"], ["train"], ["evaluate"]]
    assert [version["version"] for version in body["versions"]] == [1]
    assert (body["created_by"], body["updated_by"]) == ("ada@example.com", "ada@example.com")


def test_the_state_machine_is_the_compiled_definition_with_the_functions_filled_in(
    world: PipelineWorld,
) -> None:
    put()

    machine = world.state_machines()[f"{STATE_MACHINE_PREFIX}{PIPELINE_ID}"]
    assert machine["roleArn"] == ENV["PIPELINE_STATE_MACHINE_ROLE_ARN"]
    text = json.dumps(machine["definition"])
    assert "${" not in text
    assert ENV["PREPARE_RUN_FUNCTION_ARN"] in text
    assert {"preprocess", "features", "train", "evaluate"} <= set(_state_names(machine["definition"]))


def test_the_items_are_the_documented_meta_definition_and_trigger_index(world: PipelineWorld) -> None:
    put()

    definition, meta = world.items(f"PIPELINE#{PIPELINE_ID}")
    assert (meta["sk"]["S"], definition["sk"]["S"]) == ("META", "DEF#0000000001")
    assert meta["definition_version"] == {"N": "1"}
    assert meta["revision"] == {"N": "1"}
    assert meta["state_machine_arn"] == {"S": state_machine_arn()}
    assert meta["updated_by_principal"]["M"] == {
        "sub": {"S": subject("admin")},
        "username": {"S": "ada@example.com"},
        "groups": {"L": [{"S": "admin"}]},
    }
    assert json.loads(definition["definition"]["S"])["steps"][2]["id"] == "train"
    assert len(definition["asl_sha256"]["S"]) == 64
    (trigger,) = world.items("TRIGGER#")
    assert (trigger["pk"]["S"], trigger["sk"]["S"]) == (
        "TRIGGER#github#acme/fraud-models",
        "PIPELINE#fraud_detection",
    )
    assert json.loads(trigger["rule"]["S"])["branches"] == ["main"]
    assert trigger["pipeline_id"] == {"S": PIPELINE_ID}


def test_the_change_is_audited_with_its_before_and_after(world: PipelineWorld) -> None:
    put()
    put(sample_definition(steps=steps_with(max_depth=8)))

    second, first = world.audit("put_pipeline")
    assert (first.resource, second.resource) == (
        f"pipeline/{PIPELINE_ID}/version/1",
        f"pipeline/{PIPELINE_ID}/version/2",
    )
    assert first.actor == "ada@example.com"
    assert first.before_hash is None
    assert second.before_hash is not None
    assert second.after_hash != first.after_hash
    assert "admin_all_permissions" in first.policies


def test_an_unchanged_definition_stores_nothing_and_answers_200(world: PipelineWorld) -> None:
    put()
    before = world.snapshot()

    response = put()

    body = ok(response, 200)
    assert (body["changed"], body["definition_version"]) == (False, 1)
    assert world.snapshot() == before


def test_a_changed_definition_is_the_next_version(world: PipelineWorld) -> None:
    put()

    response = put(sample_definition(steps=steps_with(max_depth=8), description="Deeper trees."))

    body = ok(response, 201)
    assert (body["definition_version"], body["description"], body["changed"]) == (2, "Deeper trees.", True)
    assert [version["version"] for version in body["versions"]] == [2, 1]
    assert sorted(world.state_machines()) == [f"{STATE_MACHINE_PREFIX}{PIPELINE_ID}", "cirrus-test-training"]
    *definitions, meta = world.items(f"PIPELINE#{PIPELINE_ID}")
    assert [item["sk"]["S"] for item in definitions] == ["DEF#0000000001", "DEF#0000000002"]
    assert (meta["definition_version"], meta["revision"]) == ({"N": "2"}, {"N": "2"})
    assert meta["created_at"] != meta["updated_at"]


def test_a_new_step_changes_the_state_machine(world: PipelineWorld) -> None:
    put()
    steps = sample_definition()["steps"]
    steps.insert(1, {"id": "clean", "type": "data_preprocessing"})
    steps[2]["depends_on"] = ["preprocess", "clean"]

    ok(put(sample_definition(steps=steps)), 201)

    machine = world.state_machines()[f"{STATE_MACHINE_PREFIX}{PIPELINE_ID}"]["definition"]
    assert "clean" in _state_names(machine)


def test_the_trigger_index_follows_the_current_definition(world: PipelineWorld) -> None:
    put()
    triggers = [
        {"provider": "gitlab", "repository": "acme/ml/fraud", "events": ["merge_request"]},
        {"provider": "github", "repository": "acme/other-models", "branches": ["release/*"]},
    ]

    ok(put(sample_definition(triggers=triggers)), 201)

    assert [item["pk"]["S"] for item in world.items("TRIGGER#")] == [
        "TRIGGER#github#acme/other-models",
        "TRIGGER#gitlab#acme/ml/fraud",
    ]
    ok(put(sample_definition(triggers=[])), 201)
    assert world.items("TRIGGER#") == []


def test_an_admin_may_define_a_pipeline_with_an_idempotency_key_and_a_retry_answers_the_same(
    world: PipelineWorld,
) -> None:
    headers = {"Idempotency-Key": "define-fraud-0001"}

    first = put(headers=headers)
    again = put(headers=headers)

    assert (first.status, again.status) == (201, 201)
    assert again.body == first.body
    assert len(world.items(f"PIPELINE#{PIPELINE_ID}")) == 2


def test_the_same_idempotency_key_with_another_definition_is_refused(world: PipelineWorld) -> None:
    headers = {"Idempotency-Key": "define-fraud-0002"}
    put(headers=headers)

    response = put(sample_definition(description="Another."), headers=headers)

    assert (response.status, response.error_code) == (422, "idempotency_key_reused")


# -- refusals -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "caller", [ENGINEER, SCIENTIST, REVIEWER], ids=["ml_engineer", "data_scientist", "reviewer"]
)
def test_only_admins_define_pipelines(untouched: Untouched, caller: dict[str, str]) -> None:
    with untouched:
        response = put(claims=caller)

    assert (response.status, response.error_code) == (403, "access_denied")
    assert response.body["error"]["details"][0]["action"] == "PutPipeline"


@pytest.mark.parametrize("pipeline_id", ["training", "execute", "webhooks"])
def test_reserved_pipeline_ids_are_refused(untouched: Untouched, pipeline_id: str) -> None:
    with untouched:
        response = put(sample_definition(pipeline_id=pipeline_id))

    assert (response.status, response.error_code) == (422, "reserved_pipeline_id")
    assert response.body["error"]["details"] == [{"field": "pipeline_id", "pipeline_id": pipeline_id}]


def test_a_cycle_is_refused_naming_the_loop(untouched: Untouched) -> None:
    steps = sample_definition()["steps"]
    steps[0]["depends_on"] = ["features"]

    with untouched:
        response = put(sample_definition(steps=steps))

    assert (response.status, response.error_code) == (422, "invalid_pipeline")
    problems = {(item["step"], item["problem"]) for item in response.body["error"]["details"]}
    assert ("preprocess", "cycle") in problems or ("features", "cycle") in problems
    assert any("->" in item["message"] for item in response.body["error"]["details"])


def test_an_unknown_dependency_is_refused_naming_the_step(untouched: Untouched) -> None:
    steps = sample_definition()["steps"]
    steps[1]["depends_on"] = ["clean"]

    with untouched:
        response = put(sample_definition(steps=steps))

    assert (response.status, response.error_code) == (422, "invalid_pipeline")
    assert {"step": "features", "problem": "unknown_dependency"}.items() <= response.body["error"]["details"][
        0
    ].items()


def test_two_trigger_rules_for_one_repository_are_refused(untouched: Untouched) -> None:
    rule = {"provider": "github", "repository": "acme/fraud-models"}
    with untouched:
        response = put(sample_definition(triggers=[rule, {**rule, "branches": ["dev"]}]))

    assert (response.status, response.error_code) == (422, "invalid_pipeline")
    assert "acme/fraud-models" in response.body["error"]["details"][0]["message"]


def test_a_malformed_definition_is_refused_by_validation(untouched: Untouched) -> None:
    with untouched:
        response = put(sample_definition(steps=[{"id": "Bad Id", "type": "model_training"}]))

    assert (response.status, response.error_code) == (422, "validation_error")
    assert response.body["error"]["details"][0]["field"].startswith("body.steps.0.id")


def test_a_refused_change_leaves_the_stored_version_and_state_machine_alone(
    world: PipelineWorld, untouched: Untouched
) -> None:
    put()
    steps = sample_definition()["steps"]
    steps[3]["depends_on"] = ["train"]  # evaluation needs a data step too

    with untouched:
        response = put(sample_definition(steps=steps))

    assert (response.status, response.error_code) == (422, "invalid_pipeline")


def _state_names(definition: dict[str, Any]) -> list[str]:
    """Every state name of an ASL document, nested branches included."""
    names: list[str] = []
    for name, state in definition.get("States", {}).items():
        names.append(name)
        for branch in state.get("Branches", []):
            names.extend(_state_names(branch))
    return names
