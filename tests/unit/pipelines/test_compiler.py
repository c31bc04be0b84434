"""compile_definition: the ASL a definition becomes (docs/pipelines.md); substitute; the built-in pipeline."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cirrus_core.errors import InvalidPipeline
from cirrus_core.pipelines.compiler import (
    FIXED_STATE_NAMES,
    LAMBDA_ERRORS,
    PLACEHOLDERS,
    PROCESSING_FIELDS,
    TRAINING_FIELDS,
    PlaceholderError,
    builtin_training_definition,
    compile_definition,
    placeholders_in,
    stage_name,
    substitute,
)
from cirrus_core.pipelines.definition import PipelineDefinitionRequest

PRE = "data_preprocessing"
FEAT = "feature_engineering"
TRAIN = "model_training"
EVAL = "model_evaluation"
DEPLOY = "model_deployment"

VALUES = {name: f"arn:aws:lambda:us-east-1:123456789012:function:{name}" for name in PLACEHOLDERS}


def step(step_id: str, job_type: str, *depends_on: str, **fields: Any) -> dict[str, Any]:
    return {"id": step_id, "type": job_type, "depends_on": list(depends_on), **fields}


def compiled(*steps: dict[str, Any]) -> dict[str, Any]:
    definition = PipelineDefinitionRequest.model_validate({"pipeline_id": "fraud", "steps": list(steps)})
    return compile_definition(definition)


def all_states(states: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every state by name, those inside Parallel branches included."""
    found: dict[str, dict[str, Any]] = {}
    for name, state in states.items():
        found[name] = state
        for branch in state.get("Branches", []):
            found.update(all_states(branch["States"]))
    return found


def path_from_start(asl: dict[str, Any], *, choose: dict[str, str] | None = None) -> list[str]:
    """The main path's state names: Next, a Choice's Default unless `choose` picks a target."""
    states, name, seen = asl["States"], asl["StartAt"], []
    while name not in seen:
        seen.append(name)
        state = states[name]
        if state["Type"] in ("Succeed", "Fail"):
            break
        name = (choose or {}).get(name) or state.get("Next") or state["Default"]
    return seen


BRANCHED = [
    step("clean", PRE),
    step("text", FEAT, "clean"),
    step("numbers", FEAT, "clean"),
    step("train", TRAIN, "text", "numbers"),
    step("evaluate", EVAL, "train", "text"),
]


@pytest.fixture(scope="module")
def builtin() -> dict[str, Any]:
    return compile_definition(builtin_training_definition())


# -- the built-in pipeline ------------------------------------------------------------------------


def test_builtin_definition_is_the_documented_chain() -> None:
    definition = builtin_training_definition()
    assert definition.pipeline_id == "training"
    assert [(item.id, item.type.value, item.depends_on) for item in definition.steps] == [
        ("preprocess", PRE, []),
        ("features", FEAT, ["preprocess"]),
        ("train", TRAIN, ["features"]),
        ("evaluate", EVAL, ["train", "features"]),
        ("deploy", DEPLOY, ["evaluate"]),
    ]


def test_builtin_machine_runs_in_the_documented_order(builtin: dict[str, Any]) -> None:
    assert builtin["QueryLanguage"] == "JSONPath"
    pass_gate = {"Quality gate": "Profile baseline"}
    assert path_from_start(builtin, choose=pass_gate) == [
        "Prepare run",
        "Announce start",
        "preprocess: cached?",
        "preprocess",
        "features: cached?",
        "features",
        "train: cached?",
        "train",
        "evaluate: cached?",
        "evaluate",
        "Collect evaluation",
        "Quality gate",
        "Profile baseline",
        "Register version",
        "Await approval",
        "Deployment hand-off",
        "Notify completion",
        "Succeeded",
    ]


def test_builtin_has_every_fixed_state_and_no_deploy_state(builtin: dict[str, Any]) -> None:
    names = set(builtin["States"])
    assert set(FIXED_STATE_NAMES) <= names
    assert "deploy" not in names
    assert not any(name.startswith("deploy") for name in names)


