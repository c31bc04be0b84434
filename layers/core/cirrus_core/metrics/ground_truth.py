"""Ground truth: labels joined to stored predictions, compared, and added to the accuracy fields.

Every refusal happens before anything is written, in this order: records of a model the caller may
not send labels for (403, checked on the models of the ids found first, so that the 422 below never
tells a caller which ids of other models exist), unknown inference ids (422), labels that differ
from one already recorded (409), labels that cannot be compared with their prediction (422). A
request that records labels writes its audit record in the transaction of its first labels; one
that changes nothing writes none.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from cirrus_core.audit.entries import entry_for
from cirrus_core.audit.models import AuditCategory, canonical_json, sha256_hex
from cirrus_core.authz import Resource, authorize
from cirrus_core.errors import (
    AccessDenied,
    GroundTruthConflict,
    UnjoinableGroundTruth,
    UnknownInferenceId,
)
from cirrus_core.metrics import aggregates
from cirrus_core.metrics.comparison import Comparison, NotComparable, compare, same_class
from cirrus_core.metrics.models import GroundTruthRequest, GroundTruthResult
from cirrus_core.metrics.store import Duplicate

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from cirrus_core.audit.models import AuditEntry
    from cirrus_core.caller import Caller
    from cirrus_core.metrics.store import StoredPrediction

AUDIT_ACTION = "put_ground_truth"


class PredictionStore(Protocol):
    def predictions(self, inference_ids: Iterable[str]) -> dict[str, StoredPrediction]: ...

    def record_labels(
        self,
        labels: Sequence[tuple[StoredPrediction, Any, dict[str, float]]],
        at: datetime,
        audit: AuditEntry | None = None,
    ) -> None:
        """Write the labels; `audit`'s record goes in the transaction of the first of them."""
        ...


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
        policies = self._authorize(caller, {prediction.model_id for prediction in stored.values()})
        unknown = [inference_id for inference_id in labels if inference_id not in stored]
        if unknown:
            raise UnknownInferenceId(
                f"{len(unknown)} inference id(s) match no stored prediction.",
                [{"inference_id": inference_id} for inference_id in unknown[:100]],
            )
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
            if new:
                now = self._clock()
                self._store.record_labels(
                    [
                        (prediction, label, aggregates.comparison_counters(comparison))
                        for prediction, label, comparison in new
                    ],
                    now,
                    self._audit_entry(caller, new, policies, now),
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

    @staticmethod
    def _authorize(caller: Caller, model_ids: set[str]) -> list[str]:
        """PutGroundTruth on every model; the policies that allowed it (for the audit record).

        The refusal names no model: the caller sent inference ids, and the answer does not tell which
        model one of them belongs to."""
        policies: set[str] = set()
        for model_id in sorted(model_ids):
            try:
                decision = authorize(caller.principal, "PutGroundTruth", Resource.model(model_id))
            except AccessDenied as error:
                raise AccessDenied(
                    error.action,
                    error.reason,
                    f"{caller.actor} may not send ground truth for some of these predictions.",
                    error.policies,
                ) from None
            policies.update(decision.policies)
        return sorted(policies)

    @staticmethod
    def _audit_entry(
        caller: Caller,
        new: Sequence[tuple[StoredPrediction, Any, Comparison]],
        policies: list[str],
        at: datetime,
    ) -> AuditEntry:
        """The request's audit record: the model's labels (every model's, for a request spanning
        several), with the hash of the labels it recorded."""
        model_ids = sorted({prediction.model_id for prediction, _, _ in new})
        resource = f"model/{model_ids[0]}/ground-truth" if len(model_ids) == 1 else "monitoring/ground-truth"
        recorded = sorted(
            ({"inference_id": prediction.inference_id, "label": label} for prediction, label, _ in new),
            key=lambda item: str(item["inference_id"]),
        )
        return entry_for(
            caller,
            AUDIT_ACTION,
            resource,
            AuditCategory.CHANGE,
            at,
            policies=policies,
            after_hash=sha256_hex(canonical_json(recorded)),
        )
