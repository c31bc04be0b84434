"""POST /models/register: the next version of a model, PendingManualApproval, announced on the bus.

A refused registration answers in the API's error shape, writes nothing and publishes nothing.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from cirrus_core.settings import get_settings
from tests.support.api import call
from tests.support.aws import AwsResources
from tests.support.events import assert_valid_event
from tests.support.registry import RegistryDriver, Unchanged
from tests.unit.registry.registration import (
    CALLER,
    MODEL_ID,
    REQUEST_ID,
    SAMPLE_BODY,
    assert_refused,
    registration,
    with_training,
)

# A data scientist: registering is theirs too, and another caller than the samples' alice.
CAROL = {
    "sub": "3f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0",
    "cognito:username": "carol@example.com",
    "cognito:groups": "data_scientist",
}
EXECUTION_ARN = "arn:aws:states:us-east-1:123456789012:execution:cirrus-train:run-42"


@pytest.fixture
def one_version(registry: RegistryDriver) -> None:
    """fraud_detection_v2 has version 1, so a refusal has something to leave alone."""
    registry.register()


# -- what a registration creates -------------------------------------------------------------------


def test_the_first_registration_creates_version_1(aws: AwsResources) -> None:
    response = call("register_model", body=registration())

    assert response.status == 201
    assert response.body["model_id"] == MODEL_ID
    assert response.body["version"] == 1


def test_the_next_registration_creates_version_2(aws: AwsResources, one_version: None) -> None:
    response = call("register_model", body=registration())

    assert response.status == 201
    assert response.body["version"] == 2


def test_a_new_version_awaits_manual_approval(aws: AwsResources) -> None:
    response = call("register_model", body=registration())

    assert response.body["approval_status"] == "PendingManualApproval"
    assert response.body["review"] is None
    assert response.body["retired"] is False


def test_a_version_is_created_by_the_callers_cognito_username(aws: AwsResources) -> None:
    response = call("register_model", body=registration(), claims=CAROL)

    assert response.body["created_by"] == "carol@example.com"


def test_the_sagemaker_names_map_underscores_to_hyphens(aws: AwsResources, one_version: None) -> None:
    response = call("register_model", body=registration())

    assert response.body["sagemaker"] == {
        "base_name": "fraud-detection-v2",
        "model_name": "fraud-detection-v2-v2",
    }


def test_the_request_is_stored_as_given(aws: AwsResources, registry: RegistryDriver) -> None:
    response = call("register_model", body=registration())

    stored = registry.version(1)
    assert stored == response.body
    for field in ("model_type", "framework_version", "training_metadata", "artifact_location", "tags"):
        assert stored[field] == SAMPLE_BODY[field]


def test_registering_creates_the_model_with_its_latest_version(registry: RegistryDriver) -> None:
    call("register_model", body=registration())

    model = registry.model()
    assert model["latest_version"] == 1
    assert model["created_by"] == CALLER
    assert model["sagemaker_base_name"] == "fraud-detection-v2"
    assert model["counts"]["total"] == model["counts"]["pending"] == 1


def test_optional_lineage_fields_are_stored(registry: RegistryDriver, one_version: None) -> None:
    lineage: dict[str, Any] = {
        "dataset_uri": "s3://cirrus-data-123456789012/datasets/transactions/2024-07-01/",
        "training_job_name": "fraud-detection-v2-20240701",
        "pipeline_execution_arn": EXECUTION_ARN,
        "parent_version": 1,
        "tags": {"team": "risk", "cost-center": "42"},
        "description": "Retrained on July data.\nSame features.",
    }

    response = call("register_model", body=registration(**lineage))

    assert response.status == 201
    stored = registry.version(2)
    assert {field: stored[field] for field in lineage} == lineage


def test_the_optional_fields_may_all_be_left_out(registry: RegistryDriver) -> None:
    body = registration(drop=("dataset_uri", "training_job_name", "tags", "description"))
    body["training_metadata"] = {"dataset_version": "2024-06-01"}

    response = call("register_model", body=body)

    assert response.status == 201
    assert response.body["dataset_uri"] is None
    assert response.body["parent_version"] is None
    assert response.body["tags"] == {}
    assert response.body["training_metadata"] == {
        "dataset_version": "2024-06-01",
        "hyperparameters": {},
        "metrics": {},
    }


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(registration(model_name="m" * 63), id="model-name-of-63-characters"),
        pytest.param(registration(model_name="7"), id="model-name-of-1-character"),
        pytest.param(registration(description="d" * 1024), id="description-of-1024-characters"),
        pytest.param(
            with_training(hyperparameters={f"p{i}": i for i in range(100)}), id="100-hyperparameters"
        ),
        pytest.param(with_training(metrics={f"m{i}": i / 100 for i in range(100)}), id="100-metrics"),
        pytest.param(registration(tags={f"t{i}": "v" for i in range(50)}), id="50-tags"),
    ],
)
def test_values_at_the_limits_are_accepted(aws: AwsResources, body: dict[str, Any]) -> None:
    assert call("register_model", body=body).status == 201


# -- the model.registered event --------------------------------------------------------------------


def test_registration_publishes_model_registered(aws: AwsResources, one_version: None) -> None:
    seen = len(aws.published_events())

    response = call("register_model", body=registration(parent_version=1))

    [event] = aws.published_events()[seen:]
    assert_valid_event(event)
    assert event["source"] == "cirrus.registry"
    assert event["detail-type"] == "model.registered"
    assert event["detail"]["data"] == {
        "model_id": MODEL_ID,
        "version": 2,
        "model_type": "xgboost",
        "framework_version": "1.7.6",
        "artifact_location": SAMPLE_BODY["artifact_location"],
        "dataset_version": "2024-06-01",
        "approval_status": "PendingManualApproval",
        "parent_version": 1,
    }
    metadata = event["detail"]["metadata"]
    assert metadata["actor"] == CALLER
    assert metadata["correlation_id"] == REQUEST_ID
    assert datetime.fromisoformat(metadata["occurred_at"]) == datetime.fromisoformat(
        response.body["created_at"]
    )


# -- refusals: the request ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw_body",
    [
        pytest.param("{", id="unterminated-object"),
        pytest.param("model_name=fraud", id="form-encoded"),
        pytest.param('{"model_name": "fraud",}', id="trailing-comma"),
    ],
)
def test_a_body_that_is_not_json_is_400_malformed_json(
    aws: AwsResources, one_version: None, unchanged: Unchanged, raw_body: str
) -> None:
    with unchanged:
        response = call("register_model", raw_body=raw_body)

    assert_refused(response, 400, "malformed_json")


@pytest.mark.parametrize(
    "model_name",
    [
        pytest.param("Fraud_detection", id="uppercase"),
        pytest.param("-fraud", id="leading-hyphen"),
        pytest.param("_fraud", id="leading-underscore"),
        pytest.param("m" * 64, id="64-characters"),
        pytest.param("", id="empty"),
        pytest.param("fraud detection", id="space"),
        pytest.param("fraud.detection", id="dot"),
        pytest.param("fraud/detection", id="slash"),
        pytest.param("modèle", id="unicode"),
        pytest.param("fraud\n", id="trailing-newline"),
    ],
)
def test_a_malformed_model_name_is_422(
    aws: AwsResources, one_version: None, unchanged: Unchanged, model_name: str
) -> None:
    with unchanged:
        response = call("register_model", body=registration(model_name=model_name))

    assert_refused(response, 422, "validation_error")
    assert [detail["field"] for detail in response.body["error"]["details"]] == ["body.model_name"]


def test_the_route_name_register_is_422_reserved_name(aws: AwsResources, unchanged: Unchanged) -> None:
    with unchanged:
        response = call("register_model", body=registration(model_name="register"))

    assert_refused(response, 422, "reserved_name")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(registration(owner="alice"), id="unknown-field"),
        pytest.param(with_training(epochs=10), id="unknown-training-metadata-field"),
        pytest.param(registration(drop=("training_metadata",)), id="missing-training-metadata"),
        pytest.param(registration(drop=("model_name",)), id="missing-model-name"),
        pytest.param(registration(drop=("artifact_location",)), id="missing-artifact-location"),
        pytest.param(registration(training_metadata={"metrics": {}}), id="missing-dataset-version"),
        pytest.param(registration(model_type="XGBoost"), id="uppercase-model-type"),
        pytest.param(registration(framework_version="1.7 beta"), id="framework-version-with-space"),
        pytest.param(registration(training_job_name="job_with_underscores"), id="bad-training-job-name"),
        pytest.param(registration(pipeline_execution_arn="arn:aws:s3:::bucket"), id="not-an-execution-arn"),
        pytest.param(registration(parent_version=0), id="parent-version-0"),
        pytest.param(registration(tags={"team": "risk\n"}), id="tag-value-with-newline"),
        pytest.param(registration(description="d" * 1025), id="description-over-1024"),
        pytest.param(
            with_training(hyperparameters={f"p{i}": i for i in range(101)}), id="over-100-hyperparameters"
        ),
        pytest.param(with_training(metrics={f"m{i}": 0.5 for i in range(101)}), id="over-100-metrics"),
        pytest.param(registration(tags={f"t{i}": "v" for i in range(51)}), id="over-50-tags"),
        pytest.param(with_training(hyperparameters={"objective": "x" * 1025}), id="hyperparameter-over-1024"),
        pytest.param(with_training(metrics={"auc": "high"}), id="metric-not-a-number"),
        pytest.param([SAMPLE_BODY], id="body-is-an-array-of-one-valid-request"),
        pytest.param([SAMPLE_BODY, {"owner": "alice"}], id="body-is-an-array"),
        pytest.param("fraud_detection_v2", id="body-is-a-string"),
    ],
)
def test_a_body_that_breaks_the_request_schema_is_422(
    aws: AwsResources, one_version: None, unchanged: Unchanged, body: Any
) -> None:
    with unchanged:
        response = call("register_model", body=body)

    assert_refused(response, 422, "validation_error")
    assert response.body["error"]["details"]


@pytest.mark.parametrize("where", ["metrics", "hyperparameters"])
@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), float("-inf")], ids=["NaN", "Infinity", "-Infinity"]
)
def test_a_number_json_cannot_carry_is_422(
    aws: AwsResources, one_version: None, unchanged: Unchanged, where: str, value: float
) -> None:
    # json.dumps writes NaN and Infinity literals, as some clients do.
    raw_body = json.dumps(with_training(**{where: {"auc": value}}))

    with unchanged:
        response = call("register_model", raw_body=raw_body)

    assert_refused(response, 422, "validation_error")


# -- refusals: the model's state -------------------------------------------------------------------


def test_a_parent_version_that_does_not_exist_is_422_unknown_parent_version(
    aws: AwsResources, one_version: None, unchanged: Unchanged
) -> None:
    with unchanged:
        response = call("register_model", body=registration(parent_version=2))

    assert_refused(response, 422, "unknown_parent_version")


def test_a_parent_version_for_a_new_model_is_422_unknown_parent_version(
    aws: AwsResources, unchanged: Unchanged
) -> None:
    with unchanged:
        response = call("register_model", body=registration(parent_version=1))

    assert_refused(response, 422, "unknown_parent_version")


def test_an_id_that_maps_to_a_taken_sagemaker_name_is_409_name_collision(
    aws: AwsResources, unchanged: Unchanged
) -> None:
    assert call("register_model", body=registration(model_name="fraud_model")).status == 201

    with unchanged:
        response = call("register_model", body=registration(model_name="fraud-model"))

    assert_refused(response, 409, "name_collision")


def test_a_retired_model_takes_no_new_version_409_model_retired(
    aws: AwsResources, registry: RegistryDriver, unchanged: Unchanged
) -> None:
    registry.register()
    registry.retire()

    with unchanged:
        response = call("register_model", body=registration())

    assert_refused(response, 409, "model_retired")


# -- refusals before the body is read --------------------------------------------------------------


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param(None, id="no-authorizer"),
        pytest.param({"cognito:username": "alice@example.com"}, id="claims-without-sub"),
    ],
)
def test_a_request_without_an_identity_is_401_unauthenticated(
    aws: AwsResources, one_version: None, unchanged: Unchanged, claims: dict[str, str] | None
) -> None:
    with unchanged:
        response = call("register_model", body=registration(), claims=claims)

    assert_refused(response, 401, "unauthenticated")


def test_authentication_is_checked_before_the_body(
    aws: AwsResources, one_version: None, unchanged: Unchanged
) -> None:
    with unchanged:
        response = call("register_model", raw_body="{not json", claims=None)

    assert_refused(response, 401, "unauthenticated")


def test_a_body_over_the_limit_is_413_payload_too_large(
    aws: AwsResources, one_version: None, unchanged: Unchanged
) -> None:
    limit = get_settings().max_body_bytes
    raw_body = json.dumps(registration()).ljust(limit + 1)

    with unchanged:
        response = call("register_model", raw_body=raw_body)

    assert_refused(response, 413, "payload_too_large")


def test_a_body_of_exactly_the_limit_is_accepted(aws: AwsResources) -> None:
    raw_body = json.dumps(registration()).ljust(get_settings().max_body_bytes)

    assert call("register_model", raw_body=raw_body).status == 201


def test_the_body_limit_counts_bytes_not_characters(
    aws: AwsResources, one_version: None, unchanged: Unchanged
) -> None:
    limit = get_settings().max_body_bytes
    raw_body = json.dumps(registration(description="é" * (limit // 2)), ensure_ascii=False)
    assert len(raw_body) < limit < len(raw_body.encode())

    with unchanged:
        response = call("register_model", raw_body=raw_body)

    assert_refused(response, 413, "payload_too_large")


def test_an_oversized_anonymous_request_is_413(aws: AwsResources, unchanged: Unchanged) -> None:
    raw_body = "x" * (get_settings().max_body_bytes + 1)

    with unchanged:
        response = call("register_model", raw_body=raw_body, claims=None)

    assert_refused(response, 413, "payload_too_large")
