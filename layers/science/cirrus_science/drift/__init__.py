"""The drift engine: baselines, calibrated thresholds, and the per-feature statistics.

Imports are lazy (PEP 562): ``from cirrus_science.drift import check_drift`` loads the engine and
numpy on first use, while ``cirrus_science.drift.config`` and ``.results`` (plain dataclasses) stay
importable without either, for the API functions that only validate configs or read results.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cirrus_science.drift.baseline import (
        Baseline,
        FeatureSpec,
        build_baseline,
        columns_from_csv,
        columns_from_records,
    )
    from cirrus_science.drift.calibration import Calibration, calibrate, is_reusable
    from cirrus_science.drift.config import DriftConfig, DriftConfigError
    from cirrus_science.drift.engine import InsufficientData, benjamini_hochberg, check_drift
    from cirrus_science.drift.reference import CategoricalReference, NumericReference
    from cirrus_science.drift.results import (
        DriftResult,
        FeatureResult,
        Histogram,
        MethodResult,
        QualityChecks,
    )
    from cirrus_science.drift.stats import (
        PSI_FLOOR,
        chi_square_categorical,
        jensen_shannon,
        ks_two_sample,
        missing_share,
        non_numeric_share,
        out_of_range_share,
        psi,
        psi_categorical,
        unseen_categories,
        unseen_category_share,
    )

_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        ("Baseline", "FeatureSpec", "build_baseline", "columns_from_csv", "columns_from_records"),
        "cirrus_science.drift.baseline",
    ),
    **dict.fromkeys(("Calibration", "calibrate", "is_reusable"), "cirrus_science.drift.calibration"),
    **dict.fromkeys(("DriftConfig", "DriftConfigError"), "cirrus_science.drift.config"),
    **dict.fromkeys(("InsufficientData", "benjamini_hochberg", "check_drift"), "cirrus_science.drift.engine"),
    **dict.fromkeys(("CategoricalReference", "NumericReference"), "cirrus_science.drift.reference"),
    **dict.fromkeys(
        ("DriftResult", "FeatureResult", "Histogram", "MethodResult", "QualityChecks"),
        "cirrus_science.drift.results",
    ),
    **dict.fromkeys(
        (
            "PSI_FLOOR",
            "chi_square_categorical",
            "jensen_shannon",
            "ks_two_sample",
            "missing_share",
            "non_numeric_share",
            "out_of_range_share",
            "psi",
            "psi_categorical",
            "unseen_categories",
            "unseen_category_share",
        ),
        "cirrus_science.drift.stats",
    ),
}

__all__ = [
    "PSI_FLOOR",
    "Baseline",
    "Calibration",
    "CategoricalReference",
    "DriftConfig",
    "DriftConfigError",
    "DriftResult",
    "FeatureResult",
    "FeatureSpec",
    "Histogram",
    "InsufficientData",
    "MethodResult",
    "NumericReference",
    "QualityChecks",
    "benjamini_hochberg",
    "build_baseline",
    "calibrate",
    "check_drift",
    "chi_square_categorical",
    "columns_from_csv",
    "columns_from_records",
    "is_reusable",
    "jensen_shannon",
    "ks_two_sample",
    "missing_share",
    "non_numeric_share",
    "out_of_range_share",
    "psi",
    "psi_categorical",
    "unseen_categories",
    "unseen_category_share",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
