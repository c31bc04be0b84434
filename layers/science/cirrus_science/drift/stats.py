"""Drift statistics: a current batch against a reference profile (``cirrus_science.drift.reference``).

Missing values (``None``, NaN; for numeric features also +/-inf) are counted by ``missing_share`` and
never fed to the statistics. Every statistic raises ``ValueError`` when the current batch has no
present value.

Choices
    * PSI uses the natural log and floors every bin share at ``PSI_FLOOR`` (1e-4), on both sides,
      *without* renormalising. Each PSI term ``(q - p) * ln(q / p)`` is non-negative whatever the
      floor, so PSI stays >= 0, identical distributions give exactly 0, and a bin empty on both
      sides contributes nothing.
    * Jensen-Shannon is the *divergence* (base 2, in [0, 1]) on the unfloored shares of the same
      bins / buckets; ``scipy.spatial.distance.jensenshannon`` returns its square root (the distance).
      A term ``p * log(p / m)`` with ``p = 0`` counts 0 (as ``scipy.special.rel_entr``).
    * Categorical PSI, Jensen-Shannon and chi-square use one bucket per reference category plus one
      bucket for every category the reference never saw (reference share 0).
    * The KS p-value follows ``scipy.stats.ks_2samp(method="auto")``: see ``ks_two_sample``.

Only numpy and the standard library are imported: the p-values come from
``cirrus_science.drift.distributions``, which reproduces scipy's without importing it (importing
``scipy.stats`` alone would cost the drift function about a second of cold start).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from cirrus_science.drift.distributions import KS_MAX_EXACT_N as KS_MAX_EXACT_N
from cirrus_science.drift.distributions import chi2_sf, ks_2samp_pvalue
from cirrus_science.drift.reference import (
    CategoricalReference,
    FloatArray,
    NumericReference,
    as_1d_array,
    is_missing_category,
    is_real_number,
    split_categorical,
    split_numeric,
)

Values = Iterable[Any] | npt.ArrayLike

PSI_FLOOR: Final = 1e-4
"""Floor for a bin share in PSI (both sides, no renormalisation)."""


# --- Kolmogorov-Smirnov -------------------------------------------------------------------------


def ks_two_sample(reference_sorted: FloatArray, current: Values) -> tuple[float, float]:
    """Two-sided two-sample Kolmogorov-Smirnov test: ``(statistic, pvalue)``.

    ``reference_sorted`` is the sorted, finite reference sample (``NumericReference.sorted_sample``);
    missing values in ``current`` are dropped. The statistic is the largest difference between the
    two empirical CDFs, evaluated at every observed value with ``searchsorted`` (ties handled as
    scipy does); it agrees with ``scipy.stats.ks_2samp``.

    The p-value has ``scipy.stats.ks_2samp(method="auto")`` semantics
    (``distributions.ks_2samp_pvalue``): exact when both samples have at most ``KS_MAX_EXACT_N``
    values, otherwise ``kstwo.sf(D, round(n1 * n2 / (n1 + n2)))``.
    """
    reference = np.asarray(reference_sorted, dtype=np.float64)
    if reference.ndim != 1 or reference.size == 0:
        raise ValueError("the reference sample must be a non-empty 1-D array")
    if not np.all(np.isfinite(reference)) or np.any(reference[1:] < reference[:-1]):
        raise ValueError("the reference sample must be sorted and finite")
    present, _ = split_numeric(current)
    _require_present(present.size)
    current_sorted = np.sort(present)
    n1, n2 = reference.shape[0], current_sorted.shape[0]
    data_all = np.concatenate([reference, current_sorted])
    cdf1 = np.searchsorted(reference, data_all, side="right") / n1
    cdf2 = np.searchsorted(current_sorted, data_all, side="right") / n2
    differences = cdf1 - cdf2
    statistic = float(max(np.clip(-differences.min(), 0.0, 1.0), differences.max()))
    return statistic, ks_2samp_pvalue(statistic, n1, n2)


# --- Shares on the reference's bins / buckets ---------------------------------------------------


def numeric_bin_shares(reference: NumericReference, current: Values) -> FloatArray:
    """Shares of the present current values in the reference's bins."""
    present, _ = split_numeric(current)
    _require_present(present.size)
    return reference.bin_counts(present).astype(np.float64) / present.size


def category_shares(reference: CategoricalReference, current: Values) -> tuple[FloatArray, FloatArray]:
    """``(reference shares, current shares)`` per reference category plus a last bucket for unseen ones."""
    present, _ = split_categorical(current)
    _require_present(present.size)
    current_shares = reference.bucket_counts(present).astype(np.float64) / present.size
    return np.append(reference.shares, 0.0), current_shares


def _paired_shares(
    reference: NumericReference | CategoricalReference, current: Values
) -> tuple[FloatArray, FloatArray]:
    if isinstance(reference, NumericReference):
        return reference.bin_shares, numeric_bin_shares(reference, current)
    return category_shares(reference, current)


# --- PSI, Jensen-Shannon, chi-square ------------------------------------------------------------


