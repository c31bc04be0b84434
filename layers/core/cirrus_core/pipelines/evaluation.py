"""The quality gate: which metric a run is judged on, against what threshold, and the verdict.

The gate's metric is the run's `metric`, else `accuracy` (classification) or `rmse` (regression).
Its threshold is `target_accuracy` when the metric is accuracy (else `metric_threshold`; a
`target_accuracy` for another metric is refused); with no threshold the gate is not enforced.
Higher is better for accuracy, balanced_accuracy, f1, precision, recall, auc (roc_auc) and r2;
lower for rmse, mae, mse and log_loss.

`Collect evaluation` reads the evaluation job's `evaluation.json` (`{"metrics": {...}}` or a flat
object of numbers) and judges it; the `Quality gate` Choice acts on the verdict.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from cirrus_core.errors import EvaluationMissing, InvalidRunParameters
from cirrus_core.pipelines.definition import JobType, RunParameters, Task
from cirrus_core.pipelines.run_state import GateResult, GateSpec, WorkingState

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

Direction = Literal["max", "min"]

METRIC_DIRECTIONS: dict[Task, dict[str, Direction]] = {
    Task.CLASSIFICATION: {
        "accuracy": "max",
        "balanced_accuracy": "max",
        "f1": "max",
        "precision": "max",
        "recall": "max",
        "auc": "max",
        "roc_auc": "max",
        "log_loss": "min",
    },
    Task.REGRESSION: {"rmse": "min", "mae": "min", "mse": "min", "r2": "max"},
}
DEFAULT_METRIC = {Task.CLASSIFICATION: "accuracy", Task.REGRESSION: "rmse"}
MAX_EVALUATION_BYTES = 1_000_000


def gate_for(parameters: RunParameters, *, has_evaluation: bool) -> GateSpec | None:
    """The run's gate, None without an evaluation step; InvalidRunParameters for a gate that
    cannot be judged (an unknown metric for the task, a threshold with nothing to evaluate)."""
    metric = parameters.metric or DEFAULT_METRIC[parameters.task]
    threshold = parameters.metric_threshold
    if parameters.target_accuracy is not None:
        if metric != "accuracy":
            # Ignoring it would leave a gate the caller believes in unenforced.
            raise InvalidRunParameters(
                f"target_accuracy is a threshold for accuracy, but the gate checks {metric}: "
                "set metric_threshold instead.",
                [{"field": "target_accuracy", "metric": metric}],
            )
        threshold = parameters.target_accuracy
    if not has_evaluation:
        if threshold is not None:
            field = "target_accuracy" if parameters.target_accuracy is not None else "metric_threshold"
            raise InvalidRunParameters(
                f"The run sets {field}, but the pipeline has no model_evaluation step to check it.",
                [{"field": field}],
            )
        return None
    directions = METRIC_DIRECTIONS[parameters.task]
    if metric not in directions:
        raise InvalidRunParameters(
            f"metric {metric!r} is not a {parameters.task.value} metric the gate knows; "
            f"use one of {', '.join(sorted(directions))}.",
            [{"field": "metric", "allowed": sorted(directions)}],
        )
    return GateSpec(
        metric=metric, threshold=threshold, direction=directions[metric], enforced=threshold is not None
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def read_metrics(document: Any) -> dict[str, float]:
    """The finite numbers of an evaluation document: `{"metrics": {...}}` or a flat object."""
    if not isinstance(document, dict):
        return {}
    nested = document.get("metrics")
    source: dict[Any, Any] = nested if isinstance(nested, dict) else document
    metrics = {}
    for name, value in source.items():
        number = _number(value)
        if isinstance(name, str) and number is not None:
            metrics[name] = number
    return metrics


def _shown(value: float) -> str:
    return f"{value:.4g}"


def judge(gate: GateSpec, metrics: dict[str, float]) -> GateResult:
    """The gate's verdict on the metrics; EvaluationMissing when an enforced gate's metric is absent."""
    value = metrics.get(gate.metric)
    if value is None:
        if gate.enforced:
            raise EvaluationMissing(
                f"The evaluation reported no {gate.metric!r}, which the quality gate checks "
                f"(it reported {', '.join(sorted(metrics)) or 'nothing'}).",
                [{"metric": gate.metric, "reported": sorted(metrics)}],
            )
        return GateResult(
            **gate.model_dump(),
            value=None,
            passed=True,
            explanation=f"{gate.metric} was not reported; no threshold is set, so the gate is not enforced",
        )
    if not gate.enforced or gate.threshold is None:
        return GateResult(
            **gate.model_dump(),
            value=value,
            passed=True,
            explanation=f"{gate.metric} {_shown(value)}; no threshold is set, so the gate is not enforced",
        )
    threshold = gate.threshold
    if gate.direction == "max":
        passed = value >= threshold
        relation = "meets the target" if passed else "is below the target"
    else:
        passed = value <= threshold
        relation = "is within the limit" if passed else "is above the limit"
    return GateResult(
        **gate.model_dump(),
        value=value,
        passed=passed,
        explanation=f"{gate.metric} {_shown(value)} {relation} {_shown(threshold)}",
    )


class EvaluationReader:
    """Reads evaluation documents from S3."""

    def __init__(self, client: S3Client) -> None:
        self._client = client

    def read(self, uri: str) -> Any:
        """The parsed JSON at an s3:// URI; EvaluationMissing when absent or not JSON."""
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        try:
            body = self._client.get_object(Bucket=bucket, Key=key)["Body"].read(MAX_EVALUATION_BYTES + 1)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "error")
            raise EvaluationMissing(
                f"The evaluation job's report {uri} cannot be read ({code}).", [{"uri": uri, "error": code}]
            ) from error
        if len(body) > MAX_EVALUATION_BYTES:
            raise EvaluationMissing(f"The evaluation report {uri} is larger than 1 MB.", [{"uri": uri}])
        try:
            return json.loads(body)
        except ValueError as error:
            raise EvaluationMissing(f"The evaluation report {uri} is not JSON.", [{"uri": uri}]) from error


def collect_evaluation(state: WorkingState, reader: EvaluationReader) -> dict[str, Any]:
    """`{"metrics", "gate"}` of the run's evaluation step (its cached output's when reused)."""
    step = state.step_of_type(JobType.MODEL_EVALUATION)
    if step is None:
        raise EvaluationMissing("The pipeline has no model_evaluation step to collect.")
    uri = state.output_of(step.id).get("evaluation_uri")
    if not isinstance(uri, str):
        raise EvaluationMissing(f"Step {step.id!r} has no evaluation_uri in the working state.")
    metrics = read_metrics(reader.read(uri))
    gate = state.gate or gate_for(state.run_parameters(), has_evaluation=True)
    if gate is None:  # pragma: no cover - gate_for returns a gate when there is an evaluation
        raise EvaluationMissing("The run has no quality gate.")
    verdict = judge(gate, metrics)
    return {"metrics": metrics, "gate": verdict.model_dump(mode="json")}
