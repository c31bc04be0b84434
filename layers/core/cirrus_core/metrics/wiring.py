"""Builds the metrics store, services and readers once per execution environment."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import boto3

from cirrus_core.metrics.settings import get_metrics_settings

if TYPE_CHECKING:
    from cirrus_core.metrics.collector import EndpointMetricsCollector
    from cirrus_core.metrics.ground_truth import GroundTruthService
    from cirrus_core.metrics.history import HistoryService
    from cirrus_core.metrics.query import MetricsReader
    from cirrus_core.metrics.recorder import MetricsRecorder
    from cirrus_core.metrics.scrape import ScrapeTokens
    from cirrus_core.metrics.store import MetricsStore


@functools.cache
def metrics_store() -> MetricsStore:
    from cirrus_core.metrics.store import MetricsStore

    return MetricsStore(boto3.resource("dynamodb").Table(get_metrics_settings().metrics_table))


def metrics_reader() -> MetricsReader:
    """The reader alert rules use (METRICS_TABLE_NAME)."""
    return metrics_store()


@functools.cache
def metrics_recorder() -> MetricsRecorder:
    from cirrus_core.metrics.recorder import MetricsRecorder

    return MetricsRecorder(metrics_store())


@functools.cache
def ground_truth_service() -> GroundTruthService:
    """Ground truth's own store: it writes each request's audit record with its first labels, through
    a plain client (the Table resource's client would convert the audit log's typed values again)."""
    from cirrus_core.audit.wiring import audit_trail
    from cirrus_core.metrics.emf import AccuracyMetricsRecorder
    from cirrus_core.metrics.ground_truth import GroundTruthService
    from cirrus_core.metrics.store import MetricsStore
    from cirrus_core.settings import get_settings

    audit = audit_trail() if get_settings().audit_table else None
    store = MetricsStore(
        boto3.resource("dynamodb").Table(get_metrics_settings().metrics_table),
        client=boto3.client("dynamodb"),
        audit=audit,
    )
    return GroundTruthService(store, AccuracyMetricsRecorder())


@functools.cache
def history_service() -> HistoryService:
    from cirrus_core.metrics.adapters import DriftRuns, RegisteredModels
    from cirrus_core.metrics.history import HistoryService
    from cirrus_core.settings import get_settings

    dynamodb = boto3.client("dynamodb")
    return HistoryService(
        metrics_store(),
        DriftRuns(dynamodb, get_metrics_settings().monitoring_table),
        RegisteredModels(dynamodb, get_settings().registry_table),
    )


@functools.cache
def endpoint_metrics_collector() -> EndpointMetricsCollector:
    from cirrus_core.metrics.adapters import ServingEndpoints
    from cirrus_core.metrics.collector import CloudWatchEndpointMetrics, EndpointMetricsCollector

    return EndpointMetricsCollector(
        ServingEndpoints(boto3.client("dynamodb"), get_metrics_settings().serving_table),
        CloudWatchEndpointMetrics(boto3.client("cloudwatch")),
        metrics_store(),
    )


@functools.cache
def scrape_tokens() -> ScrapeTokens:
    from cirrus_core.metrics.scrape import ScrapeTokens

    settings = get_metrics_settings()
    return ScrapeTokens(
        boto3.client("secretsmanager"), settings.scrape_token_secret, settings.secret_max_age_seconds
    )
