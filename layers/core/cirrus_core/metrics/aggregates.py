"""Counters of one aggregate item, and the metrics read from them (docs/monitoring.md, "Storage").

An aggregate is a flat map of numbers that only ever grows by ADD: request counts, the latency sum
and histogram, the accuracy fields of joined labels, and sums of resource gauges. Any set of
aggregates (versions, buckets of a window) adds up to another aggregate, and every metric is read
from one.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import TYPE_CHECKING, Final

from cirrus_core.metrics import histogram
from cirrus_core.metrics.models import Outcome
from cirrus_core.metrics.query import MetricName

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from cirrus_core.metrics.comparison import Comparison
    from cirrus_core.metrics.models import Observation

INVOCATIONS: Final = "inv"
ERRORS_4XX: Final = "e4xx"
ERRORS_5XX: Final = "e5xx"
MODEL_ERRORS: Final = "emodel"
LATENCY_SUM: Final = "lat_sum"
LATENCY_COUNT: Final = "lat_n"
GT_COUNT: Final = "gt_n"
GT_CORRECT: Final = "gt_ok"
GT_NUMERIC: Final = "gt_num"
GT_ABS_ERROR: Final = "gt_abs"
GT_SQUARED_ERROR: Final = "gt_sq"
CPU_SUM: Final = "cpu_sum"
CPU_COUNT: Final = "cpu_n"
MEMORY_SUM: Final = "mem_sum"
MEMORY_COUNT: Final = "mem_n"

Counters = dict[str, float]


def observation_counters(observation: Observation) -> Counters:
    """What one observation adds to its aggregates."""
    if observation.outcome is Outcome.ANSWERED:
        counters: Counters = {INVOCATIONS: 1}
        if observation.latency_ms is not None:
            counters[LATENCY_SUM] = observation.latency_ms
            counters[LATENCY_COUNT] = 1
            counters[histogram.attribute(histogram.bucket_of(observation.latency_ms))] = 1
        return counters
    if observation.outcome is Outcome.MODEL_ERROR:
        return {MODEL_ERRORS: 1}
    if observation.outcome is Outcome.FAILED:
        return {ERRORS_5XX: 1}
    return {ERRORS_4XX: 1}


def comparison_counters(comparison: Comparison) -> Counters:
    """What one joined label adds to its prediction's aggregates."""
    counters: Counters = {GT_COUNT: comparison.count, GT_CORRECT: comparison.correct}
    if comparison.numeric_count:
        counters[GT_NUMERIC] = comparison.numeric_count
        counters[GT_ABS_ERROR] = comparison.abs_error
        counters[GT_SQUARED_ERROR] = comparison.squared_error
    return counters


def add(into: Counters, more: Mapping[str, float]) -> Counters:
    """Add `more` into `into` (in place) and return it."""
    for name, value in more.items():
        into[name] = into.get(name, 0) + value
    return into


def total(aggregates: Iterable[Mapping[str, float]]) -> Counters:
    """The sum of several aggregates."""
    summed: Counters = defaultdict(float)
    for aggregate in aggregates:
        add(summed, aggregate)
    return dict(summed)


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def metric_value(metric: MetricName, counters: Mapping[str, float]) -> float | None:
    """A metric read from an aggregate; None when nothing it needs was measured."""

    def get(name: str) -> float:
        return float(counters.get(name, 0))

    answered, refused, failed, model = get(INVOCATIONS), get(ERRORS_4XX), get(ERRORS_5XX), get(MODEL_ERRORS)
    requests = answered + refused + failed + model
    match metric:
        case MetricName.INVOCATIONS:
            return answered if requests else None
        case MetricName.ERRORS_4XX:
            return refused if requests else None
        case MetricName.ERRORS_5XX:
            return failed if requests else None
        case MetricName.MODEL_ERRORS:
            return model if requests else None
        case MetricName.ERROR_RATE:
            return _ratio(refused + failed + model, requests)
        case MetricName.MODEL_ERROR_RATE:
            return _ratio(model, answered + model)
        case MetricName.LATENCY_AVG_MS:
            return _ratio(get(LATENCY_SUM), get(LATENCY_COUNT))
        case MetricName.LATENCY_P50_MS:
            return histogram.percentile(histogram.counts_of(counters), 0.50)
        case MetricName.LATENCY_P95_MS:
            return histogram.percentile(histogram.counts_of(counters), 0.95)
        case MetricName.LATENCY_P99_MS:
            return histogram.percentile(histogram.counts_of(counters), 0.99)
        case MetricName.GROUND_TRUTH_COUNT:
            return get(GT_COUNT) if get(GT_COUNT) else None
        case MetricName.ACCURACY:
            return _ratio(get(GT_CORRECT), get(GT_COUNT))
        case MetricName.MAE:
            return _ratio(get(GT_ABS_ERROR), get(GT_NUMERIC))
        case MetricName.RMSE:
            mean_square = _ratio(get(GT_SQUARED_ERROR), get(GT_NUMERIC))
            return math.sqrt(mean_square) if mean_square is not None else None
        case MetricName.CPU_UTILIZATION:
            return _ratio(get(CPU_SUM), get(CPU_COUNT))
        case _:  # MetricName.MEMORY_UTILIZATION
            return _ratio(get(MEMORY_SUM), get(MEMORY_COUNT))