def test_prepare_run_gets_the_input_and_the_execution(builtin: dict[str, Any]) -> None:
    prepare = builtin["States"]["Prepare run"]
    assert prepare["Resource"] == "arn:aws:states:::lambda:invoke"
    assert prepare["Parameters"] == {
        "FunctionName": "${PrepareRunFunctionArn}",
        "Payload": {
            "input.$": "$",
            "execution": {
                "name.$": "$$.Execution.Name",
                "arn.$": "$$.Execution.Id",
                "start_time.$": "$$.Execution.StartTime",
                "state_machine_arn.$": "$$.StateMachine.Id",
            },
        },
    }
    assert prepare["OutputPath"] == "$.Payload"


@pytest.mark.parametrize(
    ("name", "event", "next_state"),
    [
        ("Announce start", "started", "preprocess: cached?"),
        ("Notify completion", "completed", "Succeeded"),
        ("Notify failure", "failed", "Failed"),
    ],
)
def test_notifications(builtin: dict[str, Any], name: str, event: str, next_state: str) -> None:
    state = builtin["States"][name]
    assert state["Parameters"] == {
        "FunctionName": "${NotifyRunFunctionArn}",
        "Payload": {
            "event": event,
            "state.$": "$",
            "execution": {"name.$": "$$.Execution.Name", "arn.$": "$$.Execution.Id"},
        },
    }
    assert state["ResultPath"] is None
    assert state["Next"] == next_state


def test_notify_failure_ends_in_failed_even_when_it_fails(builtin: dict[str, Any]) -> None:
    notify = builtin["States"]["Notify failure"]
    assert notify["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.notify_error", "Next": "Failed"}
    ]
    assert builtin["States"]["Failed"]["Type"] == "Fail"
    assert builtin["States"]["Failed"]["Error"] == "PipelineFailed"


def test_lambda_results_land_where_documented(builtin: dict[str, Any]) -> None:
    states = builtin["States"]
    assert states["Collect evaluation"]["ResultPath"] == "$.evaluation"
    assert states["Collect evaluation"]["ResultSelector"] == {
        "metrics.$": "$.Payload.metrics",
        "gate.$": "$.Payload.gate",
    }
    assert states["Profile baseline"]["ResultPath"] == "$.baseline"
    assert states["Profile baseline"]["ResultSelector"] == {
        "baseline_uri.$": "$.Payload.baseline_uri",
        "reason.$": "$.Payload.reason",
    }
    assert states["Register version"]["ResultPath"] == "$.registration"
    assert set(states["Register version"]["ResultSelector"]) == {
        "model_id.$",
        "version.$",
        "approval_status.$",
    }


def test_await_approval_waits_for_the_task_token(builtin: dict[str, Any]) -> None:
    wait = builtin["States"]["Await approval"]
    assert wait["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert wait["Parameters"]["Payload"] == {"task_token.$": "$$.Task.Token", "state.$": "$"}
    assert wait["Parameters"]["FunctionName"] == "${AwaitApprovalFunctionArn}"
    assert wait["TimeoutSecondsPath"] == "$.approval.timeout_seconds"
    assert wait["ResultPath"] == "$.approval_decision"
    assert wait["Catch"][0]["Next"] == "Notify failure"


def test_profile_baseline_sits_between_the_gate_and_registration(builtin: dict[str, Any]) -> None:
    profile = builtin["States"]["Profile baseline"]
    assert profile["Resource"] == "arn:aws:states:::lambda:invoke"
    assert profile["Parameters"] == {
        "FunctionName": "${ProfileBaselineFunctionArn}",
        "Payload": {"state.$": "$"},
    }
    assert profile["Retry"][0]["ErrorEquals"] == list(LAMBDA_ERRORS)
    assert profile["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Notify failure"}
    ]
    assert profile["Next"] == "Register version"


def test_a_pipeline_without_training_profiles_no_baseline() -> None:
    asl = compiled(step("raw", PRE), step("f", FEAT, "raw"))
    assert "Profile baseline" not in asl["States"]
    assert "ProfileBaselineFunctionArn" not in placeholders_in(asl)


