"""The edge package machine's steps, and verifying what they built: on KMS and offline, on a device.

A built package's manifest lists every file with its SHA-256 and size, the manifest is signed by the
KMS key, and changing any byte of any file (or the manifest) is caught and named.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from cirrus.edge import verify_directory
from cirrus_core.errors import EdgeCompilationFailed, EdgeStepError
from cirrus_core.serving.edge import compilation_request, failure_cause
from tests.support.aws import ARTIFACT_BUCKET, AwsResources
from tests.support.events import assert_valid_event
from tests.support.registry import MODEL_ID
from tests.unit.serving.edge_support import MODEL, POLL, ROLE_ARN, EdgeWorld, sample_body

COMPILED = "compiled/model-rasp3b.tar.gz"
FILES = [COMPILED, "public_key.pem", "recipe.json"]


@pytest.fixture
def world(aws: AwsResources, monkeypatch: pytest.MonkeyPatch) -> EdgeWorld:
    return EdgeWorld(aws, monkeypatch)


@pytest.fixture
def package(world: EdgeWorld) -> dict[str, Any]:
    return world.ready_package()


def download(world: EdgeWorld, package: dict[str, Any], target: Path) -> Path:
    """The package folder as `aws s3 cp --recursive` leaves it."""
    for name in [*FILES, "manifest.json", "manifest.sig"]:
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(world.read(package, name))
    return target


# -- building ------------------------------------------------------------------------------------------


def test_a_built_package_is_ready_with_its_manifest_recipe_and_signature(
    world: EdgeWorld, package: dict[str, Any]
) -> None:
    assert package["status"] == "ready"
    assert package["compiled_artifact_uri"] == f"{package['package_uri']}{COMPILED}"
    assert package["manifest_sha256"] == hashlib.sha256(world.read(package, "manifest.json")).hexdigest()
    assert package["signing"]["algorithm"] == "ECDSA_SHA_256"
    assert package["signing"]["key_id"] == world.key_id
    assert package["manifest"]["package_id"] == package["package_id"]
    assert package["recipe"]["ComponentName"] == "com.cirrus.fraud_detection_v2"
    assert package["finished_at"] is not None


def test_the_manifest_lists_every_file_with_the_hash_and_size_of_what_is_in_s3(
    world: EdgeWorld, package: dict[str, Any]
) -> None:
    manifest = json.loads(world.read(package, "manifest.json"))

    assert [artifact["name"] for artifact in manifest["artifacts"]] == FILES
    for artifact in manifest["artifacts"]:
        content = world.read(package, artifact["name"])
        assert artifact["sha256"] == hashlib.sha256(content).hexdigest()
        assert artifact["size"] == len(content)


def test_the_emulated_compilation_packages_the_model_unchanged_and_says_so(
    world: EdgeWorld, package: dict[str, Any]
) -> None:
    manifest = json.loads(world.read(package, "manifest.json"))

    assert world.read(package, COMPILED) == MODEL
    assert manifest["compilation"] == package["compilation"] == "emulated"
    assert "packaged unchanged" in manifest["compilation_note"]
    assert "packaged unchanged" in package["recipe"]["ComponentDescription"]


def test_the_manifest_is_signed_by_the_kms_key_over_its_exact_bytes(
    world: EdgeWorld, package: dict[str, Any]
) -> None:
    data, signature = world.read(package, "manifest.json"), world.read(package, "manifest.sig")

    verified = world.kms.verify(
        KeyId=world.key_id,
        Message=data,
        MessageType="RAW",
        Signature=signature,
        SigningAlgorithm="ECDSA_SHA_256",
    )

    assert verified["SignatureValid"] is True
    # Canonical JSON: what was signed is what any verifier re-serialises.
    assert data == json.dumps(json.loads(data), sort_keys=True, separators=(",", ":")).encode()


def test_the_recipe_is_a_greengrass_v2_component_for_the_targets_platform(
    world: EdgeWorld, package: dict[str, Any]
) -> None:
    recipe = json.loads(world.read(package, "recipe.json"))

    assert recipe["RecipeFormatVersion"] == "2020-01-25"
    assert recipe["ComponentVersion"] == "1.0.0"
    (manifest,) = recipe["Manifests"]
    assert manifest["Platform"] == {"os": "linux", "architecture": "arm"}  # rasp3b
    uris = [artifact["URI"] for artifact in manifest["Artifacts"]]
    assert uris[0] == package["compiled_artifact_uri"]
    assert {uri.rsplit("/", 1)[-1] for uri in uris[1:]} == {"manifest.json", "manifest.sig", "public_key.pem"}
    assert all(artifact["Unarchive"] == "NONE" for artifact in manifest["Artifacts"])
    assert "tar -xzf {artifacts:path}/model-rasp3b.tar.gz" in manifest["Lifecycle"]["Install"]["Script"]
    assert manifest["Lifecycle"]["Run"]["Script"]


def test_the_public_key_artifact_is_the_kms_keys_public_half(
    world: EdgeWorld, package: dict[str, Any]
) -> None:
    pem = world.read(package, "public_key.pem")

    der = serialization.load_pem_public_key(pem).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert der == world.public_key_der()
    assert package["public_key_pem"] == pem.decode()


def test_ready_publishes_a_schema_valid_edge_package_created(
    world: EdgeWorld, package: dict[str, Any]
) -> None:
    (event,) = [e for e in world.aws.published_events() if e["detail-type"] == "edge.package_created"]

    assert_valid_event(event)
    assert event["source"] == "cirrus.serving"
    data = event["detail"]["data"]
    assert (data["package_id"], data["compilation"], data["target"]) == (
        package["package_id"],
        "emulated",
        "rasp3b",
    )
    assert data["manifest_sha256"] == package["manifest_sha256"]
    assert event["detail"]["metadata"]["actor"] == "alice@example.com"


def test_the_compilation_request_is_neos(world: EdgeWorld) -> None:
    world.registry.register_approved(1)
    created = world.created(target_device=None, target_platform={"os": "LINUX", "arch": "X86_64"})

    world.steps.start_compilation({"package_id": created["package_id"], "model_id": MODEL_ID})

    (request,) = world.neo.requests
    assert request["CompilationJobName"] == created["compilation_job_name"]
    assert request["RoleArn"] == ROLE_ARN
    assert request["InputConfig"] == {
        "S3Uri": f"s3://{ARTIFACT_BUCKET}/models/{MODEL_ID}/model.tar.gz",
        "DataInputConfig": sample_body()["data_input_config"],
        "Framework": "XGBOOST",
    }
    assert request["OutputConfig"] == {
        "S3OutputLocation": f"{created['package_uri']}compiled/",
        "TargetPlatform": {"Os": "LINUX", "Arch": "X86_64"},
    }
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 900}
    assert world.get(created["package_id"]).body["status"] == "compiling"


def test_framework_version_reaches_neo_for_frameworks_that_take_it(world: EdgeWorld) -> None:
    world.registry.register_approved(1)
    created = world.created(framework="PYTORCH", framework_version="2.0")

    request = compilation_request(world.store.get(MODEL_ID, created["package_id"]), ROLE_ARN)  # type: ignore[arg-type]

    assert request["InputConfig"]["FrameworkVersion"] == "2.0"


# -- compilation that does not end well ------------------------------------------------------------------


def started(world: EdgeWorld) -> tuple[dict[str, str], dict[str, Any]]:
    world.registry.register_approved(1)
    ids = {"package_id": world.created()["package_id"], "model_id": MODEL_ID}
    return ids, world.steps.start_compilation(ids)


def test_a_failed_compilation_raises_with_neos_reason(world: EdgeWorld) -> None:
    ids, state = started(world)
    world.neo.status, world.neo.failure_reason = "FAILED", "ClientError: InputConfiguration: bad shape"

    with pytest.raises(
        EdgeCompilationFailed, match="ended FAILED: ClientError: InputConfiguration: bad shape"
    ):
        world.steps.check_compilation({**ids, **state, "max_attempts": POLL["max_attempts"]})


def test_polls_are_bounded(world: EdgeWorld) -> None:
    ids, state = started(world)
    world.neo.status = "INPROGRESS"

    for _ in range(POLL["max_attempts"] - 1):
        state = world.steps.check_compilation({**ids, **state, "max_attempts": POLL["max_attempts"]})
        assert state["done"] is False
    with pytest.raises(EdgeCompilationFailed, match="still INPROGRESS after 3 checks"):
        world.steps.check_compilation({**ids, **state, "max_attempts": POLL["max_attempts"]})


def test_a_failure_is_recorded_with_the_step_and_the_lambdas_message(world: EdgeWorld) -> None:
    ids, _ = started(world)
    cause = json.dumps(
        {"errorMessage": "Compilation job x ended FAILED: bad shape", "errorType": "EdgeCompilationFailed"}
    )

    recorded = world.steps.record_failure(
        {**ids, "error": {"Error": "EdgeCompilationFailed", "Cause": cause}}
    )

    package = world.get(ids["package_id"]).body
    assert (package["status"], package["failed_step"]) == ("failed", "Compile")
    assert package["cause"] == "EdgeCompilationFailed: Compilation job x ended FAILED: bad shape"
    assert recorded["status"] == "failed"


def test_a_failed_package_is_never_built_afterwards(world: EdgeWorld) -> None:
    ids, state = started(world)
    world.steps.record_failure({**ids, "error": {"Error": "States.Timeout"}})
    checked = world.steps.check_compilation({**ids, **state, "max_attempts": 3})

    with pytest.raises(EdgeStepError):
        world.steps.build_component({**ids, "artifact": checked["artifact"]})
    assert world.get(ids["package_id"]).body["status"] == "failed"


def test_an_artifact_outside_the_package_folder_is_refused(world: EdgeWorld) -> None:
    ids, _ = started(world)

    with pytest.raises(EdgeStepError, match="not in the package's compiled/ folder"):
        world.steps.build_component(
            {**ids, "artifact": f"s3://{ARTIFACT_BUCKET}/models/{MODEL_ID}/model.tar.gz"}
        )


def test_failure_causes_read_as_sentences() -> None:
    assert failure_cause({"Error": "States.Timeout"}) == "States.Timeout"
    assert (
        failure_cause({"Error": "States.TaskFailed", "Cause": "plain words"})
        == "States.TaskFailed: plain words"
    )


# -- server-side verification ----------------------------------------------------------------------------


def test_an_untouched_package_verifies(world: EdgeWorld, package: dict[str, Any]) -> None:
    report = world.verify(package["package_id"]).body

    assert (report["valid"], report["signature_valid"], report["problems"]) == (True, True, [])
    assert [check["name"] for check in report["artifacts"]] == FILES
    assert all(
        check["ok"] and check["actual_sha256"] == check["expected_sha256"] for check in report["artifacts"]
    )


@pytest.mark.parametrize("name", FILES)
def test_a_tampered_artifact_fails_verification_and_is_named(
    world: EdgeWorld, package: dict[str, Any], name: str
) -> None:
    world.overwrite(package, name, world.read(package, name) + b"\x00")

    response = world.verify(package["package_id"])

    assert response.status == 200
    report = response.body
    assert (report["valid"], report["signature_valid"]) == (False, True)
    (bad,) = [check for check in report["artifacts"] if not check["ok"]]
    assert bad["name"] == name
    assert bad["actual_sha256"] != bad["expected_sha256"]
    assert any(name in problem for problem in report["problems"])


def test_a_deleted_artifact_is_reported_missing(world: EdgeWorld, package: dict[str, Any]) -> None:
    world.aws.s3.delete_object(Bucket=ARTIFACT_BUCKET, Key=world.key(package, COMPILED))

    report = world.verify(package["package_id"]).body

    assert report["valid"] is False
    (bad,) = [check for check in report["artifacts"] if not check["ok"]]
    assert (bad["name"], bad["actual_sha256"]) == (COMPILED, None)


def test_a_rewritten_manifest_fails_its_signature(world: EdgeWorld, package: dict[str, Any]) -> None:
    # An attacker swaps the model and fixes its hash in the manifest; they cannot sign it again.
    world.overwrite(package, COMPILED, b"malicious model")
    manifest = json.loads(world.read(package, "manifest.json"))
    manifest["artifacts"][0]["sha256"] = hashlib.sha256(b"malicious model").hexdigest()
    world.overwrite(
        package, "manifest.json", json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    )

    report = world.verify(package["package_id"]).body

    assert (report["valid"], report["signature_valid"]) == (False, False)
    assert all(check["ok"] for check in report["artifacts"])
    assert any("signature does not verify" in problem for problem in report["problems"])
    assert any("differs from the manifest recorded" in problem for problem in report["problems"])


def test_a_missing_signature_is_reported(world: EdgeWorld, package: dict[str, Any]) -> None:
    world.aws.s3.delete_object(Bucket=ARTIFACT_BUCKET, Key=world.key(package, "manifest.sig"))

    report = world.verify(package["package_id"]).body

    assert (report["valid"], report["signature_valid"]) == (False, False)
    assert "manifest.sig is missing." in report["problems"]


# -- offline verification (cirrus edge verify --dir) ------------------------------------------------------


def test_a_downloaded_package_verifies_offline_with_the_platforms_public_key(
    world: EdgeWorld, package: dict[str, Any], tmp_path: Path
) -> None:
    folder = download(world, package, tmp_path)

    report = verify_directory(folder, public_key_pem=package["public_key_pem"].encode())

    assert (report.valid, report.signature_valid, report.problems, report.notes) == (True, True, [], [])


def test_offline_a_tampered_file_fails_and_is_named(
    world: EdgeWorld, package: dict[str, Any], tmp_path: Path
) -> None:
    folder = download(world, package, tmp_path)
    (folder / "recipe.json").write_text('{"ComponentName": "evil"}')

    report = verify_directory(folder, public_key_pem=package["public_key_pem"].encode())

    assert (report.valid, report.signature_valid) == (False, True)
    assert [check.name for check in report.artifacts if not check.ok] == ["recipe.json"]


def test_offline_another_key_is_refused(world: EdgeWorld, package: dict[str, Any], tmp_path: Path) -> None:
    folder = download(world, package, tmp_path)
    other = world.kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    other_pem = serialization.load_der_public_key(
        world.kms.get_public_key(KeyId=other)["PublicKey"]
    ).public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    report = verify_directory(folder, public_key_pem=other_pem)

    assert (report.valid, report.signature_valid) == (False, False)
    assert "The public key is not the key the manifest names as its signer." in report.problems


def test_offline_without_a_key_the_bundled_one_proves_integrity_only(
    world: EdgeWorld, package: dict[str, Any], tmp_path: Path
) -> None:
    report = verify_directory(download(world, package, tmp_path))

    assert report.valid is True
    assert len(report.notes) == 1
    assert "not who signed them" in report.notes[0]
