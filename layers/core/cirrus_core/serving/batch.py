"""Batch inference: a SageMaker transform job over S3 data, run by `statemachines/batch_transform.asl.json`.

Starting a job checks everything first (authorization, the URIs, the version or the environment's
version, its approval), then writes the `BATCH#` item and its audit record in one transaction, then
starts the state machine's execution named by the job id. The machine's first step ensures the
version's SageMaker model and builds the CreateTransformJob request (`BatchSteps.prepare`); its last
records the outcome and publishes `batch.completed` or `batch.failed` (`BatchSteps.record`).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Protocol, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from cirrus_core.api import API_PREFIX
from cirrus_core.arns import execution_arn_of
from cirrus_core.audit.entries import entry_for
from cirrus_core.audit.models import AuditCategory
from cirrus_core.authz import Resource, authorize, determining_policies
from cirrus_core.errors import (
    BatchJobNotFound,
    BatchStepError,
    EnvironmentNotDeployed,
    InvalidBatchUri,
    InvalidPaginationToken,
    ModelNotFound,
    ModelRetired,
    VersionNotApproved,
    VersionNotFound,
    VersionRetired,
)
from cirrus_core.events import LifecycleEvent
from cirrus_core.pagination import decode_token, encode_token
from cirrus_core.principal import ActorRecord
from cirrus_core.registry.artifacts import check_s3_uri
from cirrus_core.registry.models import ApprovalStatus, Environment, ModelId, S3Uri, VersionNumber
from cirrus_core.registry.naming import sagemaker_name
from cirrus_core.serving.inference import SERVING_STATUSES

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from cirrus_core.audit.models import AuditEntry
    from cirrus_core.caller import Caller
    from cirrus_core.registry.models import ModelVersion, RegisteredModel
    from cirrus_core.serving.inference import ServingDirectory

JOB_ID_PATTERN = r"^[0-9a-f]{32}$"
MAX_FAILURE_REASON = 1024
DEFAULT_INSTANCE_TYPE = "ml.m5.large"

InstanceType = Annotated[str, StringConstraints(pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$", max_length=64)]
JobId = Annotated[str, StringConstraints(pattern=JOB_ID_PATTERN)]


class BatchContentType(StrEnum):
    """Media types a transform job reads (and, as `accept`, writes)."""

    CSV = "text/csv"
    JSON = "application/json"
    JSONLINES = "application/jsonlines"


class SplitType(StrEnum):
    """How SageMaker cuts input objects into requests: per line, or whole objects."""

    LINE = "Line"
    NONE = "None"


class BatchJobStatus(StrEnum):
    IN_PROGRESS = "in_progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


FINAL_STATUSES = frozenset({BatchJobStatus.SUCCEEDED, BatchJobStatus.FAILED})


class StartBatchJobRequest(BaseModel):
    """A transform job over `input_uri` (an S3 prefix or object) into `output_uri` (a prefix)."""

    model_config = ConfigDict(extra="forbid")

    version: VersionNumber | None = Field(
        default=None, description="The version to run (give it or environment)."
    )
    environment: Environment | None = Field(
        default=None, description="Run the version this environment serves (give it or version)."
    )
    input_uri: S3Uri = Field(description="s3:// prefix or object in the artifact bucket or the allowlist.")
    output_uri: S3Uri = Field(description="s3:// prefix the outputs go under (`<input name>.out`).")
    content_type: BatchContentType = BatchContentType.CSV
    split: SplitType = Field(
        default=SplitType.LINE, description="Line: one request per input line, one output line each."
    )
    accept: BatchContentType | None = Field(
        default=None, description="The output's media type (default: the model's)."
    )
    instance_type: InstanceType = DEFAULT_INSTANCE_TYPE
    instance_count: int = Field(default=1, ge=1, le=100)

    @model_validator(mode="after")
    def _one_model_selector(self) -> Self:
        if (self.version is None) == (self.environment is None):
            raise ValueError("give exactly one of version and environment")
        return self


class BatchJob(BaseModel):
    """A batch transform job and how it went."""

    job_id: JobId
    model_id: ModelId
    version: int
    environment: Environment | None = Field(
        default=None, description="The environment the version was taken from."
    )
    status: BatchJobStatus
    input_uri: str
    output_uri: str
    content_type: BatchContentType
    split: SplitType
    accept: BatchContentType | None = None
    instance_type: str
    instance_count: int
    transform_job_name: str
    execution_arn: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    failure_reason: str | None = None
    links: dict[str, str] = Field(default_factory=dict)


class BatchJobPage(BaseModel):
    items: list[BatchJob]
    next_token: str | None = None


# -- ports --------------------------------------------------------------------------------------------


class BatchStorePort(Protocol):
    def create(self, job: BatchJob, actor: ActorRecord, audit: AuditEntry | None) -> None: ...

    def get(self, model_id: str, job_id: str) -> BatchJob | None: ...

    def list_all(self, model_id: str) -> list[BatchJob]: ...

    def finish(
        self, model_id: str, job_id: str, status: BatchJobStatus, failure_reason: str | None, at: datetime
    ) -> bool: ...


class ExecutionStarter(Protocol):
    def start(self, state_machine_arn: str, name: str, execution_input: str) -> str: ...


class RegistryReader(Protocol):
    def model(self, model_id: str) -> RegisteredModel | None: ...

    def version(self, model_id: str, version: int) -> ModelVersion | None: ...


class ModelEnsurer(Protocol):
    def ensure_model(self, version: ModelVersion) -> str: ...


class EventSink(Protocol):
    def publish(self, events: Sequence[LifecycleEvent]) -> None: ...


def transform_job_name(base_name: str, job_id: str) -> str:
    """docs/serving.md: `sagemaker_name(base, f"batch-{job_id[:12]}")`."""
    return sagemaker_name(base_name, f"batch-{job_id[:12]}")


def _links(job: BatchJob) -> dict[str, str]:
    return {
        "self": f"{API_PREFIX}/models/{job.model_id}/batch-jobs/{job.job_id}",
        "model": f"{API_PREFIX}/models/{job.model_id}",
    }


def _with_links(job: BatchJob) -> BatchJob:
    return job.model_copy(update={"links": _links(job)})


# -- the API's use cases ------------------------------------------------------------------------------


class BatchService:
    """Starts batch jobs and reads them back, each on behalf of a `Caller`."""

    def __init__(
        self,
        store: BatchStorePort,
        executions: ExecutionStarter,
        registry: RegistryReader,
        environments: ServingDirectory,
        *,
        artifact_buckets: frozenset[str],
        state_machine_arn: str,
        audit_enabled: bool = True,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._store = store
        self._executions = executions
        self._registry = registry
        self._environments = environments
        self._buckets = artifact_buckets
        self._arn = state_machine_arn
        self._audit_enabled = audit_enabled
        self._clock = clock
        self._new_id = new_id

    def start(self, model_id: str, request: StartBatchJobRequest, caller: Caller) -> BatchJob:
        """Start a transform job; every refusal happens before anything is written or started."""
        authorize(caller.principal, "StartBatchJob", Resource.model(model_id))
        input_bucket, input_key = check_s3_uri(
            request.input_uri, self._buckets, field="input_uri", error=InvalidBatchUri, prefix_allowed=True
        )
        output_bucket, output_key = check_s3_uri(
            request.output_uri, self._buckets, field="output_uri", error=InvalidBatchUri, prefix_allowed=True
        )
        # Outputs under the input prefix would be read as inputs by the next job over it.
        if output_bucket == input_bucket and output_key.startswith(input_key):
            raise InvalidBatchUri(
                "output_uri: the output may not lie under the input prefix.",
                [
                    {
                        "field": "output_uri",
                        "value": request.output_uri[:200],
                        "input_uri": request.input_uri[:200],
                    }
                ],
            )
        version = self._servable_version(model_id, request)
        now = self._clock()
        job_id = self._new_id()
        job = BatchJob(
            job_id=job_id,
            model_id=model_id,
            version=version.version,
            environment=request.environment,
            status=BatchJobStatus.IN_PROGRESS,
            input_uri=request.input_uri,
            output_uri=request.output_uri,
            content_type=request.content_type,
            split=request.split,
            accept=request.accept,
            instance_type=request.instance_type,
            instance_count=request.instance_count,
            transform_job_name=transform_job_name(version.sagemaker.base_name, job_id),
            execution_arn=execution_arn_of(self._arn, job_id),
            created_by=caller.actor,
            created_at=now,
            updated_at=now,
        )
        actor = ActorRecord.of(caller.principal)
        audit = None
        if self._audit_enabled:
            audit = entry_for(
                caller,
                "start_batch_job",
                f"model/{model_id}/batch-job/{job_id}",
                AuditCategory.CHANGE,
                now,
                policies=determining_policies(),
            )
        self._store.create(job, actor, audit)
        document = {
            "job": job.model_dump(mode="json", exclude={"links"}),
            "actor": actor.model_dump(mode="json"),
        }
        try:
            self._executions.start(self._arn, job_id, json.dumps(document, separators=(",", ":")))
        except Exception as error:
            self._store.finish(
                model_id,
                job_id,
                BatchJobStatus.FAILED,
                f"The state machine did not start: {error}"[:MAX_FAILURE_REASON],
                self._clock(),
            )
            raise
        return _with_links(job)

    def get_job(self, model_id: str, job_id: str, caller: Caller) -> BatchJob:
        """One batch job of a model."""
        authorize(caller.principal, "GetBatchJob", Resource.model(model_id))
        job = self._store.get(model_id, job_id)
        if job is None:
            raise BatchJobNotFound(f"Model '{model_id}' has no batch job '{job_id}'.")
        return _with_links(job)

    def list_jobs(self, model_id: str, limit: int, next_token: str | None, caller: Caller) -> BatchJobPage:
        """A model's batch jobs, newest first."""
        authorize(caller.principal, "ListBatchJobs", Resource.model(model_id))
        after: tuple[str, str] | None = None
        if next_token:
            position = decode_token(next_token, frozenset({"c", "j", "m"}))
            if (
                position["m"] != model_id
                or not isinstance(position["c"], str)
                or not isinstance(position["j"], str)
            ):
                raise InvalidPaginationToken("next_token does not belong to this listing.")
            after = (position["c"], position["j"])
        ordered = sorted(
            self._store.list_all(model_id),
            key=lambda job: (job.created_at.isoformat(), job.job_id),
            reverse=True,
        )
        if after is not None:
            ordered = [job for job in ordered if (job.created_at.isoformat(), job.job_id) < after]
        page = ordered[:limit]
        token = None
        if len(ordered) > limit:
            last = page[-1]
            token = encode_token({"c": last.created_at.isoformat(), "j": last.job_id, "m": model_id})
        return BatchJobPage(items=[_with_links(job) for job in page], next_token=token)

    def _servable_version(self, model_id: str, request: StartBatchJobRequest) -> ModelVersion:
        """The version the job runs: named, or the one the environment serves; approved, not retired."""
        model = self._registry.model(model_id)
        if model is None:
            raise ModelNotFound(f"No model '{model_id}' is registered.")
        if model.retired:
            raise ModelRetired(f"Model '{model_id}' is retired.")
        number = request.version
        if request.environment is not None:
            endpoint = self._environments.serving_endpoint(model_id, request.environment.value)
            if endpoint is None or endpoint.status not in SERVING_STATUSES or endpoint.version < 1:
                raise EnvironmentNotDeployed(
                    f"Model '{model_id}' is not deployed to {request.environment.value}.",
                    [{"model_id": model_id, "environment": request.environment.value}],
                )
            number = endpoint.version
        if number is None:  # the request's validator requires version or environment
            raise ValueError("a batch job names a version or an environment")
        version = self._registry.version(model_id, number)
        if version is None:
            raise VersionNotFound(f"Model '{model_id}' has no version {number}.")
        check_runnable(version)
        return version