def test_the_handoff_runs_the_deployment_machine_once_per_environment_in_order(
    builtin: dict[str, Any],
) -> None:
    handoff = builtin["States"]["Deployment hand-off"]

    assert handoff["Type"] == "Map"
    assert (handoff["ItemsPath"], handoff["MaxConcurrency"]) == ("$.jobs.deploy.environments", 1)
    assert handoff["ItemSelector"]["environment.$"] == "$$.Map.Item.Value"
    assert handoff["Catch"][0]["Next"] == "Notify failure"
    run = handoff["ItemProcessor"]["States"]["Run deployment"]
    assert run["Resource"] == "arn:aws:states:::states:startExecution.sync:2"
    assert run["Parameters"]["StateMachineArn"] == "${ModelDeploymentStateMachineArn}"
    assert run["Parameters"]["Name.$"] == "States.UUID()"
    deployment_input = run["Parameters"]["Input"]
    assert deployment_input["actor.$"] == "$.actor"
    assert deployment_input["version.$"] == "$.registration.version"
    assert deployment_input["source"]["kind"] == "pipeline"


# -- SageMaker steps ------------------------------------------------------------------------------


def test_each_step_has_a_cache_choice_and_a_reuse_pass(builtin: dict[str, Any]) -> None:
    states = builtin["States"]
    for step_id in ("preprocess", "features", "train", "evaluate"):
        choice = states[f"{step_id}: cached?"]
        assert choice["Type"] == "Choice"
        assert choice["Choices"] == [
            {
                "Variable": f"$.cache.{step_id}.hit",
                "BooleanEquals": True,
                "Next": f"{step_id}: reuse cached output",
            }
        ]
        assert choice["Default"] == step_id
        reuse = states[f"{step_id}: reuse cached output"]
        assert reuse["Type"] == "Pass"
        assert reuse["InputPath"] == f"$.cache.{step_id}.output"
        assert reuse["ResultPath"] == f"$.steps.{step_id}"
        assert reuse["Next"] == states[step_id]["Next"]


def test_processing_task_names_every_request_field(builtin: dict[str, Any]) -> None:
    task = builtin["States"]["features"]
    assert task["Resource"] == "arn:aws:states:::sagemaker:createProcessingJob.sync"
    assert task["Parameters"] == {
        **{f"{field}.$": f"$.jobs.features.request.{field}" for field in PROCESSING_FIELDS},
        "RoleArn": "${SageMakerRoleArn}",
    }
    assert task["ResultSelector"] == {
        "job_name.$": "$.ProcessingJobName",
        "status.$": "$.ProcessingJobStatus",
    }
    assert task["ResultPath"] == "$.steps.features"


def test_evaluation_is_a_processing_job(builtin: dict[str, Any]) -> None:
    assert builtin["States"]["evaluate"]["Resource"] == "arn:aws:states:::sagemaker:createProcessingJob.sync"


def test_training_task_names_every_request_field(builtin: dict[str, Any]) -> None:
    task = builtin["States"]["train"]
    assert task["Resource"] == "arn:aws:states:::sagemaker:createTrainingJob.sync"
    assert task["Parameters"] == {
        **{f"{field}.$": f"$.jobs.train.request.{field}" for field in TRAINING_FIELDS},
        "RoleArn": "${SageMakerRoleArn}",
    }
    assert "CheckpointConfig.$" not in task["Parameters"]
    assert task["ResultSelector"] == {"job_name.$": "$.TrainingJobName", "status.$": "$.TrainingJobStatus"}


def test_spot_training_also_names_the_checkpoint_config() -> None:
    asl = compiled(step("raw", PRE), step("train", TRAIN, "raw", resources={"spot": True}))
    parameters = asl["States"]["train"]["Parameters"]
    assert parameters["CheckpointConfig.$"] == "$.jobs.train.request.CheckpointConfig"
    assert parameters["EnableManagedSpotTraining.$"] == "$.jobs.train.request.EnableManagedSpotTraining"


