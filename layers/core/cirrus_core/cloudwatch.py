"""CloudWatch reads shared by the alert evaluator and the metrics collector: every page, every batch.

Takes an injected boto3 `cloudwatch` client and imports nothing heavy, so either caller's import path
stays as it was.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence
    from datetime import datetime

# GetMetricData takes at most 500 queries a call.
QUERIES_PER_CALL: Final = 500

T = TypeVar("T")


def metric_dimensions(client: Any, namespace: str, metric_name: str) -> Iterator[dict[str, str]]:
    """The dimensions (name to value) of each metric ListMetrics lists under `namespace` and `metric_name`."""
    paginator = client.get_paginator("list_metrics")
    for page in paginator.paginate(Namespace=namespace, MetricName=metric_name):
        for entry in page.get("Metrics", []):
            yield {item["Name"]: item["Value"] for item in entry.get("Dimensions", [])}


def metric_stat(
    namespace: str, metric_name: str, dimensions: Mapping[str, str], period: int, stat: str
) -> dict[str, Any]:
    """A GetMetricData `MetricStat` of one metric (dimensions in the order given)."""
    return {
        "Metric": {
            "Namespace": namespace,
            "MetricName": metric_name,
            "Dimensions": [{"Name": name, "Value": value} for name, value in dimensions.items()],
        },
        "Period": period,
        "Stat": stat,
    }


def metric_data(
    client: Any,
    series: Sequence[T],
    stat_of: Callable[[T], dict[str, Any]],
    start: datetime,
    end: datetime,
    **options: Any,
) -> Iterator[tuple[T, dict[str, Any]]]:
    """Each `MetricDataResults` entry of GetMetricData over `series` (one query each, `stat_of` its
    MetricStat), paired with its series item; `options` are further request parameters (`ScanBy`)."""
    for offset in range(0, len(series), QUERIES_PER_CALL):
        batch = series[offset : offset + QUERIES_PER_CALL]
        queries = [
            {"Id": f"q{index}", "MetricStat": stat_of(item), "ReturnData": True}
            for index, item in enumerate(batch)
        ]
        params: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": start, "EndTime": end, **options}
        while True:
            response = client.get_metric_data(**params)
            for result in response.get("MetricDataResults", []):
                yield batch[int(result["Id"][1:])], result
            token = response.get("NextToken")
            if not token:
                break
            params["NextToken"] = token
