"""A model version's drift baseline: its features, their reference profiles and summary statistics.

Built once from the training data (or a dataset named through the API), stored beside the version
as JSON, and loaded at every monitor run. Everything a drift check needs from the reference side
(sorted KS sample, bin edges and shares, category counts) is computed here, not at each run.

Serialised form (``Baseline.to_dict``)::

    {"format_version": 1, "row_count": 10000,
     "features": [{"name": "age", "kind": "numeric", "reference": {...}, "summary": {...}}, ...],
     "metadata": {...}}

``metadata`` is free-form (source URI, created_at, the excluded target column...) and is not part of
the ``fingerprint``, which identifies the statistical content (calibrations are cached by it).

Turning captured data into columns
    ``columns_from_records`` (JSON-like row dicts, what data capture holds) and ``columns_from_csv``
    (standard-library ``csv``) produce the column mapping ``check_drift`` takes, plus the names of
    the columns the baseline does not know. A numeric feature comes back as float64 (NaN for missing)
    when every value is a number, else as an ``object`` array so the engine can report the text.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt

from cirrus_science.drift.reference import (
    DEFAULT_MAX_SAMPLE_SIZE,
    DEFAULT_N_BINS,
    CategoricalReference,
    NumericReference,
    as_1d_array,
    is_missing_category,
    is_real_number,
    split_numeric,
)

if TYPE_CHECKING:
    from cirrus_science.drift.results import FeatureKind

FORMAT_VERSION: Final = 1
MAX_TOP_CATEGORIES: Final = 20
FEATURE_KINDS: Final[tuple[FeatureKind, ...]] = ("numeric", "categorical")

Reference = NumericReference | CategoricalReference
ColumnValues = Sequence[Any] | npt.NDArray[Any]


@dataclass(frozen=True)
class FeatureSpec:
    """A feature's name and kind (``numeric``: KS, PSI and JS on bins; ``categorical``: chi-square,
    PSI and JS on category buckets)."""

    name: str
    kind: FeatureKind

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("a feature name must be a non-empty string")
        if self.kind not in FEATURE_KINDS:
            raise ValueError(f"feature {self.name!r}: kind must be 'numeric' or 'categorical'")


@dataclass(frozen=True, eq=False)
class Baseline:
    """The reference side of every drift check of one model version (see the module docstring).

    Construction checks consistency (one reference and one summary per feature, of the feature's
    kind, each covering ``row_count`` rows) and raises ``ValueError`` otherwise. Treat it as
    read-only: the mappings are read-only views.
    """

    features: tuple[FeatureSpec, ...]
    references: Mapping[str, Reference]
    row_count: int
    summary: Mapping[str, Mapping[str, Any]]
    metadata: Mapping[str, Any]

    def __post_init__(self) -> None:
        features = tuple(self.features)
        if not features:
            raise ValueError("a baseline needs at least one feature")
        names = [f.name for f in features]
        if len(set(names)) != len(names):
            raise ValueError("feature names must be unique")
        if self.row_count < 1:
            raise ValueError("row_count must be at least 1")
        if set(self.references) != set(names) or set(self.summary) != set(names):
            raise ValueError("inconsistent baseline: one reference and one summary per feature")
        for spec in features:
            reference = self.references[spec.name]
            expected = NumericReference if spec.kind == "numeric" else CategoricalReference
            if not isinstance(reference, expected):
                raise ValueError(f"inconsistent baseline: feature {spec.name!r} is {spec.kind}")
            if reference.n_total != self.row_count:
                raise ValueError(
                    f"inconsistent baseline: feature {spec.name!r} covers {reference.n_total} rows, "
                    f"not {self.row_count}"
                )
        object.__setattr__(self, "features", features)
        object.__setattr__(self, "references", MappingProxyType({n: self.references[n] for n in names}))
        object.__setattr__(
            self, "summary", MappingProxyType({n: MappingProxyType(dict(self.summary[n])) for n in names})
        )
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))

    # --- lookups --------------------------------------------------------------------------------

    @cached_property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @cached_property
    def _kinds(self) -> dict[str, FeatureKind]:
        return {f.name: f.kind for f in self.features}

    def kind(self, name: str) -> FeatureKind:
        """The kind of feature ``name`` (``KeyError`` for a feature the baseline lacks)."""
        return self._kinds[name]

    # --- identity -------------------------------------------------------------------------------

    @cached_property
    def fingerprint(self) -> str:
        """sha256 (hex) of the canonical JSON of everything but ``metadata``.

        Canonical: sorted keys, no whitespace, and each stored number array (KS sample, bin edges
        and shares, category counts) replaced by ``"sha256:<hex>"`` of its little-endian float64 /
        int64 bytes. The arrays round-trip exactly through JSON, so the fingerprint is stable across
        ``to_json``/``from_json``; hashing their bytes instead of their decimal text keeps it cheap
        (a 60-feature baseline holds some 500 000 numbers).
        """
        body = {
            "format_version": FORMAT_VERSION,
            "row_count": self.row_count,
            "features": [
                {
                    "name": spec.name,
                    "kind": spec.kind,
                    "reference": _hashed_reference(self.references[spec.name]),
                    "summary": _plain(self.summary[spec.name]),
                }
                for spec in self.features
            ],
        }
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(canonical.encode()).hexdigest()

    # --- serialisation --------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "row_count": self.row_count,
            "features": [
                {
                    "name": spec.name,
                    "kind": spec.kind,
                    "reference": self.references[spec.name].to_dict(),
                    "summary": _plain(self.summary[spec.name]),
                }
                for spec in self.features
            ],
            "metadata": _plain(self.metadata),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Baseline:
        if not isinstance(data, Mapping):
            raise ValueError("a baseline must be a JSON object")
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ValueError(f"unsupported baseline format version {version!r}")
        try:
            features: list[FeatureSpec] = []
            references: dict[str, Reference] = {}
            summary: dict[str, Mapping[str, Any]] = {}
            for entry in data["features"]:
                spec = FeatureSpec(name=entry["name"], kind=entry["kind"])
                if spec.name in references:
                    raise ValueError(f"duplicate feature {spec.name!r}")
                features.append(spec)
                try:
                    if spec.kind == "numeric":
                        references[spec.name] = NumericReference.from_dict(entry["reference"])
                    else:
                        references[spec.name] = CategoricalReference.from_dict(entry["reference"])
                except ValueError as error:
                    raise ValueError(f"inconsistent baseline: feature {spec.name!r}: {error}") from error
                summary[spec.name] = dict(entry["summary"])
            row_count = data["row_count"]
            if not isinstance(row_count, int) or isinstance(row_count, bool):
                raise ValueError("row_count must be an integer")
            metadata = data.get("metadata", {})
            if not isinstance(metadata, Mapping):
                raise ValueError("metadata must be an object")
            return cls(
                features=tuple(features),
                references=references,
                row_count=row_count,
                summary=summary,
                metadata=dict(metadata),
            )
        except (KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"inconsistent baseline: {error!r}") from error

    def to_json(self) -> bytes:
        """Compact JSON (UTF-8); non-finite numbers are refused."""
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> Baseline:
        try:
            parsed = json.loads(data)
        except json.JSONDecodeError as error:
            raise ValueError(f"a baseline must be JSON: {error}") from error
        return cls.from_dict(parsed)


# --- building -----------------------------------------------------------------------------------


def build_baseline(
    columns: Mapping[str, ColumnValues],
    *,
    kinds: Mapping[str, FeatureKind] | None = None,
    n_bins: int = DEFAULT_N_BINS,
    max_sample_size: int = DEFAULT_MAX_SAMPLE_SIZE,
    metadata: Mapping[str, Any] | None = None,
) -> Baseline:
    """Profile every column of a table (feature order: the mapping's).

    A column's kind comes from ``kinds`` when given there, else it is inferred: numeric when every
    present value is a real number (a bool is not: booleans are categorical), else categorical.
    Raises ``ValueError`` for an empty table, columns of different lengths, a column without any
    present value, a kind for an unknown column, a numeric column holding text, or metadata that is
    not JSON-able.
    """
    if not columns:
        raise ValueError("the table has no columns")
    kinds = dict(kinds or {})
    unknown = sorted(set(kinds) - set(columns))
    if unknown:
        raise ValueError(f"kinds names columns the table does not have: {unknown}")
    arrays = {str(name): as_1d_array(values) for name, values in columns.items()}
    lengths = {name: int(array.shape[0]) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"columns have different lengths: {lengths}")
    row_count = next(iter(lengths.values()))
    if row_count == 0:
        raise ValueError("the table has no rows")
    meta = dict(metadata or {})
    try:
        json.dumps(meta, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValueError(f"metadata must be JSON-able: {error}") from error

    features: list[FeatureSpec] = []
    references: dict[str, Reference] = {}
    summary: dict[str, dict[str, Any]] = {}
    for name, array in arrays.items():
        kind = kinds.get(name) or infer_kind(array)
        spec = FeatureSpec(name=name, kind=kind)
        if kind == "numeric":
            try:
                present, n_missing = split_numeric(array)
            except TypeError as error:
                raise ValueError(f"column {name!r} is numeric but holds non-numeric values") from error
            if present.size == 0:
                raise ValueError(f"column {name!r} has no present (finite) value")
            numeric = _with_missing(
                NumericReference.from_sample(present, n_bins=n_bins, max_sample_size=max_sample_size),
                n_missing,
            )
            summary[name] = _numeric_summary(numeric, present)
            reference: Reference = numeric
        else:
            try:
                reference = CategoricalReference.from_sample(array)
            except ValueError as error:
                raise ValueError(f"column {name!r} has no present value") from error
            summary[name] = _categorical_summary(reference)
        features.append(spec)
        references[name] = reference
    return Baseline(
        features=tuple(features), references=references, row_count=row_count, summary=summary, metadata=meta
    )


def infer_kind(values: ColumnValues) -> FeatureKind:
    """``numeric`` when every present value is a real number (bools are not), else ``categorical``."""
    array = as_1d_array(values)
    if array.dtype.kind in "iuf":
        return "numeric"
    if array.dtype.kind != "O":
        return "categorical"
    present = [v for v in array.tolist() if not is_missing_category(v)]
    if present and all(is_real_number(v) for v in present):
        return "numeric"
    return "categorical"


def _with_missing(reference: NumericReference, n_missing: int) -> NumericReference:
    return NumericReference(
        sorted_sample=reference.sorted_sample,
        inner_edges=reference.inner_edges,
        bin_shares=reference.bin_shares,
        n_present=reference.n_present,
        n_missing=n_missing,
        minimum=reference.minimum,
        maximum=reference.maximum,
    )


def _numeric_summary(reference: NumericReference, present: npt.NDArray[np.float64]) -> dict[str, Any]:
    p25, median, p75 = (float(q) for q in np.quantile(present, [0.25, 0.5, 0.75]))
    std = float(np.std(present, ddof=1)) if present.size > 1 else 0.0
    return {
        "count": reference.n_present,
        "missing_share": reference.missing_share,
        "mean": _finite_or_none(float(np.mean(present))),
        "std": _finite_or_none(std),
        "min": reference.minimum,
        "p25": p25,
        "median": median,
        "p75": p75,
        "max": reference.maximum,
    }


def _categorical_summary(reference: CategoricalReference) -> dict[str, Any]:
    n_present = reference.n_present
    order = sorted(range(len(reference.categories)), key=lambda i: (-int(reference.counts[i]), i))
    return {
        "count": n_present,
        "missing_share": reference.missing_share,
        "distinct": len(reference.categories),
        "top": [
            {"category": reference.categories[i], "share": int(reference.counts[i]) / n_present}
            for i in order[:MAX_TOP_CATEGORIES]
        ],
    }


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _hashed_reference(reference: Reference) -> dict[str, Any]:
    data = reference.to_dict()
    if isinstance(reference, NumericReference):
        data["sorted_sample"] = _array_digest(reference.sorted_sample)
        data["inner_edges"] = _array_digest(reference.inner_edges)
        data["bin_shares"] = _array_digest(reference.bin_shares)
    else:
        data["counts"] = _array_digest(reference.counts)
    return data


def _array_digest(array: npt.NDArray[Any]) -> str:
    dtype = "<f8" if array.dtype.kind == "f" else "<i8"
    return "sha256:" + hashlib.sha256(np.ascontiguousarray(array, dtype=dtype).tobytes()).hexdigest()


def _plain(value: Any) -> Any:
    """Read-only views back to plain dicts and lists (for JSON)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


# --- captured data to columns -------------------------------------------------------------------


def columns_from_records(
    records: Iterable[Mapping[str, Any]], features: Sequence[FeatureSpec]
) -> tuple[dict[str, npt.NDArray[Any]], tuple[str, ...]]:
    """Columns of the baseline's features from JSON-like row dicts, and the unknown keys seen (sorted).

    A feature no record carries is left out (the engine reports it ``missing``). A numeric feature
    is float64 with NaN for missing values when every value is a number (or missing), else an
    ``object`` array holding the values as they came; a categorical feature is an ``object`` array.
    """
    rows = list(records)
    known = {spec.name for spec in features}
    seen: set[str] = set()
    for row in rows:
        seen.update(row.keys())
    columns: dict[str, npt.NDArray[Any]] = {}
    for spec in features:
        if spec.name not in seen:
            continue
        values = [row.get(spec.name) for row in rows]
        columns[spec.name] = _numeric_column(values) if spec.kind == "numeric" else _object_column(values)
    return columns, tuple(sorted(str(k) for k in seen - known))


def columns_from_csv(
    text: str, features: Sequence[FeatureSpec], *, header: bool | None = None
) -> tuple[dict[str, npt.NDArray[Any]], tuple[str, ...]]:
    """Columns of the baseline's features from CSV text, and the unknown column names (sorted).

    ``header=None`` detects it: the first row is a header when it holds every feature name. With a
    header, columns are matched by name (a feature the header lacks is left out); without one, the
    first columns are the features in order and any further ones are named ``column_<position>``
    (1-based). An empty cell is missing; a numeric feature's cells are parsed with ``float``
    (a cell that does not parse stays text, reported as non-numeric by the engine).
    """
    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    names = [spec.name for spec in features]
    if header is None:
        header = bool(rows) and set(names) <= {cell.strip() for cell in rows[0]}
    if header and rows:
        columns_in_file = [cell.strip() for cell in rows[0]]
        rows = rows[1:]
    else:
        width = max((len(row) for row in rows), default=len(names))
        columns_in_file = names + [f"column_{i + 1}" for i in range(len(names), width)]
    position: dict[str, int] = {}
    for index, name in enumerate(columns_in_file):
        position.setdefault(name, index)
    columns: dict[str, npt.NDArray[Any]] = {}
    for spec in features:
        at = position.get(spec.name)
        if at is None:
            continue
        cells = [row[at] if at < len(row) else "" for row in rows]
        if spec.kind == "numeric":
            columns[spec.name] = _numeric_column([_parse_number(cell) for cell in cells])
        else:
            columns[spec.name] = _object_column([cell if cell != "" else None for cell in cells])
    known = set(names)
    return columns, tuple(sorted({name for name in columns_in_file if name not in known}))


def _parse_number(cell: str) -> Any:
    stripped = cell.strip()
    if not stripped:
        return None
    try:
        return float(stripped)
    except ValueError:
        return cell


def _numeric_column(values: list[Any]) -> npt.NDArray[Any]:
    if all(v is None or is_real_number(v) for v in values):
        # An integer beyond float64's range cannot take the fast path; the object column keeps it.
        with contextlib.suppress(OverflowError):
            return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return _object_column(values)


def _object_column(values: list[Any]) -> npt.NDArray[Any]:
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array