def check_runnable(version: ModelVersion) -> None:
    """A batch job runs an approved version that is not retired."""
    if version.retired:
        raise VersionRetired(f"Version {version.version} of '{version.model_id}' is retired.")
    if version.approval_status is not ApprovalStatus.APPROVED:
        raise VersionNotApproved(
            f"Version {version.version} of '{version.model_id}' is {version.approval_status.value}: only "
            "approved versions run batch jobs.",
            [{"version": version.version, "approval_status": version.approval_status.value}],
        )


# -- the state machine's steps ------------------------------------------------------------------------


class BatchExecutionInput(BaseModel):
    """What the API starts the batch state machine with."""

    job: BatchJob
    actor: ActorRecord


def read_execution_input(document: Any) -> BatchExecutionInput:
    """The execution input, or BatchStepError naming what is wrong with it."""
    try:
        return BatchExecutionInput.model_validate(document)
    except ValidationError as error:
        raise BatchStepError(
            f"The batch execution input is invalid: {error.errors(include_url=False)}"
        ) from error


class BatchSteps:
    """The batch state machine's Lambda steps: prepare the transform job, record how it ended."""

    def __init__(
        self,
        store: BatchStorePort,
        registry: RegistryReader,
        models: ModelEnsurer,
        events: EventSink,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._registry = registry
        self._models = models
        self._events = events
        self._clock = clock

    def prepare(self, document: Any) -> dict[str, Any]:
        """Ensure the version's SageMaker model; return the CreateTransformJob request."""
        job = read_execution_input(document).job
        model = self._registry.model(job.model_id)
        if model is None:
            raise ModelNotFound(f"No model '{job.model_id}' is registered.")
        if model.retired:
            raise ModelRetired(f"Model '{job.model_id}' is retired.")
        version = self._registry.version(job.model_id, job.version)
        if version is None:
            raise VersionNotFound(f"Model '{job.model_id}' has no version {job.version}.")
        check_runnable(version)
        model_name = self._models.ensure_model(version)
        return {"request": transform_request(job, model_name)}

    def record(self, document: Any) -> dict[str, Any]:
        """Record the job's outcome and announce it (once: a repeated call changes and sends nothing)."""
        if not isinstance(document, dict):
            raise BatchStepError("Record batch result needs an object.")
        execution = read_execution_input(document.get("input"))
        job = execution.job
        stored = self._store.get(job.model_id, job.job_id)
        if stored is None:
            raise BatchJobNotFound(f"Model '{job.model_id}' has no batch job '{job.job_id}'.")
        if stored.status in FINAL_STATUSES:
            return {"job_id": job.job_id, "status": stored.status.value, "recorded": False}
        succeeded = document.get("outcome") == "succeeded"
        status = BatchJobStatus.SUCCEEDED if succeeded else BatchJobStatus.FAILED
        reason = None if succeeded else failure_reason(document.get("error"))
        now = self._clock()
        data: dict[str, Any] = {
            "job_id": job.job_id,
            "model_id": job.model_id,
            "version": job.version,
            "transform_job_name": job.transform_job_name,
            "execution_arn": job.execution_arn,
            "input_uri": job.input_uri,
            "output_uri": job.output_uri,
        }
        if not succeeded:
            data["failure_reason"] = reason
        # Announced before the item is final: a retry after a lost write announces again rather
        # than never (consumers get at least one event per job).
        self._events.publish(
            [
                LifecycleEvent(
                    f"batch.{'completed' if succeeded else 'failed'}",
                    data,
                    execution.actor.name,
                    occurred_at=now,
                )
            ]
        )
        self._store.finish(job.model_id, job.job_id, status, reason, now)
        return {"job_id": job.job_id, "status": status.value, "recorded": True}


def transform_request(job: BatchJob, model_name: str) -> dict[str, Any]:
    """CreateTransformJob's request for a job: one request per line (and one output line per answer)
    with split Line, whole objects with split None."""
    line = job.split is SplitType.LINE
    output: dict[str, Any] = {"S3OutputPath": job.output_uri, "AssembleWith": "Line" if line else "None"}
    if job.accept is not None:
        output["Accept"] = job.accept.value
    return {
        "TransformJobName": job.transform_job_name,
        "ModelName": model_name,
        # SingleRecord: each input line gets its own answer, so the output has a line per input line.
        "BatchStrategy": "SingleRecord",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": job.input_uri}},
            "ContentType": job.content_type.value,
            "SplitType": job.split.value,
            "CompressionType": "None",
        },
        "TransformOutput": output,
        "TransformResources": {"InstanceType": job.instance_type, "InstanceCount": job.instance_count},
        "Tags": [
            {"Key": "cirrus:model_id", "Value": job.model_id},
            {"Key": "cirrus:version", "Value": str(job.version)},
            {"Key": "cirrus:batch_job_id", "Value": job.job_id},
        ],
    }


def failure_reason(error: Any) -> str:
    """Why a job failed, from the `{Error, Cause}` a Catch gives: the transform job's FailureReason
    when the cause is its Describe output (`.sync` failures), else the error and its cause."""
    if not isinstance(error, dict):
        return "The batch job failed for an unknown reason."
    name = str(error.get("Error") or "States.TaskFailed")
    cause = error.get("Cause")
    reason = None
    if isinstance(cause, str):
        try:
            described = json.loads(cause)
        except ValueError:
            described = None
        if isinstance(described, dict):
            if described.get("FailureReason"):
                reason = str(described["FailureReason"])
            elif described.get("errorMessage"):  # a Lambda step's error
                reason = f"{name}: {described['errorMessage']}"
        if reason is None:
            reason = f"{name}: {cause}" if cause else name
    else:
        reason = name
    return reason[:MAX_FAILURE_REASON]
