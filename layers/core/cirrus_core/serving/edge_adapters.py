"""AWS adapters of edge packages: SageMaker Neo, the package's S3 folder, the KMS signing key,
Step Functions and the registry's records. Each wraps one injected boto3 client."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from cirrus_core.serving.edge import CompilationState
from cirrus_core.serving.edge_manifest import Sha256Sink

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_stepfunctions import SFNClient

    from cirrus_core.registry.models import ModelVersion, RegisteredModel
    from cirrus_core.registry.repository import RegistryRepository

_CHUNK = 1024 * 1024
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class NeoCompiler:
    """CreateCompilationJob and DescribeCompilationJob."""

    def __init__(self, client: SageMakerClient) -> None:
        self._client = client

    def start(self, request: Mapping[str, Any]) -> bool:
        """Create the job; False when a job of that name exists already (a retried step)."""
        try:
            self._client.create_compilation_job(**request)
        except ClientError as error:
            if _code(error) == "ResourceInUse":
                return False
            raise
        return True

    def describe(self, job_name: str) -> CompilationState:
        described = self._client.describe_compilation_job(CompilationJobName=job_name)
        # AWS leaves ModelArtifacts out until the job completes (the stubs say it is always there).
        artifacts: dict[str, Any] = dict(described.get("ModelArtifacts", {}))
        return CompilationState(
            status=str(described["CompilationJobStatus"]),
            artifact=artifacts.get("S3ModelArtifacts"),
            failure_reason=described.get("FailureReason"),
        )


class PackageFiles:
    """The objects of packages in the artifact bucket, read as streams and hashed on the way."""

    def __init__(self, client: S3Client, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self._client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)

    def read(self, key: str) -> bytes | None:
        """An object's bytes, None when it does not exist (small files only: manifest, recipe, key)."""
        try:
            return self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as error:
            if _code(error) in _MISSING:
                return None
            raise

    def sha256(self, key: str) -> tuple[str, int] | None:
        """SHA-256 (hex) and size of an object, streamed; None when it does not exist."""
        try:
            body = self._client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except ClientError as error:
            if _code(error) in _MISSING:
                return None
            raise
        sink = Sha256Sink()
        for chunk in body.iter_chunks(_CHUNK):
            sink.update(chunk)
        return sink.hexdigest(), sink.size


class KmsSigner:
    """Signs and verifies with one asymmetric KMS key (SIGN_VERIFY); the private half stays in KMS."""

    def __init__(self, client: KMSClient, key_id: str, algorithm: str) -> None:
        self._client = client
        self.key_id = key_id
        self.algorithm = algorithm

    def key_arn(self) -> str:
        return str(self._client.describe_key(KeyId=self.key_id)["KeyMetadata"]["Arn"])

    def public_key_der(self) -> bytes:
        return bytes(self._client.get_public_key(KeyId=self.key_id)["PublicKey"])

    def sign(self, message: bytes) -> bytes:
        return bytes(
            self._client.sign(
                KeyId=self.key_id,
                Message=message,
                MessageType="RAW",
                SigningAlgorithm=self.algorithm,  # type: ignore[arg-type]
            )["Signature"]
        )

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether KMS confirms the signature (KMS answers a bad one with an exception, not False)."""
        try:
            response = self._client.verify(
                KeyId=self.key_id,
                Message=message,
                MessageType="RAW",
                Signature=signature,
                SigningAlgorithm=self.algorithm,  # type: ignore[arg-type]
            )
        except ClientError as error:
            if _code(error) in {"KMSInvalidSignatureException", "ValidationException"}:
                return False
            raise
        return bool(response.get("SignatureValid"))


class StepFunctionsStarter:
    """StartExecution of the edge package machine."""

    def __init__(self, client: SFNClient) -> None:
        self._client = client

    def start(self, state_machine_arn: str, name: str, execution_input: str) -> str:
        return str(
            self._client.start_execution(stateMachineArn=state_machine_arn, name=name, input=execution_input)[
                "executionArn"
            ]
        )


class RegistryRecords:
    """The registry's model and version records, read directly (the service's reads audit access)."""

    def __init__(self, repository: RegistryRepository) -> None:
        self._repository = repository

    def model(self, model_id: str) -> RegisteredModel | None:
        record = self._repository.get_model(model_id)
        return None if record is None else record.model

    def version(self, model_id: str, version: int) -> ModelVersion | None:
        return self._repository.get_version(model_id, version)
