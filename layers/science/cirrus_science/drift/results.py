"""What a drift check returns: per feature, per method, with the threshold used and where it came from.

Plain frozen dataclasses with ``to_dict`` (JSON-able, finite numbers only) and ``from_dict``; the
monitoring service stores ``DriftResult.to_dict()`` and renders reports from the objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from collections.abc import Mapping

FeatureKind = Literal["numeric", "categorical"]
ThresholdSource = Literal["feature", "model", "calibrated", "floor", "benjamini_hochberg"]
"""Where a threshold came from: a per-feature or per-model fixed value from the config, the
resampled no-drift distribution at this window's size, the configured floor (when it was higher
than the calibrated value), or the Benjamini-Hochberg cut-off across the run's tests."""
PValueMethod = Literal["exact", "asymptotic", "monte_carlo"]
"""How a test's p-value was computed: KS exact (both samples at most 10 000 values, as scipy's
``method="auto"``) or asymptotic; chi-square asymptotic (every expected cell count at least 5) or
Monte-Carlo from the calibration's resampled null statistics."""


@dataclass(frozen=True)
class MethodResult:
    """One method's score on one feature and whether it flags drift."""

    method: str  # ks | chi_square | psi | js
    score: float  # a test's p-value (its statistic in ``statistic``); a distance's value
    threshold: float  # a test: drifts when the p-value is at most this; a distance: when the score exceeds it
    threshold_source: ThresholdSource
    drifted: bool
    statistic: float | None = None  # the test statistic (KS D, chi-square), None for distances
    p_value_method: PValueMethod | None = None  # how a test's p-value was computed, None for distances

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "score": self.score,
            "threshold": self.threshold,
            "threshold_source": self.threshold_source,
            "drifted": self.drifted,
            "statistic": self.statistic,
            "p_value_method": self.p_value_method,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MethodResult:
        statistic = data.get("statistic")
        return cls(
            method=str(data["method"]),
            score=float(data["score"]),
            threshold=float(data["threshold"]),
            threshold_source=data["threshold_source"],
            drifted=bool(data["drifted"]),
            statistic=None if statistic is None else float(statistic),
            p_value_method=data.get("p_value_method"),
        )


@dataclass(frozen=True)
class Histogram:
    """Reference and current shares on the same bins (numeric) or buckets (categorical).

    ``labels`` name the bins (``"[1.2, 3.4)"``, ``"< 1.2"``, ``">= 9.9"``) or categories (the last
    bucket of a categorical feature is ``"(unseen)"``).
    """

    labels: tuple[str, ...]
    reference: tuple[float, ...]
    current: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"labels": list(self.labels), "reference": list(self.reference), "current": list(self.current)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Histogram:
        return cls(
            labels=tuple(str(x) for x in data["labels"]),
            reference=tuple(float(x) for x in data["reference"]),
            current=tuple(float(x) for x in data["current"]),
        )


@dataclass(frozen=True)
class QualityChecks:
    """Data-quality checks of one feature in the window (shares of the window's rows)."""

    missing_share: float
    reference_missing_share: float
    non_numeric_share: float = 0.0  # numeric features: text where a number belongs
    out_of_range_share: float = 0.0  # numeric features: outside the reference's [min, max]
    unseen_share: float = 0.0  # categorical features: categories the reference never saw
    unseen_categories: tuple[str, ...] = ()  # at most 20, sorted

    def to_dict(self) -> dict[str, Any]:
        return {
            "missing_share": self.missing_share,
            "reference_missing_share": self.reference_missing_share,
            "non_numeric_share": self.non_numeric_share,
            "out_of_range_share": self.out_of_range_share,
            "unseen_share": self.unseen_share,
            "unseen_categories": list(self.unseen_categories),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QualityChecks:
        return cls(
            missing_share=float(data["missing_share"]),
            reference_missing_share=float(data["reference_missing_share"]),
            non_numeric_share=float(data.get("non_numeric_share", 0.0)),
            out_of_range_share=float(data.get("out_of_range_share", 0.0)),
            unseen_share=float(data.get("unseen_share", 0.0)),
            unseen_categories=tuple(str(c) for c in data.get("unseen_categories", ())),
        )


@dataclass(frozen=True)
class FeatureResult:
    """One feature's verdict, the methods behind it, its histogram and its quality checks.

    ``status`` is ``"checked"``, or ``"missing"`` when the window has no present value of the
    feature (then ``methods`` is empty, ``drifted`` False, and the quality checks say why), or
    ``"type_mismatch"`` when most present values of a numeric feature are not numbers.
    """

    name: str
    kind: FeatureKind
    status: Literal["checked", "missing", "type_mismatch"]
    drifted: bool
    methods: tuple[MethodResult, ...]
    histogram: Histogram | None
    quality: QualityChecks
    present_rows: int

    def method(self, name: str) -> MethodResult | None:
        return next((m for m in self.methods if m.method == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "drifted": self.drifted,
            "methods": [m.to_dict() for m in self.methods],
            "histogram": None if self.histogram is None else self.histogram.to_dict(),
            "quality": self.quality.to_dict(),
            "present_rows": self.present_rows,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureResult:
        histogram = data.get("histogram")
        return cls(
            name=str(data["name"]),
            kind=data["kind"],
            status=data["status"],
            drifted=bool(data["drifted"]),
            methods=tuple(MethodResult.from_dict(m) for m in data["methods"]),
            histogram=None if histogram is None else Histogram.from_dict(histogram),
            quality=QualityChecks.from_dict(data["quality"]),
            present_rows=int(data["present_rows"]),
        )


@dataclass(frozen=True)
class DriftResult:
    """A whole window's verdict.

    ``calibration_window_size`` is the window size the calibrated thresholds were computed for
    (``calibration_reused`` True when a stored calibration was close enough to reuse).
    """

    rows: int
    features: tuple[FeatureResult, ...]
    drift_share: float  # share of checked features that drifted
    dataset_drift: bool  # drift_share reached the config's drift_share
    config: Mapping[str, Any]  # DriftConfig.to_dict() of the config used
    calibration_window_size: int
    calibration_reused: bool
    extra_columns: tuple[str, ...] = ()  # columns in the window the baseline does not know

    @property
    def drifted_features(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features if f.drifted)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "features": [f.to_dict() for f in self.features],
            "drifted_features": list(self.drifted_features),
            "drift_share": self.drift_share,
            "dataset_drift": self.dataset_drift,
            "config": dict(self.config),
            "calibration_window_size": self.calibration_window_size,
            "calibration_reused": self.calibration_reused,
            "extra_columns": list(self.extra_columns),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftResult:
        return cls(
            rows=int(data["rows"]),
            features=tuple(FeatureResult.from_dict(f) for f in data["features"]),
            drift_share=float(data["drift_share"]),
            dataset_drift=bool(data["dataset_drift"]),
            config=dict(data["config"]),
            calibration_window_size=int(data["calibration_window_size"]),
            calibration_reused=bool(data["calibration_reused"]),
            extra_columns=tuple(str(c) for c in data.get("extra_columns", ())),
        )
