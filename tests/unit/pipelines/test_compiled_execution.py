"""Compiled states, executed for real by moto's Step Functions interpreter.

Only fragments that need no Lambda and no SageMaker job run here, with real inputs: the quality
gate's Choice, and stages whose steps all hit the cache (Choice -> reuse Pass, inline and inside
Parallel branches). The states the fragment leads to become terminal markers of the same name, so
the test sees where the compiled rules sent the run. Whole runs belong to the integration suite.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cirrus_core.pipelines.compiler import (
    ANNOUNCE_START,
    NOTIFY_FAILURE,
    PLACEHOLDERS,
    PREPARE_RUN,
    PROFILE_BASELINE,
    QUALITY_GATE,
    QUALITY_GATE_FAILED,
    builtin_training_definition,
    compile_definition,
    substitute,
)
from cirrus_core.pipelines.definition import PipelineDefinitionRequest

ROLE_ARN = "arn:aws:iam::123456789012:role/pipeline"


@dataclass
class Execution:
    status: str
    output: dict[str, Any] | None
    entered: list[str]


class Executor:
    """Runs an ASL document in moto's interpreter and reports how the execution went."""

    def __init__(self) -> None:
        self.client = boto3.client("stepfunctions", region_name="us-east-1")
        self.count = 0

    def run(self, asl: dict[str, Any], execution_input: dict[str, Any]) -> Execution:
        self.count += 1
        machine = self.client.create_state_machine(
            name=f"fragment-{self.count}", definition=json.dumps(asl), roleArn=ROLE_ARN
        )["stateMachineArn"]
        arn = self.client.start_execution(
            stateMachineArn=machine, name=f"run-{self.count}", input=json.dumps(execution_input)
        )["executionArn"]
        deadline = time.monotonic() + 10
        while (described := self.client.describe_execution(executionArn=arn))["status"] == "RUNNING":
            assert time.monotonic() < deadline, "the execution did not finish"
            time.sleep(0.02)
        events = self.client.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        entered = [
            event["stateEnteredEventDetails"]["name"]
            for event in events
            if "stateEnteredEventDetails" in event
        ]
        output = json.loads(described["output"]) if described.get("output") else None
        return Execution(described["status"], output, entered)


@pytest.fixture
def executor() -> Iterator[Executor]:
    # The interpreter logs whole documents at ERROR level on the way.
    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield Executor()


def fragment(asl: dict[str, Any], start: str, keep: set[str], ends: set[str]) -> dict[str, Any]:
    """The compiled states in `keep`, run from `start`; each of `ends` a Succeed state of that name."""
    states = {name: state for name, state in asl["States"].items() if name in keep}
    states.update({name: {"Type": "Succeed"} for name in ends})
    return {"QueryLanguage": "JSONPath", "StartAt": start, "States": states}


# -- the quality gate -----------------------------------------------------------------------------


def gate_machine() -> dict[str, Any]:
    asl = compile_definition(builtin_training_definition())
    return fragment(
        asl,
        QUALITY_GATE,
        keep={QUALITY_GATE, QUALITY_GATE_FAILED},
        ends={PROFILE_BASELINE, NOTIFY_FAILURE},
    )


def evaluation(value: Any, threshold: Any, direction: str, *, enforced: bool = True) -> dict[str, Any]:
    passed = None if value is None else (value >= threshold if direction == "max" else value <= threshold)
    return {
        "run": {"run_id": "run-1"},
        "evaluation": {
            "metrics": {"accuracy": value},
            "gate": {
                "metric": "accuracy" if direction == "max" else "rmse",
                "value": value,
                "threshold": threshold,
                "direction": direction,
                "enforced": enforced,
                "passed": passed,
                "explanation": f"{value} against {threshold} ({direction})",
            },
        },
    }


