"""The per-model metrics in Prometheus's text exposition format 0.0.4, from the running totals.

Every series carries the labels model, version (`3`, or `none` for requests refused before an
endpoint was chosen) and environment. Label values are escaped (backslash, double quote, newline).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final

from cirrus_core.metrics import aggregates, histogram
from cirrus_core.metrics.query import MetricName

if TYPE_CHECKING:
    from collections.abc import Sequence

    from cirrus_core.metrics.store import TotalItem

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(total: TotalItem, **extra: str) -> str:
    pairs = {
        "model": total.model_id,
        "version": total.version.removeprefix("v"),
        "environment": total.environment,
        **extra,
    }
    return "{" + ",".join(f'{name}="{escape(value)}"' for name, value in pairs.items()) + "}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def get(total: TotalItem, name: str) -> float:
    return float(total.counters.get(name, 0))


def _family(lines: list[str], name: str, kind: str, help_text: str, samples: Sequence[str]) -> None:
    if not samples:
        return
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} {kind}")
    lines.extend(samples)


def render(totals: Sequence[TotalItem]) -> str:
    """The exposition text of these running totals (with their last resource gauges)."""
    lines: list[str] = []
    _family(
        lines,
        "cirrus_model_invocations_total",
        "counter",
        "Predict requests the model answered.",
        [
            f"cirrus_model_invocations_total{_labels(t)} {_number(get(t, aggregates.INVOCATIONS))}"
            for t in totals
        ],
    )
    errors = []
    for total in totals:
        for kind, name in (
            ("4xx", aggregates.ERRORS_4XX),
            ("5xx", aggregates.ERRORS_5XX),
            ("model", aggregates.MODEL_ERRORS),
        ):
            errors.append(f"cirrus_model_errors_total{_labels(total, kind=kind)} {_number(get(total, name))}")
    _family(
        lines,
        "cirrus_model_errors_total",
        "counter",
        "Predict requests refused (4xx), failed on the platform (5xx) or failed by the model (model).",
        errors,
    )
    latency = []
    for total in totals:
        if get(total, aggregates.LATENCY_COUNT) <= 0:
            continue
        counts = histogram.counts_of(total.counters)
        for le, last_index in histogram.prometheus_bounds():
            cumulative = sum(counts[: last_index + 1])
            latency.append(
                f"cirrus_model_latency_seconds_bucket{_labels(total, le=_number(le))} {_number(cumulative)}"
            )
        latency.append(
            f"cirrus_model_latency_seconds_bucket{_labels(total, le='+Inf')} {_number(sum(counts))}"
        )
        seconds = get(total, aggregates.LATENCY_SUM) / 1000.0
        latency.append(f"cirrus_model_latency_seconds_sum{_labels(total)} {_number(seconds)}")
        count = get(total, aggregates.LATENCY_COUNT)
        latency.append(f"cirrus_model_latency_seconds_count{_labels(total)} {_number(count)}")
    _family(
        lines,
        "cirrus_model_latency_seconds",
        "histogram",
        "Model latency of answered predict requests.",
        latency,
    )
    accuracy = []
    ground_truth = []
    for total in totals:
        value = aggregates.metric_value(MetricName.ACCURACY, total.counters)
        if value is not None:
            accuracy.append(f"cirrus_model_accuracy{_labels(total)} {_number(value)}")
            ground_truth.append(
                f"cirrus_model_ground_truth_total{_labels(total)} {_number(get(total, aggregates.GT_COUNT))}"
            )
    _family(
        lines,
        "cirrus_model_accuracy",
        "gauge",
        "Share of labelled prediction rows equal to their label.",
        accuracy,
    )
    _family(
        lines,
        "cirrus_model_ground_truth_total",
        "counter",
        "Prediction rows joined to a ground truth label.",
        ground_truth,
    )
    for family, key, help_text in (
        (
            "cirrus_endpoint_cpu_utilization_percent",
            "cpu_last",
            "Endpoint CPU utilization, last sample (percent).",
        ),
        (
            "cirrus_endpoint_memory_utilization_percent",
            "mem_last",
            "Endpoint memory utilization, last sample (percent).",
        ),
    ):
        _family(
            lines,
            family,
            "gauge",
            help_text,
            [f"{family}{_labels(t)} {_number(t.counters[key])}" for t in totals if key in t.counters],
        )
    return "\n".join(lines) + "\n"
