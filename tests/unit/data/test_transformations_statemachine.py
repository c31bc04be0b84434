"""statemachines/data_transformation.asl.json and its template resources: valid ASL, deployed with every
placeholder filled, a branch per runtime, resilient Lambda tasks, every failure recorded, each step given
exactly the event it reads; the Spark resources (and the state machine's right to start them) exist only
with EnableSparkTransformations."""

from __future__ import annotations

import json
import re
from typing import Any

from statelint.linter import Linter

from cirrus_core.data.transformations import TransformationRuntime, TransformationStepEvent
from cirrus_core.pipelines.compiler import LAMBDA_ERRORS
from tests.support.aws import ROOT, load_template

PATH = ROOT / "statemachines" / "data_transformation.asl.json"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)\}")
RECORD_FAILURE = "Record failure"
STEPS = {
    "ExecuteTransformationFunctionArn": "execute_transformation.lambda_handler",
    "RecordTransformationOutputFunctionArn": "record_transformation_output.lambda_handler",
    "RecordTransformationFailureFunctionArn": "record_transformation_failure.lambda_handler",
}
SPARK_PLACEHOLDERS = {"TransformGlueJobName", "TransformEmrApplicationId", "TransformSparkRoleArn"}
SPARK_RESOURCES = {"TransformSparkRole", "TransformGlueJob", "TransformEmrApplication"}


def _document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(PATH.read_text(encoding="utf-8"))
    return document


def _resources() -> dict[str, Any]:
    return dict(load_template()["Resources"])


def _machine() -> dict[str, Any]:
    (machine,) = [
        resource["Properties"]
        for resource in _resources().values()
        if resource["Type"] == "AWS::Serverless::StateMachine"
        and resource["Properties"].get("DefinitionUri") == "statemachines/data_transformation.asl.json"
    ]
    return dict(machine)


def test_the_file_passes_statelint_as_written_and_with_its_placeholders_filled() -> None:
    text = PATH.read_text(encoding="utf-8")
    filled = PLACEHOLDER.sub(lambda match: f"arn:aws:lambda:us-east-1:123456789012:function:{match[1]}", text)

    assert Linter.validate(_document()) == []
    assert Linter.validate(json.loads(filled)) == []


def test_the_template_substitutes_every_placeholder_and_the_steps_are_the_right_handlers() -> None:
    used = set(PLACEHOLDER.findall(PATH.read_text(encoding="utf-8")))
    substitutions = _machine()["DefinitionSubstitutions"]
    resources = _resources()

    assert used == set(substitutions) == set(STEPS) | SPARK_PLACEHOLDERS | {"TransformScriptUri"}
    for name, handler in STEPS.items():
        function = resources[substitutions[name]["Fn::GetAtt"][0]]["Properties"]
        assert (function["CodeUri"], function["Handler"]) == ("functions/data/steps/", handler)
    for name in SPARK_PLACEHOLDERS:
        assert substitutions[name]["Fn::If"][0] == "SparkTransformations", name


def test_each_runtime_has_its_branch_and_an_unknown_one_is_recorded_as_a_failure() -> None:
    states = _document()["States"]
    choice = states[_document()["StartAt"]]

    routes = {
        rule["StringEquals"]: rule["Next"] for rule in choice["Choices"] if rule["Variable"] == "$.runtime"
    }
    assert set(routes) == {runtime.value for runtime in TransformationRuntime}
    assert routes["duckdb"] == "Transform on DuckDB"
    assert states[routes["glue"]]["Next"] == "Run Glue job"
    assert states[routes["emr_serverless"]]["Next"] == "Run EMR Serverless job"
    assert states[choice["Default"]]["Next"] == RECORD_FAILURE
    assert states["Run Glue job"]["Resource"] == "arn:aws:states:::glue:startJobRun.sync"
    assert states["Run Glue job"]["Parameters"]["Arguments"] == {"--cirrus_plan.$": "$.plan.plan_uri"}
    assert states["Run EMR Serverless job"]["Resource"] == "arn:aws:states:::emr-serverless:startJobRun.sync"
    assert (
        "$.plan.plan_uri"
        in states["Run EMR Serverless job"]["Parameters"]["JobDriver"]["SparkSubmit"]["EntryPointArguments.$"]
    )
    assert states["Run Glue job"]["Next"] == states["Run EMR Serverless job"]["Next"] == "Record output"
    assert states["Record output"]["Next"] == states["Transform on DuckDB"]["Next"] == "Transformed"
    assert states["Transformed"] == {"Type": "Succeed"}


