"""What serves a version: its container (image, model data, environment) and its SageMaker model.

docs/serving.md, "The version's container":
1. a version trained by a pipeline serves with its training job's image and script: the job's
   script-mode hyperparameters `sagemaker_program` / `sagemaker_submit_directory` (JSON-quoted
   strings, as the SageMaker Python SDK sends them) become `SAGEMAKER_PROGRAM` /
   `SAGEMAKER_SUBMIT_DIRECTORY`;
2. otherwise `model.tar.gz` carries its own `code/inference.py` (SageMaker's convention) and the
   framework image of the version's `model_type` serves it.
Anything else is refused with `UnservableVersion` (422 `unservable_version`).
"""

from __future__ import annotations

import json
import tarfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from cirrus_core.errors import UnservableVersion
from cirrus_core.observability import logger

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient

    from cirrus_core.registry.models import ModelVersion
    from cirrus_core.serving.settings import ServingSettings

INFERENCE_SCRIPT = "code/inference.py"
MODEL_CODE_DIR = "/opt/ml/model/code"
# How much of a model archive is read looking for its inference script. A bigger archive whose
# script was not met by then is taken on trust: the candidate endpoint's smoke test still stands
# between it and any real request.
MAX_ARCHIVE_SCAN_BYTES = 64 * 1024 * 1024
_FORWARDED_HYPERPARAMETERS = {
    "sagemaker_program": "SAGEMAKER_PROGRAM",
    "sagemaker_submit_directory": "SAGEMAKER_SUBMIT_DIRECTORY",
    "sagemaker_region": "SAGEMAKER_REGION",
    "sagemaker_container_log_level": "SAGEMAKER_CONTAINER_LOG_LEVEL",
}


@dataclass(frozen=True)
class ServingContainer:
    """What a SageMaker model of the version runs: image, model data and environment."""

    image: str
    model_data_url: str
    environment: Mapping[str, str] = field(default_factory=dict)

    def primary_container(self) -> dict[str, Any]:
        """CreateModel's `PrimaryContainer`."""
        return {
            "Image": self.image,
            "ModelDataUrl": self.model_data_url,
            "Environment": dict(self.environment),
        }


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", ""))


def _not_found(error: ClientError) -> bool:
    """SageMaker answers a missing resource with ValidationException "Could not find ..."."""
    return _code(error) in {"ResourceNotFound", "ValidationException"} and "not find" in _message(error)


def _split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _decoded(value: str) -> str:
    """A script-mode hyperparameter's value: JSON-encoded by the SDK (`"\\"train.py\\""`), or plain."""
    try:
        decoded = json.loads(value)
    except ValueError:
        return value
    return decoded if isinstance(decoded, str) else str(decoded)


