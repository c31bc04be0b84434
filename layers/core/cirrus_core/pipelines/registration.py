"""`Register version`: the run's model becomes the next version of its model, with its lineage.

The version is registered through the registry's own service, acting for the run's actor: so the
registry's rules hold (authorization, artifact buckets, audit), and whoever started the run is its
registrant and cannot approve it. A Lambda retried after a timeout finds the version it registered
(by the execution ARN) and returns it rather than registering a second one.

Before registering, it writes the version's sample payloads (`cirrus_core.pipelines.samples`: the
first rows of the held-out test split, as requests) and registers them as `sample_payloads_uri`. The
drift baseline `Profile baseline` wrote (`$.baseline.baseline_uri`, when there is one) is registered
as `baseline_uri`.
"""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from cirrus_core.caller import Caller
from cirrus_core.errors import ModelNotFound, PipelineStepError
from cirrus_core.observability import logger
from cirrus_core.pipelines.definition import JobType
from cirrus_core.pipelines.jobs import framework_version
from cirrus_core.registry.bodies import RegisterModelRequest
from cirrus_core.registry.models import TrainingMetadata

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_sagemaker import SageMakerClient

    from cirrus_core.pipelines.run_state import WorkingState
    from cirrus_core.pipelines.samples import SamplePayloads
    from cirrus_core.registry.models import ApprovalStatus, ModelVersion, VersionPage

_PARAM_KEY = re.compile(r"^[A-Za-z0-9_.:/-]{1,128}$")
MAX_ENTRIES = 100
MAX_HYPERPARAMETER_CHARS = 1024
# How many of the model's newest versions a retry looks through for the one it registered.
RETRY_LOOKBACK = 100


class Registry(Protocol):
    """What registering a run's version needs of the registry service."""

    def register(self, request: RegisterModelRequest, caller: Caller) -> ModelVersion: ...

    def list_versions(
        self,
        model_id: str,
        status: ApprovalStatus | None,
        limit: int,
        next_token: str | None,
        caller: Caller,
    ) -> VersionPage: ...


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def training_metrics(description: dict[str, Any]) -> dict[str, float]:
    """A training job's final metrics (`validation:accuracy`, `train:rmse`) by name."""
    metrics = {}
    for item in description.get("FinalMetricDataList") or []:
        name, value = item.get("MetricName"), _finite(item.get("Value"))
        if isinstance(name, str) and value is not None:
            metrics[name] = value
    return metrics


def lineage_metrics(evaluation: dict[str, float], training: dict[str, float]) -> dict[str, float]:
    """Evaluation metrics as `test:<name>`, then the training job's; at most 100 valid keys."""
    merged: dict[str, float] = {}
    for name, value in [*((f"test:{k}", v) for k, v in evaluation.items()), *training.items()]:
        if _PARAM_KEY.fullmatch(name) and name not in merged and len(merged) < MAX_ENTRIES:
            merged[name] = value
    return merged


def script_hyperparameters(encoded: dict[str, str]) -> dict[str, str | int | float | bool]:
    """A training request's hyperparameters decoded, the `sagemaker_*` ones left out."""
    decoded: dict[str, str | int | float | bool] = {}
    for name, raw in encoded.items():
        if name.startswith("sagemaker_") or not _PARAM_KEY.fullmatch(name) or len(decoded) >= MAX_ENTRIES:
            continue
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        if isinstance(value, bool | int | str) or _finite(value) is not None:
            if isinstance(value, str) and len(value) > MAX_HYPERPARAMETER_CHARS:
                continue
            decoded[name] = value
    return decoded


class VersionRegistrar:
    """Registers the run's trained model in the registry."""

    def __init__(
        self, registry: Callable[[], Registry], sagemaker: SageMakerClient, samples: SamplePayloads
    ) -> None:
        self._registry = registry
        self._sagemaker = sagemaker
        self._samples = samples

    def register(self, state: WorkingState) -> dict[str, Any]:
        """`{"model_id", "version", "approval_status"}` of the run's version, registering it once."""
        training = state.step_of_type(JobType.MODEL_TRAINING)
        if training is None:
            raise PipelineStepError("The pipeline has no model_training step: there is no model to register.")
        job = state.jobs[training.id]
        caller = Caller(state.principal, request_id=state.run.run_id)
        model_id = state.run.model_name
        existing = self._already_registered(model_id, state.run.execution_arn, caller)
        if existing is not None:
            logger.info(
                "Version already registered by this run",
                extra={"model_id": model_id, "version": existing.version},
            )
            return _result(existing)

        job_name = state.job_name_of(training.id)
        description = self._describe(job_name) if job_name else {}
        artifact = (description.get("ModelArtifacts") or {}).get("S3ModelArtifacts") or state.output_of(
            training.id
        ).get("model_uri")
        if not isinstance(artifact, str):
            raise PipelineStepError(f"Training step {training.id!r} left no model artifact to register.")
        request = job.request or {}
        image = str((request.get("AlgorithmSpecification") or {}).get("TrainingImage", ""))
        evaluation = state.evaluation.metrics if state.evaluation is not None else {}
        # The deployments' smoke test: written before registering, under the run's own key, so a
        # retried Lambda writes the same object again.
        samples = self._samples.write(state, training, str(state.parameters.get("target_column") or "label"))
        registration = RegisterModelRequest(
            model_name=model_id,
            model_type=str(state.parameters.get("model_type", "")),
            framework_version=framework_version(image),
            training_metadata=TrainingMetadata(
                dataset_version=state.run.dataset.version[:128],
                hyperparameters=script_hyperparameters(dict(request.get("HyperParameters") or {})),
                metrics=lineage_metrics(evaluation, training_metrics(description)),
            ),
            artifact_location=artifact,
            dataset_uri=state.run.dataset.uri,
            data_source=_requested_source(state.parameters.get("data_source")),
            sample_payloads_uri=samples,
            baseline_uri=state.baseline.baseline_uri if state.baseline is not None else None,
            training_job_name=job_name,
            pipeline_execution_arn=state.run.execution_arn,
            tags={"pipeline_id": state.pipeline.pipeline_id, "run_id": state.run.run_id},
            description=f"Trained by pipeline {state.pipeline.pipeline_id}, run {state.run.run_id}.",
        )
        version = self._registry().register(registration, caller)
        logger.info("Registered version", extra={"model_id": model_id, "version": version.version})
        return _result(version)

    def _already_registered(self, model_id: str, execution_arn: str, caller: Caller) -> ModelVersion | None:
        try:
            page = self._registry().list_versions(model_id, None, RETRY_LOOKBACK, None, caller)
        except ModelNotFound:
            return None
        return next((item for item in page.items if item.pipeline_execution_arn == execution_arn), None)

    def _describe(self, job_name: str) -> dict[str, Any]:
        """The training job's description; empty when SageMaker no longer has it."""
        try:
            return dict(self._sagemaker.describe_training_job(TrainingJobName=job_name))
        except ClientError as error:
            logger.warning(
                "Training job not described",
                extra={"job_name": job_name, "error": error.response.get("Error")},
            )
            return {}


def _requested_source(value: Any) -> str | None:
    """The run's `data_source` as written, less any control character (the registry refuses them)."""
    if not isinstance(value, str):
        return None
    printable = "".join(char for char in value if ord(char) >= 0x20 and ord(char) != 0x7F)[:1024]
    return printable or None


def _result(version: ModelVersion) -> dict[str, Any]:
    return {
        "model_id": version.model_id,
        "version": version.version,
        "approval_status": version.approval_status.value,
    }
