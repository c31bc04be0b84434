"""The drift check: one window of captured data against a baseline, every feature at once.

``check_drift(baseline, window, config)`` returns a ``DriftResult`` (per feature: the test, PSI and
Jensen-Shannon with the threshold each used and where it came from, a histogram, data-quality
checks) and the ``Calibration`` its distance thresholds came from.

Per feature
    * numeric: two-sample Kolmogorov-Smirnov against the baseline's sorted sample (statistic as
      ``scipy.stats.ks_2samp``, p-value from ``distributions.ks_2samp_pvalue``), PSI and JS on the
      baseline's bins, the share of values outside the baseline's range, and the share of text.
    * categorical: chi-square test of homogeneity on the 2 x k table (baseline counts, window counts,
      one extra column for unseen categories), PSI and JS on the category buckets plus "(unseen)".
      The p-value is asymptotic when every expected cell count is at least 5, else Monte-Carlo from
      the calibration's resampled null statistics, ``(1 + #{null >= observed}) / (1 + resamples)``:
      sparse categories are exactly where the asymptotic test raises false alarms. (The resampled
      tables hold reference categories only, so unseen values in a window count as evidence.)
    * A feature the window lacks (or holds no value of) is ``missing``; a numeric feature whose
      present values are mostly text is ``type_mismatch``. Both are data-quality findings, not drift.

Thresholds and verdict (``config`` module docstring)
    The tests' p-values go through Benjamini-Hochberg at ``config.fdr`` across every tested feature
    of the run, except where the model or the feature fixes a significance level for the method.
    A distance drifts when its score exceeds its threshold: a fixed one when configured (feature
    wins over model), else ``max(floor, calibrated)``.

Speed
    Numeric columns arriving as float arrays are sorted once each; the KS statistic comes from
    ``searchsorted`` of the stored (sorted) reference sample into the sorted column, and the bin
    counts from ``searchsorted`` of the bin edges into it: no second pass over the window. Text
    columns (numpy ``str`` arrays) are mapped to category codes by packing each fixed-width string
    into 64-bit words (exact keys for ASCII/Latin-1 strings of up to 8 characters, else a
    multiplicative hash checked word by word) and one ``searchsorted`` on the reference categories'
    keys. ``object`` arrays take a slower, per-value path (a dict lookup per value), which is also
    how mixed values (numbers and text, ``None``) are classified.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
import numpy.typing as npt

from cirrus_science.drift.calibration import (
    Calibration,
    calibrate,
    distance_terms,
    is_reusable,
    segment_sums,
)
from cirrus_science.drift.config import DriftConfig, DriftConfigError
from cirrus_science.drift.distributions import KS_MAX_EXACT_N, chi2_sf, ks_2samp_pvalue
from cirrus_science.drift.reference import (
    CategoricalReference,
    NumericReference,
    as_1d_array,
    as_float,
    is_missing_category,
    is_real_number,
)
from cirrus_science.drift.results import (
    DriftResult,
    FeatureKind,
    FeatureResult,
    Histogram,
    MethodResult,
    PValueMethod,
    QualityChecks,
    ThresholdSource,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from cirrus_science.drift.baseline import Baseline

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
Status = Literal["checked", "missing", "type_mismatch"]

CHI_SQUARE_MIN_EXPECTED: Final = 5.0
"""The asymptotic chi-square p-value is used when every expected cell count reaches this."""
MAX_UNSEEN_LISTED: Final = 20
TYPE_MISMATCH_SHARE: Final = 0.5
"""A numeric feature is ``type_mismatch`` when more than this share of its present values is text."""
UNSEEN_LABEL: Final = "(unseen)"


class InsufficientData(ValueError):
    """The window has fewer present rows than ``config.min_rows``."""

    def __init__(self, present_rows: int, min_rows: int) -> None:
        super().__init__(
            f"the window has {present_rows} rows with a value for a baseline feature; "
            f"a drift verdict needs at least {min_rows}"
        )
        self.present_rows = present_rows
        self.min_rows = min_rows


def check_drift(
    baseline: Baseline,
    window: Mapping[str, Sequence[Any] | npt.NDArray[Any]],
    config: DriftConfig | None = None,
    *,
    calibration: Calibration | None = None,
    extra_columns: Sequence[str] = (),
    seed: int = 0,
) -> tuple[DriftResult, Calibration]:
    """Check one window against ``baseline`` (see the module docstring).

    ``window`` maps column names to equally long columns; columns the baseline does not know are
    reported in ``extra_columns`` (with any given in ``extra_columns``). The window's size, for the
    calibrated thresholds, is the median number of present values over the checked features (the
    row count when nothing is missing). ``calibration`` is reused when ``is_reusable`` at that size,
    else thresholds are calibrated afresh (with ``seed``); the calibration used is returned.

    Raises ``InsufficientData`` when fewer than ``config.min_rows`` rows hold a value of some
    baseline feature, ``DriftConfigError`` when the config names a feature the baseline lacks or a
    test that does not fit the feature's kind, and ``ValueError`` for columns of different lengths.
    """
    config = DriftConfig() if config is None else config
    validate_config(config, baseline)
    columns = {str(name): as_1d_array(values) for name, values in window.items()}
    lengths = {name: int(column.shape[0]) for name, column in columns.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"window columns have different lengths: {lengths}")
    rows = next(iter(lengths.values()), 0)

    prepared = [_prepare(baseline, name, columns.get(name), rows) for name in baseline.feature_names]
    present_rows = max((p.n_present + p.n_non_numeric for p in prepared), default=0)
    if present_rows < config.min_rows:
        present_rows = _rows_with_a_value(prepared, rows)
        if present_rows < config.min_rows:
            raise InsufficientData(present_rows, config.min_rows)

    checked = [p for p in prepared if p.status == "checked"]
    window_size = int(np.median([p.n_present for p in checked])) if checked else rows
    reused = calibration is not None and is_reusable(calibration, baseline, window_size, config)
    if calibration is None or not reused:
        calibration = calibrate(baseline, window_size, config, seed=seed)

    _score_tests(baseline, checked, calibration)
    _score_distances(baseline, checked)
    test_decisions = _decide_tests(checked, config)

    features: list[FeatureResult] = []
    for item in prepared:
        features.append(_feature_result(baseline, item, config, calibration, test_decisions))
    n_checked = sum(1 for f in features if f.status == "checked")
    n_drifted = sum(1 for f in features if f.drifted)
    share = n_drifted / n_checked if n_checked else 0.0
    extras = sorted(set(extra_columns) | (set(columns) - set(baseline.feature_names)))
    result = DriftResult(
        rows=rows,
        features=tuple(features),
        drift_share=share,
        dataset_drift=n_checked > 0 and share >= config.drift_share,
        config=config.to_dict(),
        calibration_window_size=calibration.window_size,
        calibration_reused=reused,
        extra_columns=tuple(extras),
    )
    return result, calibration


def validate_config(config: DriftConfig, baseline: Baseline) -> None:
    """Refuse per-feature thresholds for a feature the baseline lacks or a test of the other kind."""
    names = set(baseline.feature_names)
    for feature, per_method in config.feature_thresholds.items():
        if feature not in names:
            raise DriftConfigError(f"feature_thresholds: unknown feature {feature!r}")
        kind = baseline.kind(feature)
        for method in per_method:
            if (method == "ks" and kind != "numeric") or (method == "chi_square" and kind != "categorical"):
                raise DriftConfigError(
                    f"feature_thresholds.{feature}.{method}: {method} does not apply to a {kind} feature"
                )


def benjamini_hochberg(
    pvalues: Sequence[float] | FloatArray, fdr: float
) -> tuple[npt.NDArray[np.bool_], float]:
    """Benjamini-Hochberg step-up: ``(rejected, cut_off)``.

    With the p-values sorted, ``k`` is the largest rank with ``p_(k) <= k * fdr / m``; the ``k``
    smallest are rejected. ``cut_off`` is ``max(k, 1) * fdr / m``: a p-value is rejected exactly when
    it is at most the cut-off (with ``k = 0`` it is the level the smallest p-value had to reach).
    """
    p = np.asarray(pvalues, dtype=np.float64)
    m = p.shape[0]
    if m == 0:
        return np.zeros(0, dtype=bool), fdr
    critical = fdr * np.arange(1, m + 1, dtype=np.float64) / m
    below = np.flatnonzero(np.sort(p) <= critical)
    k = int(below[-1]) + 1 if below.size else 0
    cut_off = float(critical[max(k, 1) - 1])
    return (p <= cut_off) if k else np.zeros(m, dtype=bool), cut_off


# --- per-feature preparation --------------------------------------------------------------------


@dataclass
class _Prepared:
    name: str
    kind: FeatureKind
    status: Status
    n_missing: int
    n_present: int = 0
    n_non_numeric: int = 0
    column: npt.NDArray[Any] | None = None  # the window's column as given (for the rare row count)
    counts: npt.NDArray[np.int64] | None = None  # per bin (numeric) or category then unseen (categorical)
    unseen: tuple[str, ...] = ()
    shares: FloatArray | None = None  # current shares on the bins / buckets
    scores: dict[str, float] = field(default_factory=dict)
    statistic: float = 0.0
    p_value_method: PValueMethod = "asymptotic"
    out_of_range: int = 0


def _prepare(baseline: Baseline, name: str, column: npt.NDArray[Any] | None, rows: int) -> _Prepared:
    kind = baseline.kind(name)
    if column is None:
        return _Prepared(name, kind, "missing", n_missing=rows)
    reference = baseline.references[name]
    if isinstance(reference, NumericReference):
        return _prepare_numeric(name, reference, column, rows)
    if not isinstance(reference, CategoricalReference):  # narrows the type
        raise TypeError("inconsistent prepared feature")
    return _prepare_categorical(name, reference, column, rows)


def _prepare_numeric(
    name: str, reference: NumericReference, column: npt.NDArray[Any], rows: int
) -> _Prepared:
    floats, n_non_numeric = _as_floats(column)
    if floats is None:  # text only
        status: Status = "type_mismatch" if n_non_numeric else "missing"
        return _Prepared(
            name, "numeric", status, rows - n_non_numeric, n_non_numeric=n_non_numeric, column=column
        )
    ordered = np.sort(floats)
    low = (
        int(np.searchsorted(ordered, -np.inf, side="right")) if ordered.size and ordered[0] == -np.inf else 0
    )
    high = int(np.searchsorted(ordered, np.inf, side="left"))
    present = ordered[low:high]
    n_present = int(present.shape[0])
    item = _Prepared(
        name,
        "numeric",
        "checked",
        n_missing=rows - n_present - n_non_numeric,
        n_present=n_present,
        n_non_numeric=n_non_numeric,
        column=column,
    )
    if n_non_numeric > TYPE_MISMATCH_SHARE * (n_present + n_non_numeric):
        item.status = "type_mismatch"
    elif n_present == 0:
        item.status = "missing"
    else:
        # Everything that needs the sorted column, while it is still in cache.
        item.statistic = ks_statistic_sorted(_ks_reference(reference), present)
        edges_at = np.searchsorted(present, reference.inner_edges, side="left")
        item.counts = np.diff(np.concatenate(([0], edges_at, [n_present]))).astype(np.int64)
        item.out_of_range = int(np.searchsorted(present, reference.minimum, side="left")) + (
            n_present - int(np.searchsorted(present, reference.maximum, side="right"))
        )
    return item


_NUMERIC_DTYPE_KINDS: Final = frozenset("iufb")


def _as_floats(column: npt.NDArray[Any]) -> tuple[FloatArray | None, int]:
    """``(float64 values with NaN for missing and for text, number of non-numeric values)``."""
    kind = column.dtype.kind
    if kind == "f":
        return column.astype(np.float64, copy=False), 0
    if kind in _NUMERIC_DTYPE_KINDS:
        return column.astype(np.float64), 0
    if kind != "O":  # str, bytes, dates...: none is a number
        return None, int(column.shape[0])
    items = column.tolist()
    if all(t is type(None) or _is_number_type(t) for t in set(map(type, items))):
        # Numbers numpy cannot convert in one go (an integer beyond float64) take the per-item path.
        with contextlib.suppress(OverflowError, TypeError, ValueError):
            return np.array(items, dtype=np.float64), 0
    floats = np.full(len(items), np.nan)
    non_numeric = 0
    for i, value in enumerate(items):
        if is_real_number(value):
            floats[i] = as_float(value)
        elif not is_missing_category(value):
            non_numeric += 1
    return floats, non_numeric


def _is_number_type(t: type) -> bool:
    return issubclass(t, int | float | np.integer | np.floating) and not issubclass(t, bool | np.bool_)


def _prepare_categorical(
    name: str, reference: CategoricalReference, column: npt.NDArray[Any], rows: int
) -> _Prepared:
    counts, n_missing, unseen = category_counts(reference.categories, column)
    n_present = rows - n_missing
    return _Prepared(
        name,
        "categorical",
        "checked" if n_present else "missing",
        n_missing=n_missing,
        n_present=n_present,
        column=column,
        counts=counts,
        unseen=unseen,
    )


def category_counts(
    categories: Sequence[str], column: npt.NDArray[Any]
) -> tuple[npt.NDArray[np.int64], int, tuple[str, ...]]:
    """``(counts per category then one for unseen values, missing count, unseen categories)``.

    ``categories`` are the reference's (sorted, as ``CategoricalReference`` keeps them). Values are
    compared by ``str(value)``; ``None`` and NaN are missing. The unseen categories listed are the
    first ``MAX_UNSEEN_LISTED`` in sorted order.
    """
    k = len(categories)
    kind = column.dtype.kind
    if kind == "S":
        column = column.astype(np.str_)
        kind = "U"
    if kind == "U":
        text_counts = _text_counts(categories, column)
        if text_counts is not None:
            return text_counts[0], 0, text_counts[1]
    if kind in _NUMERIC_DTYPE_KINDS:
        values, inverse = np.unique(column, return_inverse=True)
        coder = _CategoryCoder(categories)
        value_codes = np.array([coder[v] for v in values.tolist()], dtype=np.intp)
        codes = value_codes[inverse.reshape(-1)]
    else:
        coder = _CategoryCoder(categories)
        items = column.tolist()
        try:
            codes = np.fromiter(map(coder.__getitem__, items), dtype=np.intp, count=len(items))
        except TypeError:  # unhashable values (lists, dicts): compare their text
            codes = np.array([coder.code_of(v) for v in items], dtype=np.intp)
    all_counts = np.bincount(codes, minlength=k + 2).astype(np.int64)
    listed = tuple(sorted(coder.unseen)[:MAX_UNSEEN_LISTED])
    return all_counts[: k + 1], int(all_counts[k + 1]), listed


class _CategoryCoder(dict[Any, int]):
    """Category -> code; unseen values get ``k`` (and are remembered), missing ones ``k + 1``."""

    def __init__(self, categories: Sequence[str]) -> None:
        super().__init__((c, i) for i, c in enumerate(categories))
        self.unseen_code = len(categories)
        self.missing_code = len(categories) + 1
        self.unseen: set[str] = set()

    def __missing__(self, key: Any) -> int:
        return self.code_of(key)

    def code_of(self, value: Any) -> int:
        if is_missing_category(value):
            return self.missing_code
        text = value if isinstance(value, str) else str(value)
        code = self.get(text)
        if code is None:
            self.unseen.add(text)
            return self.unseen_code
        return code


_HASH_MULTIPLIERS: Final = np.random.default_rng(0x5EED).integers(
    1, 2**63, size=64, dtype=np.uint64
) | np.uint64(1)


def _text_counts(
    categories: Sequence[str], column: npt.NDArray[np.str_]
) -> tuple[npt.NDArray[np.int64], tuple[str, ...]] | None:
    """Counts per category then unseen, and the unseen categories, of a fixed-width text column.

    Each string is packed into 64-bit words: one byte per character when every character is
    Latin-1, else four. When one word holds every string (at most 8 Latin-1 characters), the words
    are exact keys: they are sorted once and each category's count is the width of its run
    (two ``searchsorted`` per category). Longer strings are hashed (multiply-add over the words),
    looked up in a table of the categories' hashes, and every candidate is checked word by word, so
    the counts are exact either way. None when the per-value path must be taken (a hash collision
    between two categories).
    """
    k = len(categories)
    n = column.shape[0]
    width = column.dtype.itemsize // 4
    counts = np.zeros(k + 1, dtype=np.int64)
    if n == 0:
        return counts, ()
    chars = np.ascontiguousarray(column).view(np.uint32).reshape(n, width)
    latin1 = int(chars.max()) < 256
    usable = [
        i
        for i, c in enumerate(categories)
        if len(c) <= width and (not latin1 or all(ord(ch) < 256 for ch in c))
    ]
    if not usable:
        counts[k] = n
        return counts, _listed(np.unique(column))
    cat_chars = (
        np.array([categories[i] for i in usable], dtype=f"<U{width}")
        .view(np.uint32)
        .reshape(len(usable), width)
    )
    words = _pack_words(chars, latin1)
    cat_words = _pack_words(cat_chars, latin1)
    if words.shape[1] == 1:
        keys, cat_keys = words[:, 0], cat_words[:, 0]
        ordered = np.sort(keys)
        found = np.searchsorted(ordered, cat_keys, side="right") - np.searchsorted(
            ordered, cat_keys, side="left"
        )
        counts[usable] = found
        counts[k] = n - int(found.sum())
        if not counts[k]:
            return counts, ()
        sorted_cat_keys = np.sort(cat_keys)
        position = np.minimum(np.searchsorted(sorted_cat_keys, keys), sorted_cat_keys.shape[0] - 1)
        return counts, _listed(np.unique(column[sorted_cat_keys[position] != keys]))
    if words.shape[1] > _HASH_MULTIPLIERS.shape[0]:
        return None
    multipliers = _HASH_MULTIPLIERS[: words.shape[1]]
    lookup = _KeyLookup.build(cat_words @ multipliers)
    if lookup is None:
        return None
    candidate, match = lookup.find(words @ multipliers)
    for j in range(words.shape[1]):
        match &= words[:, j] == cat_words[candidate, j]
    codes = np.asarray(usable, dtype=np.intp)[candidate]
    codes[~match] = k
    counts = np.bincount(codes, minlength=k + 1).astype(np.int64)
    return counts, _listed(np.unique(column[~match])) if counts[k] else ()


def _listed(unseen: npt.NDArray[np.str_]) -> tuple[str, ...]:
    return tuple(str(u) for u in unseen[:MAX_UNSEEN_LISTED].tolist())


_FIBONACCI: Final = np.uint64(0x9E3779B97F4A7C15)


@dataclass(frozen=True)
class _KeyLookup:
    """Distinct 64-bit keys -> their index: a direct-mapped table (Fibonacci hashing) when the keys
    land in distinct slots of a table of at most 2^20 entries, else a sorted array."""

    keys: npt.NDArray[np.uint64]
    index: IntArray
    shift: np.uint64 | None

    @classmethod
    def build(cls, keys: npt.NDArray[np.uint64]) -> _KeyLookup | None:
        order = np.argsort(keys)
        if np.any(keys[order][1:] == keys[order][:-1]):
            return None
        for bits in range(max(4, 2 * int(keys.shape[0]).bit_length()), 21):
            shift = np.uint64(64 - bits)
            slots = ((keys * _FIBONACCI) >> shift).astype(np.intp)
            if np.unique(slots).shape[0] == keys.shape[0]:
                # An empty slot holds the first key, which hashes to another (its own) slot: no
                # value landing in the empty slot can equal it, so nothing matches there.
                table_keys = np.full(1 << bits, keys[0], dtype=np.uint64)
                table_index = np.zeros(1 << bits, dtype=np.intp)
                table_keys[slots] = keys
                table_index[slots] = np.arange(keys.shape[0])
                return cls(table_keys, table_index, shift)
        return cls(keys[order], order.astype(np.intp), None)

    def find(self, values: npt.NDArray[np.uint64]) -> tuple[IntArray, npt.NDArray[np.bool_]]:
        """``(index of the matching key, whether it matched)`` per value (index 0 where it did not)."""
        if self.shift is None:
            position = np.minimum(np.searchsorted(self.keys, values), self.keys.shape[0] - 1)
        else:
            position = ((values * _FIBONACCI) >> self.shift).astype(np.intp)
        return self.index[position], self.keys[position] == values


def _pack_words(chars: npt.NDArray[np.uint32], latin1: bool) -> npt.NDArray[np.uint64]:
    """Fixed-width strings (one row of code points each) as rows of 64-bit words, zero padded."""
    rows, width = chars.shape
    per_word = 8 if latin1 else 2
    dtype = np.uint8 if latin1 else np.uint32
    if width % per_word == 0:
        packed = np.ascontiguousarray(chars, dtype=dtype)
    else:
        packed = np.zeros((rows, width + per_word - width % per_word), dtype=dtype)
        packed[:, :width] = chars
    return packed.view(np.uint64)


def _rows_with_a_value(prepared: Sequence[_Prepared], rows: int) -> int:
    """Rows in which at least one baseline feature has a value (text counts): the slow, exact count."""
    any_value = np.zeros(rows, dtype=bool)
    for item in prepared:
        if item.column is None:
            continue
        column = item.column
        if column.dtype.kind in _NUMERIC_DTYPE_KINDS:
            mask = np.isfinite(column.astype(np.float64)) if item.kind == "numeric" else ~_isnan(column)
        elif column.dtype.kind in "US":
            mask = np.ones(rows, dtype=bool)
        elif item.kind == "numeric":
            mask = np.array(
                [
                    not is_missing_category(v) and not (is_real_number(v) and not math.isfinite(float(v)))
                    for v in column.tolist()
                ],
                dtype=bool,
            )
        else:
            mask = np.array([not is_missing_category(v) for v in column.tolist()], dtype=bool)
        any_value |= mask
    return int(np.count_nonzero(any_value))


def _isnan(column: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    return np.isnan(column) if column.dtype.kind == "f" else np.zeros(column.shape[0], dtype=bool)


# --- scores -------------------------------------------------------------------------------------


def _score_tests(baseline: Baseline, checked: Sequence[_Prepared], calibration: Calibration) -> None:
    for item in checked:
        reference = baseline.references[item.name]
        if isinstance(reference, NumericReference):
            m, n = reference.sorted_sample.shape[0], item.n_present
            item.scores["ks"] = float(min(max(ks_2samp_pvalue(item.statistic, m, n), 0.0), 1.0))
            item.p_value_method = "exact" if max(m, n) <= KS_MAX_EXACT_N else "asymptotic"
        else:
            if not isinstance(reference, CategoricalReference):  # narrows the type
                raise TypeError("inconsistent prepared feature")
            if item.counts is None:  # narrows the type; set for every prepared feature
                raise TypeError("inconsistent prepared feature")
            statistic, dof, min_expected = chi_square_statistic(reference.counts, item.counts)
            item.statistic = statistic
            if dof == 0:
                item.scores["chi_square"] = 1.0
            elif min_expected >= CHI_SQUARE_MIN_EXPECTED:
                item.scores["chi_square"] = float(min(max(chi2_sf(statistic, dof), 0.0), 1.0))
            else:
                item.scores["chi_square"] = calibration.chi_square_pvalue(item.name, statistic)
                item.p_value_method = "monte_carlo"


KS_BLOCK: Final = 16
"""Reference points per block when bounding the KS statistic (see ``ks_statistic_sorted``)."""


@dataclass(frozen=True)
class _KsReference:
    """What the KS statistic needs from a sorted reference sample, computed once per profile."""

    sample: FloatArray
    cdf: FloatArray  # F(r_j)
    cdf_before: FloatArray  # F(r_j-1), 0 for j = 0
    bounds: IntArray  # block boundaries: every KS_BLOCK-th index and the last one
    bound_values: FloatArray  # sample[bounds]

    @classmethod
    def of(cls, sample: FloatArray) -> _KsReference:
        m = sample.shape[0]
        cdf = right_cdf(sample)
        bounds = np.arange(0, m, KS_BLOCK)
        if bounds[-1] != m - 1:
            bounds = np.append(bounds, m - 1)
        return cls(sample, cdf, np.concatenate(([0.0], cdf[:-1])), bounds, sample[bounds])


_KS_REFERENCES: weakref.WeakKeyDictionary[NumericReference, _KsReference] = weakref.WeakKeyDictionary()


def _ks_reference(reference: NumericReference) -> _KsReference:
    cached = _KS_REFERENCES.get(reference)
    if cached is None:
        cached = _KS_REFERENCES[reference] = _KsReference.of(reference.sorted_sample)
    return cached


def ks_statistic_sorted(reference_sorted: FloatArray | _KsReference, current_sorted: FloatArray) -> float:
    """Two-sample KS statistic from two sorted, finite samples, as ``scipy.stats.ks_2samp`` computes it.

    With ``F`` (reference, ``m`` values) and ``G`` (current, ``n`` values) the right-continuous
    empirical CDFs, the supremum of ``|F - G|`` is the largest of, over the reference points ``r_j``,

        ``A_j = F(r_j) - #{current <= r_j} / n``  (``F - G`` at ``r_j``), and
        ``B_j = #{current < r_j} / n - F(r_j-1)``  (``G - F`` at the last current value before ``r_j``;
        ``F(r_-1) = 0``);

    past the last reference point ``F = 1`` and ``G - F <= 0``. Each term is the same floating-point
    operation scipy performs at that point, so the statistic agrees exactly. Both counts come from
    ``searchsorted`` of reference points into the sorted current sample, and most of those searches are
    skipped: the reference points are cut into blocks of ``KS_BLOCK``; the terms are computed at the
    block boundaries, and since ``F`` and the counts are non-decreasing, every term inside a block is
    at most ``F(end) - #{current <= r_start} / n`` (for ``A``) and ``#{current < r_end} / n - F(start)``
    (for ``B``). Only blocks whose bound beats the best boundary term are searched point by point
    (about a tenth of the points on unchanged data).
    """
    ref = (
        reference_sorted if isinstance(reference_sorted, _KsReference) else _KsReference.of(reference_sorted)
    )
    m, n = ref.sample.shape[0], current_sorted.shape[0]
    if m <= 4 * KS_BLOCK:
        best = _ks_terms_max(ref, current_sorted, np.arange(m), 0.0)
        return _as_scipy_reports(min(best, 1.0), m, n)
    bounds = ref.bounds
    at_or_below = np.searchsorted(current_sorted, ref.bound_values, side="right")
    below = np.searchsorted(current_sorted, ref.bound_values, side="left")
    best = _ks_terms_max(ref, current_sorted, bounds, 0.0, at_or_below, below)
    bound_a = ref.cdf[bounds[1:]] - at_or_below[:-1] / n
    bound_b = below[1:] / n - ref.cdf[bounds[:-1]]
    refine = (bound_a > best) | (bound_b > best)
    if refine.any():
        starts = bounds[:-1][refine] + 1
        lengths = bounds[1:][refine] - starts
        offsets = np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
        inside = np.arange(int(lengths.sum())) + offsets
        if inside.size:
            best = _ks_terms_max(ref, current_sorted, inside, best)
    return _as_scipy_reports(min(best, 1.0), m, n)


def _as_scipy_reports(statistic: float, m: int, n: int) -> float:
    """In its exact regime scipy reports the statistic as the nearest ``h / lcm(m, n)``: do the same."""
    if max(m, n) > KS_MAX_EXACT_N:
        return statistic
    lcm = m * n // math.gcd(m, n)
    return round(statistic * lcm) / lcm


def _ks_terms_max(
    ref: _KsReference,
    current_sorted: FloatArray,
    points: IntArray,
    best: float,
    at_or_below: IntArray | None = None,
    below: IntArray | None = None,
) -> float:
    """The largest ``A_j`` and ``B_j`` (``ks_statistic_sorted``) over the reference indices ``points``."""
    n = current_sorted.shape[0]
    if at_or_below is None or below is None:
        values = ref.sample[points]
        at_or_below = np.searchsorted(current_sorted, values, side="right")
        below = np.searchsorted(current_sorted, values, side="left")
    a = float(np.max(ref.cdf[points] - at_or_below / n))
    b = float(np.max(below / n - ref.cdf_before[points]))
    return max(best, a, b)


def right_cdf(ordered: FloatArray) -> FloatArray:
    """``#{x <= ordered[j]} / len`` for every j of a sorted array (ties share their group's value)."""
    m = int(ordered.shape[0])
    ends = np.flatnonzero(ordered[1:] != ordered[:-1])
    cdf: FloatArray
    if ends.shape[0] == m - 1:
        cdf = np.arange(1, m + 1, dtype=np.float64) / m
        return cdf
    ends = np.append(ends, m - 1)
    lengths = np.diff(np.concatenate(([-1], ends)))
    cdf = np.repeat((ends + 1).astype(np.float64), lengths) / m
    return cdf


