"""Registry request and response models. The OpenAPI document is generated from these."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# Re-exported: the registry's models are where most modules have always found these.
from cirrus_core.registry.primitives import Environment as Environment
from cirrus_core.registry.primitives import ModelId as ModelId
from cirrus_core.registry.primitives import S3Uri as S3Uri
from cirrus_core.registry.primitives import VersionNumber as VersionNumber

# Printable text without control characters (tab and newline allowed in free text).
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]
# What a pipeline run was asked to train on (`parameters.data_source`), kept as written.
DataSourceText = Annotated[
    str, StringConstraints(min_length=1, max_length=1024, pattern=r"^[^\x00-\x1f\x7f]+$")
]
Comment = Annotated[str, StringConstraints(max_length=1024, pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]*$")]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
FrameworkVersion = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,31}$")]
ParamKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:/-]{1,128}$")]
TagKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9 _.:/=+@-]{1,128}$")]
TagValue = Annotated[str, StringConstraints(max_length=256, pattern=r"^[A-Za-z0-9 _.:/=+@-]*$")]
TrainingJobName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")]
ExecutionArn = Annotated[
    str,
    StringConstraints(
        max_length=2048,
        pattern=r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[A-Za-z0-9_.-]{1,80}:[A-Za-z0-9_.-]{1,80}$",
    ),
]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
# NaN and infinities are refused: JSON cannot carry them, so they would be stored as null and the
# version could no longer be read back.
HyperparameterValue = Annotated[str, StringConstraints(max_length=1024)] | int | FiniteFloat | bool


class ApprovalStatus(StrEnum):
    """SageMaker's ModelApprovalStatus values."""

    PENDING = "PendingManualApproval"
    APPROVED = "Approved"
    REJECTED = "Rejected"


class PromotionAction(StrEnum):
    PROMOTE = "promote"
    ROLLBACK = "rollback"
    CLEAR = "clear"


class StrictModel(BaseModel):
    """A request body (or a part of one): unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class TrainingMetadata(StrictModel):
    """What the version was trained on and how it scored."""

    dataset_version: ShortText
    hyperparameters: Annotated[dict[ParamKey, HyperparameterValue], Field(max_length=100)] = Field(
        default_factory=dict
    )
    metrics: Annotated[dict[ParamKey, FiniteFloat], Field(max_length=100)] = Field(default_factory=dict)


class SageMakerNames(BaseModel):
    """SageMaker resource names for a version (SageMaker forbids `_`)."""

    base_name: str
    model_name: str


class Review(BaseModel):
    """A review request or a review decision."""

    by: str
    at: datetime
    comment: str = ""


class ModelVersion(BaseModel):
    """One registered version of a model."""

    model_id: ModelId
    version: VersionNumber
    model_type: str
    framework_version: str
    training_metadata: TrainingMetadata
    artifact_location: str
    dataset_uri: str | None = None
    data_source: str | None = None
    sample_payloads_uri: str | None = None
    baseline_uri: str | None = None
    training_job_name: str | None = None
    pipeline_execution_arn: str | None = None
    parent_version: int | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    description: str = ""
    approval_status: ApprovalStatus
    review_request: Review | None = None
    review: Review | None = None
    retired: bool = False
    retired_at: datetime | None = None
    retired_by: str | None = None
    sagemaker: SageMakerNames
    created_at: datetime
    created_by: str
    # The registrant's Cognito subject: usernames can be reassigned, so the forbid on self-approval
    # compares subjects. None on versions registered before it was recorded.
    created_by_sub: str | None = None
    updated_at: datetime


class VersionCounts(BaseModel):
    """How many versions a model has, by approval status, and how many are retired."""

    total: int = 0
    pending: int = 0
    approved: int = 0
    rejected: int = 0
    retired: int = 0


class RegisteredModel(BaseModel):
    """A model: the name versions are registered under, with its aliases."""

    model_id: ModelId
    model_type: str
    latest_version: int
    aliases: dict[Environment, int] = Field(default_factory=dict)
    counts: VersionCounts = Field(default_factory=VersionCounts)
    retired: bool = False
    retired_at: datetime | None = None
    retired_by: str | None = None
    sagemaker_base_name: str
    created_at: datetime
    created_by: str
    updated_at: datetime


class ModelDetail(RegisteredModel):
    """A model with its latest version."""

    latest: ModelVersion | None = None


class ModelPage(BaseModel):
    items: list[RegisteredModel]
    next_token: str | None = None


class VersionPage(BaseModel):
    items: list[ModelVersion]
    next_token: str | None = None


class Promotion(BaseModel):
    """One move of an environment's alias; the history of these is append-only."""

    model_id: ModelId
    environment: Environment
    sequence: int
    action: PromotionAction
    version: int | None = Field(
        description="The version the alias points at after the move; null once cleared."
    )
    previous_version: int | None = None
    reason: str = ""
    actor: str
    at: datetime


class PromotionResult(BaseModel):
    """The alias after a promote, rollback or clear; `changed` is false when it already pointed there."""

    changed: bool
    model_id: ModelId
    environment: Environment
    version: int | None
    promotion: Promotion | None = None


class PromotionPage(BaseModel):
    items: list[Promotion]
    next_token: str | None = None


class RetireResult(BaseModel):
    model_id: ModelId
    version: int | None = None
    retired_at: datetime


class LineageNode(BaseModel):
    """A node of the lineage graph: a version, a dataset, a training job or a pipeline execution, and
    upstream of a data module dataset version its inputs, transformations, feature group versions and
    sources (`missing: true` in `attributes` when the data module no longer has it)."""

    id: str
    kind: str
    label: str
    # bool before int: pydantic would otherwise turn `missing: true` into 1.
    attributes: dict[str, str | bool | int | float | None] = Field(default_factory=dict)


class LineageEdge(BaseModel):
    source: str
    target: str
    relation: str


class Lineage(BaseModel):
    """Where each version came from: datasets, jobs, executions and parent versions."""

    model_id: ModelId
    nodes: list[LineageNode]
    edges: list[LineageEdge]
