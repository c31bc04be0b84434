"""The local endpoint's resource metrics: the serving process's CPU and memory in CloudWatch, as
SageMaker publishes them (namespace /aws/sagemaker/Endpoints, EndpointName and VariantName)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from cirrus.localcloud.hooks.sagemaker_endpoints import RESOURCE_NAMESPACE, ResourceMetrics
from tests.support.aws import AwsResources


def published(cloudwatch: Any, metric: str) -> list[float]:
    now = datetime.now(UTC)
    response = cloudwatch.get_metric_statistics(
        Namespace=RESOURCE_NAMESPACE,
        MetricName=metric,
        Dimensions=[{"Name": "EndpointName", "Value": "ep"}, {"Name": "VariantName", "Value": "AllTraffic"}],
        StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=1),
        Period=60,
        Statistics=["SampleCount", "Maximum"],
    )
    return [point["SampleCount"] for point in response["Datapoints"]]


def test_an_invocation_publishes_the_processs_cpu_and_memory(aws: AwsResources) -> None:
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")

    ResourceMetrics(cloudwatch).invoked("ep", "AllTraffic")

    assert sum(published(cloudwatch, "CPUUtilization")) == 1
    assert sum(published(cloudwatch, "MemoryUtilization")) == 1


def test_a_variant_publishes_at_most_once_per_period(aws: AwsResources) -> None:
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    resources = ResourceMetrics(cloudwatch, period=3600)

    for _ in range(5):
        resources.invoked("ep", "AllTraffic")

    assert sum(published(cloudwatch, "CPUUtilization")) == 1


def test_memory_is_a_share_of_the_machine(aws: AwsResources) -> None:
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    ResourceMetrics(cloudwatch).invoked("ep", "AllTraffic")
    now = datetime.now(UTC)

    response = cloudwatch.get_metric_statistics(
        Namespace=RESOURCE_NAMESPACE,
        MetricName="MemoryUtilization",
        Dimensions=[{"Name": "EndpointName", "Value": "ep"}, {"Name": "VariantName", "Value": "AllTraffic"}],
        StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=1),
        Period=60,
        Statistics=["Maximum"],
    )

    (point,) = response["Datapoints"]
    assert 0 < point["Maximum"] <= 100
