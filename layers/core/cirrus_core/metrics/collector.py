"""Resource metrics: each serving endpoint's CPU and memory from CloudWatch, stored as gauges.

SageMaker publishes `CPUUtilization` and `MemoryUtilization` (percent; CPU summed over cores, so it
may exceed 100) in the namespace `/aws/sagemaker/Endpoints` with dimensions EndpointName and
VariantName, once a minute. The collector lists the namespace's metrics once per metric name, reads
the last few minutes of every serving endpoint's variants with GetMetricData (up to 500 queries a
call), and stores the newest datapoint of each endpoint (the mean over its variants) in the minute,
hour and day aggregates of its time and as the last value on the version's total; a datapoint already
stored by an earlier run is not added again.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Protocol

from cirrus_core.cloudwatch import metric_data, metric_dimensions, metric_stat

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

NAMESPACE: Final = "/aws/sagemaker/Endpoints"
METRICS: Final = {"CPUUtilization": "cpu", "MemoryUtilization": "mem"}
LOOKBACK: Final = timedelta(minutes=5)


class Endpoints(Protocol):
    def serving(self) -> list[tuple[str, str, int, str]]: ...


class GaugeWriter(Protocol):
    def record_gauges(
        self, model_id: str, environment: str, version: int, at: datetime, gauges: Mapping[str, float]
    ) -> bool: ...


@dataclass(frozen=True)
class Reading:
    endpoint_name: str
    variant_name: str
    gauge: str
    at: datetime
    value: float


class CloudWatchEndpointMetrics:
    """ListMetrics + GetMetricData over SageMaker's endpoint namespace (an injected boto3 client)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def latest(self, endpoint_names: set[str], now: datetime) -> list[Reading]:
        series: list[tuple[str, str, str]] = []  # (metric, endpoint, variant)
        for metric in METRICS:
            for dimensions in metric_dimensions(self._client, NAMESPACE, metric):
                endpoint, variant = dimensions.get("EndpointName"), dimensions.get("VariantName")
                if endpoint in endpoint_names and variant:
                    series.append((metric, endpoint, variant))

        def stat_of(item: tuple[str, str, str]) -> dict[str, Any]:
            metric, endpoint, variant = item
            dimensions = {"EndpointName": endpoint, "VariantName": variant}
            return metric_stat(NAMESPACE, metric, dimensions, 60, "Average")

        readings: list[Reading] = []
        minute = now.astimezone(UTC).replace(second=0, microsecond=0)
        # Whole minutes, so each datapoint's timestamp is its minute's start.
        start, end = minute - LOOKBACK, minute + timedelta(minutes=1)
        results = metric_data(self._client, series, stat_of, start, end, ScanBy="TimestampDescending")
        for (metric, endpoint, variant), result in results:
            points = list(zip(result.get("Timestamps", []), result.get("Values", []), strict=False))
            if not points:
                continue
            at, value = max(points, key=lambda point: point[0])
            readings.append(Reading(endpoint, variant, METRICS[metric], at.astimezone(UTC), float(value)))
        return readings


class ResourceReader(Protocol):
    def latest(self, endpoint_names: set[str], now: datetime) -> list[Reading]: ...


class EndpointMetricsCollector:
    def __init__(
        self,
        endpoints: Endpoints,
        reader: ResourceReader,
        writer: GaugeWriter,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._endpoints = endpoints
        self._reader = reader
        self._writer = writer
        self._clock = clock

    def collect(self) -> int:
        """Store the newest CPU and memory of every serving endpoint, once per datapoint; the number of
        (endpoint, version) readings stored."""
        serving = self._endpoints.serving()
        if not serving:
            return 0
        by_endpoint: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
        for model_id, environment, version, endpoint in serving:
            by_endpoint[endpoint].append((model_id, environment, version))
        readings = self._reader.latest(set(by_endpoint), self._clock())
        grouped: dict[str, dict[str, list[Reading]]] = defaultdict(lambda: defaultdict(list))
        for reading in readings:
            grouped[reading.endpoint_name][reading.gauge].append(reading)
        stored = 0
        for endpoint, gauges in sorted(grouped.items()):
            values = {gauge: sum(r.value for r in items) / len(items) for gauge, items in gauges.items()}
            at = max(r.at for items in gauges.values() for r in items)
            for model_id, environment, version in by_endpoint[endpoint]:
                if self._writer.record_gauges(model_id, environment, version, at, values):
                    stored += 1
        return stored