@pytest.mark.parametrize(
    ("value", "threshold", "direction", "enforced", "outcome"),
    [
        (0.93, 0.9, "max", True, PROFILE_BASELINE),
        (0.9, 0.9, "max", True, PROFILE_BASELINE),  # meeting the threshold passes
        (0.89, 0.9, "max", True, NOTIFY_FAILURE),
        (1.5, 2.0, "min", True, PROFILE_BASELINE),
        (2.0, 2.0, "min", True, PROFILE_BASELINE),
        (2.5, 2.0, "min", True, NOTIFY_FAILURE),
        (0.1, 0.9, "max", False, PROFILE_BASELINE),  # not enforced: the gate only reports
        (9.0, 2.0, "min", False, PROFILE_BASELINE),
        (None, 0.9, "max", True, NOTIFY_FAILURE),  # no metric value: not a pass
        (1, 1, "max", True, PROFILE_BASELINE),  # integers compare too
    ],
)
def test_quality_gate_routes_by_direction(
    executor: Executor, value: Any, threshold: Any, direction: str, enforced: bool, outcome: str
) -> None:
    execution = executor.run(gate_machine(), evaluation(value, threshold, direction, enforced=enforced))
    assert execution.status == "SUCCEEDED"
    assert execution.entered[-1] == outcome
    assert execution.output is not None
    if outcome == NOTIFY_FAILURE:
        assert execution.entered == [QUALITY_GATE, QUALITY_GATE_FAILED, NOTIFY_FAILURE]
        assert execution.output["failure"] == {
            "step": "Quality gate",
            "error": "QualityGateFailed",
            "cause": f"{value} against {threshold} ({direction})",
        }
    else:
        assert execution.entered == [QUALITY_GATE, PROFILE_BASELINE]
        assert "failure" not in execution.output


# -- cached stages --------------------------------------------------------------------------------


def working_state(step_ids: list[str], *, hits: set[str]) -> dict[str, Any]:
    """What Prepare run returns, reduced to what stage states read."""
    return {
        "run": {"run_id": "run-1"},
        "jobs": {
            step_id: {"kind": "processing", "job_name": f"fraud-{step_id}-1", "request": {}}
            for step_id in step_ids
        },
        "cache": {
            step_id: {
                "key": f"key-{step_id}",
                "hit": step_id in hits,
                "output": {
                    "job_name": f"fraud-{step_id}-0",
                    "status": "Completed",
                    "data_uri": f"s3://b/{step_id}/",
                }
                if step_id in hits
                else None,
            }
            for step_id in step_ids
        },
    }


def stage_machine(definition: PipelineDefinitionRequest) -> dict[str, Any]:
    """The compiled machine from the first stage to the state after the last one."""
    asl = compile_definition(definition)
    start = asl["States"][ANNOUNCE_START]["Next"]
    keep = set(asl["States"]) - {PREPARE_RUN, ANNOUNCE_START}
    stage_states = {
        name for name in keep if ": " in name or name in {step.id for step in definition.steps}
    }  # step states and Parallel stages
    following = {
        target
        for name in stage_states
        for target in [asl["States"][name].get("Next"), asl["States"][name].get("Default")]
        if target and target not in stage_states
    }
    return fragment(asl, start, keep=stage_states, ends=following | {NOTIFY_FAILURE})


def expected_steps(step_ids: list[str]) -> dict[str, Any]:
    return {
        step_id: {"job_name": f"fraud-{step_id}-0", "status": "Completed", "data_uri": f"s3://b/{step_id}/"}
        for step_id in step_ids
    }


def definition(*steps: dict[str, Any]) -> PipelineDefinitionRequest:
    return PipelineDefinitionRequest.model_validate({"pipeline_id": "fraud", "steps": list(steps)})


