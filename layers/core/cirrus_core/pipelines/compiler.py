"""Compile a pipeline definition to Amazon States Language (docs/pipelines.md is the contract).

The machine, in order:

    Prepare run -> Announce start -> stage 1 -> stage 2 -> ... -> Collect evaluation -> Quality gate
    -> Profile baseline -> Register version -> Await approval -> Deployment hand-off
    -> Notify completion -> Succeeded

with `Collect evaluation` and `Quality gate` only when the definition has a `model_evaluation` step,
`Profile baseline` and `Register version` only with a `model_training` step, and the approval pair
only with a `model_deployment` step. A failure anywhere reaches `Notify failure`, then `Failed`.

Each SageMaker step is three states: the Choice `<id>: cached?` on `$.cache.<id>.hit`, the Pass
`<id>: reuse cached output` that copies `$.cache.<id>.output` to `$.steps.<id>`, and the Task
`<id>` that runs the job Prepare built at `$.jobs.<id>.request` and writes `{"job_name", "status"}`
to `$.steps.<id>`. A stage of one step is those states inline. A stage of several is a Parallel
`Stage <n>: <id>, <id>` with one branch per step:
- its `Parameters` give every branch only what branches read: `{"jobs": {<this stage's ids>},
  "cache": {<this stage's ids>}, "branch": {"steps": <$.steps so far, or {}>}}`;
- in a branch the reuse Pass and the Task write `$.branch.steps.<id>` and end with
  `OutputPath: $.branch`, so each branch outputs `{"steps": {<earlier steps>, <its own>}}`;
- the Parallel's `ResultSelector` rebuilds the whole map (`"<earlier id>.$": "$[0].steps.<id>"`,
  `"<id>.$": "$[<branch index>].steps.<id>"`) and `ResultPath: $.steps` writes it back.
So after every stage `$.steps.<id>` holds every step run so far, whichever way the stage ran, and the
Parallel's raw result stays small (a copy of the working state per branch could pass 256 KB).

States inside a Parallel branch cannot catch into the main machine: a failing branch fails the
Parallel, whose `Catch` takes the run to `Notify failure`. Every other Task catches `States.ALL`
into `$.error` itself.

Lambda payloads: `Prepare run` gets `{"input", "execution"}` and returns the working state;
`Announce start`, `Notify completion` and `Notify failure` get `{"event", "state"}`; `Collect
evaluation`, `Profile baseline` and `Register version` get `{"state"}` and must return
`{"metrics", "gate"}`, `{"baseline_uri", "reason"}` and `{"model_id", "version", "approval_status"}`
(their `ResultSelector`s read those fields);
`Await approval` gets `{"task_token", "state"}`. `Failed` reports the static error
`PipelineFailed`: the cause sits at `$.error` (a caught failure) or `$.failure` (the quality gate),
two shapes no single `ErrorPath` can read.

Lambda functions are named by `${...}` placeholders (`PLACEHOLDERS`), which the template fills with
`DefinitionSubstitutions` and the pipelines API with `substitute`.
"""

from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING, Any