def chi_square_statistic(
    reference_counts: npt.NDArray[np.int64], current_counts: npt.NDArray[np.int64]
) -> tuple[float, int, float]:
    """``(statistic, degrees of freedom, smallest expected cell count)`` of the 2 x k homogeneity test.

    ``current_counts`` has one more bucket (unseen) than ``reference_counts``; columns empty on both
    sides are dropped, as ``scipy.stats.chi2_contingency`` needs. No continuity correction.
    """
    a = np.append(reference_counts, 0).astype(np.float64)
    b = current_counts.astype(np.float64)
    keep = (a + b) > 0
    a, b = a[keep], b[keep]
    if a.shape[0] < 2:
        return 0.0, 0, math.inf
    n_a, n_b = float(a.sum()), float(b.sum())
    total = n_a + n_b
    columns = a + b
    expected_a = n_a * columns / total
    expected_b = n_b * columns / total
    statistic = float(np.sum((a - expected_a) ** 2 / expected_a) + np.sum((b - expected_b) ** 2 / expected_b))
    min_expected = float(min(expected_a.min(), expected_b.min()))
    return statistic, int(a.shape[0] - 1), min_expected


def _score_distances(baseline: Baseline, checked: Sequence[_Prepared]) -> None:
    """PSI and JS of every checked feature in one vectorised pass over all their cells."""
    if not checked:
        return
    expected_parts: list[FloatArray] = []
    actual_parts: list[FloatArray] = []
    for item in checked:
        reference = baseline.references[item.name]
        if item.counts is None:  # narrows the type; set for every prepared feature
            raise TypeError("inconsistent prepared feature")
        if isinstance(reference, NumericReference):
            expected = reference.bin_shares
        else:
            expected = np.append(reference.shares, 0.0)
        item.shares = item.counts.astype(np.float64) / item.n_present
        expected_parts.append(expected)
        actual_parts.append(item.shares)
    sizes = np.array([part.shape[0] for part in expected_parts])
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.intp)
    expected_all = np.concatenate(expected_parts)[None, :]
    actual_all = np.concatenate(actual_parts)[None, :]
    psi_cells, js_cells = distance_terms(expected_all, actual_all)
    psi_scores = segment_sums(psi_cells, starts)[0]
    js_scores = np.clip(segment_sums(js_cells, starts)[0], 0.0, 1.0)
    for item, psi_score, js_score in zip(checked, psi_scores.tolist(), js_scores.tolist(), strict=True):
        item.scores["psi"] = max(psi_score, 0.0)
        item.scores["js"] = js_score


