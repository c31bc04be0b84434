"""A run's steps from its execution history: real histories from moto's interpreter running compiled
machines, and hand-written ones with the fields AWS documents (stateEnteredEventDetails,
taskFailedEventDetails, ...) for what moto does not produce."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cirrus_core.pipelines.compiler import PLACEHOLDERS, compile_definition, substitute
from cirrus_core.pipelines.definition import PipelineDefinitionRequest
from cirrus_core.pipelines.history import ExecutionHistory, StepStatus, failed_step, run_steps
from tests.unit.pipelines.steps_support import DIAMOND, LINEAR, History, definition

ROLE_ARN = "arn:aws:iam::123456789012:role/pipeline"
LINEAR_DEFINITION = PipelineDefinitionRequest.model_validate(definition(LINEAR))
DIAMOND_DEFINITION = PipelineDefinitionRequest.model_validate(definition(DIAMOND))
PASSING_GATE = {"metric": "accuracy", "value": 0.93, "threshold": 0.9, "direction": "max", "enforced": True}
FAILING_GATE = {**PASSING_GATE, "value": 0.71, "explanation": "accuracy 0.71 is below the target 0.9"}


def by_name(steps: list[StepStatus]) -> dict[str, StepStatus]:
    return {step.name: step for step in steps}


def statuses(steps: list[StepStatus]) -> dict[str, str]:
    return {step.name: step.status.value for step in steps}


# -- real histories --------------------------------------------------------------------------------


class Interpreter:
    """Runs a compiled definition in moto, every Task turned into an SQS send of the same name.

    A task's result is what the real one would return (ResultSelector of static values); a task
    named in `failing` sends to a queue that does not exist, so it fails as a Task does.
    """

    def __init__(self) -> None:
        self.sfn = boto3.client("stepfunctions", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        self.queue = sqs.create_queue(QueueName="tasks")["QueueUrl"]
        self.missing = self.queue.replace("/tasks", "/no-such-queue")
        self.count = 0

    def run(
        self,
        pipeline: PipelineDefinitionRequest,
        *,
        cached: frozenset[str] = frozenset(),
        failing: frozenset[str] = frozenset(),
        gate: dict[str, Any] | None = None,
    ) -> tuple[str, list[dict[str, Any]]]:
        asl = substitute(
            compile_definition(pipeline), dict.fromkeys(PLACEHOLDERS, "arn:aws:lambda:function:x")
        )
        sagemaker_steps = [step.id for step in pipeline.steps if step.type.value != "model_deployment"]
        results = {
            "Prepare run": {
                "cache": {
                    step_id: {
                        "hit": step_id in cached,
                        "output": {"job_name": f"old-{step_id}", "status": "Cached"},
                    }
                    for step_id in sagemaker_steps
                },
                "jobs": {
                    **{step_id: {"kind": "processing", "request": {}} for step_id in sagemaker_steps},
                    "deploy": {"kind": "deployment", "environments": ["staging"], "deployment": {}},
                },
                "pipeline": {"pipeline_id": "churn"},
                "run": {
                    "run_id": "run-1",
                    "execution_arn": "arn:aws:states:us-east-1:123456789012:execution:x:1",
                },
                "actor": {"sub": "sub-1", "username": "alice", "groups": ["ml_engineer"]},
                "steps": {},
            },
            "Collect evaluation": {"metrics": {"accuracy": 0.93}, "gate": gate or PASSING_GATE},
            "Profile baseline": {"baseline_uri": "s3://bucket/baseline.json", "reason": None},
            "Register version": {
                "model_id": "churn",
                "version": 1,
                "approval_status": "PendingManualApproval",
            },
            "Await approval": {"decision": "approved", "by": "bob", "comment": ""},
        }
        self._rewrite(asl["States"], results, failing)
        self.count += 1
        machine = self.sfn.create_state_machine(
            name=f"history-{self.count}", definition=json.dumps(asl), roleArn=ROLE_ARN
        )["stateMachineArn"]
        arn = self.sfn.start_execution(stateMachineArn=machine, name=f"run-{self.count}", input="{}")[
            "executionArn"
        ]
        deadline = time.monotonic() + 10
        while self.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
            assert time.monotonic() < deadline, "the execution did not finish"
            time.sleep(0.02)
        return arn, ExecutionHistory(self.sfn).events(arn)

    def _rewrite(self, states: dict[str, Any], results: dict[str, Any], failing: frozenset[str]) -> None:
        for name, state in states.items():
            for branch in [*state.get("Branches", []), *filter(None, [state.get("ItemProcessor")])]:
                self._rewrite(branch["States"], results, failing)
            if state["Type"] != "Task":
                continue
            state["Resource"] = "arn:aws:states:::sqs:sendMessage"
            state["Parameters"] = {
                "QueueUrl": self.missing if name in failing else self.queue,
                "MessageBody": name,
            }
            state.pop("TimeoutSecondsPath", None)
            if name == "Prepare run":
                state.pop("OutputPath")
            result = results.get(name, {"job_name": f"job-{name}", "status": "Completed"})
            if state.get("ResultPath", "$") is None:
                state.pop("ResultSelector", None)
            else:
                state["ResultSelector"] = result


@pytest.fixture
def interpreter() -> Iterator[Interpreter]:
    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield Interpreter()


def test_a_successful_run_shows_every_step_and_state_in_pipeline_order(interpreter: Interpreter) -> None:
    _, events = interpreter.run(LINEAR_DEFINITION)

    steps = run_steps(LINEAR_DEFINITION, events)

    assert [(step.name, step.kind) for step in steps] == [
        ("Prepare run", "state"),
        ("Announce start", "state"),
        ("preprocess", "step"),
        ("features", "step"),
        ("train", "step"),
        ("evaluate", "step"),
        ("Collect evaluation", "state"),
        ("Quality gate", "state"),
        ("Profile baseline", "state"),
        ("Register version", "state"),
        ("deploy", "step"),
        ("Notify completion", "state"),
    ]
    assert {step.status.value for step in steps} == {"Succeeded"}
    assert all(step.started_at and step.ended_at and step.duration_seconds is not None for step in steps)
    assert failed_step(LINEAR_DEFINITION, events) is None


def test_a_failed_deployment_fails_the_deployment_step_and_the_run_there(interpreter: Interpreter) -> None:
    _, events = interpreter.run(LINEAR_DEFINITION, failing=frozenset({"Run deployment"}))

    steps = by_name(run_steps(LINEAR_DEFINITION, events))

    assert steps["deploy"].status.value == "Failed"
    assert steps["deploy"].error is not None
    assert steps["Notify completion"].status.value == "Pending"


def test_a_reused_step_is_cached_and_names_the_earlier_job(interpreter: Interpreter) -> None:
    _, events = interpreter.run(LINEAR_DEFINITION, cached=frozenset({"preprocess", "features"}))

    steps = by_name(run_steps(LINEAR_DEFINITION, events))

    assert (steps["preprocess"].status.value, steps["features"].status.value) == ("Cached", "Cached")
    assert steps["preprocess"].job_name == "old-preprocess"
    assert steps["train"].status.value == "Succeeded"


def test_cached_steps_inside_a_parallel_stage_are_cached(interpreter: Interpreter) -> None:
    _, events = interpreter.run(DIAMOND_DEFINITION, cached=frozenset({"left", "right"}))

    steps = by_name(run_steps(DIAMOND_DEFINITION, events))

    assert (steps["left"].status.value, steps["right"].status.value) == ("Cached", "Cached")
    assert steps["left"].job_name == "old-left"


def test_a_step_failing_in_a_parallel_stage_fails_the_run_there(interpreter: Interpreter) -> None:
    _, events = interpreter.run(DIAMOND_DEFINITION, failing=frozenset({"right"}))

    steps = by_name(run_steps(DIAMOND_DEFINITION, events))
    failed = failed_step(DIAMOND_DEFINITION, events)

    assert steps["right"].status.value == "Failed"
    assert steps["right"].error == "SQS.SdkClientException"
    assert steps["left"].status.value in ("Succeeded", "Running", "Cancelled")
    assert (steps["train"].status.value, steps["Notify completion"].status.value) == ("Pending", "Pending")
    assert failed is not None
    assert (failed.name, failed.error) == ("right", "SQS.SdkClientException")


def test_an_inline_step_failure_is_caught_and_named(interpreter: Interpreter) -> None:
    _, events = interpreter.run(LINEAR_DEFINITION, failing=frozenset({"train"}))

    failed = failed_step(LINEAR_DEFINITION, events)

    assert failed is not None
    assert (failed.name, failed.kind, failed.status.value) == ("train", "step", "Failed")
    assert by_name(run_steps(LINEAR_DEFINITION, events))["evaluate"].status.value == "Pending"


def test_a_refused_quality_gate_fails_with_its_explanation(interpreter: Interpreter) -> None:
    _, events = interpreter.run(LINEAR_DEFINITION, gate=FAILING_GATE)

    failed = failed_step(LINEAR_DEFINITION, events)

    assert failed is not None
    assert (failed.name, failed.error, failed.cause) == (
        "Quality gate",
        "QualityGateFailed",
        "accuracy 0.71 is below the target 0.9",
    )
    steps = by_name(run_steps(LINEAR_DEFINITION, events))
    assert (steps["Profile baseline"].status.value, steps["Register version"].status.value) == (
        "Pending",
        "Pending",
    )


def test_a_failing_fixed_state_is_the_failed_step(interpreter: Interpreter) -> None:
    _, events = interpreter.run(LINEAR_DEFINITION, failing=frozenset({"Register version"}))

    failed = failed_step(LINEAR_DEFINITION, events)

    assert failed is not None
    assert (failed.name, failed.kind) == ("Register version", "state")


def test_a_failing_baseline_profile_is_the_failed_step_and_nothing_is_registered(
    interpreter: Interpreter,
) -> None:
    _, events = interpreter.run(LINEAR_DEFINITION, failing=frozenset({"Profile baseline"}))

    failed = failed_step(LINEAR_DEFINITION, events)
    steps = by_name(run_steps(LINEAR_DEFINITION, events))

    assert failed is not None
    assert (failed.name, failed.kind, failed.status.value) == ("Profile baseline", "state", "Failed")
    assert steps["Quality gate"].status.value == "Succeeded"
    assert steps["Register version"].status.value == "Pending"


def test_the_adapter_reads_the_history_oldest_first(interpreter: Interpreter) -> None:
    _, events = interpreter.run(LINEAR_DEFINITION)

    ids = [event["id"] for event in events]
    assert ids == sorted(ids)
    assert events[0]["type"] == "ExecutionStarted"


# -- hand-written histories ------------------------------------------------------------------------


def linear_until(history: History, last_step: str, **task: Any) -> int:
    """Prepare run, Announce start, then the LINEAR steps up to `last_step`, that one as `task` says."""
    last = history.task("Prepare run")
    last = history.task("Announce start", previous=last)
    for step_id, parameter in (
        ("preprocess", "ProcessingJobName"),
        ("features", "ProcessingJobName"),
        ("train", "TrainingJobName"),
    ):
        last = history.passes(f"{step_id}: cached?", "Choice", last)
        if step_id == last_step:
            return history.task(step_id, previous=last, job=(parameter, f"churn-{step_id}-run"), **task)
        last = history.task(step_id, previous=last, job=(parameter, f"churn-{step_id}-run"))
    raise AssertionError(last_step)


def test_the_job_name_is_read_from_the_scheduled_task() -> None:
    history = History()
    linear_until(history, "train")

    assert by_name(run_steps(LINEAR_DEFINITION, history.events))["train"].job_name == "churn-train-run"


def test_a_running_step_is_running_and_later_ones_pending() -> None:
    history = History()
    linear_until(history, "features", outcome="running")

    steps = statuses(run_steps(LINEAR_DEFINITION, history.events))

    assert (steps["preprocess"], steps["features"], steps["train"], steps["deploy"]) == (
        "Succeeded",
        "Running",
        "Pending",
        "Pending",
    )


def test_a_failed_training_job_reports_its_failure_reason() -> None:
    history = History()
    cause = json.dumps(
        {"TrainingJobName": "churn-train-run", "FailureReason": "AlgorithmError: no label column"}
    )
    linear_until(history, "train", outcome="failed", cause=cause)

    failed = failed_step(LINEAR_DEFINITION, history.events)

    assert failed is not None
    assert (failed.name, failed.error, failed.cause) == (
        "train",
        "States.TaskFailed",
        "AlgorithmError: no label column",
    )
    assert failed.job_name == "churn-train-run"


def test_a_failed_lambda_reports_its_error_message() -> None:
    history = History()
    cause = json.dumps(
        {"errorMessage": "data_source: the bucket is not allowed", "errorType": "DataSourceUnavailable"}
    )
    history.task("Prepare run", outcome="failed", error="DataSourceUnavailable", cause=cause)

    failed = failed_step(LINEAR_DEFINITION, history.events)

    assert failed is not None
    assert (failed.name, failed.error, failed.cause) == (
        "Prepare run",
        "DataSourceUnavailable",
        "data_source: the bucket is not allowed",
    )


def test_a_retried_task_that_then_succeeds_succeeded() -> None:
    history = History()
    last = history.task("Prepare run")
    last = history.passes("preprocess: cached?", "Choice", last)
    last = history.task(
        "preprocess", previous=last, job=("ProcessingJobName", "job"), outcome="failed", exits=False
    )
    common = {"resourceType": "sagemaker", "resource": "createProcessingJob.sync"}
    last = history.add("TaskScheduled", last, taskScheduledEventDetails={**common, "parameters": "{}"})
    last = history.add("TaskStarted", last, taskStartedEventDetails=common)
    last = history.add("TaskSucceeded", last, taskSucceededEventDetails={**common, "output": "{}"})
    history.exit("preprocess", "Task", last)

    step = by_name(run_steps(LINEAR_DEFINITION, history.events))["preprocess"]

    assert (step.status.value, step.error, step.job_name) == ("Succeeded", None, "job")


def test_interleaved_parallel_branches_are_told_apart() -> None:
    history = History()
    last = history.task("Prepare run")
    last = history.passes("preprocess: cached?", "Choice", last)
    last = history.task("preprocess", previous=last)
    stage = history.enter("Stage 2: left, right", "Parallel", last)
    started = history.add("ParallelStateStarted", stage)
    left_choice = history.passes("left: cached?", "Choice", started)
    right_choice = history.passes("right: cached?", "Choice", started)
    left = history.enter("left", "Task", left_choice)
    right = history.enter("right", "Task", right_choice)
    common = {"resourceType": "sagemaker", "resource": "createProcessingJob.sync"}
    left_scheduled = history.add(
        "TaskScheduled",
        left,
        taskScheduledEventDetails={**common, "parameters": '{"ProcessingJobName": "job-left"}'},
    )
    right_scheduled = history.add(
        "TaskScheduled",
        right,
        taskScheduledEventDetails={**common, "parameters": '{"ProcessingJobName": "job-right"}'},
    )
    right_failed = history.add(
        "TaskFailed",
        right_scheduled,
        taskFailedEventDetails={**common, "error": "States.TaskFailed", "cause": "bad"},
    )
    history.add("TaskSucceeded", left_scheduled, taskSucceededEventDetails={**common, "output": "{}"})
    history.add(
        "ParallelStateFailed", right_failed, parallelStateFailedEventDetails={"error": "States.TaskFailed"}
    )

    steps = by_name(run_steps(DIAMOND_DEFINITION, history.events))

    assert (steps["left"].job_name, steps["right"].job_name) == ("job-left", "job-right")
    assert steps["right"].status.value == "Failed"
    assert steps["left"].status.value == "Running"  # succeeded, but never exited: the stage failed first
    failed = failed_step(DIAMOND_DEFINITION, history.events)
    assert failed is not None
    assert failed.name == "right"


def test_an_aborted_run_cancels_what_was_running() -> None:
    history = History()
    history.end("ExecutionAborted", linear_until(history, "train", outcome="running"))

    steps = statuses(run_steps(LINEAR_DEFINITION, history.events))

    assert (steps["features"], steps["train"], steps["evaluate"]) == ("Succeeded", "Cancelled", "Pending")


def test_a_timed_out_run_times_out_what_was_running() -> None:
    history = History()
    last = linear_until(history, "train", outcome="running")
    history.end("ExecutionTimedOut", last, error="States.Timeout")

    step = by_name(run_steps(LINEAR_DEFINITION, history.events))["train"]

    assert (step.status.value, step.error) == ("TimedOut", "States.Timeout")


def test_a_run_failing_inside_a_state_blames_that_state() -> None:
    history = History()
    last = linear_until(history, "train", outcome="running")
    history.end("ExecutionFailed", last, error="States.Runtime", cause="Invalid path '$.jobs.train.request'")

    failed = failed_step(LINEAR_DEFINITION, history.events)

    assert failed is not None
    assert (failed.name, failed.error) == ("train", "States.Runtime")


def test_an_approval_that_timed_out_times_out_the_deployment_step() -> None:
    history = History()
    last = history.task("Register version")
    history.task("Await approval", previous=last, outcome="timed_out", error="States.Timeout")

    steps = by_name(run_steps(LINEAR_DEFINITION, history.events))
    failed = failed_step(LINEAR_DEFINITION, history.events)

    assert (steps["deploy"].status.value, steps["deploy"].error) == ("TimedOut", "States.Timeout")
    assert failed is not None
    assert failed.name == "deploy"


def test_a_rejected_approval_fails_the_deployment_step_with_its_cause() -> None:
    history = History()
    cause = "Version 1 of 'churn' was rejected by bob: no"
    history.task("Await approval", outcome="failed", error="ApprovalRejected", cause=cause)

    step = by_name(run_steps(LINEAR_DEFINITION, history.events))["deploy"]

    assert (step.status.value, step.error, step.cause) == ("Failed", "ApprovalRejected", cause)


def test_an_approved_deployment_is_running_until_its_hand_off() -> None:
    history = History()
    last = history.task("Await approval")

    assert by_name(run_steps(LINEAR_DEFINITION, history.events))["deploy"].status.value == "Running"
    history.passes("Deployment hand-off", previous=last)
    assert by_name(run_steps(LINEAR_DEFINITION, history.events))["deploy"].status.value == "Succeeded"


def test_a_long_cause_is_cut() -> None:
    history = History()
    history.task("Prepare run", outcome="failed", error="X", cause="y" * 10_000)

    failed = failed_step(LINEAR_DEFINITION, history.events)

    assert failed is not None
    assert failed.cause == "y" * 4096
