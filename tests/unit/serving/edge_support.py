"""What the edge package tests share: the service and steps on moto, a stand-in for Neo, and helpers.

moto's own CompilationJob produces nothing, so `FakeNeo` does what the local cloud's hook does: it
copies the model unchanged to Neo's output name, and reports the job as a test tells it to.
"""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

import functions.serving.edge_create_package as create_module
import functions.serving.edge_get_package as get_module
import functions.serving.edge_list_packages as list_module
import functions.serving.edge_verify_package as verify_module
from cirrus_core.audit.log import AuditLog
from cirrus_core.events import EventPublisher
from cirrus_core.registry.repository import RegistryRepository
from cirrus_core.serving.edge import SIGNING_ALGORITHM, CompilationState, EdgeService, EdgeSteps
from cirrus_core.serving.edge_adapters import KmsSigner, PackageFiles, RegistryRecords, StepFunctionsStarter
from cirrus_core.serving.edge_store import EdgePackageStore
from tests.support.api import ApiResponse, call
from tests.support.aws import ARTIFACT_BUCKET, EVENT_BUS, TABLE_NAMES, AwsResources, load_sample
from tests.support.registry import MODEL_ID, RegistryDriver
from tests.unit.localcloud.sagemaker_support import tarball

REGION = "us-east-1"
STATE_MACHINE = "cirrus-test-edge-package"
STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:123456789012:stateMachine:{STATE_MACHINE}"
ROLE_ARN = "arn:aws:iam::123456789012:role/cirrus-test-edge-compilation"
MODEL_KEY = f"models/{MODEL_ID}/model.tar.gz"  # the sample registration's artifact_location
MODEL = tarball({"xgboost-model": b"booster-bytes", "code/inference.py": b"def model_fn(d): return d\n"})
POLL = {"seconds": 1, "max_attempts": 3}
_SESSION = boto3.session.Session()


def sample_body(**changes: Any) -> dict[str, Any]:
    """The sample create request (version 1 for rasp3b, XGBOOST) with top-level fields changed."""
    body: dict[str, Any] = json.loads(load_sample("api/edge_create_package")["body"])
    body = {**copy.deepcopy(body), **changes}
    return {key: value for key, value in body.items() if value is not None}


@dataclass
class FakeNeo:
    """CreateCompilationJob / DescribeCompilationJob: copies the model to Neo's output name."""

    s3: Any
    status: str = "COMPLETED"
    failure_reason: str | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)

    def start(self, request: Any) -> bool:
        self.requests.append(dict(request))
        source = request["InputConfig"]["S3Uri"].removeprefix(f"s3://{ARTIFACT_BUCKET}/")
        self.s3.copy_object(
            Bucket=ARTIFACT_BUCKET,
            Key=self.output_key(request),
            CopySource={"Bucket": ARTIFACT_BUCKET, "Key": source},
        )
        return True

    @staticmethod
    def output_key(request: Any) -> str:
        output = request["OutputConfig"]
        target = output.get("TargetDevice") or "_".join(output["TargetPlatform"].values())
        prefix = output["S3OutputLocation"].removeprefix(f"s3://{ARTIFACT_BUCKET}/")
        return f"{prefix}model-{target}.tar.gz"

    def describe(self, job_name: str) -> CompilationState:
        request = next(item for item in self.requests if item["CompilationJobName"] == job_name)
        artifact = (
            f"s3://{ARTIFACT_BUCKET}/{self.output_key(request)}" if self.status == "COMPLETED" else None
        )
        return CompilationState(status=self.status, artifact=artifact, failure_reason=self.failure_reason)