# --- thresholds and verdicts --------------------------------------------------------------------


@dataclass(frozen=True)
class _TestDecisions:
    rejected: Mapping[str, bool]
    cut_off: float


def _fixed_threshold(config: DriftConfig, feature: str, method: str) -> tuple[float, ThresholdSource] | None:
    per_feature = config.feature_thresholds.get(feature, {})
    if method in per_feature:
        return float(per_feature[method]), "feature"
    if method in config.thresholds:
        return float(config.thresholds[method]), "model"
    return None


def _test_method(item: _Prepared) -> str:
    return "ks" if item.kind == "numeric" else "chi_square"


def _decide_tests(checked: Sequence[_Prepared], config: DriftConfig) -> _TestDecisions:
    """Benjamini-Hochberg across the run's tests that have no fixed significance level."""
    family = [item for item in checked if _fixed_threshold(config, item.name, _test_method(item)) is None]
    rejected, cut_off = benjamini_hochberg([item.scores[_test_method(item)] for item in family], config.fdr)
    return _TestDecisions(
        rejected={item.name: bool(r) for item, r in zip(family, rejected.tolist(), strict=True)},
        cut_off=cut_off,
    )


def _feature_result(
    baseline: Baseline,
    item: _Prepared,
    config: DriftConfig,
    calibration: Calibration,
    tests: _TestDecisions,
) -> FeatureResult:
    reference = baseline.references[item.name]
    quality = _quality(reference, item)
    if item.status != "checked":
        return FeatureResult(
            name=item.name,
            kind=item.kind,
            status=item.status,
            drifted=False,
            methods=(),
            histogram=None,
            quality=quality,
            present_rows=item.n_present,
        )
    methods: list[MethodResult] = []
    test_name = _test_method(item)
    p_value = item.scores[test_name]
    fixed = _fixed_threshold(config, item.name, test_name)
    test_source: ThresholdSource
    if fixed is None:
        test_threshold, test_source = tests.cut_off, "benjamini_hochberg"
        test_drifted = tests.rejected[item.name]
    else:
        test_threshold, test_source = fixed
        test_drifted = p_value <= test_threshold
    methods.append(
        MethodResult(
            method=test_name,
            score=p_value,
            threshold=test_threshold,
            threshold_source=test_source,
            drifted=test_drifted,
            statistic=item.statistic,
            p_value_method=item.p_value_method,
        )
    )
    for method in ("psi", "js"):
        score = item.scores[method]
        threshold, source = _distance_threshold(config, calibration, item.name, method)
        methods.append(
            MethodResult(
                method=method,
                score=score,
                threshold=threshold,
                threshold_source=source,
                drifted=score > threshold,
            )
        )
    flags = {"test": methods[0].drifted, "psi": methods[1].drifted, "js": methods[2].drifted}
    return FeatureResult(
        name=item.name,
        kind=item.kind,
        status="checked",
        drifted=all(flags[group] for group in config.decision),
        methods=tuple(methods),
        histogram=_histogram(reference, item),
        quality=quality,
        present_rows=item.n_present,
    )


