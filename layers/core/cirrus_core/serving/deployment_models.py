"""Deployment request and response models (docs/serving.md). The OpenAPI document is generated from these."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from cirrus_core.registry.models import Environment, ModelId, VersionNumber

DEPLOYMENT_ID_PATTERN = r"^[0-9a-f]{32}$"
INSTANCE_TYPE_PATTERN = r"^ml\.[a-z0-9]+\.[a-z0-9]+$"
DEFAULT_INSTANCE_TYPE = "ml.m5.large"
MAX_SAMPLE_PAYLOADS = 20
MAX_INSTANCES = 20
# Within the API's 64 KiB body limit; a version's own samples file may hold larger bodies.
MAX_SAMPLE_BODY_CHARS = 60_000
# Fields that only mean something for instance variants.
INSTANCE_FIELDS = frozenset({"instance_type", "initial_instance_count", "autoscaling"})

DeploymentId = Annotated[str, StringConstraints(pattern=DEPLOYMENT_ID_PATTERN)]
InstanceType = Annotated[str, StringConstraints(pattern=INSTANCE_TYPE_PATTERN, max_length=64)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerlessConfig(_Strict):
    """A serverless variant: memory and concurrency instead of instances (no data capture on AWS)."""

    memory_size_mb: int = Field(ge=1024, le=6144, multiple_of=1024, description="Memory, 1024 to 6144 MB.")
    max_concurrency: int = Field(ge=1, le=200, description="Concurrent invocations, 1 to 200.")


class AutoscalingConfig(_Strict):
    """Target tracking on invocations per instance (Application Auto Scaling)."""

    min_capacity: int = Field(ge=1, le=MAX_INSTANCES)
    max_capacity: int = Field(ge=1, le=MAX_INSTANCES)
    target_invocations_per_instance: float = Field(
        gt=0, le=1_000_000, allow_inf_nan=False, description="SageMakerVariantInvocationsPerInstance target."
    )

    @model_validator(mode="after")
    def _max_at_least_min(self) -> Self:
        if self.max_capacity < self.min_capacity:
            raise ValueError("max_capacity must be at least min_capacity")
        return self


class SamplePayload(_Strict):
    """One smoke-test request: what the endpoint is sent, as a real caller would send it."""

    content_type: Literal["text/csv", "application/json"]
    body: Annotated[str, StringConstraints(min_length=1, max_length=MAX_SAMPLE_BODY_CHARS)]


class DeploymentRequest(_Strict):
    """POST /models/{model_id}/deployments: deploy an approved version to an environment."""

    version: VersionNumber
    environment: Environment
    instance_type: InstanceType = Field(default=DEFAULT_INSTANCE_TYPE, description="Instance variants only.")
    initial_instance_count: int = Field(
        default=1, ge=1, le=MAX_INSTANCES, description="Instance variants only."
    )
    serverless: ServerlessConfig | None = Field(
        default=None,
        description="A serverless variant; excludes instance_type, initial_instance_count and autoscaling.",
    )
    autoscaling: AutoscalingConfig | None = None
    sample_payloads: (
        Annotated[list[SamplePayload], Field(min_length=1, max_length=MAX_SAMPLE_PAYLOADS)] | None
    ) = Field(
        default=None, description="Smoke-test requests; the version's own sample_payloads_uri otherwise."
    )
    data_capture_percentage: int = Field(default=100, ge=0, le=100, description="Share of requests captured.")

    @model_validator(mode="after")
    def _serverless_excludes_instances(self) -> Self:
        if self.serverless is not None:
            clashing = sorted(INSTANCE_FIELDS & self.model_fields_set)
            if clashing:
                raise ValueError(f"serverless excludes {', '.join(clashing)}")
        return self

    def config(self) -> DeploymentConfig:
        """The endpoint configuration this request asks for."""
        if self.serverless is not None:
            return DeploymentConfig(
                serverless=self.serverless, data_capture_percentage=self.data_capture_percentage
            )
        return DeploymentConfig(
            instance_type=self.instance_type,
            initial_instance_count=self.initial_instance_count,
            autoscaling=self.autoscaling,
            data_capture_percentage=self.data_capture_percentage,
        )


class DeploymentConfig(BaseModel):
    """The endpoint a deployment builds: instances (with optional autoscaling) or serverless."""

    instance_type: str | None = None
    initial_instance_count: int | None = None
    serverless: ServerlessConfig | None = None
    autoscaling: AutoscalingConfig | None = None
    data_capture_percentage: int = 100

    @property
    def is_serverless(self) -> bool:
        return self.serverless is not None


class DeploymentStatus(StrEnum):
    IN_PROGRESS = "in_progress"
    SUCCEEDED = "succeeded"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"


class EnvironmentStatus(StrEnum):
    DEPLOYING = "deploying"
    DEPLOYED = "deployed"
    UNDEPLOYING = "undeploying"


class DeploymentSource(BaseModel):
    """What started the deployment: the API, or a pipeline's deployment step (with its run)."""

    model_config = ConfigDict(extra="allow")

    kind: Literal["api", "pipeline"]


class HistoryEntry(BaseModel):
    """One step of a deployment, as it happened."""

    status: DeploymentStatus
    step: str
    at: datetime
    message: str = ""


class Deployment(BaseModel):
    """A deployment of a version to an environment, with its status and history."""

    deployment_id: DeploymentId
    model_id: ModelId
    version: int
    environment: Environment
    status: DeploymentStatus
    config: DeploymentConfig
    inline_sample_payloads: int = Field(default=0, description="How many samples the request carried.")
    source: DeploymentSource
    started_by: str
    started_at: datetime
    finished_at: datetime | None = None
    execution_arn: str | None = None
    previous_version: int | None = Field(
        default=None, description="The version the environment served before."
    )
    endpoint_name: str | None = None
    endpoint_config_name: str | None = None
    failed_step: str | None = None
    cause: str | None = None
    history: list[HistoryEntry] = Field(default_factory=list)
    links: dict[str, str] = Field(default_factory=dict)


class EnvironmentState(BaseModel):
    """What an environment of the model serves now."""

    environment: Environment
    status: EnvironmentStatus
    version: int | None = None
    endpoint_name: str | None = None
    endpoint_config_name: str | None = None
    serverless: bool = False
    autoscaling: AutoscalingConfig | None = None
    deployment_id: str | None = Field(default=None, description="The deployment that put it there.")
    active_deployment_id: str | None = Field(default=None, description="The deployment in flight, if any.")
    updated_at: datetime


class DeploymentList(BaseModel):
    """A model's environments and its deployments, newest first."""

    model_id: ModelId
    environments: list[EnvironmentState]
    items: list[Deployment]
    next_token: str | None = None


class UndeployResult(BaseModel):
    """An environment taken down: its endpoint deleted and its alias cleared."""

    model_id: ModelId
    environment: Environment
    version: int | None
    endpoint_name: str | None
    undeployed_at: datetime


def as_json(value: BaseModel | None) -> Any:
    """A model as plain JSON values (None stays None)."""
    return None if value is None else value.model_dump(mode="json")