class EdgeWorld:
    """The registry with an approved version, a KMS signing key, Step Functions, and the edge service and
    steps wired to them (the handlers' `edge_service` replaced by this one)."""

    def __init__(
        self, aws: AwsResources, monkeypatch: pytest.MonkeyPatch, *, local_cloud: bool = True
    ) -> None:
        self.aws = aws
        self.registry = RegistryDriver(aws)
        self.kms = _SESSION.client("kms", region_name=REGION)
        self.sfn = _SESSION.client("stepfunctions", region_name=REGION)
        self.key_id = self.kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"][
            "Arn"
        ]
        self.sfn.create_state_machine(
            name=STATE_MACHINE,
            definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
            roleArn="arn:aws:iam::123456789012:role/cirrus-test-edge",
        )
        aws.s3.put_object(Bucket=ARTIFACT_BUCKET, Key=MODEL_KEY, Body=MODEL)
        self.files = PackageFiles(aws.s3, ARTIFACT_BUCKET)
        self.signer = KmsSigner(self.kms, self.key_id, SIGNING_ALGORITHM)
        audit = AuditLog(aws.dynamodb, TABLE_NAMES["AuditTable"])
        self.store = EdgePackageStore(aws.dynamodb, TABLE_NAMES["ServingTable"], audit)
        self.service = EdgeService(
            self.store,
            StepFunctionsStarter(self.sfn),
            RegistryRecords(RegistryRepository(aws.dynamodb, TABLE_NAMES["RegistryTable"])),
            self.files,
            self.signer,
            state_machine_arn=STATE_MACHINE_ARN,
            local_cloud=local_cloud,
            poll_seconds=POLL["seconds"],
            max_polls=POLL["max_attempts"],
        )
        self.neo = FakeNeo(aws.s3)
        self.steps = EdgeSteps(
            EdgePackageStore(aws.dynamodb, TABLE_NAMES["ServingTable"]),
            self.neo,
            self.files,
            self.signer,
            EventPublisher(aws.events, EVENT_BUS, "cirrus.serving"),
            role_arn=ROLE_ARN,
        )
        for module in (create_module, get_module, list_module, verify_module):
            monkeypatch.setattr(module, "edge_service", lambda: self.service)

    # -- through the API ------------------------------------------------------------------------------

    def create(self, **parts: Any) -> ApiResponse:
        parts.setdefault("body", sample_body())
        return call("edge_create_package", package="serving", **parts)

    def get(self, package_id: str, **parts: Any) -> ApiResponse:
        return call("edge_get_package", package="serving", path={"package_id": package_id}, **parts)

    def list_packages(self, **parts: Any) -> ApiResponse:
        return call("edge_list_packages", package="serving", **parts)

    def verify(self, package_id: str, **parts: Any) -> ApiResponse:
        return call("edge_verify_package", package="serving", path={"package_id": package_id}, **parts)

    def created(self, **body: Any) -> dict[str, Any]:
        response = self.create(body=sample_body(**body))
        assert response.status == 202, response.body
        return dict(response.body)

    # -- the machine's steps, in order ----------------------------------------------------------------

    def build(self, package_id: str) -> dict[str, Any]:
        """Run the machine's steps as Step Functions would, to `ready`; returns the package as GET shows."""
        ids = {"package_id": package_id, "model_id": MODEL_ID}
        started = self.steps.start_compilation(ids)
        checked = self.steps.check_compilation({**ids, **started, "max_attempts": POLL["max_attempts"]})
        assert checked["done"], checked
        self.steps.build_component({**ids, "artifact": checked["artifact"]})
        response = self.get(package_id)
        assert response.status == 200, response.body
        return dict(response.body)

    def ready_package(self) -> dict[str, Any]:
        """An approved version packaged for rasp3b, built and ready."""
        self.registry.register_approved(1)
        return self.build(self.created()["package_id"])

    # -- straight from the emulated services ----------------------------------------------------------

    def key(self, package: dict[str, Any], name: str) -> str:
        return f"{package['package_uri'].removeprefix(f's3://{ARTIFACT_BUCKET}/')}{name}"

    def read(self, package: dict[str, Any], name: str) -> bytes:
        return bytes(
            self.aws.s3.get_object(Bucket=ARTIFACT_BUCKET, Key=self.key(package, name))["Body"].read()
        )

    def overwrite(self, package: dict[str, Any], name: str, body: bytes) -> None:
        self.aws.s3.put_object(Bucket=ARTIFACT_BUCKET, Key=self.key(package, name), Body=body)

    def executions(self) -> list[dict[str, Any]]:
        return [
            dict(item) for item in self.sfn.list_executions(stateMachineArn=STATE_MACHINE_ARN)["executions"]
        ]

    def execution_input(self, execution_arn: str) -> dict[str, Any]:
        return dict(json.loads(self.sfn.describe_execution(executionArn=execution_arn)["input"]))

    def public_key_der(self) -> bytes:
        return bytes(self.kms.get_public_key(KeyId=self.key_id)["PublicKey"])


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