def test_sagemaker_tasks_retry_and_catch(builtin: dict[str, Any]) -> None:
    task = builtin["States"]["train"]
    assert task["Retry"] == [
        {
            "ErrorEquals": ["SageMaker.AmazonSageMakerException"],
            "IntervalSeconds": 1,
            "BackoffRate": 2.0,
            "MaxAttempts": 3,
            "MaxDelaySeconds": 10,
            "JitterStrategy": "FULL",
        }
    ]
    assert task["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Notify failure"}
    ]


def test_every_lambda_task_retries_the_lambda_errors_and_catches(builtin: dict[str, Any]) -> None:
    lambdas = [
        state
        for state in builtin["States"].values()
        if state.get("Resource", "").startswith("arn:aws:states:::lambda:")
    ]
    assert len(lambdas) == 8
    for state in lambdas:
        assert state["Retry"][0]["ErrorEquals"] == list(LAMBDA_ERRORS)
        assert state["Retry"][0]["JitterStrategy"] == "FULL"
        assert state["Catch"][0]["ErrorEquals"] == ["States.ALL"]
        assert state["Parameters"]["FunctionName"].startswith("${")


# -- stages ---------------------------------------------------------------------------------------


def test_independent_steps_run_in_a_parallel_stage() -> None:
    asl = compiled(*BRANCHED)
    states = asl["States"]
    stage = states["Stage 2: text, numbers"]
    assert stage["Type"] == "Parallel"
    assert states["clean: cached?"]["Default"] == "clean"
    assert states["clean"]["Next"] == "Stage 2: text, numbers"
    assert stage["Next"] == "train: cached?"
    assert [branch["StartAt"] for branch in stage["Branches"]] == ["text: cached?", "numbers: cached?"]
    assert [set(branch["States"]) for branch in stage["Branches"]] == [
        {"text: cached?", "text: reuse cached output", "text"},
        {"numbers: cached?", "numbers: reuse cached output", "numbers"},
    ]
    assert "text" not in states  # the branch's states live only in the branch


def test_a_parallel_stage_gives_branches_what_they_read_and_merges_their_steps() -> None:
    stage = compiled(*BRANCHED)["States"]["Stage 2: text, numbers"]
    assert stage["Parameters"] == {
        "jobs": {"text.$": "$.jobs.text", "numbers.$": "$.jobs.numbers"},
        "cache": {"text.$": "$.cache.text", "numbers.$": "$.cache.numbers"},
        "branch": {"steps.$": "$.steps"},
    }
    assert stage["ResultSelector"] == {
        "clean.$": "$[0].steps.clean",
        "text.$": "$[0].steps.text",
        "numbers.$": "$[1].steps.numbers",
    }
    assert stage["ResultPath"] == "$.steps"
    assert stage["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Notify failure"}
    ]


def test_branch_states_write_the_branch_steps_and_end() -> None:
    branch = compiled(*BRANCHED)["States"]["Stage 2: text, numbers"]["Branches"][1]["States"]
    task, reuse = branch["numbers"], branch["numbers: reuse cached output"]
    assert task["ResultPath"] == reuse["ResultPath"] == "$.branch.steps.numbers"
    assert task["OutputPath"] == reuse["OutputPath"] == "$.branch"
    assert task["End"] is True
    assert reuse["End"] is True
    assert task["Parameters"]["ProcessingJobName.$"] == "$.jobs.numbers.request.ProcessingJobName"
    assert "Catch" not in task  # a branch cannot catch into the main machine: the Parallel does
    assert task["Retry"][0]["ErrorEquals"] == ["SageMaker.AmazonSageMakerException"]


def test_a_parallel_first_stage_starts_its_branches_with_no_steps() -> None:
    asl = compiled(step("left", PRE), step("right", PRE), step("join", FEAT, "left", "right"))
    stage = asl["States"]["Stage 1: left, right"]
    assert asl["States"]["Announce start"]["Next"] == "Stage 1: left, right"
    assert stage["Parameters"]["branch"] == {"steps": {}}
    assert stage["ResultSelector"] == {"left.$": "$[0].steps.left", "right.$": "$[1].steps.right"}


