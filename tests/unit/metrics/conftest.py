"""Fixtures of the metrics unit tests: the metrics table under moto, the wiring rebuilt per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from cirrus_core.metrics import wiring
from cirrus_core.metrics.settings import get_metrics_settings
from cirrus_core.metrics.store import MetricsStore
from tests.support.aws import TABLE_NAMES, AwsResources

METRICS_ENVIRONMENT = {
    "METRICS_TABLE_NAME": TABLE_NAMES["MetricsTable"],
    "MONITORING_TABLE_NAME": TABLE_NAMES["MonitoringTable"],
    "SERVING_TABLE_NAME": TABLE_NAMES["ServingTable"],
}


def _clear() -> None:
    get_metrics_settings.cache_clear()
    for builder in (
        wiring.metrics_store,
        wiring.metrics_recorder,
        wiring.ground_truth_service,
        wiring.history_service,
        wiring.endpoint_metrics_collector,
        wiring.scrape_tokens,
    ):
        builder.cache_clear()


@pytest.fixture(autouse=True)
def metrics_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in METRICS_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    _clear()
    yield
    _clear()


@pytest.fixture
def store(aws: AwsResources) -> MetricsStore:
    return MetricsStore(
        boto3.resource("dynamodb", region_name="us-east-1").Table(TABLE_NAMES["MetricsTable"])
    )


def metrics_items(aws: AwsResources) -> list[dict[str, Any]]:
    return list(aws.dynamodb.scan(TableName=TABLE_NAMES["MetricsTable"], ConsistentRead=True)["Items"])
