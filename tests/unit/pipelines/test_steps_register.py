"""`Register version`: the run's model is registered for its actor, with lineage, exactly once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import boto3
import pytest

from cirrus_core.caller import Caller
from cirrus_core.errors import AccessDenied
from cirrus_core.pipelines.registration import VersionRegistrar
from cirrus_core.pipelines.run_state import read_state
from cirrus_core.pipelines.samples import SamplePayloads
from cirrus_core.principal import Principal
from cirrus_core.registry.wiring import registry_service
from tests.support.api import LambdaContextStub
from tests.support.aws import ARTIFACT_BUCKET, AwsResources
from tests.support.events import assert_valid_event
from tests.support.registry import REVIEWER_CLAIMS
from tests.unit.pipelines.steps_support import (
    ACTOR,
    DATA_URI,
    EXECUTION_ARN,
    PIPELINE_ID,
    RUN_ID,
    execution_event,
    finished_state,
    make_prepare,
    put_dataset,
    sagemaker_client,
    write_recipes,
)

REVIEWER = Principal(
    sub=REVIEWER_CLAIMS["sub"],
    username=REVIEWER_CLAIMS["cognito:username"],
    groups=frozenset({"model_reviewer"}),
)
STARTER = Principal(sub=ACTOR["sub"], username=ACTOR["username"], groups=frozenset(ACTOR["groups"]))
EVALUATION = {"metrics": {"accuracy": 0.93, "f1": 0.91}, "gate": None}


@pytest.fixture
def state(aws: AwsResources, tmp_path: Path) -> dict[str, Any]:
    """A run whose jobs all ran (the training job exists in SageMaker) and whose evaluation passed."""
    put_dataset(aws)
    prepared = make_prepare(aws, write_recipes(tmp_path / "recipes")).prepare(execution_event())
    sagemaker_client().create_training_job(
        **prepared["jobs"]["train"]["request"], RoleArn=os.environ["SAGEMAKER_ROLE_ARN"]
    )
    return finished_state(prepared, evaluation=EVALUATION)


def register(state: dict[str, Any]) -> dict[str, Any]:
    samples = SamplePayloads(boto3.client("s3", region_name="us-east-1"), ARTIFACT_BUCKET)
    registrar = VersionRegistrar(registry_service, sagemaker_client(), samples)
    return registrar.register(read_state({"state": state}))


def version(number: int = 1) -> Any:
    return registry_service().get_version(PIPELINE_ID, number, Caller(REVIEWER))


def test_the_first_version_is_registered_pending(state: dict[str, Any]) -> None:
    assert register(state) == {
        "model_id": PIPELINE_ID,
        "version": 1,
        "approval_status": "PendingManualApproval",
    }


def test_the_version_carries_the_runs_lineage(state: dict[str, Any]) -> None:
    register(state)

    registered = version()
    job = state["jobs"]["train"]
    assert registered.artifact_location == job["output"]["model_uri"]
    assert registered.model_type == "xgboost"
    assert registered.framework_version == "1.7-1"
    assert registered.dataset_uri == DATA_URI
    assert registered.training_job_name == job["job_name"]
    assert registered.pipeline_execution_arn == EXECUTION_ARN
    assert registered.tags == {"pipeline_id": PIPELINE_ID, "run_id": RUN_ID}
    assert registered.training_metadata.dataset_version == state["run"]["dataset"]["version"]


def test_the_hyperparameters_are_the_scripts_decoded(state: dict[str, Any]) -> None:
    register(state)

    assert version().training_metadata.hyperparameters == {
        "target_column": "label",
        "task": "classification",
        "seed": 42,
    }


def test_metrics_are_the_evaluations_as_test_and_the_training_jobs(state: dict[str, Any]) -> None:
    register(state)

    metrics = version().training_metadata.metrics
    assert metrics["test:accuracy"] == 0.93
    assert metrics["test:f1"] == 0.91
    assert metrics["train:progress"] == 100.0  # moto's training job reports this final metric


def test_the_runs_actor_is_the_registrant(state: dict[str, Any]) -> None:
    register(state)

    assert (version().created_by, version().created_by_sub) == (ACTOR["username"], ACTOR["sub"])


def test_whoever_started_the_run_cannot_approve_its_version(state: dict[str, Any]) -> None:
    register(state)

    with pytest.raises(AccessDenied):
        registry_service().approve(PIPELINE_ID, 1, "mine", Caller(STARTER))
    assert (
        registry_service().approve(PIPELINE_ID, 1, "fine", Caller(REVIEWER)).approval_status.value
        == "Approved"
    )


def test_a_retry_returns_the_version_instead_of_registering_another(state: dict[str, Any]) -> None:
    first = register(state)

    second = register(state)

    assert second == first
    assert registry_service().get_model(PIPELINE_ID, Caller(REVIEWER)).latest_version == 1


def test_another_run_registers_the_next_version(state: dict[str, Any]) -> None:
    register(state)
    state["run"]["execution_arn"] = EXECUTION_ARN.replace(RUN_ID, "20240604T020000Z-0d4f6e81")

    assert register(state)["version"] == 2


def test_a_cached_training_step_registers_the_earlier_model(state: dict[str, Any]) -> None:
    earlier = "s3://cirrus-artifacts-123456789012/pipelines/churn/runs/old/train/old-job/output/model.tar.gz"
    state["cache"]["train"] = {
        "key": "k",
        "hit": True,
        "output": {"model_uri": earlier, "job_name": "old-job"},
    }

    register(state)

    assert (version().artifact_location, version().training_job_name) == (earlier, "old-job")


def test_the_model_name_parameter_names_the_model(state: dict[str, Any]) -> None:
    state["run"]["model_name"] = "churn_model"

    assert register(state)["model_id"] == "churn_model"


def test_the_handler_registers_and_correlates_the_event_with_the_run(
    aws: AwsResources, state: dict[str, Any]
) -> None:
    from functions.pipelines.steps.register_version import lambda_handler

    result = lambda_handler({"state": state}, LambdaContextStub())

    assert result == {"model_id": PIPELINE_ID, "version": 1, "approval_status": "PendingManualApproval"}
    [event] = [event for event in aws.published_events() if event["detail-type"] == "model.registered"]
    assert_valid_event(event)
    assert event["detail"]["metadata"]["correlation_id"] == RUN_ID
    assert event["detail"]["metadata"]["actor"] == ACTOR["username"]
