"""Reference profiles a drift check compares each new batch with, built once from a baseline sample.

A profile is small and plain: it serialises to a JSON-able dict (stored in S3 beside the model) and
back without loss.

Missing values
    For a numeric feature, ``None`` and every non-finite float (NaN, +inf, -inf) count as missing:
    they are counted, never fed to the statistics, and a profile therefore holds finite numbers only
    (so ``json.dumps(..., allow_nan=False)`` accepts it). For a categorical feature, ``None`` and
    float NaN count as missing; every other value is a category, compared by ``str(value)``.

Numeric bins (PSI, Jensen-Shannon)
    ``n_bins`` (default 10) equal-frequency bins from the quantiles of the full baseline (numpy's
    default linear interpolation). Only the inner edges are stored; the outer bins are open ended,
    ``(-inf, e_0)`` and ``[e_last, +inf)``, so every current value falls in some bin. Duplicate edges
    (ties, point masses) are collapsed, so there may be fewer bins than asked for; an all-identical
    baseline has one inner edge and two bins. Bins are closed on the left: ``[e_i, e_i+1)``.

Numeric sample (Kolmogorov-Smirnov)
    The sorted baseline, capped at ``max_sample_size`` (default 10 000) by deterministic, even-spaced
    order statistics: the values at ranks ``round(linspace(0, n - 1, max_sample_size))``. The cap
    keeps the stored profile small; the KS test then treats that subsample as the reference sample.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

DEFAULT_N_BINS: Final = 10
DEFAULT_MAX_SAMPLE_SIZE: Final = 10_000
_FORMAT_VERSION: Final = 1


def split_numeric(values: Iterable[Any] | npt.ArrayLike) -> tuple[FloatArray, int]:
    """Return ``(present values as float64, number of missing values)``.

    Missing: ``None``, NaN, +inf and -inf. Raises ``TypeError`` for a value that is not a real
    number (text, for one): check ``non_numeric_share`` first when the input may carry such values.
    """
    array = as_1d_array(values)
    if array.dtype.kind in "biuf":
        floats = array.astype(np.float64, copy=False)
    elif array.dtype.kind == "O":
        floats = np.empty(array.shape[0], dtype=np.float64)
        for i, value in enumerate(array):
            if value is None:
                floats[i] = np.nan
            elif is_real_number(value):
                floats[i] = as_float(value)
            else:
                raise TypeError(f"non-numeric value {value!r} in a numeric feature")
    else:
        raise TypeError(f"a numeric feature cannot hold values of dtype {array.dtype}")
    finite = np.isfinite(floats)
    return floats[finite], int(floats.shape[0] - np.count_nonzero(finite))


def split_categorical(values: Iterable[Any] | npt.ArrayLike) -> tuple[npt.NDArray[np.str_], int]:
    """Return ``(present values as strings, number of missing values)``; missing: ``None`` and NaN."""
    array = as_1d_array(values)
    if array.dtype.kind in "US":
        return array.astype(np.str_), 0
    if array.dtype.kind == "f":
        present_floats = array[~np.isnan(array)]
        return np.array([str(v) for v in present_floats.tolist()], dtype=np.str_), int(
            array.shape[0] - present_floats.shape[0]
        )
    present = [str(v) for v in array.tolist() if not is_missing_category(v)]
    return np.array(present, dtype=np.str_), int(array.shape[0] - len(present))


def as_1d_array(values: Iterable[Any] | npt.ArrayLike) -> npt.NDArray[Any]:
    """One flat array of the values; a mixed list (text and numbers) stays ``object``, never all text."""
    if isinstance(values, np.ndarray):
        return values.reshape(-1)
    if isinstance(values, str | bytes):
        raise TypeError("expected a sequence of values, not a single string")
    items = list(values) if isinstance(values, Iterable) else [values]
    array = np.asarray(items)
    if array.dtype.kind in "US" and not all(
        isinstance(item, str | bytes | np.str_ | np.bytes_) for item in items
    ):
        array = np.asarray(items, dtype=object)
    return array.reshape(-1)


def as_float(value: Any) -> float:
    """A real number as a float; an integer beyond float64's range becomes +/-inf, which every check
    counts as missing (as it does any non-finite value)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def is_real_number(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def is_missing_category(value: object) -> bool:
    return value is None or (isinstance(value, float | np.floating) and math.isnan(value))


@dataclass(frozen=True, eq=False)
class NumericReference:
    """The baseline profile of a numeric feature (see the module docstring for every choice)."""

    sorted_sample: FloatArray
    """Sorted baseline values, capped at ``max_sample_size`` by even-spaced order statistics."""
    inner_edges: FloatArray
    """Strictly increasing inner bin edges; the outer bins are open ended."""
    bin_shares: FloatArray
    """Share of the present baseline values in each of the ``len(inner_edges) + 1`` bins."""
    n_present: int
    """Number of present (finite) values in the full baseline."""
    n_missing: int
    minimum: float
    maximum: float

    @classmethod
    def from_sample(
        cls,
        values: Iterable[Any] | npt.ArrayLike,
        *,
        n_bins: int = DEFAULT_N_BINS,
        max_sample_size: int = DEFAULT_MAX_SAMPLE_SIZE,
    ) -> NumericReference:
        if n_bins < 1:
            raise ValueError("n_bins must be at least 1")
        if max_sample_size < 2:
            raise ValueError("max_sample_size must be at least 2")
        present, n_missing = split_numeric(values)
        if present.size == 0:
            raise ValueError("the baseline sample has no present (finite) values")
        ordered = np.sort(present)
        n = ordered.shape[0]
        if n > max_sample_size:
            ranks = np.round(np.linspace(0, n - 1, max_sample_size)).astype(np.intp)
            sample = ordered[ranks]
        else:
            sample = ordered
        inner_edges = np.unique(np.quantile(ordered, np.linspace(0.0, 1.0, n_bins + 1)[1:-1]))
        counts = np.bincount(
            np.searchsorted(inner_edges, ordered, side="right"), minlength=inner_edges.shape[0] + 1
        )
        return cls(
            sorted_sample=np.ascontiguousarray(sample, dtype=np.float64),
            inner_edges=inner_edges.astype(np.float64),
            bin_shares=counts.astype(np.float64) / n,
            n_present=n,
            n_missing=n_missing,
            minimum=float(ordered[0]),
            maximum=float(ordered[-1]),
        )

    @property
    def n_total(self) -> int:
        return self.n_present + self.n_missing

    @property
    def missing_share(self) -> float:
        return self.n_missing / self.n_total

    @property
    def bin_edges(self) -> FloatArray:
        """All bin edges, with the open outer ends as ``-inf`` and ``+inf``."""
        return np.concatenate(([-np.inf], self.inner_edges, [np.inf]))

    def bin_counts(self, present: FloatArray) -> npt.NDArray[np.int64]:
        """Counts of the given (present) values in this reference's bins."""
        return np.bincount(
            np.searchsorted(self.inner_edges, present, side="right"), minlength=self.inner_edges.shape[0] + 1
        ).astype(np.int64)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "numeric",
            "version": _FORMAT_VERSION,
            "sorted_sample": self.sorted_sample.tolist(),
            "inner_edges": self.inner_edges.tolist(),
            "bin_shares": self.bin_shares.tolist(),
            "n_present": self.n_present,
            "n_missing": self.n_missing,
            "minimum": self.minimum,
            "maximum": self.maximum,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NumericReference:
        _check_header(data, "numeric")
        reference = cls(
            sorted_sample=np.asarray(data["sorted_sample"], dtype=np.float64),
            inner_edges=np.asarray(data["inner_edges"], dtype=np.float64),
            bin_shares=np.asarray(data["bin_shares"], dtype=np.float64),
            n_present=int(data["n_present"]),
            n_missing=int(data["n_missing"]),
            minimum=float(data["minimum"]),
            maximum=float(data["maximum"]),
        )
        if (
            reference.bin_shares.shape[0] != reference.inner_edges.shape[0] + 1
            or reference.sorted_sample.size == 0
        ):
            raise ValueError("inconsistent numeric reference")
        return reference


@dataclass(frozen=True, eq=False)
class CategoricalReference:
    """The baseline profile of a categorical feature.

    Keeps the baseline *counts* (not only the shares), so the chi-square test runs on the real
    contingency table. Categories are sorted, compared by ``str(value)``.
    """

    categories: tuple[str, ...]
    counts: npt.NDArray[np.int64]
    n_missing: int

    @classmethod
    def from_sample(cls, values: Iterable[Any] | npt.ArrayLike) -> CategoricalReference:
        present, n_missing = split_categorical(values)
        if present.size == 0:
            raise ValueError("the baseline sample has no present values")
        categories, counts = np.unique(present, return_counts=True)
        return cls(
            categories=tuple(str(c) for c in categories.tolist()),
            counts=counts.astype(np.int64),
            n_missing=n_missing,
        )

    @property
    def n_present(self) -> int:
        return int(self.counts.sum())

    @property
    def n_total(self) -> int:
        return self.n_present + self.n_missing

    @property
    def missing_share(self) -> float:
        return self.n_missing / self.n_total

    @property
    def shares(self) -> FloatArray:
        """Share of the present baseline values in each category, in ``categories`` order."""
        return self.counts.astype(np.float64) / self.n_present

    def bucket_counts(self, present: npt.NDArray[np.str_]) -> npt.NDArray[np.int64]:
        """Counts of the given (present) values per reference category, plus a last bucket for unseen ones."""
        labels, counts = np.unique(present, return_counts=True)
        index = {category: i for i, category in enumerate(self.categories)}
        unseen = len(self.categories)
        buckets = np.zeros(unseen + 1, dtype=np.int64)
        positions = np.fromiter(
            (index.get(str(label), unseen) for label in labels.tolist()), dtype=np.intp, count=labels.shape[0]
        )
        np.add.at(buckets, positions, counts)
        return buckets

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "categorical",
            "version": _FORMAT_VERSION,
            "categories": list(self.categories),
            "counts": [int(c) for c in self.counts.tolist()],
            "n_missing": self.n_missing,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CategoricalReference:
        _check_header(data, "categorical")
        categories = tuple(str(c) for c in data["categories"])
        counts = np.asarray(data["counts"], dtype=np.int64)
        if counts.shape != (len(categories),) or len(categories) == 0 or np.any(counts <= 0):
            raise ValueError("inconsistent categorical reference")
        return cls(categories=categories, counts=counts, n_missing=int(data["n_missing"]))


def _check_header(data: Mapping[str, Any], kind: str) -> None:
    if data.get("kind") != kind:
        raise ValueError(f"not a {kind} reference: kind={data.get('kind')!r}")
    if data.get("version") != _FORMAT_VERSION:
        raise ValueError(f"unsupported reference format version {data.get('version')!r}")
