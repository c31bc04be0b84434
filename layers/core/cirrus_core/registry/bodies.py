"""The registry's request bodies: what the writing routes validate (register, review, promote,
roll back). Apart from `cirrus_core.registry.models` so that a read route's cold start does not build
them: only the routes that take these bodies (and the services' type hints) import this module."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from cirrus_core.registry.models import (
    Comment,
    DataSourceText,
    ExecutionArn,
    FrameworkVersion,
    Slug,
    StrictModel,
    TagKey,
    TagValue,
    TrainingJobName,
    TrainingMetadata,
)

# Real imports: pydantic reads the annotations at runtime (ruff sees StrictModel's pydantic base only
# within its own module).
from cirrus_core.registry.primitives import Environment, ModelId, S3Uri, VersionNumber  # noqa: TC001


class RegisterModelRequest(StrictModel):
    """The spec's registration payload, with optional lineage."""

    model_name: ModelId = Field(description="The model id; versions are numbered under it.")
    model_type: Slug = Field(description="The kind of model, such as xgboost or sklearn.")
    framework_version: FrameworkVersion
    training_metadata: TrainingMetadata
    artifact_location: S3Uri = Field(description="s3:// URI of model.tar.gz inside the artifact bucket.")
    dataset_uri: S3Uri | None = None
    data_source: DataSourceText | None = Field(
        default=None,
        description="What the version was asked to train on, as written (an s3:// URI, dataset:<name>"
        "[@<version>], training-set:<id> or a data source's name); training_metadata.dataset_version "
        "holds what it resolved to.",
    )
    sample_payloads_uri: S3Uri | None = Field(
        default=None,
        description='s3:// URI of a JSON Lines file of sample requests (`{"content_type", "body"}` '
        "per line, at most 20) that deployments send as their smoke test.",
    )
    baseline_uri: S3Uri | None = Field(
        default=None,
        description="s3:// URI of the version's drift baseline (the training data's profile that "
        "monitoring compares captured traffic with), in the artifact buckets or the monitoring bucket.",
    )
    training_job_name: TrainingJobName | None = None
    pipeline_execution_arn: ExecutionArn | None = None
    parent_version: VersionNumber | None = Field(
        default=None, description="The version this one was derived from (fine-tuned, retrained)."
    )
    tags: Annotated[dict[TagKey, TagValue], Field(max_length=50)] = Field(default_factory=dict)
    description: Comment = ""


class ReviewRequest(StrictModel):
    """Body of review-request, approve and reject."""

    comment: Comment = ""


class PromoteRequest(StrictModel):
    version: VersionNumber
    environment: Environment
    reason: Comment = ""


class RollbackRequest(StrictModel):
    environment: Environment
    reason: Comment = ""
