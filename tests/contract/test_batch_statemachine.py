"""statemachines/batch_transform.asl.json: valid ASL, deployed with every placeholder filled, resilient,
and fed exactly the request `Prepare batch job` builds."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from statelint.linter import Linter

from cirrus.statemachines import STATEMACHINES_DIR
from cirrus_core.pipelines.compiler import LAMBDA_ERRORS, SAGEMAKER_ERRORS
from cirrus_core.serving.batch import BatchContentType, BatchJob, BatchJobStatus, SplitType, transform_request
from tests.support.aws import load_template

PATH = STATEMACHINES_DIR / "batch_transform.asl.json"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)\}")
RECORD_FAILURE = "Record failure"


def _document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(PATH.read_text(encoding="utf-8"))
    return document


def _deployed() -> dict[str, Any]:
    resources = load_template()["Resources"]
    (machine,) = [
        resource
        for resource in resources.values()
        if resource["Type"] == "AWS::Serverless::StateMachine"
        and resource["Properties"].get("DefinitionUri") == "statemachines/batch_transform.asl.json"
    ]
    return dict(machine["Properties"])


def _retries_with_backoff(state: dict[str, Any], errors: tuple[str, ...]) -> bool:
    return any(
        set(errors) <= set(retrier["ErrorEquals"])
        and retrier["IntervalSeconds"] >= 1
        and retrier["BackoffRate"] > 1
        and retrier["MaxAttempts"] >= 2
        and retrier.get("MaxDelaySeconds") is not None
        and retrier.get("JitterStrategy") == "FULL"
        for retrier in state.get("Retry", [])
    )


def _catch_target(state: dict[str, Any]) -> str | None:
    for catcher in state.get("Catch", []):
        if catcher["ErrorEquals"] == ["States.ALL"]:
            return str(catcher["Next"])
    return None


def test_the_file_passes_statelint() -> None:
    assert Linter.validate(_document()) == []


def test_the_file_passes_statelint_with_its_placeholders_filled() -> None:
    text = PATH.read_text(encoding="utf-8")
    filled = PLACEHOLDER.sub(lambda match: f"arn:aws:lambda:us-east-1:123456789012:function:{match[1]}", text)
    assert Linter.validate(json.loads(filled)) == []


def test_the_template_deploys_it_with_every_placeholder_substituted() -> None:
    used = set(PLACEHOLDER.findall(PATH.read_text(encoding="utf-8")))
    substitutions = _deployed()["DefinitionSubstitutions"]

    assert used == set(substitutions) == {"PrepareBatchJobFunctionArn", "RecordBatchResultFunctionArn"}


def test_it_prepares_runs_the_transform_job_synchronously_and_records_the_outcome() -> None:
    states = _document()["States"]

    assert _document()["StartAt"] == "Prepare batch job"
    assert states["Prepare batch job"]["Next"] == "Run transform job"
    assert states["Run transform job"]["Resource"] == "arn:aws:states:::sagemaker:createTransformJob.sync"
    assert states["Run transform job"]["Next"] == "Record success"
    assert states["Record success"]["Next"] == "Succeeded"
    assert states["Record failure"]["Next"] == "Failed"
    assert states["Failed"] == {"Type": "Fail", "Error": "BatchJobFailed", "Cause": states["Failed"]["Cause"]}


def test_every_lambda_task_retries_lambda_service_errors_and_every_failure_is_recorded() -> None:
    states = _document()["States"]
    for name, state in states.items():
        if state["Type"] != "Task":
            continue
        if state["Resource"] == "arn:aws:states:::lambda:invoke":
            assert _retries_with_backoff(state, LAMBDA_ERRORS), name
        else:
            assert _retries_with_backoff(state, SAGEMAKER_ERRORS), name
        expected = "Failed" if name == RECORD_FAILURE else RECORD_FAILURE
        assert _catch_target(state) == expected, f"{name}: failures must reach {expected}"


def test_the_transform_task_is_given_exactly_the_fields_prepare_builds() -> None:
    now = datetime(2024, 6, 1, tzinfo=UTC)
    job = BatchJob(
        job_id="3f6c1a2b4d5e4f708192a3b4c5d6e7f8",
        model_id="fraud_detection_v2",
        version=3,
        status=BatchJobStatus.IN_PROGRESS,
        input_uri="s3://bucket/in/",
        output_uri="s3://bucket/out/",
        content_type=BatchContentType.CSV,
        split=SplitType.LINE,
        instance_type="ml.m5.large",
        instance_count=1,
        transform_job_name="fraud-detection-v2-batch-3f6c1a2b4d5e",
        execution_arn="arn:aws:states:us-east-1:123456789012:execution:m:3f6c1a2b4d5e4f708192a3b4c5d6e7f8",
        created_by="alice@example.com",
        created_at=now,
        updated_at=now,
    )
    parameters = _document()["States"]["Run transform job"]["Parameters"]

    assert {key.removesuffix(".$") for key in parameters} == set(
        transform_request(job, "fraud-detection-v2-v3")
    )
    assert all(value == f"$.prepared.request.{key.removesuffix('.$')}" for key, value in parameters.items())


def test_the_state_machine_role_may_run_and_wait_for_transform_jobs_only() -> None:
    resources = load_template()["Resources"]
    role = resources[_deployed()["Role"]["Fn::GetAtt"][0]]
    statements = {
        statement["Sid"]: statement
        for policy in role["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
    }

    assert "sagemaker:CreateTransformJob" in statements["RunTransformJobs"]["Action"]
    assert statements["RunTransformJobs"]["Resource"]["Fn::Sub"].endswith(":transform-job/*")
    assert statements["WaitForTransformJobs"]["Resource"]["Fn::Sub"].endswith(
        ":rule/StepFunctionsGetEventsForSageMakerTransformJobsRule"
    )
    assert statements["HandJobsTheirRole"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
    }
