"""The metric names the platform measures per model and environment, and the reader alert rules use.

This is the contract between the metrics store (which implements `MetricsReader`) and the alert rules
(`performance_degradation` names one of `MetricName` and compares its value over a window).
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from datetime import datetime


class MetricName(StrEnum):
    """A per-model, per-environment metric, as the history API and alert rules name it."""

    INVOCATIONS = "invocations"  # count of predict requests answered by the model
    ERRORS_4XX = "errors_4xx"  # count of predict requests refused (4xx)
    ERRORS_5XX = "errors_5xx"  # count of predict requests that failed on the platform side (5xx)
    MODEL_ERRORS = "model_errors"  # count of requests the model's container failed
    ERROR_RATE = "error_rate"  # (4xx + 5xx + model errors) / all requests, in [0, 1]
    MODEL_ERROR_RATE = "model_error_rate"  # model errors / all requests that reached the model
    LATENCY_AVG_MS = "latency_avg_ms"
    LATENCY_P50_MS = "latency_p50_ms"
    LATENCY_P95_MS = "latency_p95_ms"
    LATENCY_P99_MS = "latency_p99_ms"
    GROUND_TRUTH_COUNT = "ground_truth_count"  # labels joined to predictions
    ACCURACY = "accuracy"  # share of joined predictions equal to their label
    MAE = "mae"  # mean absolute error of joined numeric predictions
    RMSE = "rmse"  # root mean squared error of joined numeric predictions
    CPU_UTILIZATION = "cpu_utilization"  # endpoint CPU, percent (may exceed 100 on several cores)
    MEMORY_UTILIZATION = "memory_utilization"  # endpoint memory, percent


class MetricsReader(Protocol):
    """Reads one metric over a time window (all versions of the model in that environment)."""

    def window_value(
        self, model_id: str, environment: str, metric: MetricName, start: datetime, end: datetime
    ) -> float | None:
        """The metric over [start, end): None when nothing was measured in the window."""
        ...
