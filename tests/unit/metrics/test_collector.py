"""CollectEndpointMetricsFunction: serving endpoints' CPU and memory from CloudWatch, stored as gauges."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from cirrus_core.metrics import aggregates
from cirrus_core.metrics.models import Resolution
from cirrus_core.metrics.query import MetricName
from cirrus_core.metrics.store import MetricsStore
from tests.support.api import LambdaContextStub
from tests.support.aws import TABLE_NAMES, AwsResources
from tests.unit.metrics.support import MODEL_ID

ENDPOINT = "fraud-detection-v2-prod"


def deploy(aws: AwsResources, environment: str, endpoint: str, status: str = "deployed") -> None:
    aws.dynamodb.put_item(
        TableName=TABLE_NAMES["ServingTable"],
        Item={
            "pk": {"S": f"MODEL#{MODEL_ID}"},
            "sk": {"S": f"ENV#{environment}"},
            "environment": {"S": environment},
            "status": {"S": status},
            "version": {"N": "3"},
            "endpoint_name": {"S": endpoint},
        },
    )


def publish(endpoint: str, metric: str, value: float, at: datetime, variant: str = "AllTraffic") -> None:
    boto3.client("cloudwatch", region_name="us-east-1").put_metric_data(
        Namespace="/aws/sagemaker/Endpoints",
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": [
                    {"Name": "EndpointName", "Value": endpoint},
                    {"Name": "VariantName", "Value": variant},
                ],
                "Timestamp": at,
                "Value": value,
                "Unit": "Percent",
            }
        ],
    )


def collect() -> dict[str, int]:
    module = importlib.import_module("functions.monitoring.steps.collect_endpoint_metrics")
    return dict(module.lambda_handler({}, LambdaContextStub()))


def test_a_serving_endpoints_cpu_and_memory_are_stored_as_gauges(
    aws: AwsResources, store: MetricsStore
) -> None:
    deploy(aws, "prod", ENDPOINT)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    publish(ENDPOINT, "CPUUtilization", 40.0, now - timedelta(minutes=1))
    publish(ENDPOINT, "MemoryUtilization", 20.0, now - timedelta(minutes=1))

    assert collect() == {"endpoints": 1}

    window = (now - timedelta(minutes=10), now + timedelta(minutes=1))
    assert store.window_value(MODEL_ID, "prod", MetricName.CPU_UTILIZATION, *window) == pytest.approx(40.0)
    assert store.window_value(MODEL_ID, "prod", MetricName.MEMORY_UTILIZATION, *window) == pytest.approx(20.0)
    (total,) = store.totals()
    assert (total.counters["cpu_last"], total.counters["mem_last"]) == (40.0, 20.0)


def test_a_datapoint_read_again_by_the_next_run_is_not_counted_twice(
    aws: AwsResources, store: MetricsStore
) -> None:
    # GIVEN one CPU datapoint, collected once
    deploy(aws, "prod", ENDPOINT)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    publish(ENDPOINT, "CPUUtilization", 40.0, now - timedelta(minutes=1))
    collect()

    # WHEN the next run finds the same newest datapoint, and then a newer one arrives
    again = collect()
    publish(ENDPOINT, "CPUUtilization", 80.0, now)
    newer = collect()

    # THEN the repeat stores nothing, and the minute buckets hold one sample each
    assert (again, newer) == ({"endpoints": 0}, {"endpoints": 1})
    first = store.series(MODEL_ID, "prod", Resolution.MINUTE, now - timedelta(minutes=1), now)
    assert [item.counters[aggregates.CPU_COUNT] for item in first] == [1.0]
    window = (now - timedelta(minutes=10), now + timedelta(minutes=1))
    assert store.window_value(MODEL_ID, "prod", MetricName.CPU_UTILIZATION, *window) == pytest.approx(60.0)


def test_variants_of_one_endpoint_are_averaged(aws: AwsResources, store: MetricsStore) -> None:
    deploy(aws, "prod", ENDPOINT)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    publish(ENDPOINT, "CPUUtilization", 30.0, now - timedelta(minutes=1), "Blue")
    publish(ENDPOINT, "CPUUtilization", 50.0, now - timedelta(minutes=1), "Green")

    collect()

    (total,) = store.totals()
    assert total.counters["cpu_last"] == 40.0


def test_endpoints_not_serving_and_other_endpoints_metrics_are_ignored(
    aws: AwsResources, store: MetricsStore
) -> None:
    deploy(aws, "staging", "fraud-detection-v2-staging", status="undeployed")
    now = datetime.now(UTC)
    publish("fraud-detection-v2-staging", "CPUUtilization", 90.0, now - timedelta(minutes=1))
    publish("someone-elses-endpoint", "CPUUtilization", 90.0, now - timedelta(minutes=1))

    assert collect() == {"endpoints": 0}
    assert store.totals() == []
