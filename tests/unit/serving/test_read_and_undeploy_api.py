"""GET the deployments of a model, GET one deployment, DELETE (undeploy) an environment."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3

from cirrus_core.registry.models import Environment
from cirrus_core.serving.deployment_models import EnvironmentState, EnvironmentStatus
from cirrus_core.serving.deployment_wiring import deployment_store
from tests.support.api import call
from tests.support.authz import caller
from tests.support.registry import MODEL_ID, Unchanged
from tests.unit.registry.registration import assert_refused
from tests.unit.serving.support import Serving, deploy_body

REVIEWER = {
    "sub": "0b6c4f0e-9d1a-4c55-8f3e-5a2b7c9d1e2f",
    "cognito:username": "bob@example.com",
    "cognito:groups": "model_reviewer",
}


def _deployed(serving: Serving, environment: str = "staging") -> str:
    """Put `environment` in the deployed state, as a finished deployment leaves it; its endpoint name."""
    from cirrus_core.registry.wiring import registry_service

    serving.register()
    registry_service().promote(MODEL_ID, 1, Environment(environment), "deployed", caller("ml_engineer"))
    endpoint = f"fraud-detection-v2-{environment}"
    sagemaker = boto3.client("sagemaker", region_name="us-east-1")
    sagemaker.create_model(
        ModelName="fraud-detection-v2-v1",
        PrimaryContainer={"Image": "image", "ModelDataUrl": "s3://x/model.tar.gz"},
        ExecutionRoleArn="arn:aws:iam::123456789012:role/cirrus-test-sagemaker",
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=f"{endpoint}-v1-0",
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": "fraud-detection-v2-v1", "InstanceType": "ml.m5.large",
             "InitialInstanceCount": 1}
        ],
    )  # fmt: skip
    sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=f"{endpoint}-v1-0")
    store = deployment_store()
    item = EnvironmentState(
        environment=Environment(environment),
        status=EnvironmentStatus.DEPLOYED,
        version=1,
        endpoint_name=endpoint,
        endpoint_config_name=f"{endpoint}-v1-0",
        deployment_id="0" * 32,
        updated_at=datetime.now(UTC),
    )
    store._client.put_item(
        TableName="cirrus-test-serving",
        Item={"pk": {"S": f"MODEL#{MODEL_ID}"}, "sk": {"S": f"ENV#{environment}"}, **_item(item)},
    )
    return endpoint


def _item(state: EnvironmentState) -> dict[str, object]:
    from cirrus_core.serving.deployment_store import _environment_item

    return _environment_item(state)


# -- reading --------------------------------------------------------------------------------------


def test_every_role_lists_a_model_s_deployments_newest_first(serving: Serving) -> None:
    serving.register()
    first = serving.deploy().body
    second = serving.deploy(deploy_body(environment="dev")).body

    response = call("list_deployments", package="serving", claims=REVIEWER)

    assert response.status == 200, response.body
    assert [item["deployment_id"] for item in response.body["items"]] == [
        second["deployment_id"],
        first["deployment_id"],
    ]
    assert {(env["environment"], env["status"]) for env in response.body["environments"]} == {
        ("dev", "deploying"),
        ("staging", "deploying"),
    }


def test_listing_pages_with_a_token_and_filters_by_environment(serving: Serving) -> None:
    serving.register()
    serving.deploy()
    serving.deploy(deploy_body(environment="dev"))

    first = call("list_deployments", package="serving", query={"limit": "1"})
    second = call(
        "list_deployments", package="serving", query={"limit": "1", "next_token": first.body["next_token"]}
    )
    staging = call("list_deployments", package="serving", query={"environment": "staging"})

    assert len(first.body["items"]) == len(second.body["items"]) == 1
    assert second.body["next_token"] is None
    assert first.body["items"][0]["deployment_id"] != second.body["items"][0]["deployment_id"]
    assert [item["environment"] for item in staging.body["items"]] == ["staging"]


def test_listing_an_unknown_model_is_refused(serving: Serving) -> None:
    response = call("list_deployments", package="serving")

    assert_refused(response, 404, "model_not_found")


def test_a_bad_next_token_is_refused(serving: Serving) -> None:
    serving.register()

    response = call("list_deployments", package="serving", query={"next_token": "bm90IG91cnM"})

    assert_refused(response, 400, "invalid_next_token")


def test_one_deployment_reads_with_its_history(serving: Serving) -> None:
    serving.register()
    started = serving.deploy().body

    response = call("get_deployment", package="serving", path={"deployment": started["deployment_id"]})

    assert response.status == 200, response.body
    assert response.body["history"] == started["history"]
    assert response.body["links"]["self"].endswith(started["deployment_id"])


def test_an_unknown_deployment_is_not_found(serving: Serving) -> None:
    response = call("get_deployment", package="serving", path={"deployment": "a" * 32})

    assert_refused(response, 404, "deployment_not_found")


def test_a_deployment_id_must_be_32_hex_characters(serving: Serving) -> None:
    response = call("get_deployment", package="serving", path={"deployment": "staging"})

    assert_refused(response, 422, "validation_error")


# -- undeploying ----------------------------------------------------------------------------------


def test_undeploying_deletes_the_endpoint_clears_the_alias_and_the_environment(serving: Serving) -> None:
    endpoint = _deployed(serving)

    response = call("undeploy_model", package="serving")

    assert response.status == 200, response.body
    assert (response.body["version"], response.body["endpoint_name"]) == (1, endpoint)
    assert serving.registry.model()["aliases"] == {}
    assert [item for item in serving.items() if item["sk"]["S"].startswith("ENV#")] == []
    endpoints = boto3.client("sagemaker", region_name="us-east-1").list_endpoints()["Endpoints"]
    assert endpoint not in [item["EndpointName"] for item in endpoints]
    undeployed = [
        event for event in serving.aws.published_events() if event["detail-type"] == "model.undeployed"
    ]
    assert [event["detail"]["data"] for event in undeployed] == [
        {"model_id": MODEL_ID, "environment": "staging", "version": 1, "endpoint_name": endpoint}
    ]


def test_undeploying_an_environment_with_nothing_deployed_is_not_found(
    serving: Serving, unchanged: Unchanged
) -> None:
    serving.register()

    with unchanged:
        response = call("undeploy_model", package="serving")

    assert_refused(response, 404, "environment_not_deployed")


def test_undeploying_while_a_deployment_runs_is_refused(serving: Serving, unchanged: Unchanged) -> None:
    serving.register()
    serving.deploy()

    with unchanged:
        response = call("undeploy_model", package="serving")

    assert_refused(response, 409, "deployment_in_progress")


def test_a_reviewer_may_not_undeploy(serving: Serving, unchanged: Unchanged) -> None:
    _deployed(serving)

    with unchanged:
        response = call("undeploy_model", package="serving", claims=REVIEWER)

    assert_refused(response, 403, "access_denied")


def test_an_unknown_environment_is_refused(serving: Serving) -> None:
    response = call("undeploy_model", package="serving", path={"deployment": "production"})

    assert_refused(response, 422, "validation_error")
