"""How a drift check decides: thresholds per method, per model and per feature, and the verdict rule.

A plain, validated dataclass (the API validates the same bounds with pydantic before it stores a
config; this module re-checks them so the engine never runs on a bad one).

Methods
    ``ks`` (numeric) and ``chi_square`` (categorical) are *tests*: their score is a p-value, and
    Benjamini-Hochberg at ``fdr`` across every tested feature of the run decides significance.
    ``psi`` and ``js`` (both kinds) are *distances*: their threshold is a fixed number when the model
    or the feature configures one, else ``max(floor, calibrated)`` where ``calibrated`` is the
    ``quantile`` of the score's no-drift distribution at the window's size, estimated by resampling
    the reference (``cirrus_science.drift.calibration``).

Verdict
    A feature drifts when every method group in ``decision`` flags it: ``"test"`` (its test is
    significant after Benjamini-Hochberg), ``"psi"``, ``"js"``. The default, ``("test", "psi")``,
    asks for evidence (the test) and a shift big enough to matter (PSI over its threshold): at 100k
    rows a p-value alone flags shifts nobody cares about, and at a few hundred rows PSI alone flags
    sampling noise. The run as a whole drifts when the share of drifted features reaches
    ``drift_share``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:
    from collections.abc import Mapping

Method = Literal["ks", "chi_square", "psi", "js"]
DecisionGroup = Literal["test", "psi", "js"]

METHODS: Final[tuple[Method, ...]] = ("ks", "chi_square", "psi", "js")
TEST_METHODS: Final[frozenset[str]] = frozenset({"ks", "chi_square"})
DISTANCE_METHODS: Final[frozenset[str]] = frozenset({"psi", "js"})
DECISION_GROUPS: Final[tuple[DecisionGroup, ...]] = ("test", "psi", "js")

# Upper bounds a configured threshold may take: PSI is unbounded in principle but a floor-limited
# share vector caps it near ln(1e4) * 2; JS divergence (base 2) lives in [0, 1]; p-values in (0, 1).
THRESHOLD_BOUNDS: Final[Mapping[str, tuple[float, float]]] = {
    "ks": (0.0, 0.5),
    "chi_square": (0.0, 0.5),
    "psi": (0.0, 20.0),
    "js": (0.0, 1.0),
}

DEFAULT_FDR: Final = 0.05
DEFAULT_QUANTILE: Final = 0.95
DEFAULT_PSI_FLOOR: Final = 0.01
DEFAULT_JS_FLOOR: Final = 0.002
DEFAULT_DRIFT_SHARE: Final = 0.25
DEFAULT_MIN_ROWS: Final = 100
DEFAULT_RESAMPLES: Final = 2000
MIN_ROWS_LOWER_BOUND: Final = 30


class DriftConfigError(ValueError):
    """A drift configuration outside its documented bounds (the message says which field)."""


@dataclass(frozen=True)
class DriftConfig:
    """The knobs of one model's drift checks (see the module docstring)."""

    fdr: float = DEFAULT_FDR
    """Benjamini-Hochberg false-discovery rate across the run's tests, in (0, 0.5]."""
    quantile: float = DEFAULT_QUANTILE
    """Quantile of the resampled no-drift distribution that sets a calibrated threshold, in [0.5, 1)."""
    floors: Mapping[str, float] = field(
        default_factory=lambda: {"psi": DEFAULT_PSI_FLOOR, "js": DEFAULT_JS_FLOOR}
    )
    """Smallest distance that can count as drift, whatever the calibration says (``psi``, ``js``)."""
    thresholds: Mapping[str, float] = field(default_factory=dict)
    """Model-level fixed thresholds per method (a test's is its significance level, used instead of
    Benjamini-Hochberg for that method); absent methods use the defaults above."""
    feature_thresholds: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    """Per-feature fixed thresholds per method; they win over ``thresholds``."""
    decision: tuple[DecisionGroup, ...] = ("test", "psi")
    drift_share: float = DEFAULT_DRIFT_SHARE
    """Share of features that must drift for the run as a whole to drift, in (0, 1]."""
    min_rows: int = DEFAULT_MIN_ROWS
    """Fewest present rows a window needs for a verdict (at least ``MIN_ROWS_LOWER_BOUND``)."""
    resamples: int = DEFAULT_RESAMPLES
    """Resamples per feature and method when calibrating, in [200, 20000]."""

    def __post_init__(self) -> None:
        if not 0.0 < self.fdr <= 0.5:
            raise DriftConfigError("fdr must be in (0, 0.5]")
        if not 0.5 <= self.quantile < 1.0:
            raise DriftConfigError("quantile must be in [0.5, 1)")
        if not 0.0 < self.drift_share <= 1.0:
            raise DriftConfigError("drift_share must be in (0, 1]")
        if self.min_rows < MIN_ROWS_LOWER_BOUND:
            raise DriftConfigError(f"min_rows must be at least {MIN_ROWS_LOWER_BOUND}")
        if not 200 <= self.resamples <= 20_000:
            raise DriftConfigError("resamples must be in [200, 20000]")
        if not self.decision or len(set(self.decision)) != len(self.decision):
            raise DriftConfigError("decision must name one or more distinct groups")
        for group in self.decision:
            if group not in DECISION_GROUPS:
                raise DriftConfigError(f"unknown decision group {group!r}")
        for method, value in self.floors.items():
            _check_threshold(f"floors.{method}", method, value, allowed=DISTANCE_METHODS)
        for method, value in self.thresholds.items():
            _check_threshold(f"thresholds.{method}", method, value)
        for feature, per_method in self.feature_thresholds.items():
            for method, value in per_method.items():
                _check_threshold(f"feature_thresholds.{feature}.{method}", method, value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "fdr": self.fdr,
            "quantile": self.quantile,
            "floors": dict(self.floors),
            "thresholds": dict(self.thresholds),
            "feature_thresholds": {f: dict(m) for f, m in self.feature_thresholds.items()},
            "decision": list(self.decision),
            "drift_share": self.drift_share,
            "min_rows": self.min_rows,
            "resamples": self.resamples,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftConfig:
        defaults = cls()
        return cls(
            fdr=float(data.get("fdr", defaults.fdr)),
            quantile=float(data.get("quantile", defaults.quantile)),
            floors={**defaults.floors, **{str(k): float(v) for k, v in dict(data.get("floors", {})).items()}},
            thresholds={str(k): float(v) for k, v in dict(data.get("thresholds", {})).items()},
            feature_thresholds={
                str(f): {str(k): float(v) for k, v in dict(m).items()}
                for f, m in dict(data.get("feature_thresholds", {})).items()
            },
            decision=tuple(data.get("decision", defaults.decision)),
            drift_share=float(data.get("drift_share", defaults.drift_share)),
            min_rows=int(data.get("min_rows", defaults.min_rows)),
            resamples=int(data.get("resamples", defaults.resamples)),
        )


def _check_threshold(where: str, method: str, value: float, *, allowed: frozenset[str] | None = None) -> None:
    if method not in THRESHOLD_BOUNDS or (allowed is not None and method not in allowed):
        raise DriftConfigError(f"{where}: unknown method {method!r}")
    low, high = THRESHOLD_BOUNDS[method]
    if not low < value <= high if method in TEST_METHODS else not low <= value <= high:
        raise DriftConfigError(f"{where}: {value} is out of range for {method} ({low}, {high}]")
