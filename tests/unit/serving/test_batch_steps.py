"""The batch state machine's Lambda steps: `Prepare batch job` and `Record batch result`.

Each test starts a job through the API, then calls the steps with the execution's input, as Step
Functions would.
"""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest

from cirrus_core.errors import VersionRetired
from cirrus_core.serving.batch import failure_reason
from tests.support.api import LambdaContextStub, call
from tests.support.events import assert_valid_event
from tests.support.registry import MODEL_ID
from tests.unit.serving.batch_support import (
    INPUT_URI,
    OUTPUT_URI,
    BatchWorld,
    _serving_wiring_once,  # noqa: F401  # a fixture
    serving_environment,  # noqa: F401  # a fixture
    start,
)

pytestmark = pytest.mark.usefixtures("serving_environment")


@pytest.fixture
def world(aws: Any) -> BatchWorld:
    world = BatchWorld(aws)
    world.register()
    return world


@pytest.fixture
def started(world: BatchWorld) -> dict[str, Any]:
    """The execution input of a job just started through the API."""
    response = start()
    assert response.status == 202, response.body
    (execution,) = world.executions()
    document: dict[str, Any] = json.loads(execution["input"])
    return document


def step(name: str, event: dict[str, Any]) -> dict[str, Any]:
    module = importlib.import_module(f"functions.serving.steps.{name}")
    result: dict[str, Any] = module.lambda_handler(event, LambdaContextStub())
    return result


def job_view(job_id: str) -> dict[str, Any]:
    response = call("get_batch_job", package="serving", path={"model_id": MODEL_ID, "job_id": job_id})
    assert response.status == 200, response.body
    return dict(response.body)


def batch_events(world: BatchWorld) -> list[dict[str, Any]]:
    events = [event for event in world.aws.published_events() if event["source"] == "cirrus.serving"]
    for event in events:
        assert_valid_event(event)
    return events


# -- Prepare batch job ----------------------------------------------------------------------------------


def test_prepare_creates_the_versions_sagemaker_model_and_builds_the_transform_request(
    world: BatchWorld, started: dict[str, Any]
) -> None:
    request = step("batch_prepare", started)["request"]

    assert request["ModelName"] == "fraud-detection-v2-v1"
    assert world.sagemaker.describe_model(ModelName="fraud-detection-v2-v1")["PrimaryContainer"][
        "Environment"
    ] == {
        "SAGEMAKER_PROGRAM": "inference.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
    }
    assert request["TransformJobName"] == started["job"]["transform_job_name"]
    assert request["TransformInput"] == {
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": INPUT_URI}},
        "ContentType": "text/csv",
        "SplitType": "Line",
        "CompressionType": "None",
    }
    assert request["TransformOutput"] == {"S3OutputPath": OUTPUT_URI, "AssembleWith": "Line"}
    assert request["BatchStrategy"] == "SingleRecord"
    assert request["TransformResources"] == {"InstanceType": "ml.m5.large", "InstanceCount": 1}


def test_prepare_reuses_a_model_that_exists(world: BatchWorld, started: dict[str, Any]) -> None:
    first = step("batch_prepare", started)["request"]["ModelName"]

    assert step("batch_prepare", started)["request"]["ModelName"] == first


def test_prepare_refuses_a_version_retired_since_the_job_started(
    world: BatchWorld, started: dict[str, Any]
) -> None:
    world.registry.retire(1)

    with pytest.raises(VersionRetired):
        step("batch_prepare", started)


# -- Record batch result ------------------------------------------------------------------------------


def test_a_completed_transform_job_marks_the_job_succeeded_and_announces_it(
    world: BatchWorld, started: dict[str, Any]
) -> None:
    job_id = started["job"]["job_id"]
    transform = {"TransformJobName": started["job"]["transform_job_name"], "TransformJobStatus": "Completed"}

    result = step("batch_record", {"input": started, "outcome": "succeeded", "transform": transform})

    assert result == {"job_id": job_id, "status": "succeeded", "recorded": True}
    view = job_view(job_id)
    assert (view["status"], view["failure_reason"]) == ("succeeded", None)
    assert view["finished_at"] is not None
    (event,) = batch_events(world)
    assert event["detail-type"] == "batch.completed"
    assert event["detail"]["data"]["job_id"] == job_id
    assert event["detail"]["data"]["output_uri"] == OUTPUT_URI
    assert event["detail"]["metadata"]["actor"] == "alice@example.com"


def test_a_failed_transform_job_is_recorded_with_its_failure_reason(
    world: BatchWorld, started: dict[str, Any]
) -> None:
    described = {"TransformJobStatus": "Failed", "FailureReason": "ClientError: data.csv: bad row 3"}
    error = {"Error": "States.TaskFailed", "Cause": json.dumps(described)}

    step("batch_record", {"input": started, "outcome": "failed", "error": error})

    view = job_view(started["job"]["job_id"])
    assert (view["status"], view["failure_reason"]) == ("failed", "ClientError: data.csv: bad row 3")
    (event,) = batch_events(world)
    assert event["detail-type"] == "batch.failed"
    assert event["detail"]["data"]["failure_reason"] == "ClientError: data.csv: bad row 3"


def test_an_outcome_is_recorded_and_announced_once(world: BatchWorld, started: dict[str, Any]) -> None:
    event = {"input": started, "outcome": "succeeded", "transform": {}}
    step("batch_record", event)

    again = step("batch_record", {**event, "outcome": "failed", "error": {"Error": "X", "Cause": "late"}})

    assert again["recorded"] is False
    assert job_view(started["job"]["job_id"])["status"] == "succeeded"
    assert len(batch_events(world)) == 1


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            {"Error": "UnservableVersion", "Cause": json.dumps({"errorMessage": "no code/inference.py"})},
            "UnservableVersion: no code/inference.py",
        ),
        ({"Error": "States.Timeout", "Cause": "The task timed out"}, "States.Timeout: The task timed out"),
        ({"Error": "States.TaskFailed"}, "States.TaskFailed"),
        (None, "The batch job failed for an unknown reason."),
    ],
    ids=["lambda error", "plain cause", "no cause", "nothing"],
)
def test_a_failure_without_a_transform_failure_reason_names_the_error(error: Any, reason: str) -> None:
    assert failure_reason(error) == reason


def test_a_long_failure_reason_is_cut_to_1024_characters() -> None:
    cause = json.dumps({"FailureReason": "x" * 5000})

    assert failure_reason({"Error": "States.TaskFailed", "Cause": cause}) == "x" * 1024
