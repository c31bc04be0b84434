"""validate_definition: a definition is a DAG of steps with a meaning; every problem is named."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from cirrus_core.errors import InvalidPipeline
from cirrus_core.pipelines.definition import (
    DeploymentPlan,
    PipelineDefinitionRequest,
    StepDefinition,
    deployment_plan,
    validate_definition,
)
from cirrus_core.registry.models import Environment

PRE = "data_preprocessing"
FEAT = "feature_engineering"
TRAIN = "model_training"
EVAL = "model_evaluation"
DEPLOY = "model_deployment"


def step(step_id: str, job_type: str, *depends_on: str, **fields: Any) -> dict[str, Any]:
    return {"id": step_id, "type": job_type, "depends_on": list(depends_on), **fields}


def definition(*steps: dict[str, Any]) -> PipelineDefinitionRequest:
    return PipelineDefinitionRequest.model_validate({"pipeline_id": "fraud", "steps": list(steps)})


def problems(*steps: dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(InvalidPipeline) as refused:
        validate_definition(definition(*steps))
    assert refused.value.status == 422
    assert refused.value.code == "invalid_pipeline"
    return refused.value.details


def kinds(found: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(item["step"], item["problem"]) for item in found]


TRAINING = [
    step("preprocess", PRE),
    step("features", FEAT, "preprocess"),
    step("train", TRAIN, "features"),
    step("evaluate", EVAL, "train", "features"),
    step("deploy", DEPLOY, "evaluate"),
]


# -- stages ---------------------------------------------------------------------------------------


def test_a_chain_is_one_step_per_stage_and_deployment_is_no_stage() -> None:
    assert validate_definition(definition(*TRAINING)) == [
        ["preprocess"],
        ["features"],
        ["train"],
        ["evaluate"],
    ]


def test_two_feature_branches_share_a_stage() -> None:
    stages = validate_definition(
        definition(
            step("clean", PRE),
            step("text", FEAT, "clean"),
            step("numbers", FEAT, "clean"),
            step("train", TRAIN, "text", "numbers"),
        )
    )
    assert stages == [["clean"], ["text", "numbers"], ["train"]]


def test_a_diamond_joins_after_its_longest_arm() -> None:
    # clean -> a -> b -> train and clean -> c -> train: train waits for b, c runs beside a.
    stages = validate_definition(
        definition(
            step("clean", PRE),
            step("a", FEAT, "clean"),
            step("b", FEAT, "a"),
            step("c", FEAT, "clean"),
            step("train", TRAIN, "b", "c"),
        )
    )
    assert stages == [["clean"], ["a", "c"], ["b"], ["train"]]


def test_stages_keep_definition_order_whatever_order_the_steps_come_in() -> None:
    stages = validate_definition(
        definition(
            step("train", TRAIN, "z", "y"),
            step("z", FEAT, "raw"),
            step("y", FEAT, "raw"),
            step("raw", PRE),
        )
    )
    assert stages == [["raw"], ["z", "y"], ["train"]]


def test_independent_sources_start_together() -> None:
    stages = validate_definition(
        definition(step("left", PRE), step("right", PRE), step("join", FEAT, "left", "right"))
    )
    assert stages == [["left", "right"], ["join"]]


def test_a_data_only_pipeline_is_valid() -> None:
    assert validate_definition(definition(step("clean", PRE))) == [["clean"]]


def test_deployment_straight_after_training_without_evaluation() -> None:
    stages = validate_definition(
        definition(step("raw", PRE), step("train", TRAIN, "raw"), step("ship", DEPLOY, "train"))
    )
    assert stages == [["raw"], ["train"]]


def test_evaluation_may_run_beside_an_unrelated_data_step() -> None:
    stages = validate_definition(
        definition(
            step("raw", PRE),
            step("f", FEAT, "raw"),
            step("train", TRAIN, "raw"),
            step("g", FEAT, "f"),
            step("evaluate", EVAL, "train", "raw"),
        )
    )
    assert stages == [["raw"], ["f", "train"], ["g", "evaluate"]]


# -- graph problems -------------------------------------------------------------------------------


def test_duplicate_ids_are_refused() -> None:
    found = problems(step("raw", PRE), step("raw", PRE))
    assert kinds(found) == [("raw", "duplicate_id")]
    assert "2 steps" in found[0]["message"]


def test_an_unknown_dependency_is_named() -> None:
    found = problems(step("raw", PRE), step("f", FEAT, "raw", "ghost"))
    assert kinds(found) == [("f", "unknown_dependency")]
    assert "'ghost'" in found[0]["message"]


def test_a_self_dependency_is_a_cycle() -> None:
    found = problems(step("raw", PRE), step("f", FEAT, "raw", "f"))
    assert kinds(found) == [("f", "cycle")]
    assert "depends on itself" in found[0]["message"]


def test_a_cycle_is_named_by_its_path() -> None:
    found = problems(
        step("raw", PRE),
        step("a", FEAT, "raw", "b"),
        step("b", FEAT, "a"),
    )
    assert kinds(found) == [("a", "cycle")]
    assert "a -> b -> a" in found[0]["message"]


def test_a_longer_cycle_is_named_from_its_first_step() -> None:
    found = problems(
        step("raw", PRE),
        step("c", FEAT, "raw", "a"),
        step("b", FEAT, "c"),
        step("a", FEAT, "b"),
    )
    assert [item["message"] for item in found if item["problem"] == "cycle"] == [
        "dependency cycle c -> a -> b -> c (each step depends on the next)"
    ]


def test_every_cycle_is_reported() -> None:
    found = problems(
        step("raw", PRE),
        step("a", FEAT, "raw", "b"),
        step("b", FEAT, "a"),
        step("c", FEAT, "raw", "d"),
        step("d", FEAT, "c"),
    )
    cycles = [item for item in found if item["problem"] == "cycle"]
    assert [item["step"] for item in cycles] == ["a", "c"]
    assert "a -> b -> a" in cycles[0]["message"]
    assert "c -> d -> c" in cycles[1]["message"]


def test_every_problem_is_reported_not_only_the_first() -> None:
    found = problems(
        step("raw", PRE),
        step("raw", PRE),
        step("f", FEAT, "raw", "ghost"),
        step("g", FEAT, "g"),
        step("a", FEAT, "b"),
        step("b", FEAT, "a"),
        step("train", TRAIN, "raw"),
        step("train2", TRAIN, "raw"),
    )
    assert set(kinds(found)) == {
        ("raw", "duplicate_id"),
        ("f", "unknown_dependency"),
        ("g", "cycle"),
        ("g", "structure"),  # depending only on itself, it has no data step either
        ("a", "cycle"),
        ("train2", "structure"),
    }
    with pytest.raises(InvalidPipeline) as refused:
        validate_definition(
            definition(step("raw", PRE), step("f", FEAT, "ghost"), step("g", FEAT, "raw", "g"))
        )
    assert "2 problems" in refused.value.message
    assert "'ghost'" in refused.value.message
    assert "itself" in refused.value.message


def test_each_detail_has_step_problem_and_message() -> None:
    for item in problems(step("raw", PRE), step("f", FEAT, "nope")):
        assert set(item) == {"step", "problem", "message"}
        assert item["problem"] in {"unknown_dependency", "cycle", "duplicate_id", "structure"}


def test_an_unknown_job_type_is_refused_by_the_model() -> None:
    with pytest.raises(ValidationError):
        definition(step("raw", "data_wrangling"))


# -- structure ------------------------------------------------------------------------------------


def structure(*steps: dict[str, Any]) -> list[tuple[str, str]]:
    """(step, message) of the structural problems only."""
    return [(item["step"], item["message"]) for item in problems(*steps) if item["problem"] == "structure"]


@pytest.mark.parametrize("job_type", [TRAIN, EVAL, DEPLOY])
def test_at_most_one_training_evaluation_and_deployment(job_type: str) -> None:
    steps = [
        step("raw", PRE),
        step("train", TRAIN, "raw"),
        step("evaluate", EVAL, "train", "raw"),
        step("deploy", DEPLOY, "evaluate"),
    ]
    first = next(item for item in steps if item["type"] == job_type)
    extra = {**first, "id": "second"}
    found = structure(*steps, extra)
    assert ("second", f"a pipeline has at most one {job_type} step, and {first['id']!r} is one already") in (
        found
    )


def test_preprocessing_takes_no_dependency() -> None:
    found = structure(step("raw", PRE), step("again", PRE, "raw"))
    assert [item[0] for item in found] == ["again"]
    assert "data source" in found[0][1]


def test_feature_engineering_needs_a_data_step() -> None:
    found = structure(step("f", FEAT))
    assert found == [("f", "'f' is feature_engineering: it needs a data step to depend on")]


def test_training_needs_a_data_step_upstream() -> None:
    found = structure(step("train", TRAIN))
    assert found == [("train", "'train' is model_training: it needs a data step to depend on")]


def test_training_depends_on_data_steps_only() -> None:
    found = structure(
        step("raw", PRE),
        step("train", TRAIN, "raw"),
        step("evaluate", EVAL, "train", "raw"),
        step("f", FEAT, "raw", "evaluate"),
    )
    assert [item[0] for item in found] == ["f"]
    assert "not on 'evaluate'" in found[0][1]


def test_evaluation_needs_the_training_step() -> None:
    found = structure(step("raw", PRE), step("train", TRAIN, "raw"), step("evaluate", EVAL, "raw"))
    assert found == [
        (
            "evaluate",
            "'evaluate' is model_evaluation: it must depend on the model_training step 'train', "
            "whose model it evaluates",
        )
    ]


def test_evaluation_without_any_training_is_refused() -> None:
    found = structure(step("raw", PRE), step("evaluate", EVAL, "raw"))
    assert found == [("evaluate", "'evaluate' is model_evaluation, but no model_training step makes a model")]


def test_evaluation_needs_data_to_evaluate_on() -> None:
    found = structure(step("raw", PRE), step("train", TRAIN, "raw"), step("evaluate", EVAL, "train"))
    assert [item[0] for item in found] == ["evaluate"]
    assert "data step" in found[0][1]


def test_deployment_needs_the_evaluation_when_there_is_one() -> None:
    found = structure(
        step("raw", PRE),
        step("train", TRAIN, "raw"),
        step("evaluate", EVAL, "train", "raw"),
        step("deploy", DEPLOY, "train"),
    )
    assert [item[0] for item in found] == ["deploy"]
    assert "'evaluate'" in found[0][1]


def test_deployment_needs_a_training_step() -> None:
    found = structure(step("raw", PRE), step("deploy", DEPLOY, "raw"))
    assert [item[0] for item in found] == ["deploy", "deploy"]
    assert "not on 'raw'" in found[0][1]
    assert "no model_training step" in found[1][1]


def test_deployment_needs_a_dependency_on_training_without_evaluation() -> None:
    found = structure(step("raw", PRE), step("train", TRAIN, "raw"), step("deploy", DEPLOY))
    assert found == [
        ("deploy", "'deploy' is model_deployment: it must depend on the model_training step 'train'")
    ]


def test_nothing_depends_on_deployment() -> None:
    found = structure(
        step("raw", PRE),
        step("train", TRAIN, "raw"),
        step("deploy", DEPLOY, "train"),
        step("evaluate", EVAL, "train", "raw", "deploy"),
    )
    assert ("evaluate", "'evaluate' depends on 'deploy': nothing may depend on a model_deployment") in found


def test_a_script_on_deployment_is_refused() -> None:
    script = {"source_uri": "s3://bucket/code/", "entry_point": "deploy.py"}
    found = structure(
        step("raw", PRE), step("train", TRAIN, "raw"), step("deploy", DEPLOY, "train", script=script)
    )
    assert found == [("deploy", "'deploy' is model_deployment: it runs no job, so it takes no script")]


def test_spot_is_for_training_only() -> None:
    found = structure(step("raw", PRE, resources={"spot": True}), step("train", TRAIN, "raw"))
    assert found == [("raw", "'raw' is data_preprocessing: spot capacity is for model_training only")]


def test_spot_training_is_fine() -> None:
    stages = validate_definition(
        definition(step("raw", PRE), step("train", TRAIN, "raw", resources={"spot": True}))
    )
    assert stages == [["raw"], ["train"]]


def test_a_dependency_listed_twice_is_refused() -> None:
    found = structure(step("raw", PRE), step("f", FEAT, "raw", "raw"))
    assert found == [("f", "'f' lists 'raw' more than once in depends_on")]


def test_an_unknown_dependency_does_not_also_claim_a_missing_data_step() -> None:
    found = problems(step("train", TRAIN, "ghost"))
    assert kinds(found) == [("train", "unknown_dependency")]


def test_evaluation_depends_on_training_and_data_steps_only() -> None:
    found = structure(
        step("raw", PRE),
        step("train", TRAIN, "raw"),
        step("evaluate", EVAL, "train", "raw"),
        step("again", EVAL, "train", "raw", "evaluate"),
    )
    assert (
        "again",
        "'again' is model_evaluation: it may depend only on the model_training step and data "
        "steps, not on 'evaluate'",
    ) in found


@pytest.mark.parametrize(
    ("resources", "says"),
    [
        ({"max_wait_seconds": 7200}, "spot steps only"),
        (
            {"spot": True, "max_runtime_seconds": 7200, "max_wait_seconds": 3600},
            "at least max_runtime_seconds",
        ),
    ],
)
def test_spot_waits_are_checked_by_the_model(resources: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        definition(step("raw", PRE), step("train", TRAIN, "raw", resources=resources))


# -- deployment parameters ------------------------------------------------------------------------


def plan_of(**parameters: Any) -> DeploymentPlan:
    return deployment_plan(
        StepDefinition.model_validate(step("deploy", DEPLOY, "train", parameters=parameters))
    )


def test_a_deployment_step_lists_its_environments_comma_separated() -> None:
    plan = plan_of(environments="staging, prod", instance_type="ml.c5.xlarge", initial_instance_count=2)

    assert plan.environments == [Environment.STAGING, Environment.PROD]
    assert plan.config()["instance_type"] == "ml.c5.xlarge"
    assert plan.config()["initial_instance_count"] == 2


def test_a_serverless_memory_size_makes_the_deployment_serverless() -> None:
    config = plan_of(serverless_memory_mb=2048, serverless_max_concurrency=10).config()

    assert config["serverless"] == {"memory_size_mb": 2048, "max_concurrency": 10}
    assert config["autoscaling"] is None


def test_autoscaling_takes_both_capacities_and_a_target() -> None:
    config = plan_of(autoscaling_min_capacity=1, autoscaling_max_capacity=4).config()

    assert config["autoscaling"] == {
        "min_capacity": 1,
        "max_capacity": 4,
        "target_invocations_per_instance": 100,
    }


def test_the_run_overrides_the_step_environments() -> None:
    plan = plan_of(environments="staging").with_environments([Environment.PROD])

    assert plan.environments == [Environment.PROD]


@pytest.mark.parametrize(
    ("parameters", "named"),
    [
        pytest.param({"environments": "staging,qa"}, "environments", id="unknown-environment"),
        pytest.param({"environments": "prod,prod"}, "twice", id="repeated-environment"),
        pytest.param({"serverless_memory_mb": 1500}, "serverless_memory_mb", id="memory-not-a-gigabyte-step"),
        pytest.param({"autoscaling_min_capacity": 2}, "both", id="half-an-autoscaling-range"),
        pytest.param(
            {"autoscaling_min_capacity": 3, "autoscaling_max_capacity": 2}, "above", id="inverted-range"
        ),
        pytest.param(
            {"serverless_memory_mb": 2048, "autoscaling_min_capacity": 1, "autoscaling_max_capacity": 2},
            "serverless",
            id="serverless-with-autoscaling",
        ),
        pytest.param({"replicas": 3}, "replicas", id="unknown-parameter"),
        pytest.param({"instance_type": "m5.large"}, "instance_type", id="bad-instance-type"),
    ],
)
def test_bad_deployment_parameters_are_named_in_the_definition_problems(
    parameters: dict[str, Any], named: str
) -> None:
    found = problems(*TRAINING[:-1], step("deploy", DEPLOY, "evaluate", parameters=parameters))

    assert [item["step"] for item in found] == ["deploy"]
    assert named in found[0]["message"]
