"""Builds the batch service and the batch state machine's steps once per execution environment."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import boto3

from cirrus_core.audit.wiring import audit_trail
from cirrus_core.events import EventPublisher
from cirrus_core.observability import logger
from cirrus_core.registry.artifacts import allowed_artifact_buckets
from cirrus_core.registry.repository import RegistryRepository
from cirrus_core.serving.batch import BatchService, BatchSteps
from cirrus_core.serving.batch_store import BatchExecutions, BatchStore, RegistryVersions
from cirrus_core.serving.environments import EnvironmentDirectory
from cirrus_core.serving.settings import get_serving_settings
from cirrus_core.settings import get_settings

if TYPE_CHECKING:
    from cirrus_core.registry.models import ModelVersion
    from cirrus_core.serving.containers import ServingContainers

EVENT_SOURCE = "cirrus.serving"


@functools.cache
def batch_service() -> BatchService:
    """The batch API's service of this execution environment."""
    core = get_settings()
    settings = get_serving_settings()
    dynamodb = boto3.client("dynamodb")
    audit = audit_trail() if core.audit_table else None
    return BatchService(
        BatchStore(dynamodb, settings.serving_table, audit),
        BatchExecutions(boto3.client("stepfunctions")),
        RegistryVersions(RegistryRepository(dynamodb, core.registry_table)),
        EnvironmentDirectory(dynamodb, settings.serving_table),
        artifact_buckets=allowed_artifact_buckets(core.artifact_bucket, core.artifact_bucket_allowlist),
        state_machine_arn=settings.batch_state_machine_arn,
        audit_enabled=audit is not None,
    )


class _Containers:
    """The version's SageMaker model, through ServingContainers built on first use: only the Prepare
    step needs it (and its SageMaker and S3 clients), not the step recording the outcome."""

    def ensure_model(self, version: ModelVersion) -> str:
        return _serving_containers().ensure_model(version)


@functools.cache
def _serving_containers() -> ServingContainers:
    from cirrus_core.serving.containers import ServingContainers

    return ServingContainers(boto3.client("sagemaker"), boto3.client("s3"), get_serving_settings())


@functools.cache
def batch_steps() -> BatchSteps:
    """The batch state machine's steps of this execution environment."""
    core = get_settings()
    settings = get_serving_settings()
    dynamodb = boto3.client("dynamodb")
    return BatchSteps(
        BatchStore(dynamodb, settings.serving_table),
        RegistryVersions(RegistryRepository(dynamodb, core.registry_table)),
        _Containers(),
        EventPublisher(
            boto3.client("events"),
            core.event_bus_name,
            EVENT_SOURCE,
            correlation_id=logger.get_correlation_id,
        ),
    )
