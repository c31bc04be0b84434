"""POST/GET /models/{model_id}/edge-packages: a package of an approved version, recorded and started.

Every refusal (policies, the version's state, a bad target or input shape) answers a machine-readable
4xx and writes and starts nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from cirrus_core.audit.log import AuditLog
from tests.support.authz import claims
from tests.support.aws import ARTIFACT_BUCKET, TABLE_NAMES, AwsResources
from tests.support.registry import MODEL_ID
from tests.unit.serving.edge_support import STATE_MACHINE, EdgeWorld, sample_body


@pytest.fixture
def world(aws: AwsResources, monkeypatch: pytest.MonkeyPatch) -> EdgeWorld:
    return EdgeWorld(aws, monkeypatch)


@pytest.fixture
def approved(world: EdgeWorld) -> EdgeWorld:
    """Version 1 registered by alice (ml_engineer) and approved by bob (model_reviewer)."""
    world.registry.register_approved(1)
    return world


class Untouched:
    """Asserts, on exit, that no table changed and no execution started."""

    def __init__(self, world: EdgeWorld) -> None:
        self.world = world

    def __enter__(self) -> None:
        self.before = self.world.aws.table_items()

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            assert self.world.aws.table_items() == self.before
            assert self.world.executions() == []


@pytest.fixture
def untouched(approved: EdgeWorld) -> Untouched:
    return Untouched(approved)


# -- creating ---------------------------------------------------------------------------------------------


def test_a_package_of_an_approved_version_is_recorded_and_its_machine_started(approved: EdgeWorld) -> None:
    response = approved.create()

    assert response.status == 202, response.body
    package = response.body
    package_id = package["package_id"]
    assert (package["model_id"], package["version"], package["status"]) == (MODEL_ID, 1, "pending")
    assert package["compilation_job_name"] == f"fraud-detection-v2-edge-{package_id[:12]}"
    assert (package["component_name"], package["component_version"]) == (
        "com.cirrus.fraud_detection_v2",
        "1.0.0",
    )
    assert package["package_uri"] == f"s3://{ARTIFACT_BUCKET}/edge/{MODEL_ID}/{package_id}/"
    assert package["manifest_uri"] == f"{package['package_uri']}manifest.json"
    assert package["model_artifact"] == f"s3://{ARTIFACT_BUCKET}/models/{MODEL_ID}/model.tar.gz"
    assert package["links"]["verification"].endswith(f"/edge-packages/{package_id}/verification")
    (execution,) = approved.executions()
    assert execution["name"] == package_id
    assert package["execution_arn"] == execution["executionArn"]
    assert approved.execution_input(execution["executionArn"]) == {
        "package_id": package_id,
        "model_id": MODEL_ID,
        "poll": {"seconds": 1, "max_attempts": 3},
    }
    assert STATE_MACHINE in execution["stateMachineArn"]


def test_the_package_and_the_audit_record_of_its_request_are_written_together(
    approved: EdgeWorld, aws: AwsResources
) -> None:
    package = approved.create().body

    stored = approved.get(package["package_id"]).body
    assert stored["status"] == "pending"
    assert {key: value for key, value in stored["request"].items() if value is not None} == sample_body()
    records = [record for _, record in AuditLog(aws.dynamodb, TABLE_NAMES["AuditTable"]).iter_chain()]
    (record,) = [r for r in records if r is not None and r.action == "create_edge_package"]
    assert record.resource == f"model/{MODEL_ID}/edge-package/{package['package_id']}"
    assert record.actor == "alice@example.com"


def test_on_the_local_cloud_the_package_says_its_compilation_is_emulated(approved: EdgeWorld) -> None:
    package = approved.create().body

    assert package["compilation"] == "emulated"
    assert "packaged unchanged" in package["compilation_note"]
    assert "rasp3b" in package["compilation_note"]


def test_on_aws_the_package_says_neo_compiles_it(aws: AwsResources, monkeypatch: pytest.MonkeyPatch) -> None:
    world = EdgeWorld(aws, monkeypatch, local_cloud=False)
    world.registry.register_approved(1)

    package = world.create().body

    assert package["compilation"] == "neo"
    assert package["compilation_note"] == "Compiled by SageMaker Neo for rasp3b."


def test_a_target_platform_and_a_component_name_are_taken(approved: EdgeWorld) -> None:
    platform = {"os": "LINUX", "arch": "ARM64", "accelerator": "NVIDIA"}
    body = sample_body(target_device=None, target_platform=platform, component_name="com.example.fraud")

    package = approved.create(body=body).body

    assert package["request"]["target_platform"] == platform
    assert package["component_name"] == "com.example.fraud"
    assert "LINUX_ARM64_NVIDIA" in package["compilation_note"]


def test_an_idempotency_key_makes_a_retry_answer_the_first_package(approved: EdgeWorld) -> None:
    headers = {"Idempotency-Key": "edge-retry-0001"}

    first = approved.create(headers=headers).body
    second = approved.create(headers=headers).body

    assert second["package_id"] == first["package_id"]
    assert len(approved.executions()) == 1


# -- refusals -----------------------------------------------------------------------------------------------


def test_an_unapproved_version_is_409_and_nothing_is_written(world: EdgeWorld) -> None:
    world.registry.register()
    guard = Untouched(world)

    with guard:
        response = world.create()

    assert (response.status, response.error_code) == (409, "version_not_approved")


def test_a_retired_version_is_409(approved: EdgeWorld) -> None:
    approved.registry.register_approved(1)  # version 2 keeps the model alive
    approved.registry.retire(1)

    with Untouched(approved):
        response = approved.create()

    assert (response.status, response.error_code) == (409, "version_retired")


def test_an_unknown_version_or_model_is_404(untouched: Untouched, approved: EdgeWorld) -> None:
    with untouched:
        missing_version = approved.create(body=sample_body(version=9))
        missing_model = approved.create(path={"model_id": "no_such_model"})

    assert (missing_version.status, missing_version.error_code) == (404, "version_not_found")
    assert (missing_model.status, missing_model.error_code) == (404, "model_not_found")


@pytest.mark.parametrize("role", ["data_scientist", "model_reviewer"])
def test_roles_without_model_deploy_are_403(untouched: Untouched, approved: EdgeWorld, role: str) -> None:
    with untouched:
        response = approved.create(claims=claims(role))

    assert (response.status, response.error_code) == (403, "access_denied")
    assert response.body["error"]["details"][0]["action"] == "CreateEdgePackage"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"target_device": "ml_c5"}, "body.target_device"),  # a cloud instance, not an edge device
        ({"target_device": None}, "body"),  # no target at all
        ({"target_platform": {"os": "LINUX", "arch": "ARM64"}}, "body"),  # two targets
        (
            {"target_device": None, "target_platform": {"os": "ANDROID", "arch": "ARM64"}},
            "body.target_platform.os",
        ),
        ({"framework": "DARKNET"}, "body.framework"),
        ({"framework_version": "1.7"}, "body"),  # XGBOOST takes no FrameworkVersion
        ({"data_input_config": "not json"}, "body.data_input_config"),
        ({"data_input_config": "[1, 30]"}, "body.data_input_config"),
        ({"data_input_config": '{"data": [1, 0]}'}, "body.data_input_config"),
        ({"data_input_config": '{"data": "1,30"}'}, "body.data_input_config"),
        ({"component_name": "com cirrus"}, "body.component_name"),
        ({"version": 0}, "body.version"),
        ({"unexpected": True}, "body.unexpected"),
    ],
)
def test_a_bad_request_is_422_naming_the_field(
    untouched: Untouched, approved: EdgeWorld, changes: dict[str, Any], field: str
) -> None:
    with untouched:
        response = approved.create(body=sample_body(**changes))

    assert (response.status, response.error_code) == (422, "validation_error")
    assert field in {detail["field"] for detail in response.body["error"]["details"]}


# -- reading -------------------------------------------------------------------------------------------------


def test_packages_are_listed_page_by_page(approved: EdgeWorld) -> None:
    created = {approved.create().body["package_id"] for _ in range(3)}

    first = approved.list_packages(query={"limit": "2"}).body
    second = approved.list_packages(query={"limit": "2", "next_token": first["next_token"]}).body

    assert len(first["items"]) == 2
    assert second["next_token"] is None
    assert {item["package_id"] for item in first["items"] + second["items"]} == created


def test_every_role_reads_packages(approved: EdgeWorld) -> None:
    package_id = approved.create().body["package_id"]

    for role in ("data_scientist", "model_reviewer", "admin"):
        assert approved.get(package_id, claims=claims(role)).status == 200
        assert approved.list_packages(claims=claims(role)).status == 200


def test_an_unknown_package_is_404(approved: EdgeWorld) -> None:
    response = approved.get("0" * 32)

    assert (response.status, response.error_code) == (404, "edge_package_not_found")


def test_a_package_still_building_cannot_be_verified(approved: EdgeWorld) -> None:
    package_id = approved.create().body["package_id"]

    response = approved.verify(package_id)

    assert (response.status, response.error_code) == (409, "edge_package_not_ready")


def test_a_bad_page_token_is_400(approved: EdgeWorld) -> None:
    response = approved.list_packages(query={"next_token": "not-a-token"})

    assert (response.status, response.error_code) == (400, "invalid_next_token")