from cirrus_core.pipelines.definition import (
    BUILTIN_PIPELINE_ID,
    JobType,
    PipelineDefinitionRequest,
    StepDefinition,
    validate_definition,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

PREPARE_RUN = "Prepare run"
ANNOUNCE_START = "Announce start"
COLLECT_EVALUATION = "Collect evaluation"
QUALITY_GATE = "Quality gate"
QUALITY_GATE_FAILED = "Quality gate failed"
PROFILE_BASELINE = "Profile baseline"
REGISTER_VERSION = "Register version"
AWAIT_APPROVAL = "Await approval"
DEPLOYMENT_HANDOFF = "Deployment hand-off"
NOTIFY_COMPLETION = "Notify completion"
NOTIFY_FAILURE = "Notify failure"
SUCCEEDED = "Succeeded"
FAILED = "Failed"

FIXED_STATE_NAMES = (
    PREPARE_RUN,
    ANNOUNCE_START,
    COLLECT_EVALUATION,
    QUALITY_GATE,
    QUALITY_GATE_FAILED,
    PROFILE_BASELINE,
    REGISTER_VERSION,
    AWAIT_APPROVAL,
    DEPLOYMENT_HANDOFF,
    NOTIFY_COMPLETION,
    NOTIFY_FAILURE,
    SUCCEEDED,
    FAILED,
)

PREPARE_RUN_FUNCTION = "PrepareRunFunctionArn"
NOTIFY_RUN_FUNCTION = "NotifyRunFunctionArn"
COLLECT_EVALUATION_FUNCTION = "CollectEvaluationFunctionArn"
PROFILE_BASELINE_FUNCTION = "ProfileBaselineFunctionArn"
REGISTER_VERSION_FUNCTION = "RegisterVersionFunctionArn"
AWAIT_APPROVAL_FUNCTION = "AwaitApprovalFunctionArn"
DEPLOYMENT_STATE_MACHINE = "ModelDeploymentStateMachineArn"
# The state inside the hand-off's Map: one iteration per environment the run deploys to.
RUN_DEPLOYMENT = "Run deployment"
# The role SageMaker jobs run as is fixed per deployment, so it is a placeholder rather than a
# `RoleArn.$` path: moto's ASL lexer takes the key `"RoleArn.$"` for the `Credentials` keyword and
# sends it literally, and IAM reviewers see the role in the definition.
SAGEMAKER_ROLE = "SageMakerRoleArn"
PLACEHOLDERS = (
    PREPARE_RUN_FUNCTION,
    NOTIFY_RUN_FUNCTION,
    COLLECT_EVALUATION_FUNCTION,
    PROFILE_BASELINE_FUNCTION,
    REGISTER_VERSION_FUNCTION,
    AWAIT_APPROVAL_FUNCTION,
    DEPLOYMENT_STATE_MACHINE,
    SAGEMAKER_ROLE,
)

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
LAMBDA_INVOKE_WAIT = "arn:aws:states:::lambda:invoke.waitForTaskToken"
PROCESSING_JOB = "arn:aws:states:::sagemaker:createProcessingJob.sync"
TRAINING_JOB = "arn:aws:states:::sagemaker:createTrainingJob.sync"
START_EXECUTION_SYNC = "arn:aws:states:::states:startExecution.sync:2"

LAMBDA_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)
SAGEMAKER_ERRORS = ("SageMaker.AmazonSageMakerException",)

PROCESSING_FIELDS = (
    "ProcessingJobName",
    "ProcessingResources",
    "AppSpecification",
    "Environment",
    "ProcessingInputs",
    "ProcessingOutputConfig",
    "StoppingCondition",
)
TRAINING_FIELDS = (
    "TrainingJobName",
    "AlgorithmSpecification",
    "HyperParameters",
    "InputDataConfig",
    "OutputDataConfig",
    "ResourceConfig",
    "StoppingCondition",
    "EnableManagedSpotTraining",
)
SPOT_TRAINING_FIELDS = ("CheckpointConfig",)

# Step Functions caps state names at 80 characters.
STATE_NAME_LIMIT = 80
FAILURE_ERROR = "PipelineFailed"

_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


class PlaceholderError(ValueError):
    """A placeholder without a value, or a value for a placeholder no pipeline uses."""


# -- names ----------------------------------------------------------------------------------------


def cached_choice_name(step_id: str) -> str:
    return f"{step_id}: cached?"


def reuse_pass_name(step_id: str) -> str:
    return f"{step_id}: reuse cached output"


