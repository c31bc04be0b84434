"""History: a metric's points over a time range, and drift scores over time (docs/monitoring.md).

Query parameters arrive as text and are checked here, so that each refusal has its own code:
unknown_metric, invalid_resolution, invalid_time_range (unparseable, no time zone, inverted or
empty), time_range_too_long (1m: 1 day, 1h: 31 days, 1d: 400 days). Nothing is read on a refusal.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Protocol

from cirrus_core.authz import Resource, authorize
from cirrus_core.errors import (
    InvalidResolution,
    InvalidTimeRange,
    ModelNotFound,
    TimeRangeTooLong,
    UnknownMetric,
)
from cirrus_core.metrics import aggregates
from cirrus_core.metrics.models import (
    MAX_RANGE,
    DriftFeaturePoint,
    DriftHistory,
    DriftHistoryRun,
    MetricHistory,
    MetricPoint,
    Resolution,
)
from cirrus_core.metrics.query import MetricName

if TYPE_CHECKING:
    from collections.abc import Callable

    from cirrus_core.caller import Caller
    from cirrus_core.metrics.store import SeriesItem
    from cirrus_core.registry.models import Environment

DEFAULT_SPAN: Final = {
    Resolution.MINUTE: timedelta(hours=1),
    Resolution.HOUR: timedelta(days=1),
    Resolution.DAY: timedelta(days=30),
}
MAX_DRIFT_RANGE: Final = timedelta(days=400)


class SeriesReader(Protocol):
    def series(
        self, model_id: str, environment: str, resolution: Resolution, start: datetime, end: datetime
    ) -> list[SeriesItem]: ...


class DriftRunsReader(Protocol):
    def runs_between(
        self, model_id: str, start: datetime, end: datetime, environment: str | None
    ) -> list[dict[str, Any]]: ...


class Models(Protocol):
    def exists(self, model_id: str) -> bool: ...


def parse_time(value: str | None, name: str) -> datetime | None:
    """An ISO 8601 time with a zone (`2024-06-01T12:00:00Z`); InvalidTimeRange otherwise."""
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError as error:
        raise InvalidTimeRange(
            f"`{name}` is not an ISO 8601 time.", [{"field": name, "value": value[:64]}]
        ) from error
    if parsed.tzinfo is None:
        raise InvalidTimeRange(
            f"`{name}` needs a time zone (e.g. Z).", [{"field": name, "value": value[:64]}]
        )
    return parsed.astimezone(UTC)


def time_range(
    start_text: str | None, end_text: str | None, default_span: timedelta, longest: timedelta, now: datetime
) -> tuple[datetime, datetime]:
    end = parse_time(end_text, "to") or now
    start = parse_time(start_text, "from") or end - default_span
    if end <= start:
        raise InvalidTimeRange(
            "`to` must be after `from`.", [{"from": start.isoformat(), "to": end.isoformat()}]
        )
    if end - start > longest:
        raise TimeRangeTooLong(
            f"The range is longer than {longest.days} day(s) allowed at this resolution.",
            [{"from": start.isoformat(), "to": end.isoformat(), "max_days": longest.days}],
        )
    return start, end


def _points(items: list[tuple[datetime, dict[str, float]]], metric: MetricName) -> list[MetricPoint]:
    points = []
    for timestamp, counters in sorted(items, key=lambda item: item[0]):
        value = aggregates.metric_value(metric, counters)
        if value is not None:
            points.append(MetricPoint(timestamp=timestamp, value=value))
    return points


class HistoryService:
    def __init__(
        self,
        series: SeriesReader,
        drift_runs: DriftRunsReader,
        models: Models,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._series = series
        self._drift_runs = drift_runs
        self._models = models
        self._clock = clock

    def metric_history(
        self,
        model_id: str,
        metric: str | None,
        start: str | None,
        end: str | None,
        resolution: str | None,
        environment: Environment,
        caller: Caller,
    ) -> MetricHistory:
        authorize(caller.principal, "GetModelMetrics", Resource.model(model_id))
        try:
            name = MetricName(metric or "")
        except ValueError as error:
            raise UnknownMetric(
                f"Unknown metric {metric!r}.",
                [{"field": "metric", "known": [item.value for item in MetricName]}],
            ) from error
        try:
            step = Resolution(resolution or Resolution.HOUR.value)
        except ValueError as error:
            raise InvalidResolution(
                f"Unknown resolution {resolution!r}.",
                [{"field": "resolution", "known": [item.value for item in Resolution]}],
            ) from error
        first, last = time_range(start, end, DEFAULT_SPAN[step], MAX_RANGE[step], self._clock())
        if not self._models.exists(model_id):
            raise ModelNotFound(f"Model '{model_id}' is not registered.", [{"model_id": model_id}])
        items = self._series.series(model_id, environment.value, step, first, last)
        by_bucket: dict[datetime, dict[str, float]] = defaultdict(dict)
        by_version: dict[str, dict[datetime, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
        for item in items:
            aggregates.add(by_bucket[item.start], item.counters)
            aggregates.add(by_version[item.version][item.start], item.counters)
        return MetricHistory(
            model_id=model_id,
            environment=environment,
            metric=name.value,
            resolution=step,
            start=first,
            end=last,
            points=_points(list(by_bucket.items()), name),
            versions={
                version: _points(list(buckets.items()), name)
                for version, buckets in sorted(by_version.items())
            },
        )

    def drift_history(
        self,
        model_id: str,
        start: str | None,
        end: str | None,
        environment: Environment | None,
        caller: Caller,
    ) -> DriftHistory:
        authorize(caller.principal, "GetModelMetrics", Resource.model(model_id))
        first, last = time_range(start, end, timedelta(days=7), MAX_DRIFT_RANGE, self._clock())
        if not self._models.exists(model_id):
            raise ModelNotFound(f"Model '{model_id}' is not registered.", [{"model_id": model_id}])
        runs = []
        features: dict[str, list[MetricPoint]] = defaultdict(list)
        for item in self._drift_runs.runs_between(
            model_id, first, last, environment.value if environment else None
        ):
            summary = item["run"]
            window_end = datetime.fromisoformat(summary["window_end"])
            points = []
            for feature in item["features"]:
                scores = {method["method"]: float(method["score"]) for method in feature.get("methods", [])}
                points.append(
                    DriftFeaturePoint(
                        feature=feature["name"], drifted=bool(feature["drifted"]), scores=scores
                    )
                )
                for method, score in scores.items():
                    features[f"{feature['name']}.{method}"].append(
                        MetricPoint(timestamp=window_end, value=score)
                    )
            runs.append(
                DriftHistoryRun(
                    run_id=summary["run_id"],
                    timestamp=window_end,
                    window_start=datetime.fromisoformat(summary["window_start"]),
                    window_end=window_end,
                    version=summary.get("version"),
                    status=summary["status"],
                    drift_share=summary.get("drift_share"),
                    dataset_drift=summary.get("dataset_drift"),
                    features=points,
                )
            )
        return DriftHistory(
            model_id=model_id,
            environment=environment,
            start=first,
            end=last,
            runs=runs,
            features=dict(features),
        )


def decode_run(item: dict[str, Any]) -> dict[str, Any]:
    """A monitoring table run item (low-level attribute values) as {run, features}."""
    return {
        "run": json.loads(item["run"]["S"]),
        "features": json.loads(item.get("features", {}).get("S", "[]")),
    }
