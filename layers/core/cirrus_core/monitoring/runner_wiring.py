"""Builds the drift monitor's runner once per execution environment.

Apart from the API's wiring (cirrus_core.monitoring.wiring) so that the drift step's import path loads
neither the API plumbing nor the authorization engine: its cold start is measured (benchmarks/drift.py).
"""

from __future__ import annotations

import functools

import boto3

from cirrus_core.events import EventPublisher
from cirrus_core.monitoring.adapters import BaselineStore, RegistryBaselineLinks, S3Documents
from cirrus_core.monitoring.capture import CaptureReader
from cirrus_core.monitoring.drift_runner import DriftRunner
from cirrus_core.monitoring.settings import get_monitoring_settings
from cirrus_core.monitoring.store import MonitoringStore
from cirrus_core.observability import logger
from cirrus_core.serving.environments import EnvironmentDirectory
from cirrus_core.settings import get_settings

EVENT_SOURCE = "cirrus.monitoring"


@functools.cache
def drift_runner() -> DriftRunner:
    """The drift monitor's runner of this execution environment."""
    core = get_settings()
    settings = get_monitoring_settings()
    dynamodb = boto3.client("dynamodb")
    s3 = boto3.client("s3")
    documents = S3Documents(s3, settings.monitoring_bucket)
    return DriftRunner(
        MonitoringStore(dynamodb, settings.monitoring_table),
        RegistryBaselineLinks(dynamodb, core.registry_table),
        EnvironmentDirectory(dynamodb, settings.serving_table),
        BaselineStore(s3, documents),
        CaptureReader(s3, settings.capture_bucket, concurrency=settings.capture_read_concurrency),
        documents,
        EventPublisher(
            boto3.client("events"),
            core.event_bus_name,
            EVENT_SOURCE,
            correlation_id=logger.get_correlation_id,
        ),
        max_window_rows=settings.max_window_rows,
    )