def test_a_diamond_compiles_to_its_stages() -> None:
    asl = compiled(
        step("clean", PRE),
        step("a", FEAT, "clean"),
        step("b", FEAT, "a"),
        step("c", FEAT, "clean"),
        step("train", TRAIN, "b", "c"),
    )
    assert path_from_start(asl) == [
        "Prepare run",
        "Announce start",
        "clean: cached?",
        "clean",
        "Stage 2: a, c",
        "b: cached?",
        "b",
        "train: cached?",
        "train",
        "Profile baseline",
        "Register version",
        "Notify completion",
        "Succeeded",
    ]


def test_a_wide_stage_name_stays_within_80_characters() -> None:
    ids = [f"feature_number_{index:02d}" for index in range(8)]
    asl = compiled(step("raw", PRE), *(step(step_id, FEAT, "raw") for step_id in ids))
    names = list(all_states(asl["States"]))
    assert all(len(name) <= 80 for name in names)
    stage = next(name for name in names if name.startswith("Stage 2: "))
    assert stage.endswith(" more")
    assert stage.startswith("Stage 2: feature_number_00, ")
    assert len(asl["States"][stage]["Branches"]) == 8


def test_stage_name_lists_every_step_when_it_fits() -> None:
    assert stage_name(3, ["a", "b"]) == "Stage 3: a, b"
    assert stage_name(2, ["x" * 32] * 3) == f"Stage 2: {'x' * 32}, +2 more"


# -- the tail -------------------------------------------------------------------------------------


def test_quality_gate_compares_by_direction() -> None:
    states = compiled(*BRANCHED)["States"]
    gate = states["Quality gate"]
    assert gate["Default"] == "Quality gate failed"
    not_enforced, at_least, at_most = gate["Choices"]
    assert not_enforced == {
        "Variable": "$.evaluation.gate.enforced",
        "BooleanEquals": False,
        "Next": "Profile baseline",
    }
    assert {"Variable": "$.evaluation.gate.direction", "StringEquals": "max"} in at_least["And"]
    assert {
        "Variable": "$.evaluation.gate.value",
        "NumericGreaterThanEqualsPath": "$.evaluation.gate.threshold",
    } in at_least["And"]
    assert {"Variable": "$.evaluation.gate.direction", "StringEquals": "min"} in at_most["And"]
    assert {
        "Variable": "$.evaluation.gate.value",
        "NumericLessThanEqualsPath": "$.evaluation.gate.threshold",
    } in at_most["And"]
    assert at_least["Next"] == at_most["Next"] == "Profile baseline"
    failed = states["Quality gate failed"]
    assert failed["Parameters"] == {
        "step": "Quality gate",
        "error": "QualityGateFailed",
        "cause.$": "$.evaluation.gate.explanation",
    }
    assert failed["ResultPath"] == "$.failure"
    assert failed["Next"] == "Notify failure"


def test_no_deployment_means_no_approval_states() -> None:
    asl = compiled(*BRANCHED)
    assert "Await approval" not in asl["States"]
    assert "Deployment hand-off" not in asl["States"]
    assert asl["States"]["Register version"]["Next"] == "Notify completion"
    assert "AwaitApprovalFunctionArn" not in placeholders_in(asl)


def test_no_evaluation_means_no_gate() -> None:
    asl = compiled(step("raw", PRE), step("train", TRAIN, "raw"), step("ship", DEPLOY, "train"))
    states = asl["States"]
    assert not {"Collect evaluation", "Quality gate", "Quality gate failed"} & set(states)
    assert states["train"]["Next"] == "Profile baseline"
    assert states["Profile baseline"]["Next"] == "Register version"
    assert states["Register version"]["Next"] == "Await approval"
    assert "ship" not in states


def test_a_data_only_pipeline_registers_nothing() -> None:
    asl = compiled(step("raw", PRE), step("f", FEAT, "raw"))
    assert path_from_start(asl) == [
        "Prepare run",
        "Announce start",
        "raw: cached?",
        "raw",
        "f: cached?",
        "f",
        "Notify completion",
        "Succeeded",
    ]
    assert placeholders_in(asl) == {"PrepareRunFunctionArn", "NotifyRunFunctionArn", "SageMakerRoleArn"}


