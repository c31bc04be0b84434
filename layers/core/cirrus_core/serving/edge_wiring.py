"""Builds the edge package service and steps once per execution environment, from settings and clients."""

from __future__ import annotations

import functools

import boto3

from cirrus_core.audit.wiring import audit_trail
from cirrus_core.events import EventPublisher
from cirrus_core.observability import logger
from cirrus_core.registry.repository import RegistryRepository
from cirrus_core.serving.edge import SIGNING_ALGORITHM, EdgeService, EdgeSteps
from cirrus_core.serving.edge_adapters import (
    KmsSigner,
    NeoCompiler,
    PackageFiles,
    RegistryRecords,
    StepFunctionsStarter,
)
from cirrus_core.serving.edge_store import EdgePackageStore
from cirrus_core.serving.settings import get_serving_settings
from cirrus_core.settings import get_settings

EVENT_SOURCE = "cirrus.serving"


def _files() -> PackageFiles:
    return PackageFiles(boto3.client("s3"), get_settings().artifact_bucket)


def _signer() -> KmsSigner:
    return KmsSigner(boto3.client("kms"), get_serving_settings().edge_signing_key_id, SIGNING_ALGORITHM)


@functools.cache
def edge_service() -> EdgeService:
    """The API's edge package service."""
    settings, core = get_serving_settings(), get_settings()
    dynamodb = boto3.client("dynamodb")
    audit = audit_trail() if core.audit_table else None
    return EdgeService(
        EdgePackageStore(dynamodb, settings.serving_table, audit),
        StepFunctionsStarter(boto3.client("stepfunctions")),
        RegistryRecords(RegistryRepository(dynamodb, core.registry_table)),
        _files(),
        _signer(),
        state_machine_arn=settings.edge_state_machine_arn,
        local_cloud=settings.local_cloud,
        # The local cloud's compilation is one S3 copy, done in milliseconds: poll it every second.
        poll_seconds=1 if settings.local_cloud else settings.edge_poll_seconds,
        max_polls=settings.edge_max_polls,
        audit_enabled=audit is not None,
    )


@functools.cache
def edge_steps() -> EdgeSteps:
    """The edge package machine's steps."""
    settings, core = get_serving_settings(), get_settings()
    return EdgeSteps(
        EdgePackageStore(boto3.client("dynamodb"), settings.serving_table),
        NeoCompiler(boto3.client("sagemaker")),
        _files(),
        _signer(),
        EventPublisher(
            boto3.client("events"),
            core.event_bus_name,
            EVENT_SOURCE,
            correlation_id=logger.get_correlation_id,
        ),
        role_arn=settings.sagemaker_role_arn,
    )
