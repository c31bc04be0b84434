"""Accuracy and ground truth as CloudWatch metrics (EMF, namespace Cirrus), per model and environment."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

if TYPE_CHECKING:
    from cirrus_core.metrics.comparison import Comparison


class AccuracyMetricsRecorder:
    """One EMF record per model and environment of a ground truth request: `GroundTruthRows` and
    `GroundTruthCorrect` (counts), `Accuracy` (percent of those rows), and for numeric rows
    `MeanAbsoluteError` (None unit), dimensioned by model_id, environment and service."""

    def __init__(self, namespace: str = "Cirrus", service: str = "cirrus-monitoring") -> None:
        self._namespace = namespace
        self._service = service

    def labels_joined(self, model_id: str, environment: str, comparison: Comparison) -> None:
        if comparison.count == 0:
            return
        metrics = EphemeralMetrics(namespace=self._namespace, service=self._service)
        metrics.add_dimension(name="model_id", value=model_id)
        metrics.add_dimension(name="environment", value=environment)
        metrics.add_metric(name="GroundTruthRows", unit=MetricUnit.Count, value=comparison.count)
        metrics.add_metric(name="GroundTruthCorrect", unit=MetricUnit.Count, value=comparison.correct)
        metrics.add_metric(
            name="Accuracy", unit=MetricUnit.Percent, value=100.0 * comparison.correct / comparison.count
        )
        if comparison.numeric_count:
            metrics.add_metric(
                name="MeanAbsoluteError",
                unit=MetricUnit.NoUnit,
                value=comparison.abs_error / comparison.numeric_count,
            )
        metrics.flush_metrics()