def stage_name(number: int, step_ids: list[str]) -> str:
    """`Stage <n>: <id>, <id>`; a stage too wide for 80 characters ends `, +<k> more`."""
    name = f"Stage {number}: {', '.join(step_ids)}"
    if len(name) <= STATE_NAME_LIMIT:
        return name
    for shown in range(len(step_ids) - 1, 0, -1):
        name = f"Stage {number}: {', '.join(step_ids[:shown])}, +{len(step_ids) - shown} more"
        if len(name) <= STATE_NAME_LIMIT:
            return name
    return f"Stage {number}: {len(step_ids)} steps"  # pragma: no cover - ids are at most 32 characters


# -- the pieces -----------------------------------------------------------------------------------


def _retry(errors: tuple[str, ...]) -> list[dict[str, Any]]:
    return [
        {
            "ErrorEquals": list(errors),
            "IntervalSeconds": 1,
            "BackoffRate": 2.0,
            "MaxAttempts": 3,
            "MaxDelaySeconds": 10,
            "JitterStrategy": "FULL",
        }
    ]


def _catch(result_path: str = "$.error", target: str = NOTIFY_FAILURE) -> list[dict[str, Any]]:
    return [{"ErrorEquals": ["States.ALL"], "ResultPath": result_path, "Next": target}]