def test_cached_parallel_stage_merges_every_steps_output(executor: Executor) -> None:
    pipeline = definition(
        {"id": "clean", "type": "data_preprocessing"},
        {"id": "text", "type": "feature_engineering", "depends_on": ["clean"]},
        {"id": "numbers", "type": "feature_engineering", "depends_on": ["clean"]},
        {"id": "train", "type": "model_training", "depends_on": ["text", "numbers"]},
    )
    ids = ["clean", "text", "numbers", "train"]
    execution = executor.run(stage_machine(pipeline), working_state(ids, hits=set(ids)))
    assert execution.status == "SUCCEEDED"
    assert execution.output is not None
    assert execution.output["steps"] == expected_steps(ids)
    assert execution.output["jobs"] == working_state(ids, hits=set(ids))["jobs"]  # the rest is kept
    assert execution.entered[0] == "clean: cached?"
    assert "Stage 2: text, numbers" in execution.entered
    assert {"text: reuse cached output", "numbers: reuse cached output"} <= set(execution.entered)
    assert execution.entered[-1] == PROFILE_BASELINE
    assert not {"clean", "text", "numbers", "train"} & set(execution.entered)  # no job ran


def test_cached_parallel_first_stage(executor: Executor) -> None:
    pipeline = definition(
        {"id": "left", "type": "data_preprocessing"},
        {"id": "right", "type": "data_preprocessing"},
        {"id": "join", "type": "feature_engineering", "depends_on": ["left", "right"]},
    )
    ids = ["left", "right", "join"]
    execution = executor.run(stage_machine(pipeline), working_state(ids, hits=set(ids)))
    assert execution.status == "SUCCEEDED"
    assert execution.output is not None
    assert execution.output["steps"] == expected_steps(ids)
    assert execution.entered[-1] == "Notify completion"


def test_a_cache_miss_takes_the_job_task(executor: Executor) -> None:
    # With `train` missing the cache the run leaves the cached path for the training Task, whose
    # Parameters then read Prepare's request; the Task itself needs SageMaker and is not run here.
    pipeline = builtin_training_definition()
    asl = compile_definition(pipeline)
    machine = fragment(
        asl,
        "preprocess: cached?",
        keep={
            "preprocess: cached?",
            "preprocess: reuse cached output",
            "features: cached?",
            "features: reuse cached output",
            "train: cached?",
        },
        ends={"train", "train: reuse cached output"},
    )
    ids = ["preprocess", "features", "train", "evaluate"]
    execution = executor.run(machine, working_state(ids, hits={"preprocess", "features"}))
    assert execution.status == "SUCCEEDED"
    assert execution.entered == [
        "preprocess: cached?",
        "preprocess: reuse cached output",
        "features: cached?",
        "features: reuse cached output",
        "train: cached?",
        "train",
    ]
    assert execution.output is not None
    assert execution.output["steps"] == expected_steps(["preprocess", "features"])


# -- the whole machine ----------------------------------------------------------------------------


def test_moto_interpreter_parses_every_construct_the_compiler_emits() -> None:
    # The local cloud runs compiled pipelines in this interpreter: it must accept the whole
    # document (Parallel Parameters, TimeoutSecondsPath, MaxDelaySeconds, JitterStrategy, ...).
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    values = {name: f"arn:aws:lambda:us-east-1:123456789012:function:{name}" for name in PLACEHOLDERS}
    spot_and_parallel = definition(
        {"id": "clean", "type": "data_preprocessing"},
        {"id": "text", "type": "feature_engineering", "depends_on": ["clean"]},
        {"id": "numbers", "type": "feature_engineering", "depends_on": ["clean"]},
        {
            "id": "train",
            "type": "model_training",
            "depends_on": ["text", "numbers"],
            "resources": {"spot": True},
        },
        {"id": "evaluate", "type": "model_evaluation", "depends_on": ["train", "text"]},
        {"id": "ship", "type": "model_deployment", "depends_on": ["evaluate"]},
    )
    for pipeline in (builtin_training_definition(), spot_and_parallel):
        program, _ = AmazonStateLanguageParser.parse(
            json.dumps(substitute(compile_definition(pipeline), values))
        )
        assert program is not None
