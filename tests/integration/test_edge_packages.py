"""Edge packages on the local cloud: the real state machine, Lambda handlers, KMS key and S3 bucket.

Neo is emulated there (the model is packaged unchanged) and the package says so; everything else is
what AWS runs: the signed manifest's hashes match the files in S3, the signature verifies with KMS
and offline with the public key, and a tampered file fails verification with its name.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from cirrus.client import CirrusApiError, CirrusClient
from cirrus.edge import verify_directory
from cirrus.localcloud.cloud import LocalCloud, LocalCloudState
from cirrus_core.serving.edge_models import EdgePackageDetail
from tests.integration.conftest import EventTap
from tests.support.events import assert_valid_event

READY_TIMEOUT_SECONDS = 60
REQUEST = {"target_device": "jetson_nano", "framework": "SKLEARN", "data_input_config": '{"input": [1, 4]}'}


def _model_archive() -> bytes:
    """A small model.tar.gz: no real model is needed to package one."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in {
            "model.joblib": b"weights",
            "code/inference.py": b"def model_fn(d): ...\n",
        }.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


MODEL_ARCHIVE = _model_archive()


def register(clients: dict[str, CirrusClient], state: LocalCloudState, model_id: str, s3: Any) -> int:
    """Register a version as ml_engineer, its artifact in the platform bucket; returns its number."""
    key = f"models/{model_id}/model.tar.gz"
    s3.put_object(Bucket=state.artifact_bucket, Key=key, Body=MODEL_ARCHIVE)
    version = clients["ml_engineer"].register_model(
        {
            "model_name": model_id,
            "model_type": "sklearn",
            "framework_version": "1.5.2",
            "training_metadata": {
                "dataset_version": "ds-1",
                "hyperparameters": {"C": 1.0},
                "metrics": {"f1": 0.9},
            },
            "artifact_location": f"s3://{state.artifact_bucket}/{key}",
        }
    )
    return version.version


def wait_until_built(client: CirrusClient, model_id: str, package_id: str) -> EdgePackageDetail:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while True:
        package = client.get_edge_package(model_id, package_id)
        if package.status in ("ready", "failed"):
            return package
        if time.monotonic() > deadline:
            raise AssertionError(f"package {package_id} still {package.status}")
        time.sleep(0.25)


def refusal(call: Any) -> CirrusApiError:
    with pytest.raises(CirrusApiError) as caught:
        call()
    return caught.value


@pytest.fixture(scope="module")
def s3(local_cloud: LocalCloud) -> Any:
    return local_cloud.emulator.client("s3")


@pytest.fixture(scope="module")
def model_id() -> str:
    return f"it_edge_{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def approved(clients: dict[str, CirrusClient], state: LocalCloudState, model_id: str, s3: Any) -> int:
    """Version 1: registered by the ml_engineer, approved by the model_reviewer."""
    version = register(clients, state, model_id, s3)
    clients["model_reviewer"].approve(model_id, version, "fit for devices")
    return version


@pytest.fixture(scope="module")
def built(
    clients: dict[str, CirrusClient], model_id: str, approved: int, event_tap: EventTap
) -> tuple[EdgePackageDetail, list[dict[str, Any]]]:
    """A package of the approved version, built to the end, and the events published meanwhile."""
    event_tap.drain()
    created = clients["ml_engineer"].create_edge_package(model_id, {"version": approved, **REQUEST})
    assert created.status == "pending"
    package = wait_until_built(clients["ml_engineer"], model_id, created.package_id)
    assert package.status == "ready", package.model_dump_json(indent=1)
    return package, event_tap.drain()


def s3_key(package: EdgePackageDetail, name: str) -> tuple[str, str]:
    bucket, _, prefix = package.package_uri.removeprefix("s3://").partition("/")
    return bucket, f"{prefix}{name}"


def read(s3: Any, package: EdgePackageDetail, name: str) -> bytes:
    bucket, key = s3_key(package, name)
    return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


# -- a package, built ------------------------------------------------------------------------------------


def test_the_manifests_hashes_match_the_files_in_s3(built: tuple[EdgePackageDetail, Any], s3: Any) -> None:
    package, _ = built
    assert package.manifest is not None

    names = [artifact.name for artifact in package.manifest.artifacts]
    assert names == ["compiled/model-jetson_nano.tar.gz", "public_key.pem", "recipe.json"]
    for artifact in package.manifest.artifacts:
        content = read(s3, package, artifact.name)
        assert (hashlib.sha256(content).hexdigest(), len(content)) == (artifact.sha256, artifact.size)