def _lambda_task(
    function: str,
    payload: dict[str, Any],
    *,
    next_state: str,
    result_path: str | None,
    comment: str,
    result_selector: dict[str, str] | None = None,
    output_path: str | None = None,
    resource: str = LAMBDA_INVOKE,
    extra: dict[str, Any] | None = None,
    catch: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    state: dict[str, Any] = {"Type": "Task", "Comment": comment, "Resource": resource}
    state["Parameters"] = {"FunctionName": f"${{{function}}}", "Payload": payload}
    if extra:
        state.update(extra)
    if result_selector is not None:
        state["ResultSelector"] = result_selector
    state["ResultPath"] = result_path
    if output_path is not None:
        state["OutputPath"] = output_path
    state["Retry"] = _retry(LAMBDA_ERRORS)
    state["Catch"] = catch if catch is not None else _catch()
    state["Next"] = next_state
    return state


def _notify(event: str, next_state: str, catch: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return _lambda_task(
        NOTIFY_RUN_FUNCTION,
        # The execution's own name and ARN: a run whose Prepare failed has no `run` in its state.
        {
            "event": event,
            "state.$": "$",
            "execution": {"name.$": "$$.Execution.Name", "arn.$": "$$.Execution.Id"},
        },
        next_state=next_state,
        result_path=None,
        comment=f"Publish pipeline.{event}.",
        catch=catch,
    )


def _job_kind(step: StepDefinition) -> str:
    return "training" if step.type is JobType.MODEL_TRAINING else "processing"


def _job_task(step: StepDefinition, next_state: str | None, *, in_branch: bool) -> dict[str, Any]:
    """The SageMaker Task of one step: every request field from Prepare's `$.jobs.<id>.request`."""
    if step.type is JobType.MODEL_TRAINING:
        resource, prefix = TRAINING_JOB, "Training"
        fields = TRAINING_FIELDS + (SPOT_TRAINING_FIELDS if step.resources.spot else ())
    else:
        resource, prefix = PROCESSING_JOB, "Processing"
        fields = PROCESSING_FIELDS
    request = f"$.jobs.{step.id}.request"
    steps = "$.branch.steps" if in_branch else "$.steps"
    state: dict[str, Any] = {
        "Type": "Task",
        "Comment": f"{step.type.value}: the SageMaker {_job_kind(step)} job Prepare run built.",
        "Resource": resource,
        "Parameters": {
            **{f"{field}.$": f"{request}.{field}" for field in fields},
            "RoleArn": f"${{{SAGEMAKER_ROLE}}}",
        },
        "ResultSelector": {"job_name.$": f"$.{prefix}JobName", "status.$": f"$.{prefix}JobStatus"},
        "ResultPath": f"{steps}.{step.id}",
    }
    if in_branch:
        state["OutputPath"] = "$.branch"
    state["Retry"] = _retry(SAGEMAKER_ERRORS)
    if not in_branch:
        state["Catch"] = _catch()
    _end_or_next(state, next_state)
    return state


def _step_states(step: StepDefinition, next_state: str | None, *, in_branch: bool) -> dict[str, Any]:
    """`<id>: cached?`, `<id>: reuse cached output` and `<id>`; `next_state` None ends a branch."""
    cached = f"$.cache.{step.id}"
    steps = "$.branch.steps" if in_branch else "$.steps"
    choice = {
        "Type": "Choice",
        "Choices": [
            {"Variable": f"{cached}.hit", "BooleanEquals": True, "Next": reuse_pass_name(step.id)},
        ],
        "Default": step.id,
    }
    reuse: dict[str, Any] = {
        "Type": "Pass",
        "Comment": "The step's inputs and recipe are unchanged: reuse the earlier run's output.",
        "InputPath": f"{cached}.output",
        "ResultPath": f"{steps}.{step.id}",
    }
    if in_branch:
        reuse["OutputPath"] = "$.branch"
    _end_or_next(reuse, next_state)
    return {
        cached_choice_name(step.id): choice,
        reuse_pass_name(step.id): reuse,
        step.id: _job_task(step, next_state, in_branch=in_branch),
    }


def _end_or_next(state: dict[str, Any], next_state: str | None) -> None:
    if next_state is None:
        state["End"] = True
    else:
        state["Next"] = next_state


def _stage_entry(number: int, step_ids: list[str]) -> str:
    return cached_choice_name(step_ids[0]) if len(step_ids) == 1 else stage_name(number, step_ids)


def _stage_states(
    number: int, stage: list[StepDefinition], earlier: list[str], next_state: str
) -> dict[str, Any]:
    if len(stage) == 1:
        return _step_states(stage[0], next_state, in_branch=False)
    step_ids = [step.id for step in stage]
    # Branches see only what they read, and output only {"steps": {...}}: the Parallel's raw result
    # holds one copy per branch, and a copy of the whole working state each would be too large.
    parameters: dict[str, Any] = {
        "jobs": {f"{step_id}.$": f"$.jobs.{step_id}" for step_id in step_ids},
        "cache": {f"{step_id}.$": f"$.cache.{step_id}" for step_id in step_ids},
        "branch": {"steps.$": "$.steps"} if earlier else {"steps": {}},
    }
    # Paths reach two levels below the branch index: `$[1].steps.b`, never `$[1].b`, whose value
    # moto's executor (unlike AWS) wraps in a list.
    selector = {f"{step_id}.$": f"$[0].steps.{step_id}" for step_id in earlier}
    selector.update({f"{step.id}.$": f"$[{index}].steps.{step.id}" for index, step in enumerate(stage)})
    parallel = {
        "Type": "Parallel",
        "Comment": "Independent steps, one branch each; the selector merges the branches' steps.",
        "Parameters": parameters,
        "Branches": [
            {"StartAt": cached_choice_name(step.id), "States": _step_states(step, None, in_branch=True)}
            for step in stage
        ],
        "ResultSelector": selector,
        "ResultPath": "$.steps",
        "Catch": _catch(),
        "Next": next_state,
    }
    return {stage_name(number, step_ids): parallel}


def _quality_gate(next_state: str) -> dict[str, Any]:
    gate = "$.evaluation.gate"
    numeric = [
        {"Variable": f"{gate}.value", "IsNumeric": True},
        {"Variable": f"{gate}.threshold", "IsNumeric": True},
    ]
    return {
        QUALITY_GATE: {
            "Type": "Choice",
            "Comment": "Pass when the gate is not enforced, or the metric meets the threshold its way.",
            "Choices": [
                {"Variable": f"{gate}.enforced", "BooleanEquals": False, "Next": next_state},
                {
                    "And": [
                        {"Variable": f"{gate}.direction", "StringEquals": "max"},
                        *numeric,
                        {"Variable": f"{gate}.value", "NumericGreaterThanEqualsPath": f"{gate}.threshold"},
                    ],
                    "Next": next_state,
                },
                {
                    "And": [
                        {"Variable": f"{gate}.direction", "StringEquals": "min"},
                        *numeric,
                        {"Variable": f"{gate}.value", "NumericLessThanEqualsPath": f"{gate}.threshold"},
                    ],
                    "Next": next_state,
                },
            ],
            "Default": QUALITY_GATE_FAILED,
        },
        QUALITY_GATE_FAILED: {
            "Type": "Pass",
            "Parameters": {
                "step": QUALITY_GATE,
                "error": "QualityGateFailed",
                "cause.$": f"{gate}.explanation",
            },
            "ResultPath": "$.failure",
            "Next": NOTIFY_FAILURE,
        },
    }


# -- the machine ----------------------------------------------------------------------------------


def compile_definition(definition: PipelineDefinitionRequest) -> dict[str, Any]:
    """The definition's state machine as an ASL document with `${...}` placeholders.

    Validates the definition first (`InvalidPipeline`). The output depends on the definition alone,
    key order included, so it serializes the same way every time.
    """
    stages = validate_definition(definition)
    by_id = {step.id: step for step in definition.steps}
    types = {step.type for step in definition.steps}
    has_evaluation = JobType.MODEL_EVALUATION in types
    has_training = JobType.MODEL_TRAINING in types
    has_deployment = JobType.MODEL_DEPLOYMENT in types

    tail: list[str] = []
    if has_evaluation:
        tail.append(COLLECT_EVALUATION)
    if has_training:
        tail += [PROFILE_BASELINE, REGISTER_VERSION]
    if has_deployment:
        tail.append(AWAIT_APPROVAL)
    tail.append(NOTIFY_COMPLETION)
    entries = [_stage_entry(number, stage) for number, stage in enumerate(stages, start=1)]
    first_of_stages = entries[0] if entries else tail[0]

    states: dict[str, Any] = {
        PREPARE_RUN: _lambda_task(
            PREPARE_RUN_FUNCTION,
            {
                "input.$": "$",
                "execution": {
                    "name.$": "$$.Execution.Name",
                    "arn.$": "$$.Execution.Id",
                    "start_time.$": "$$.Execution.StartTime",
                    "state_machine_arn.$": "$$.StateMachine.Id",
                },
            },
            next_state=ANNOUNCE_START,
            result_path="$",
            output_path="$.Payload",
            comment="Validate the parameters, build every job request, look the steps up in the cache.",
        ),
        ANNOUNCE_START: _notify("started", first_of_stages),
    }

    earlier: list[str] = []
    for number, stage in enumerate(stages, start=1):
        following = entries[number] if number < len(entries) else tail[0]
        states.update(_stage_states(number, [by_id[step_id] for step_id in stage], earlier, following))
        earlier.extend(stage)

    def after(state: str) -> str:
        return tail[tail.index(state) + 1]

    if has_evaluation:
        gate_passed = after(COLLECT_EVALUATION)
        states[COLLECT_EVALUATION] = _lambda_task(
            COLLECT_EVALUATION_FUNCTION,
            {"state.$": "$"},
            next_state=QUALITY_GATE,
            result_path="$.evaluation",
            result_selector={"metrics.$": "$.Payload.metrics", "gate.$": "$.Payload.gate"},
            comment="Read the evaluation job's metrics and judge them against the run's gate.",
        )
        states.update(_quality_gate(gate_passed))
    if has_training:
        # Never fails the run for want of data: with no raw training split to profile it returns
        # `{"baseline_uri": null, "reason": ...}` and the version registers without a baseline.
        states[PROFILE_BASELINE] = _lambda_task(
            PROFILE_BASELINE_FUNCTION,
            {"state.$": "$"},
            next_state=REGISTER_VERSION,
            result_path="$.baseline",
            result_selector={"baseline_uri.$": "$.Payload.baseline_uri", "reason.$": "$.Payload.reason"},
            comment="Profile the training split, in the raw features the model serves, into the "
            "version's drift baseline.",
        )
        states[REGISTER_VERSION] = _lambda_task(
            REGISTER_VERSION_FUNCTION,
            {"state.$": "$"},
            next_state=after(REGISTER_VERSION),
            result_path="$.registration",
            result_selector={
                "model_id.$": "$.Payload.model_id",
                "version.$": "$.Payload.version",
                "approval_status.$": "$.Payload.approval_status",
            },
            comment="Register the trained model as a new version in the model registry.",
        )
    if has_deployment:
        states[AWAIT_APPROVAL] = _lambda_task(
            AWAIT_APPROVAL_FUNCTION,
            {"task_token.$": "$$.Task.Token", "state.$": "$"},
            next_state=DEPLOYMENT_HANDOFF,
            result_path="$.approval_decision",
            resource=LAMBDA_INVOKE_WAIT,
            extra={"TimeoutSecondsPath": "$.approval.timeout_seconds"},
            comment="Request review of the version and wait for the decision "
            "(a rejection fails with ApprovalRejected, a timeout with States.Timeout).",
        )
        deployment_step = next(step.id for step in definition.steps if step.type is JobType.MODEL_DEPLOYMENT)
        states[DEPLOYMENT_HANDOFF] = _deployment_handoff(deployment_step)
    states[NOTIFY_COMPLETION] = _notify("completed", SUCCEEDED)
    states[SUCCEEDED] = {"Type": "Succeed"}
    states[NOTIFY_FAILURE] = _notify("failed", FAILED, catch=_catch("$.notify_error", FAILED))
    states[FAILED] = {
        "Type": "Fail",
        "Error": FAILURE_ERROR,
        "Cause": "A step failed or the quality gate refused the model: "
        "the run's error is at $.error (a failed state) or $.failure (the quality gate).",
    }
    return {
        "Comment": f"Cirrus pipeline {definition.pipeline_id!r}, compiled by cirrus_core.pipelines.compiler "
        "(docs/pipelines.md).",
        "QueryLanguage": "JSONPath",
        "StartAt": PREPARE_RUN,
        "States": states,
    }


def _deployment_handoff(step_id: str) -> dict[str, Any]:
    """A Map over the environments Prepare resolved (`$.jobs.<id>.environments`), one at a time.

    Each iteration runs the deployment state machine (docs/serving.md) to its end with
    `startExecution.sync:2`, for the run's actor: its `Prepare deployment` authorizes, records and
    locks the environment, so the serving module's rules hold as they do for the API. The execution
    is named by `States.UUID()`, which becomes the deployment id. Inner states cannot catch into the
    main machine: a failed deployment fails the Map, whose Catch takes the run to `Notify failure`.
    An empty list deploys nothing.
    """
    run = {
        "Type": "Task",
        "Comment": "Run the deployment state machine (statemachines/model_deployment.asl.json) to its end.",
        "Resource": START_EXECUTION_SYNC,
        "Parameters": {
            "StateMachineArn": f"${{{DEPLOYMENT_STATE_MACHINE}}}",
            "Name.$": "States.UUID()",
            "Input": {
                "model_id.$": "$.registration.model_id",
                "version.$": "$.registration.version",
                "environment.$": "$.environment",
                "config.$": "$.deployment",
                "sample_payloads": None,
                "actor.$": "$.actor",
                "source": {
                    "kind": "pipeline",
                    "pipeline_id.$": "$.pipeline_id",
                    "run_id.$": "$.run.run_id",
                    "execution_arn.$": "$.run.execution_arn",
                },
                "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$": "$$.Execution.Id",
            },
        },
        "ResultSelector": {"deployment_id.$": "$.Name", "status.$": "$.Status"},
        "ResultPath": "$",
        "Retry": _retry(
            ("StepFunctions.ExecutionLimitExceededException", "StepFunctions.SdkClientException")
        ),
        "End": True,
    }
    return {
        "Type": "Map",
        "Comment": "Deploy the approved version to each environment the run names, in order.",
        "ItemsPath": f"$.jobs.{step_id}.environments",
        "MaxConcurrency": 1,
        "ItemSelector": {
            "environment.$": "$$.Map.Item.Value",
            "deployment.$": f"$.jobs.{step_id}.deployment",
            "registration.$": "$.registration",
            "pipeline_id.$": "$.pipeline.pipeline_id",
            "run.$": "$.run",
            "actor.$": "$.actor",
        },
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "INLINE"},
            "StartAt": RUN_DEPLOYMENT,
            "States": {RUN_DEPLOYMENT: run},
        },
        "ResultPath": "$.deployments",
        "Catch": _catch(),
        "Next": NOTIFY_COMPLETION,
    }