def _distance_threshold(
    config: DriftConfig, calibration: Calibration, feature: str, method: str
) -> tuple[float, ThresholdSource]:
    fixed = _fixed_threshold(config, feature, method)
    if fixed is not None:
        return fixed
    calibrated = float(calibration.thresholds[feature][method])
    floor = float(config.floors.get(method, 0.0))
    if floor > calibrated:
        return floor, "floor"
    return calibrated, "calibrated"


def _quality(reference: NumericReference | CategoricalReference, item: _Prepared) -> QualityChecks:
    rows = item.n_missing + item.n_present + item.n_non_numeric
    missing = item.n_missing / rows if rows else 1.0
    if isinstance(reference, NumericReference):
        typed = item.n_present + item.n_non_numeric
        return QualityChecks(
            missing_share=missing,
            reference_missing_share=reference.missing_share,
            non_numeric_share=item.n_non_numeric / typed if typed else 0.0,
            out_of_range_share=item.out_of_range / item.n_present if item.n_present else 0.0,
        )
    unseen = int(item.counts[-1]) if item.counts is not None else 0
    return QualityChecks(
        missing_share=missing,
        reference_missing_share=reference.missing_share,
        unseen_share=unseen / item.n_present if item.n_present else 0.0,
        unseen_categories=item.unseen,
    )


