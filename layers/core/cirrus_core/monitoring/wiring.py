"""Builds the monitoring service and the drift monitor's runner once per execution environment."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import boto3

from cirrus_core.audit.wiring import audit_trail
from cirrus_core.monitoring.adapters import (
    BaselineFeatures,
    DatasetBaselineBuilder,
    RegistryAccess,
    S3Documents,
)
from cirrus_core.monitoring.service import MonitoringService
from cirrus_core.monitoring.settings import get_monitoring_settings
from cirrus_core.monitoring.store import MonitoringStore
from cirrus_core.registry.artifacts import allowed_artifact_buckets
from cirrus_core.registry.repository import RegistryRepository
from cirrus_core.serving.environments import EnvironmentDirectory
from cirrus_core.settings import get_settings

if TYPE_CHECKING:
    from cirrus_core.registry.service import RegistryService


def _registry_service() -> RegistryService:
    from cirrus_core.registry.wiring import registry_service

    return registry_service()


@functools.cache
def monitoring_service() -> MonitoringService:
    """The monitoring API's service of this execution environment."""
    core = get_settings()
    settings = get_monitoring_settings()
    dynamodb = boto3.client("dynamodb")
    s3 = boto3.client("s3")
    audit = audit_trail() if core.audit_table else None
    documents = S3Documents(s3, settings.monitoring_bucket)
    return MonitoringService(
        MonitoringStore(dynamodb, settings.monitoring_table, audit),
        RegistryAccess(RegistryRepository(dynamodb, core.registry_table), _registry_service),
        EnvironmentDirectory(dynamodb, settings.serving_table),
        BaselineFeatures(s3),
        _StepFunctions(),
        documents,
        baseline_builder=lambda: DatasetBaselineBuilder(
            s3,
            documents,
            allowed_artifact_buckets(core.artifact_bucket, core.artifact_bucket_allowlist),
            settings.max_baseline_rows,
        ),
        drift_state_machine_arn=settings.drift_state_machine_arn,
        audit_enabled=audit is not None,
    )


class _StepFunctions:
    """StartExecution of the drift monitor, named by the run id."""

    def start(self, state_machine_arn: str, name: str, execution_input: str) -> str:
        response = boto3.client("stepfunctions").start_execution(
            stateMachineArn=state_machine_arn, name=name, input=execution_input
        )
        return response["executionArn"]
