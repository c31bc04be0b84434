"""Ground truth: labels joined to stored predictions, compared, and added to the accuracy fields.

Every refusal happens before anything is written: unknown inference ids (422), records of a model the
caller may not send labels for (403), labels that differ from one already recorded (409), labels
that cannot be compared with their prediction (422).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from cirrus_core.authz import Resource, authorize
from cirrus_core.errors import GroundTruthConflict, UnjoinableGroundTruth, UnknownInferenceId
from cirrus_core.metrics import aggregates
from cirrus_core.metrics.comparison import Comparison, NotComparable, compare, same_class
from cirrus_core.metrics.models import GroundTruthRequest, GroundTruthResult
from cirrus_core.metrics.store import Duplicate

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from cirrus_core.caller import Caller
    from cirrus_core.metrics.store import StoredPrediction


class PredictionStore(Protocol):
    def predictions(self, inference_ids: Iterable[str]) -> dict[str, StoredPrediction]: ...

    def record_labels(
        self, labels: Sequence[tuple[StoredPrediction, Any, dict[str, float]]], at: datetime
    ) -> None: ...


class AccuracyMetrics(Protocol):
    """Where joined labels are counted as CloudWatch metrics (EMF in Lambda)."""

    def labels_joined(self, model_id: str, environment: str, comparison: Comparison) -> None: ...


def same_label(left: Any, right: Any) -> bool:
    """Whether two labels are the same value (by the comparison's class keys, row by row)."""
    if isinstance(left, list) != isinstance(right, list):
        return False
    if isinstance(left, list):
        return len(left) == len(right) and all(same_class(a, b) for a, b in zip(left, right, strict=True))
    return same_class(left, right)


def _sum(left: Comparison | None, right: Comparison) -> Comparison:
    if left is None:
        return right
    return Comparison(
        left.count + right.count,
        left.correct + right.correct,
        left.numeric_count + right.numeric_count,
        left.abs_error + right.abs_error,
        left.squared_error + right.squared_error,
    )


class GroundTruthService:
    def __init__(
        self,
        store: PredictionStore,
        metrics: AccuracyMetrics,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._clock = clock

    def put(self, request: GroundTruthRequest, caller: Caller) -> GroundTruthResult:
        labels: dict[str, Any] = {}
        repeated = []
        for record in request.records:
            if record.inference_id in labels and not same_label(labels[record.inference_id], record.label):
                repeated.append(record.inference_id)
            labels.setdefault(record.inference_id, record.label)
        stored = self._store.predictions(labels)
        unknown = [inference_id for inference_id in labels if inference_id not in stored]
        if unknown:
            raise UnknownInferenceId(
                f"{len(unknown)} inference id(s) match no stored prediction.",
                [{"inference_id": inference_id} for inference_id in unknown[:100]],
            )
        for model_id in sorted({prediction.model_id for prediction in stored.values()}):
            authorize(caller.principal, "PutGroundTruth", Resource.model(model_id))
        conflicts = [
            {"inference_id": inference_id, "recorded": stored[inference_id].label, "sent": label}
            for inference_id, label in labels.items()
            if stored[inference_id].labeled and not same_label(stored[inference_id].label, label)
        ]
        conflicts += [
            {"inference_id": inference_id, "reason": "sent twice with different labels"}
            for inference_id in repeated
        ]
        if conflicts:
            raise GroundTruthConflict(
                "Labels differ from the ones already recorded for these predictions.", conflicts[:100]
            )
        new: list[tuple[StoredPrediction, Any, Comparison]] = []
        problems = []
        for inference_id, label in labels.items():
            prediction = stored[inference_id]
            if prediction.labeled:
                continue
            if not prediction.prediction_stored:
                problems.append(
                    {"inference_id": inference_id, "reason": "the prediction was too large to keep"}
                )
                continue
            try:
                new.append((prediction, label, compare(prediction.prediction, label)))
            except NotComparable as error:
                problems.append({"inference_id": inference_id, "reason": str(error)})
        if problems:
            raise UnjoinableGroundTruth(
                "Some labels cannot be compared with their predictions.", problems[:100]
            )
        try:
            self._store.record_labels(
                [
                    (prediction, label, aggregates.comparison_counters(comparison))
                    for prediction, label, comparison in new
                ],
                self._clock(),
            )
        except Duplicate as error:
            raise GroundTruthConflict(
                "Another request recorded labels for these predictions meanwhile: send the request again.",
                [{"reason": "concurrent_ground_truth"}],
            ) from error
        per_model: dict[tuple[str, str], Comparison] = {}
        for prediction, _, comparison in new:
            key = (prediction.model_id, prediction.environment)
            per_model[key] = _sum(per_model.get(key), comparison)
        for (model_id, environment), comparison in sorted(per_model.items()):
            self._metrics.labels_joined(model_id, environment, comparison)
        return GroundTruthResult(
            recorded=len(new),
            unchanged=len(labels) - len(new),
            rows_compared=sum(comparison.count for _, _, comparison in new),
            rows_correct=sum(comparison.correct for _, _, comparison in new),
        )
