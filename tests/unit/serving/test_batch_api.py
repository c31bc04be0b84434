"""Batch jobs through the API: POST starts one (202), GETs follow it; a refusal writes and starts nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cirrus_core.audit.log import AuditLog
from tests.support.api import ApiResponse, call
from tests.support.authz import claims
from tests.support.aws import ALLOWLISTED_BUCKET, ARTIFACT_BUCKET, TABLE_NAMES
from tests.support.registry import MODEL_ID
from tests.unit.serving.batch_support import (
    INPUT_URI,
    JOB_NAME,
    OUTPUT_URI,
    STATE_MACHINE_ARN,
    BatchWorld,
    Untouched,
    _serving_wiring_once,  # noqa: F401  # a fixture
    serving_environment,  # noqa: F401  # a fixture
    start,
    start_body,
)
from tests.unit.serving.inference_support import put_environment

pytestmark = pytest.mark.usefixtures("serving_environment")


@pytest.fixture
def world(aws: Any) -> BatchWorld:
    world = BatchWorld(aws)
    world.register()  # version 1, approved
    return world


@pytest.fixture
def untouched(world: BatchWorld) -> Untouched:
    return Untouched(world)


def accepted(response: ApiResponse) -> dict[str, Any]:
    assert response.status == 202, response.body
    return dict(response.body)


def get(job_id: str, **parts: Any) -> ApiResponse:
    return call("get_batch_job", package="serving", path={"model_id": MODEL_ID, "job_id": job_id}, **parts)


def listing(**parts: Any) -> ApiResponse:
    return call("list_batch_jobs", package="serving", **parts)


# -- starting -----------------------------------------------------------------------------------------


def test_a_job_is_started_in_progress_and_answered_with_202(world: BatchWorld) -> None:
    job = accepted(start())

    assert (job["model_id"], job["version"], job["status"], job["environment"]) == (
        MODEL_ID,
        1,
        "in_progress",
        None,
    )
    assert (job["input_uri"], job["output_uri"], job["content_type"], job["split"]) == (
        INPUT_URI,
        OUTPUT_URI,
        "text/csv",
        "Line",
    )
    assert (job["instance_type"], job["instance_count"]) == ("ml.m5.large", 1)
    assert JOB_NAME.fullmatch(job["transform_job_name"])
    assert job["transform_job_name"].endswith(job["job_id"][:12])
    assert job["links"]["self"] == f"/api/v1/models/{MODEL_ID}/batch-jobs/{job['job_id']}"


def test_the_state_machine_runs_the_job_named_by_its_id_with_the_job_and_actor(world: BatchWorld) -> None:
    job = accepted(start())

    (execution,) = world.executions()
    assert execution["name"] == job["job_id"]
    assert execution["executionArn"] == job["execution_arn"]
    assert execution["stateMachineArn"] == STATE_MACHINE_ARN
    document = json.loads(execution["input"])
    assert document["job"]["transform_job_name"] == job["transform_job_name"]
    assert document["actor"] == {
        "sub": "7d8f3a2e-1b4c-4e5f-9a6b-2c3d4e5f6a7b",
        "username": "alice@example.com",
        "groups": ["ml_engineer"],
    }


def test_the_job_is_stored_as_the_contracts_batch_item(aws: Any, world: BatchWorld) -> None:
    job = accepted(start())

    item = aws.dynamodb.get_item(
        TableName=TABLE_NAMES["ServingTable"],
        Key={"pk": {"S": f"MODEL#{MODEL_ID}"}, "sk": {"S": f"BATCH#{job['job_id']}"}},
    )["Item"]
    assert item["status"] == {"S": "in_progress"}
    assert item["transform_job_name"] == {"S": job["transform_job_name"]}
    assert item["execution_arn"] == {"S": job["execution_arn"]}
    assert json.loads(item["request"]["S"])["input_uri"] == INPUT_URI


def test_starting_a_job_is_audited(aws: Any, world: BatchWorld) -> None:
    job = accepted(start())

    (record,) = (
        AuditLog(aws.dynamodb, TABLE_NAMES["AuditTable"]).query(action="start_batch_job", limit=10).items
    )
    assert record.resource == f"model/{MODEL_ID}/batch-job/{job['job_id']}"
    assert record.actor == "alice@example.com"


def test_a_job_may_run_the_version_an_environment_serves(aws: Any, world: BatchWorld) -> None:
    world.register()  # version 2
    put_environment(aws, "staging", version=2)

    job = accepted(start(start_body(version=None, environment="staging")))

    assert (job["version"], job["environment"]) == (2, "staging")


def test_a_data_scientist_may_start_a_job(world: BatchWorld) -> None:
    assert start(claims=claims("data_scientist")).status == 202


def test_an_allowlisted_bucket_may_hold_the_data(world: BatchWorld) -> None:
    body = start_body(
        input_uri=f"s3://{ALLOWLISTED_BUCKET}/in/data.csv", output_uri=f"s3://{ALLOWLISTED_BUCKET}/out/"
    )

    assert start(body).status == 202


def test_split_none_accept_and_instances_are_taken_as_given(world: BatchWorld) -> None:
    body = start_body(
        split="None",
        content_type="application/json",
        accept="application/jsonlines",
        instance_type="ml.c5.xlarge",
        instance_count=2,
    )

    job = accepted(start(body))

    assert (job["split"], job["content_type"], job["accept"]) == (
        "None",
        "application/json",
        "application/jsonlines",
    )
    assert (job["instance_type"], job["instance_count"]) == ("ml.c5.xlarge", 2)


def test_a_retry_with_the_same_idempotency_key_starts_nothing_new(world: BatchWorld) -> None:
    headers = {"Idempotency-Key": "batch-retry-0001"}

    first, second = accepted(start(headers=headers)), accepted(start(headers=headers))

    assert first["job_id"] == second["job_id"]
    assert len(world.executions()) == 1


# -- refusals -----------------------------------------------------------------------------------------


def refused(response: ApiResponse, status: int, code: str) -> dict[str, Any]:
    assert (response.status, response.error_code) == (status, code), response.body
    return dict(response.body["error"])


@pytest.mark.parametrize(
    ("field", "uri"),
    [
        ("input_uri", "s3://someone-elses-bucket/data/"),
        ("input_uri", f"s3://{ARTIFACT_BUCKET}/batch/../secrets/"),
        ("input_uri", f"s3://{ARTIFACT_BUCKET}/batch/%2e%2e/"),
        ("input_uri", f"s3://{ARTIFACT_BUCKET}/"),
        ("output_uri", "s3://someone-elses-bucket/out/"),
        ("output_uri", f"s3://{ARTIFACT_BUCKET}/out?versionId=1"),
        ("output_uri", f"s3://{ARTIFACT_BUCKET}/batch/input/results/"),
    ],
)
def test_uris_outside_the_artifact_buckets_or_unsafe_are_refused_with_422(
    untouched: Untouched, field: str, uri: str
) -> None:
    with untouched:
        error = refused(start(start_body(**{field: uri})), 422, "invalid_batch_uri")

    assert error["details"][0]["field"] == field


@pytest.mark.parametrize(
    "changes",
    [
        {"input_uri": "https://example.com/data.csv"},
        {"version": None},
        {"environment": "prod"},
        {"split": "RecordIO"},
        {"content_type": "text/plain"},
        {"instance_count": 0},
        {"instance_type": "m5.large"},
        {"unexpected": True},
    ],
    ids=[
        "http uri",
        "no model",
        "version and environment",
        "split",
        "content type",
        "instances",
        "type",
        "extra",
    ],
)
def test_invalid_requests_are_refused_with_422(untouched: Untouched, changes: dict[str, Any]) -> None:
    body = start_body(**{key: value for key, value in changes.items() if value is not None})
    if changes.get("version", 1) is None:
        body.pop("version")

    with untouched:
        refused(start(body), 422, "validation_error")


def test_a_version_not_yet_approved_is_refused_with_409(world: BatchWorld, untouched: Untouched) -> None:
    world.register(approved=False)  # version 2

    with untouched:
        error = refused(start(start_body(version=2)), 409, "version_not_approved")

    assert error["details"] == [{"version": 2, "approval_status": "PendingManualApproval"}]


def test_a_retired_version_is_refused_with_409(world: BatchWorld) -> None:
    world.registry.retire(1)

    with Untouched(world):
        refused(start(), 409, "version_retired")


def test_an_unknown_version_is_404(untouched: Untouched) -> None:
    with untouched:
        refused(start(start_body(version=9)), 404, "version_not_found")


def test_an_unknown_model_is_404(untouched: Untouched) -> None:
    with untouched:
        refused(start(path={"model_id": "no_such_model"}), 404, "model_not_found")


def test_an_environment_without_a_deployment_is_404(untouched: Untouched) -> None:
    with untouched:
        refused(start(start_body(version=None, environment="prod")), 404, "environment_not_deployed")


def test_a_reviewer_may_not_start_a_job(untouched: Untouched) -> None:
    with untouched:
        error = refused(start(claims=claims("model_reviewer")), 403, "access_denied")

    assert error["details"][0]["action"] == "StartBatchJob"


# -- reading ------------------------------------------------------------------------------------------


def test_a_job_is_read_back_by_anyone_authenticated(world: BatchWorld) -> None:
    job = accepted(start())

    response = get(job["job_id"], claims=claims("model_reviewer"))

    assert response.status == 200, response.body
    assert {key: response.body[key] for key in ("job_id", "status", "execution_arn")} == {
        key: job[key] for key in ("job_id", "status", "execution_arn")
    }


def test_an_unknown_job_is_404(world: BatchWorld) -> None:
    refused(get("0" * 32), 404, "batch_job_not_found")


def test_a_malformed_job_id_is_422(world: BatchWorld) -> None:
    refused(get("not-a-job"), 422, "validation_error")


def test_jobs_are_listed_newest_first_page_by_page(world: BatchWorld) -> None:
    started = [accepted(start())["job_id"] for _ in range(3)]

    first = listing(query={"limit": "2"})
    second = listing(query={"limit": "2", "next_token": first.body["next_token"]})

    assert [job["job_id"] for job in first.body["items"]] == started[::-1][:2]
    assert [job["job_id"] for job in second.body["items"]] == started[::-1][2:]
    assert second.body["next_token"] is None


def test_a_token_of_another_models_listing_is_refused(world: BatchWorld) -> None:
    for _ in range(2):
        accepted(start())
    token = listing(query={"limit": "1"}).body["next_token"]

    refused(
        listing(path={"model_id": "another_model"}, query={"next_token": token}), 400, "invalid_next_token"
    )