# -- placeholders ---------------------------------------------------------------------------------


def placeholders_in(asl: Any) -> set[str]:
    """The names of the `${...}` placeholders anywhere in a document's strings."""
    found: set[str] = set()
    for text in _strings(asl):
        found.update(_PLACEHOLDER.findall(text))
    return found


def substitute(asl: dict[str, Any], values: Mapping[str, str]) -> dict[str, Any]:
    """A copy of `asl` with every `${Name}` replaced by `values[Name]`.

    Refuses (`PlaceholderError`) a placeholder without a non-empty value, a placeholder that is not
    one of `PLACEHOLDERS`, and a value for a name outside `PLACEHOLDERS` (a misspelt key). Values
    for known placeholders the document does not use are fine: a pipeline without an evaluation
    step has no `${CollectEvaluationFunctionArn}`.
    """
    used = placeholders_in(asl)
    problems = []
    unknown_used = sorted(used - set(PLACEHOLDERS))
    if unknown_used:
        problems.append(f"the document uses unknown placeholders {_listed(unknown_used)}")
    unknown_given = sorted(set(values) - set(PLACEHOLDERS))
    if unknown_given:
        problems.append(f"values were given for unknown placeholders {_listed(unknown_given)}")
    missing = sorted(name for name in used & set(PLACEHOLDERS) if not values.get(name))
    if missing:
        problems.append(f"no value for {_listed(missing)}")
    if problems:
        raise PlaceholderError(f"cannot fill the state machine's placeholders: {'; '.join(problems)}")
    result: dict[str, Any] = _replace(copy.deepcopy(asl), values)
    return result


