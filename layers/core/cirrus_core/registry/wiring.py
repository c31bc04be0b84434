"""Builds the registry service once per execution environment, from settings and boto3 clients."""

from __future__ import annotations

import functools

import boto3

from cirrus_core.audit.wiring import audit_trail
from cirrus_core.events import EventPublisher
from cirrus_core.observability import logger
from cirrus_core.registry.artifacts import allowed_artifact_buckets
from cirrus_core.registry.repository import RegistryRepository
from cirrus_core.registry.service import RegistryService
from cirrus_core.settings import get_settings

EVENT_SOURCE = "cirrus.registry"


@functools.cache
def registry_service() -> RegistryService:
    """The registry service of this execution environment."""
    settings = get_settings()
    return RegistryService(
        RegistryRepository(boto3.client("dynamodb"), settings.registry_table, audit_trail()),
        EventPublisher(
            boto3.client("events"),
            settings.event_bus_name,
            EVENT_SOURCE,
            correlation_id=logger.get_correlation_id,
        ),
        allowed_artifact_buckets(settings.artifact_bucket, settings.artifact_bucket_allowlist),
    )
