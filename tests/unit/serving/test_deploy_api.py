"""POST /models/{model_id}/deployments: what starts a deployment, and every refusal (which writes nothing)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.aws import ARTIFACT_BUCKET, AwsResources
from tests.support.registry import Unchanged
from tests.unit.registry.registration import assert_refused
from tests.unit.serving.support import SAMPLES, SAMPLES_KEY, Serving, archive, deploy_body

DATA_SCIENTIST = {
    "sub": "5c4b3a29-1807-4f6e-9d5c-4b3a29180706",
    "cognito:username": "dana@example.com",
    "cognito:groups": "data_scientist",
}


def test_an_approved_version_starts_a_deployment_named_by_its_id(serving: Serving) -> None:
    serving.register()

    response = serving.deploy()

    assert response.status == 202, response.body
    deployment = response.body
    assert deployment["status"] == "in_progress"
    assert deployment["deployment_id"] in deployment["execution_arn"]
    assert deployment["config"]["instance_type"] == "ml.m5.large"
    assert [entry["step"] for entry in deployment["history"]] == ["Requested"]
    [execution] = serving.executions()
    assert execution["name"] == deployment["deployment_id"]


def test_the_execution_input_is_the_contract_s(serving: Serving) -> None:
    serving.register()

    serving.deploy(
        deploy_body(autoscaling={"min_capacity": 1, "max_capacity": 3, "target_invocations_per_instance": 50})
    )

    document = serving.execution_input()
    assert set(document) == {
        "deployment_id", "model_id", "version", "environment", "config", "sample_payloads", "actor", "source"
    }  # fmt: skip
    assert document["actor"]["username"] == "alice@example.com"
    assert document["source"] == {"kind": "api"}
    assert document["sample_payloads"] == SAMPLES
    assert document["config"]["autoscaling"]["max_capacity"] == 3


def test_starting_locks_the_environment(serving: Serving) -> None:
    serving.register()

    deployment = serving.deploy().body

    [environment] = [item for item in serving.items() if item["sk"]["S"] == "ENV#staging"]
    assert environment["status"]["S"] == "deploying"
    assert environment["active_deployment_id"]["S"] == deployment["deployment_id"]


def test_the_version_s_own_samples_file_is_enough(serving: Serving) -> None:
    serving.register(sample_payloads_uri=f"s3://{ARTIFACT_BUCKET}/{SAMPLES_KEY}")

    response = serving.deploy(deploy_body(sample_payloads=None))

    assert response.status == 202, response.body


def test_a_serverless_deployment_has_no_instance_settings(serving: Serving) -> None:
    serving.register()

    response = serving.deploy(deploy_body(serverless={"memory_size_mb": 2048, "max_concurrency": 10}))

    assert response.status == 202, response.body
    assert response.body["config"]["instance_type"] is None
    assert response.body["config"]["serverless"] == {"memory_size_mb": 2048, "max_concurrency": 10}


def test_a_retry_with_the_same_idempotency_key_answers_the_first_deployment(serving: Serving) -> None:
    serving.register()
    headers = {"Idempotency-Key": "deploy-once-0001"}

    first = serving.deploy(headers=headers)
    second = serving.deploy(headers=headers)

    assert (first.status, second.status) == (202, 202)
    assert second.body["deployment_id"] == first.body["deployment_id"]
    assert len(serving.executions()) == 1


# -- refusals -------------------------------------------------------------------------------------


def test_a_pending_version_is_refused(serving: Serving, unchanged: Unchanged) -> None:
    serving.register(approve=False)

    with unchanged:
        response = serving.deploy()

    assert_refused(response, 409, "version_not_approved")
    assert response.body["error"]["details"] == [
        {"environment": "staging", "approval_status": "PendingManualApproval"}
    ]
    assert serving.executions() == []


def test_a_retired_version_is_refused(serving: Serving, unchanged: Unchanged) -> None:
    serving.register()
    serving.registry.retire(1)

    with unchanged:
        response = serving.deploy()

    assert_refused(response, 409, "version_retired")


def test_a_missing_version_is_refused(serving: Serving, unchanged: Unchanged) -> None:
    serving.register()

    with unchanged:
        response = serving.deploy(deploy_body(version=7))

    assert_refused(response, 404, "version_not_found")


def test_a_data_scientist_may_not_deploy(serving: Serving, unchanged: Unchanged) -> None:
    serving.register()

    with unchanged:
        response = serving.deploy(claims=DATA_SCIENTIST)

    assert_refused(response, 403, "access_denied")
    assert response.body["error"]["details"][0]["action"] == "DeployModel"


def test_a_second_deployment_to_a_busy_environment_is_refused(serving: Serving, unchanged: Unchanged) -> None:
    serving.register()
    running = serving.deploy().body

    with unchanged:
        response = serving.deploy()

    assert_refused(response, 409, "deployment_in_progress")
    assert response.body["error"]["details"][0]["active_deployment_id"] == running["deployment_id"]


def test_another_environment_is_not_busy(serving: Serving) -> None:
    serving.register()
    serving.deploy()

    assert serving.deploy(deploy_body(environment="dev")).status == 202


def test_a_version_without_samples_is_refused(serving: Serving, unchanged: Unchanged) -> None:
    serving.register()

    with unchanged:
        response = serving.deploy(deploy_body(sample_payloads=None))

    assert_refused(response, 422, "no_sample_payloads")


def test_a_version_whose_archive_has_no_inference_script_is_refused(
    serving: Serving, aws: AwsResources, unchanged: Unchanged
) -> None:
    aws.s3.put_object(
        Bucket=ARTIFACT_BUCKET, Key="models/bare/model.tar.gz", Body=archive({"model.json": b"{}"})
    )
    serving.register(artifact_location=f"s3://{ARTIFACT_BUCKET}/models/bare/model.tar.gz")

    with unchanged:
        response = serving.deploy()

    assert_refused(response, 422, "unservable_version")
    assert response.body["error"]["details"][0]["reason"] == "no_inference_script"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"serverless": {"memory_size_mb": 2048, "max_concurrency": 5}, "instance_type": "ml.c5.xlarge"},
         "body"),
        ({"serverless": {"memory_size_mb": 2048, "max_concurrency": 5}, "autoscaling": {
            "min_capacity": 1, "max_capacity": 2, "target_invocations_per_instance": 10}}, "body"),
        ({"serverless": {"memory_size_mb": 1500, "max_concurrency": 5}}, "body.serverless.memory_size_mb"),
        ({"serverless": {"memory_size_mb": 7168, "max_concurrency": 5}}, "body.serverless.memory_size_mb"),
        ({"serverless": {"memory_size_mb": 1024, "max_concurrency": 201}}, "body.serverless.max_concurrency"),
        ({"instance_type": "m5.large"}, "body.instance_type"),
        ({"initial_instance_count": 0}, "body.initial_instance_count"),
        ({"initial_instance_count": 21}, "body.initial_instance_count"),
        ({"autoscaling": {"min_capacity": 3, "max_capacity": 2, "target_invocations_per_instance": 10}},
         "body.autoscaling"),
        ({"autoscaling": {"min_capacity": 1, "max_capacity": 21, "target_invocations_per_instance": 10}},
         "body.autoscaling.max_capacity"),
        ({"autoscaling": {"min_capacity": 1, "max_capacity": 2, "target_invocations_per_instance": 0}},
         "body.autoscaling.target_invocations_per_instance"),
        ({"data_capture_percentage": 101}, "body.data_capture_percentage"),
        ({"environment": "production"}, "body.environment"),
        ({"sample_payloads": [{"content_type": "text/plain", "body": "x"}]},
         "body.sample_payloads.0.content_type"),
        ({"sample_payloads": SAMPLES * 21}, "body.sample_payloads"),
        ({"surprise": True}, "body.surprise"),
    ],
)  # fmt: skip
def test_an_invalid_request_is_refused_naming_the_field(
    serving: Serving, unchanged: Unchanged, fields: dict[str, Any], field: str
) -> None:
    serving.register()

    with unchanged:
        response = serving.deploy(deploy_body(**fields))

    assert_refused(response, 422, "validation_error")
    assert any(detail["field"].startswith(field) for detail in response.body["error"]["details"]), (
        response.body
    )
