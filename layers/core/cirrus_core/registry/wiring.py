"""Builds the registry service once per execution environment, from settings and boto3 clients."""

from __future__ import annotations

import functools

import boto3

from cirrus_core.audit.wiring import audit_trail
from cirrus_core.data.settings import get_data_settings
from cirrus_core.events import EventPublisher
from cirrus_core.observability import logger
from cirrus_core.registry.artifacts import allowed_artifact_buckets
from cirrus_core.registry.data_lineage import DynamoDataLineage, UpstreamWalker
from cirrus_core.registry.repository import RegistryRepository
from cirrus_core.registry.service import RegistryService
from cirrus_core.registry.settings import RegistrySettings
from cirrus_core.settings import get_settings

EVENT_SOURCE = "cirrus.registry"


@functools.cache
def registry_service() -> RegistryService:
    """The registry service of this execution environment."""
    settings = get_settings()
    allowlist = settings.artifact_bucket_allowlist
    # Baselines may also live in the monitoring bucket (the monitoring API builds them there).
    monitoring_bucket = RegistrySettings.from_environ().monitoring_bucket
    dynamodb = boto3.client("dynamodb")
    # The lineage view reads the data module's table (read only) when this function is given it.
    data_table = get_data_settings().data_table
    return RegistryService(
        RegistryRepository(dynamodb, settings.registry_table, audit_trail()),
        EventPublisher(
            boto3.client("events"),
            settings.event_bus_name,
            EVENT_SOURCE,
            correlation_id=logger.get_correlation_id,
        ),
        allowed_artifact_buckets(settings.artifact_bucket, allowlist),
        baseline_buckets=allowed_artifact_buckets(settings.artifact_bucket, (*allowlist, monitoring_bucket)),
        data_lineage=UpstreamWalker(DynamoDataLineage(dynamodb, data_table) if data_table else None),
    )