def test_the_package_says_its_compilation_was_emulated(built: tuple[EdgePackageDetail, Any], s3: Any) -> None:
    package, _ = built

    assert package.compilation == "emulated"
    assert "packaged unchanged" in package.compilation_note
    assert package.manifest is not None
    assert package.manifest.compilation == "emulated"
    assert read(s3, package, "compiled/model-jetson_nano.tar.gz") == MODEL_ARCHIVE


def test_the_recipe_is_a_greengrass_component_for_the_device(built: tuple[EdgePackageDetail, Any]) -> None:
    package, _ = built
    assert package.recipe is not None

    assert package.recipe["ComponentName"] == package.component_name
    assert package.recipe["ComponentVersion"] == "1.0.0"
    assert package.recipe["Manifests"][0]["Platform"] == {"os": "linux", "architecture": "aarch64"}


def test_the_signature_verifies_on_the_server(
    clients: dict[str, CirrusClient], built: tuple[EdgePackageDetail, Any], model_id: str
) -> None:
    package, _ = built

    report = clients["data_scientist"].verify_edge_package(model_id, package.package_id)

    assert (report.valid, report.signature_valid, report.problems) == (True, True, [])
    assert all(check.ok for check in report.artifacts)


def test_the_package_verifies_offline_with_the_public_key(
    built: tuple[EdgePackageDetail, Any], s3: Any, tmp_path: Path
) -> None:
    package, _ = built
    assert package.manifest is not None
    assert package.public_key_pem is not None
    for name in [artifact.name for artifact in package.manifest.artifacts] + [
        "manifest.json",
        "manifest.sig",
    ]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(read(s3, package, name))

    report = verify_directory(tmp_path, public_key_pem=package.public_key_pem.encode())

    assert (report.valid, report.problems) == (True, [])


def test_ready_publishes_edge_package_created(built: tuple[EdgePackageDetail, list[dict[str, Any]]]) -> None:
    package, events = built

    (event,) = [e for e in events if e["detail-type"] == "edge.package_created"]
    assert_valid_event(event)
    assert event["detail"]["data"]["package_id"] == package.package_id
    assert event["detail"]["data"]["compilation"] == "emulated"


def test_a_tampered_artifact_fails_verification_with_its_name(
    clients: dict[str, CirrusClient], built: tuple[EdgePackageDetail, Any], model_id: str, s3: Any
) -> None:
    package, _ = built
    bucket, key = s3_key(package, "compiled/model-jetson_nano.tar.gz")
    s3.put_object(Bucket=bucket, Key=key, Body=b"not the model that was signed")

    report = clients["ml_engineer"].verify_edge_package(model_id, package.package_id)

    assert (report.valid, report.signature_valid) == (False, True)
    assert [check.name for check in report.artifacts if not check.ok] == ["compiled/model-jetson_nano.tar.gz"]
    assert any("compiled/model-jetson_nano.tar.gz" in problem for problem in report.problems)


# -- refusals -------------------------------------------------------------------------------------------


def test_an_unapproved_version_is_409(
    clients: dict[str, CirrusClient], state: LocalCloudState, model_id: str, approved: int, s3: Any
) -> None:
    pending = register(clients, state, model_id, s3)

    error = refusal(
        lambda: clients["ml_engineer"].create_edge_package(model_id, {"version": pending, **REQUEST})
    )

    assert (error.status, error.code) == (409, "version_not_approved")
    assert all(item.version != pending for item in clients["ml_engineer"].list_edge_packages(model_id).items)


def test_a_target_that_is_not_an_edge_device_is_422(
    clients: dict[str, CirrusClient], model_id: str, approved: int
) -> None:
    body = {"version": approved, **REQUEST, "target_device": "ml_c5"}

    error = refusal(lambda: clients["ml_engineer"].create_edge_package(model_id, body))

    assert (error.status, error.code) == (422, "validation_error")
    assert "body.target_device" in {detail["field"] for detail in error.details}


def test_a_data_scientist_may_not_build_packages(
    clients: dict[str, CirrusClient], model_id: str, approved: int
) -> None:
    error = refusal(
        lambda: clients["data_scientist"].create_edge_package(model_id, {"version": approved, **REQUEST})
    )

    assert (error.status, error.code) == (403, "access_denied")