_REFERENCE_BARS: weakref.WeakKeyDictionary[
    NumericReference | CategoricalReference, tuple[tuple[str, ...], tuple[float, ...]]
] = weakref.WeakKeyDictionary()


def _histogram(reference: NumericReference | CategoricalReference, item: _Prepared) -> Histogram:
    if item.shares is None:  # narrows the type; set for every prepared feature
        raise TypeError("inconsistent prepared feature")
    bars = _REFERENCE_BARS.get(reference)
    if bars is None:  # labels and reference shares: once per profile
        if isinstance(reference, NumericReference):
            labels, expected = bin_labels(reference.inner_edges), reference.bin_shares
        else:
            labels, expected = (*reference.categories, UNSEEN_LABEL), np.append(reference.shares, 0.0)
        bars = _REFERENCE_BARS[reference] = (tuple(labels), tuple(float(x) for x in expected.tolist()))
    return Histogram(labels=bars[0], reference=bars[1], current=tuple(item.shares.tolist()))


def bin_labels(inner_edges: FloatArray) -> tuple[str, ...]:
    """``"< e0"``, ``"[e0, e1)"``, ..., ``">= e_last"``, with as few significant digits (at least 4)
    as keep every edge distinct."""
    edges = [float(e) for e in inner_edges.tolist()]
    texts = [format_number(e) for e in edges]
    for digits in range(5, 18):
        if len(set(texts)) == len(texts):
            break
        texts = [format_number(e, digits) for e in edges]
    if not texts:
        return ("all",)
    middle = [f"[{low}, {high})" for low, high in itertools.pairwise(texts)]
    return (f"< {texts[0]}", *middle, f">= {texts[-1]}")


def format_number(value: float, digits: int = 4) -> str:
    """``digits`` significant digits, positional for 1e-4 <= |value| < 1e15, scientific otherwise."""
    if value == 0.0:
        return "0"
    if 1e-4 <= abs(value) < 1e15:
        return np.format_float_positional(value, precision=digits, unique=False, fractional=False, trim="-")
    return np.format_float_scientific(value, precision=digits - 1, unique=False, trim="-")