def test_every_task_records_its_failure_and_every_lambda_task_retries_with_backoff() -> None:
    states = _document()["States"]
    tasks = {name: state for name, state in states.items() if state["Type"] == "Task"}

    for name, state in tasks.items():
        if state["Resource"] == "arn:aws:states:::lambda:invoke":
            assert any(
                set(LAMBDA_ERRORS) <= set(retrier["ErrorEquals"])
                and retrier["IntervalSeconds"] >= 1
                and retrier["BackoffRate"] > 1
                and retrier["MaxAttempts"] >= 2
                and retrier.get("MaxDelaySeconds") is not None
                and retrier.get("JitterStrategy") == "FULL"
                for retrier in state["Retry"]
            ), name
        if name != RECORD_FAILURE:
            (catcher,) = state["Catch"]
            assert (catcher["ErrorEquals"], catcher["ResultPath"], catcher["Next"]) == (
                ["States.ALL"],
                "$.error",
                RECORD_FAILURE,
            ), name
    assert states[RECORD_FAILURE]["Next"] == "Transformation failed"
    assert states["Transformation failed"]["Type"] == "Fail"


def test_each_step_is_given_exactly_the_fields_of_the_step_event() -> None:
    states = _document()["States"]
    readable = set(TransformationStepEvent.model_fields)

    for name, state in states.items():
        if state.get("Resource") == "arn:aws:states:::lambda:invoke":
            payload = state["Parameters"]["Payload"]
            fields = {key.removesuffix(".$") for key in payload}
            assert fields <= readable, name
            assert payload["input.$"] == "$$.Execution.Input", name
    assert states[RECORD_FAILURE]["Parameters"]["Payload"]["error.$"] == "$.error"


def test_the_spark_resources_and_the_right_to_start_them_exist_only_when_enabled() -> None:
    resources = _resources()
    template = load_template()

    assert template["Parameters"]["EnableSparkTransformations"]["Default"] == "false"
    assert template["Conditions"]["SparkTransformations"] == {
        "Fn::Equals": [{"Ref": "EnableSparkTransformations"}, "true"]
    }
    assert {
        name for name, resource in resources.items() if resource.get("Condition") == "SparkTransformations"
    } == (SPARK_RESOURCES)
    glue = resources["TransformGlueJob"]["Properties"]
    assert (glue["GlueVersion"], glue["Command"]["Name"]) == ("5.0", "glueetl")
    emr = resources["TransformEmrApplication"]["Properties"]
    assert emr["Type"] == "SPARK"
    assert emr["ReleaseLabel"].startswith("emr-7.")
    statements = resources["TransformationStateMachineRole"]["Properties"]["Policies"][0]["PolicyDocument"][
        "Statement"
    ]
    conditional = [statement["Fn::If"] for statement in statements if "Fn::If" in statement]
    assert {branch[1]["Sid"] for branch in conditional} == {
        "RunGlueJobs",
        "RunEmrServerlessJobs",
        "WatchEmrServerlessJobs",
        "PassSparkRole",
    }
    assert all(
        branch[0] == "SparkTransformations" and branch[2] == {"Ref": "AWS::NoValue"} for branch in conditional
    )
    unconditional = [statement for statement in statements if "Fn::If" not in statement]
    assert not [
        s for s in unconditional if any(str(a).startswith(("glue:", "emr-serverless:")) for a in s["Action"])
    ]


def test_the_execute_and_record_output_steps_have_duckdb_time_memory_and_disk() -> None:
    resources = _resources()

    for name in ("ExecuteTransformationFunction", "RecordTransformationOutputFunction"):
        properties = resources[name]["Properties"]
        assert properties["Layers"] == [{"Ref": "FramesLayer"}], name
        assert (properties["Timeout"], properties["MemorySize"]) == (900, 3008), name
        assert properties["EphemeralStorage"] == {"Size": 10240}, name
    assert "Layers" not in resources["RecordTransformationFailureFunction"]["Properties"]