class ServingContainers:
    """Resolves a version's serving container and creates its SageMaker model."""

    def __init__(
        self, sagemaker_client: SageMakerClient, s3_client: S3Client, settings: ServingSettings
    ) -> None:
        self._sagemaker = sagemaker_client
        self._s3 = s3_client
        self._settings = settings

    def resolve(self, version: ModelVersion) -> ServingContainer:
        """The version's container; UnservableVersion when neither rule of the contract fits."""
        if version.training_job_name:
            trained = self._from_training_job(version, version.training_job_name)
            if trained is not None:
                return trained
        return self._from_archive(version)

    def ensure_model(self, version: ModelVersion) -> str:
        """Create the version's SageMaker model unless it exists; its name either way."""
        name = version.sagemaker.model_name
        if self._model_exists(name):
            return name
        container = self.resolve(version)
        try:
            self._sagemaker.create_model(
                ModelName=name,
                PrimaryContainer=container.primary_container(),  # type: ignore[arg-type]
                ExecutionRoleArn=self._settings.sagemaker_role_arn,
                Tags=[
                    {"Key": "cirrus:model_id", "Value": version.model_id},
                    {"Key": "cirrus:version", "Value": str(version.version)},
                ],
            )
        except ClientError as error:
            # A concurrent deployment of the same version created it first: same name, same version.
            if "already exist" not in _message(error):
                raise
        logger.info("SageMaker model ready", extra={"model_name": name})
        return name

    # -- the two rules ----------------------------------------------------------------------------

    def _from_training_job(self, version: ModelVersion, job_name: str) -> ServingContainer | None:
        try:
            job = self._sagemaker.describe_training_job(TrainingJobName=job_name)
        except ClientError as error:
            if not _not_found(error):
                raise
            raise UnservableVersion(
                f"Version {version.version} of '{version.model_id}' names training job {job_name}, "
                "which SageMaker no longer has: its container cannot be resolved.",
                [{"reason": "training_job_missing", "training_job_name": job_name}],
            ) from error
        hyperparameters = dict(job.get("HyperParameters") or {})
        if "sagemaker_program" not in hyperparameters:
            return None  # not script mode: the archive has to carry its own code
        image = str(job["AlgorithmSpecification"].get("TrainingImage", ""))
        if not image:
            return None
        environment = {
            variable: _decoded(hyperparameters[name])
            for name, variable in _FORWARDED_HYPERPARAMETERS.items()
            if name in hyperparameters
        }
        return ServingContainer(image, version.artifact_location, environment)

    def _from_archive(self, version: ModelVersion) -> ServingContainer:
        image = {
            "sklearn": self._settings.sklearn_image_uri,
            "xgboost": self._settings.xgboost_image_uri,
        }.get(version.model_type, "")
        if not image:
            raise UnservableVersion(
                f"Version {version.version} of '{version.model_id}' was not trained by a pipeline, and "
                f"model_type '{version.model_type}' has no serving image (sklearn and xgboost have).",
                [{"reason": "no_serving_image", "model_type": version.model_type}],
            )
        if not self._archive_has_inference_script(version):
            raise UnservableVersion(
                f"Version {version.version} of '{version.model_id}' was not trained by a pipeline, and "
                f"its model.tar.gz has no {INFERENCE_SCRIPT}.",
                [{"reason": "no_inference_script", "artifact_location": version.artifact_location}],
            )
        environment = {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": MODEL_CODE_DIR}
        return ServingContainer(image, version.artifact_location, environment)

    def _archive_has_inference_script(self, version: ModelVersion) -> bool:
        bucket, key = _split_s3(version.artifact_location)
        try:
            body = self._s3.get_object(Bucket=bucket, Key=key)["Body"]
        except ClientError as error:
            raise UnservableVersion(
                f"The artifact of version {version.version} of '{version.model_id}' cannot be read: "
                f"{_code(error)}.",
                [{"reason": "artifact_unreadable", "artifact_location": version.artifact_location}],
            ) from error
        reader = _CountingReader(body)
        try:
            with tarfile.open(fileobj=reader, mode="r|gz") as archive:  # type: ignore[call-overload]
                for member in archive:
                    if member.name.removeprefix("./") == INFERENCE_SCRIPT and member.isfile():
                        return True
                    if reader.read_bytes > MAX_ARCHIVE_SCAN_BYTES:
                        logger.warning(
                            "Model archive too large to look through; taken on trust",
                            extra={"artifact_location": version.artifact_location},
                        )
                        return True
        except (tarfile.TarError, OSError, EOFError) as error:
            raise UnservableVersion(
                f"The artifact of version {version.version} of '{version.model_id}' is not a gzipped "
                f"tar archive: {error}.",
                [{"reason": "artifact_not_an_archive", "artifact_location": version.artifact_location}],
            ) from error
        finally:
            body.close()
        return False

    def _model_exists(self, name: str) -> bool:
        try:
            self._sagemaker.describe_model(ModelName=name)
        except ClientError as error:
            if _not_found(error):
                return False
            raise
        return True


class _CountingReader:
    """A streaming body that counts what it has handed out (tarfile's stream mode reads it)."""

    def __init__(self, body: Any) -> None:
        self._body = body
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        chunk: bytes = self._body.read(size if size >= 0 else None)
        self.read_bytes += len(chunk)
        return chunk