def test_every_target_exists_and_every_state_is_reachable() -> None:
    for asl in (compiled(*BRANCHED), compile_definition(builtin_training_definition())):
        for states, start in [(asl["States"], asl["StartAt"])] + [
            (branch["States"], branch["StartAt"])
            for state in all_states(asl["States"]).values()
            for branch in state.get("Branches", [])
        ]:
            reached, frontier = set(), [start]
            while frontier:
                name = frontier.pop()
                if name in reached:
                    continue
                reached.add(name)
                state = states[name]
                targets = [state.get("Next"), state.get("Default")]
                targets += [rule["Next"] for rule in state.get("Choices", [])]
                targets += [catch["Next"] for catch in state.get("Catch", [])]
                frontier.extend(target for target in targets if target)
            assert reached == set(states)


def test_every_failure_reaches_notify_failure() -> None:
    states = compiled(*BRANCHED)["States"]
    for name, state in states.items():
        if state["Type"] in ("Task", "Parallel") and name != "Notify failure":
            assert {
                "ErrorEquals": ["States.ALL"],
                "ResultPath": "$.error",
                "Next": "Notify failure",
            } in state["Catch"]


def test_an_invalid_definition_is_not_compiled() -> None:
    with pytest.raises(InvalidPipeline):
        compiled(step("raw", PRE), step("f", FEAT, "ghost"))


def test_output_is_deterministic() -> None:
    first = json.dumps(compiled(*BRANCHED))
    second = json.dumps(compiled(*BRANCHED))
    assert first == second
    assert json.dumps(compile_definition(builtin_training_definition())) == json.dumps(
        compile_definition(builtin_training_definition())
    )


# -- placeholders ---------------------------------------------------------------------------------


def test_builtin_uses_every_placeholder(builtin: dict[str, Any]) -> None:
    assert placeholders_in(builtin) == set(PLACEHOLDERS)


def test_substitute_fills_every_placeholder(builtin: dict[str, Any]) -> None:
    filled = substitute(builtin, VALUES)
    assert placeholders_in(filled) == set()
    assert filled["States"]["Prepare run"]["Parameters"]["FunctionName"] == VALUES["PrepareRunFunctionArn"]
    assert filled["States"]["Notify failure"]["Parameters"]["FunctionName"] == VALUES["NotifyRunFunctionArn"]
    assert (
        builtin["States"]["Prepare run"]["Parameters"]["FunctionName"] == "${PrepareRunFunctionArn}"
    )  # a copy
    assert "$$.Task.Token" in json.dumps(filled)  # context paths are not placeholders


def test_substitute_accepts_values_the_document_does_not_use() -> None:
    asl = compiled(step("raw", PRE))
    assert placeholders_in(substitute(asl, VALUES)) == set()


def test_substitute_refuses_a_missing_value(builtin: dict[str, Any]) -> None:
    values = {name: value for name, value in VALUES.items() if name != "RegisterVersionFunctionArn"}
    with pytest.raises(PlaceholderError, match=r"no value for \$\{RegisterVersionFunctionArn\}"):
        substitute(builtin, values)


def test_substitute_refuses_an_empty_value(builtin: dict[str, Any]) -> None:
    with pytest.raises(PlaceholderError, match=r"no value for \$\{CollectEvaluationFunctionArn\}"):
        substitute(builtin, {**VALUES, "CollectEvaluationFunctionArn": ""})


def test_substitute_refuses_an_unknown_value_name(builtin: dict[str, Any]) -> None:
    with pytest.raises(PlaceholderError, match=r"unknown placeholders \$\{PrepareRunFunction\}"):
        substitute(builtin, {**VALUES, "PrepareRunFunction": "arn"})


def test_substitute_refuses_an_unknown_placeholder_in_the_document() -> None:
    asl = {"StartAt": "x", "States": {"x": {"Type": "Pass", "Result": "${Mystery}", "End": True}}}
    with pytest.raises(PlaceholderError, match=r"the document uses unknown placeholders \$\{Mystery\}"):
        substitute(asl, VALUES)