def population_stability_index(
    expected: FloatArray, actual: FloatArray, *, floor: float = PSI_FLOOR
) -> float:
    """PSI of two share vectors: ``sum((a - e) * ln(a / e))``.

    Both sides are floored at ``floor`` and not renormalised.
    """
    e = np.maximum(np.asarray(expected, dtype=np.float64), floor)
    a = np.maximum(np.asarray(actual, dtype=np.float64), floor)
    return float(np.sum((a - e) * np.log(a / e)))


def psi(reference: NumericReference, current_values: Values, *, floor: float = PSI_FLOOR) -> float:
    """Population stability index of a numeric feature on the reference's bins (natural log)."""
    return population_stability_index(
        reference.bin_shares, numeric_bin_shares(reference, current_values), floor=floor
    )


def psi_categorical(
    reference: CategoricalReference, current_values: Values, *, floor: float = PSI_FLOOR
) -> float:
    """Population stability index of a categorical feature (reference categories + one unseen bucket)."""
    expected, actual = category_shares(reference, current_values)
    return population_stability_index(expected, actual, floor=floor)


def jensen_shannon(reference: NumericReference | CategoricalReference, current: Values) -> float:
    """Jensen-Shannon DIVERGENCE, base 2, in [0, 1], on the reference's bins or category buckets.

    ``0.5 * KL(p || m) + 0.5 * KL(q || m)`` with ``m = (p + q) / 2`` on the unfloored shares. This
    is the divergence, not ``scipy.spatial.distance.jensenshannon``, which returns the distance
    (the square root of this value).
    """
    p, q = _paired_shares(reference, current)
    m = 0.5 * (p + q)
    divergence = 0.5 * (_relative_entropy(p, m) + _relative_entropy(q, m)) / np.log(2.0)
    return float(np.clip(divergence, 0.0, 1.0))


def _relative_entropy(p: FloatArray, m: FloatArray) -> float:
    """``sum(p * log(p / m))`` over ``p > 0`` (``m >= p / 2 > 0`` there): ``sum(rel_entr(p, m))``."""
    present = p > 0
    return float(np.sum(p[present] * np.log(p[present] / m[present])))


def chi_square_categorical(reference: CategoricalReference, current_values: Values) -> tuple[float, float]:
    """Chi-square test of homogeneity (no continuity correction): ``(statistic, pvalue)``.

    The 2 x k contingency table holds the reference's stored counts and the current counts per
    reference category, plus one column for unseen categories when the current batch has any.
    Agrees with ``scipy.stats.chi2_contingency(table, correction=False)``; with a single column
    (one category on both sides) the statistic is 0 and the p-value 1, as scipy returns.
    """
    present, _ = split_categorical(current_values)
    _require_present(present.size)
    current_counts = reference.bucket_counts(present)
    table = np.vstack([np.append(reference.counts, 0), current_counts]).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, 1.0
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    dof = table.shape[1] - 1
    return statistic, chi2_sf(statistic, dof)


# --- Data-quality checks ------------------------------------------------------------------------


def missing_share(values: Values, *, numeric: bool = True) -> float:
    """Share of missing values: ``None`` and NaN, and for a numeric feature also +/-inf.

    Values of the wrong type (text in a numeric feature) are not missing: see ``non_numeric_share``.
    """
    array = as_1d_array(values)
    total = int(array.shape[0])
    _require_present(total, what="values")
    if numeric and array.dtype.kind in "biuf":
        missing = int(np.count_nonzero(~np.isfinite(array.astype(np.float64, copy=False))))
    elif not numeric or array.dtype.kind != "O":
        missing = split_categorical(array)[1]
    else:
        missing = sum(1 for v in array.tolist() if v is None or (is_real_number(v) and not np.isfinite(v)))
    return missing / total


def non_numeric_share(values: Values) -> float:
    """Share of the non-missing values that are not real numbers (a numeric feature arriving as text).

    Text counts as non-numeric even when it would parse as a number ("1.5"): a typed feature should
    arrive typed. A bool counts as numeric in a numeric or boolean array, as non-numeric among
    mixed (``object``) values. 0 when no value is present.
    """
    array = as_1d_array(values)
    if array.dtype.kind in "biuf":
        return 0.0
    if array.dtype.kind in "US":
        return 1.0 if array.shape[0] else 0.0
    items = [v for v in array.tolist() if not is_missing_category(v)]
    if not items:
        return 0.0
    return sum(1 for v in items if not is_real_number(v)) / len(items)


def out_of_range_share(reference: NumericReference, current_values: Values) -> float:
    """Share of the present current values below the reference minimum or above its maximum."""
    present, _ = split_numeric(current_values)
    _require_present(present.size)
    outside = (present < reference.minimum) | (present > reference.maximum)
    return float(np.count_nonzero(outside)) / present.size


def unseen_category_share(reference: CategoricalReference, current_values: Values) -> float:
    """Share of the present current values whose category the reference never saw."""
    present, _ = split_categorical(current_values)
    _require_present(present.size)
    return float(reference.bucket_counts(present)[-1]) / present.size


def unseen_categories(reference: CategoricalReference, current_values: Values) -> list[str]:
    """The categories of the current batch the reference never saw, sorted."""
    present, _ = split_categorical(current_values)
    seen = set(reference.categories)
    return sorted(str(c) for c in np.unique(present).tolist() if str(c) not in seen)


def _require_present(count: int, *, what: str = "present values") -> None:
    if count == 0:
        raise ValueError(f"the current sample has no {what}")