def _listed(names: list[str]) -> str:
    return ", ".join(f"${{{name}}}" for name in names)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for key, item in value.items() for text in [key, *_strings(item)]]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


def _replace(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda match: values[match.group(1)], value)
    if isinstance(value, dict):
        return {_replace(key, values): _replace(item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [_replace(item, values) for item in value]
    return value


# -- the built-in pipeline ------------------------------------------------------------------------


def builtin_training_definition() -> PipelineDefinitionRequest:
    """The `training` pipeline: preprocess -> features -> train -> evaluate -> deploy.

    `evaluate` depends on `features` too: the test split it scores the model on comes from there.
    """
    return PipelineDefinitionRequest.model_validate(
        {
            "pipeline_id": BUILTIN_PIPELINE_ID,
            "description": "The built-in training pipeline: preprocess, engineer features, train, "
            "evaluate against the quality gate, register, and deploy once a reviewer approves.",
            "steps": [
                {"id": "preprocess", "type": JobType.DATA_PREPROCESSING},
                {"id": "features", "type": JobType.FEATURE_ENGINEERING, "depends_on": ["preprocess"]},
                {"id": "train", "type": JobType.MODEL_TRAINING, "depends_on": ["features"]},
                {"id": "evaluate", "type": JobType.MODEL_EVALUATION, "depends_on": ["train", "features"]},
                {"id": "deploy", "type": JobType.MODEL_DEPLOYMENT, "depends_on": ["evaluate"]},
            ],
        }
    )
