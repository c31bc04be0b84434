"""Point-in-time correct training sets: as-of joins of labels with feature rows on event time.

A training row must only see what was known when its label was observed. For every label row
(entity, label time) the join takes the feature values of the *latest* feature row of the same entity
whose event time is at or before the label time, so no value from after the label's time can leak in.

Semantics, fixed here once for every caller:

- **Equal times count as known.** A feature row stamped exactly at the label time is used: a value is
  known from its event time on (``pandas.merge_asof(direction="backward", allow_exact_matches=True)``).
- **Ties are resolved by input order.** Among feature rows of one entity with the same event time, the
  one that comes *last* in the feature frame wins (later writes override earlier ones). This is what
  ``merge_asof`` does when the right frame is sorted by time with a stable sort.
- **The latest row is the answer, whatever it holds.** A missing value in that row stays missing; the
  join never falls back to an older row for one column.
- **max_age** (optional) bounds staleness: a row is used only if ``label time - event time <= max_age``
  (inclusive); when the latest row is older, the features are missing.
- **Missing features:** labels whose entity has no usable row (unknown entity, only later rows, too
  old, or a missing key or label time) get missing values: NaN for floats and for numpy integers (which
  become float64, as in pandas), ``NaT`` for datetimes, the dtype's own NA for extension dtypes. Columns
  are upcast only when some label row is actually missing. Feature rows with a missing entity key or
  event time are ignored; a missing key never matches another missing key.
- **Entities** match by value as a pandas index lookup does (``1`` and ``1.0`` are one entity, ``1``
  and ``"1"`` are not). A composite key (several columns) matches on every column.
- **Labels are untouched:** every label row is kept, in its original order, with its index and columns
  as they were; the feature columns are appended, optionally prefixed.
- **Times:** both sides are ``datetime64`` of the same kind, or both are integer epochs (same units,
  the caller's responsibility). Timezone-aware times are compared as instants (the zones may differ);
  naive times are compared as they are. Mixing aware and naive, or datetimes and integers, is refused
  with a ValueError. Datetimes in different units are compared in the finer one.

The join is vectorised (no Python loop over rows): entities are factorised to integer codes, times
replaced by ranks, feature rows sorted once by a composite (entity code, time rank) key and input
position, and one ``numpy.searchsorted`` over that ordering finds every label's row. Memory is linear
in the row counts: a few int64 arrays per row, never a labels x features product.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pandas.api.extensions import take

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import NDArray

    _Ticks = tuple[NDArray[np.int64], NDArray[np.bool_], NDArray[np.int64], NDArray[np.bool_], str | None]
    """Label ticks, which labels have a time, feature ticks, which features have one, and the unit."""

__all__ = ["FeatureSource", "MaxAge", "as_of_join", "point_in_time_training_set"]

MaxAge = timedelta | np.timedelta64 | int
"""How old a feature row may be: a timedelta for datetime times, an integer for integer epochs."""

_UNITS = ("s", "ms", "us", "ns")


@dataclass(frozen=True, eq=False)
class FeatureSource:
    """One feature group to join onto labels.

    `entity_key` and `event_time` name columns of `frame`; `label_key` names the matching entity
    column(s) in the labels when they are spelled differently (defaults to `entity_key`).
    `feature_columns` defaults to every column of `frame` except the key and time columns. `prefix`
    is prepended verbatim to each feature column's name in the result (e.g. ``"user__"``).
    """

    frame: pd.DataFrame
    entity_key: str | Sequence[str]
    event_time: str
    feature_columns: Sequence[str] | None = None
    max_age: MaxAge | None = None
    prefix: str | None = None
    label_key: str | Sequence[str] | None = None


def as_of_join(
    labels: pd.DataFrame,
    features: pd.DataFrame,
    *,
    entity_key: str | Sequence[str],
    label_time: str,
    feature_time: str,
    feature_columns: Sequence[str] | None = None,
    max_age: MaxAge | None = None,
    prefix: str | None = None,
) -> pd.DataFrame:
    """The labels with, for each row, the features known at its time (see the module docstring).

    `entity_key` names the entity column(s), present in both frames; `label_time` is the labels' time
    column and `feature_time` the features' event-time column. Raises ValueError on missing columns,
    incompatible time columns, a bad `max_age`, or a result column clashing with a label column.
    """
    source = FeatureSource(
        frame=features,
        entity_key=entity_key,
        event_time=feature_time,
        feature_columns=feature_columns,
        max_age=max_age,
        prefix=prefix,
    )
    return point_in_time_training_set(labels, [source], label_time=label_time)


def point_in_time_training_set(
    labels: pd.DataFrame, groups: Sequence[FeatureSource], *, label_time: str
) -> pd.DataFrame:
    """The labels with every group's point-in-time features appended, group after group.

    Each group is joined on its own key and event-time columns against the labels' `label_time`;
    result column names (after prefixes) must be unique and must not clash with a label column.
    """
    if not groups:
        raise ValueError("a training set needs at least one feature source")
    _require_columns(labels, [label_time], "labels")
    plans: list[tuple[FeatureSource, list[str], list[str], list[str], list[str]]] = []
    planned: set[str] = set()
    for number, group in enumerate(groups, start=1):  # every refusal before any work
        what = f"feature source {number}"
        entity = _names(group.entity_key)
        label_entity = entity if group.label_key is None else _names(group.label_key)
        if len(label_entity) != len(entity):
            raise ValueError(
                f"{what}: label_key has {len(label_entity)} column(s) but entity_key has {len(entity)}"
            )
        columns = _feature_columns(group, entity)
        _require_columns(group.frame, [*entity, group.event_time, *columns], what)
        _require_columns(labels, label_entity, "labels")
        names = [_output_name(group.prefix, column) for column in columns]
        _refuse_clashes(names, labels, planned, what)
        planned.update(names)
        plans.append((group, entity, label_entity, columns, names))
    taken: dict[str, Any] = {}
    for group, entity, label_entity, columns, names in plans:
        rows = _latest_rows(labels, group, label_entity, entity, label_time)
        for name, column in zip(names, columns, strict=True):
            taken[name] = _take(group.frame[column], rows)
    appended = pd.DataFrame(taken, index=labels.index)
    return pd.concat([labels, appended], axis=1)


def _names(key: str | Sequence[str]) -> list[str]:
    names = [key] if isinstance(key, str) else list(key)
    if not names:
        raise ValueError("an entity key needs at least one column")
    return names


def _feature_columns(group: FeatureSource, entity: list[str]) -> list[str]:
    if group.feature_columns is not None:
        columns = list(group.feature_columns)
        duplicated = sorted({str(column) for column in columns if columns.count(column) > 1})
        if duplicated:
            raise ValueError(f"feature_columns lists {_quoted(duplicated)} more than once")
        return columns
    excluded = {*entity, group.event_time}
    return [column for column in group.frame.columns if column not in excluded]


def _output_name(prefix: str | None, column: str) -> str:
    return column if prefix is None else f"{prefix}{column}"


def _refuse_clashes(names: list[str], labels: pd.DataFrame, planned: set[str], what: str) -> None:
    clashing = sorted({str(name) for name in names if name in labels.columns or name in planned})
    if clashing:
        raise ValueError(
            f"{what}: feature column(s) {_quoted(clashing)} clash with label columns or an earlier "
            "source's features; give the source a prefix"
        )


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    present = set(frame.columns)
    missing = sorted({str(column) for column in columns if column not in present})
    if missing:
        raise ValueError(f"{what}: missing column(s) {_quoted(missing)}")


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(repr(name) for name in names)


def _latest_rows(
    labels: pd.DataFrame, group: FeatureSource, label_entity: list[str], entity: list[str], label_time: str
) -> NDArray[np.int64]:
    """For each label row, the position in `group.frame` of its feature row, or -1 for none."""
    label_codes, feature_codes = _entity_codes(labels, label_entity, group.frame, entity)
    times = _comparable_times(labels[label_time], label_time, group.frame[group.event_time], group.event_time)
    label_ticks, label_known, feature_ticks, feature_known, unit = times
    max_age = None if group.max_age is None else _max_age_ticks(group.max_age, unit)
    return _match(
        label_codes,
        label_ticks,
        label_known,
        feature_codes,
        feature_ticks,
        feature_known,
        max_age,
    )


def _entity_codes(
    labels: pd.DataFrame, label_entity: list[str], features: pd.DataFrame, entity: list[str]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Shared integer codes for the entities of both frames; -1 for a missing or unknown entity.

    The features are factorised (hashing, linear time) and the labels looked up among their distinct
    values, so an entity only in the labels gets -1. Composite keys are combined column by column and
    re-factorised after each step, so codes stay below the number of feature rows.
    """
    pairs = list(zip(label_entity, entity, strict=True))
    label_codes, feature_codes, _ = _codes(labels[pairs[0][0]], features[pairs[0][1]])
    for label_column, feature_column in pairs[1:]:
        more_labels, more_features, width = _codes(labels[label_column], features[feature_column])
        label_pairs = np.where((label_codes >= 0) & (more_labels >= 0), label_codes * width + more_labels, -1)
        feature_pairs = np.where(
            (feature_codes >= 0) & (more_features >= 0), feature_codes * width + more_features, -1
        )
        label_codes, feature_codes, _ = _codes(label_pairs, feature_pairs, missing=-1)
    return label_codes, feature_codes


def _codes(
    label_values: Any, feature_values: Any, missing: int | None = None
) -> tuple[NDArray[np.int64], NDArray[np.int64], int]:
    """Codes of the feature values (factorised) and of the label values among them, and their count.

    Missing values (pandas' NA, or `missing` when given) and label values absent from the features
    get -1.
    """
    codes, uniques = pd.factorize(feature_values)
    feature_codes = np.asarray(codes, dtype=np.int64)
    label_codes = np.asarray(pd.Index(uniques).get_indexer(label_values), dtype=np.int64)
    if missing is not None:
        feature_codes[np.asarray(feature_values) == missing] = -1
        label_codes[np.asarray(label_values) == missing] = -1
    return label_codes, feature_codes, len(uniques)


def _comparable_times(label: pd.Series, label_name: str, feature: pd.Series, feature_name: str) -> _Ticks:
    """Both time columns as int64 ticks on one scale, each with a mask of the rows that have a time.

    The unit is the datetime unit the ticks count (the finer of the two columns'), or None for
    integer epochs.
    """
    label_kind = _time_kind(label, label_name, "label_time")
    feature_kind = _time_kind(feature, feature_name, "feature_time")
    if label_kind != feature_kind:
        raise ValueError(
            f"label_time {label_name!r} holds {_KIND_TEXT[label_kind]} times but feature_time "
            f"{feature_name!r} holds {_KIND_TEXT[feature_kind]} times; convert one so both agree"
        )
    if label_kind == "integer":
        return (
            *_integer_ticks(label, label_name),
            *_integer_ticks(feature, feature_name),
            None,
        )
    unit = max(_datetime_unit(label), _datetime_unit(feature), key=_UNITS.index)
    return (*_datetime_ticks(label, unit), *_datetime_ticks(feature, unit), unit)


_KIND_TEXT = {"naive": "timezone-naive datetime", "aware": "timezone-aware datetime", "integer": "integer"}


def _time_kind(series: pd.Series, name: str, role: str) -> str:
    dtype = series.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        return "aware"
    if isinstance(dtype, np.dtype) and dtype.kind == "M":
        return "naive"
    if pd.api.types.is_integer_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        return "integer"
    raise ValueError(
        f"{role} {name!r} has dtype {dtype}; it must be datetime64 (naive or timezone-aware) or "
        "an integer epoch (convert strings or objects with pandas.to_datetime)"
    )


def _datetime_unit(series: pd.Series) -> str:
    dtype = series.dtype
    unit = dtype.unit if isinstance(dtype, pd.DatetimeTZDtype) else np.datetime_data(dtype)[0]
    if unit not in _UNITS:
        raise ValueError(f"datetime unit {unit!r} is not supported; use one of {', '.join(_UNITS)}")
    return str(unit)


def _datetime_ticks(series: pd.Series, unit: str) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    known = series.notna().to_numpy()
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert(None)  # UTC wall time: instants compare as instants
    values = series.dt.as_unit(unit).to_numpy(dtype=f"datetime64[{unit}]")
    return values.view(np.int64), known


def _integer_ticks(series: pd.Series, name: str) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    known = series.notna().to_numpy()
    if pd.api.types.is_unsigned_integer_dtype(series.dtype) and (series > np.iinfo(np.int64).max).any():
        raise ValueError(f"integer times in {name!r} exceed the int64 range")
    values = series.to_numpy(dtype=np.int64, na_value=0)
    return values, known


def _max_age_ticks(max_age: MaxAge, unit: str | None) -> int:
    if unit is None:
        if isinstance(max_age, bool) or not isinstance(max_age, int | np.integer):
            raise ValueError("with integer times, max_age must be an integer in the same units")
        ticks = int(max_age)
    else:
        if not isinstance(max_age, timedelta | np.timedelta64):
            raise ValueError("with datetime times, max_age must be a timedelta")
        ticks = pd.Timedelta(max_age) // pd.Timedelta(1, unit=unit)
    if ticks < 0:
        raise ValueError("max_age must not be negative")
    return int(ticks)


def _match(
    label_codes: NDArray[np.int64],
    label_ticks: NDArray[np.int64],
    label_known: NDArray[np.bool_],
    feature_codes: NDArray[np.int64],
    feature_ticks: NDArray[np.int64],
    feature_known: NDArray[np.bool_],
    max_age: int | None,
) -> NDArray[np.int64]:
    """The as-of search proper: positions of the feature rows to take, -1 where none qualifies.

    Times are replaced by ranks so that one int64 key ``code * width + rank`` orders by (entity,
    time) whatever the time scale: a feature row's rank is 1 + the index of its time among the
    distinct feature times, a label's is the number of distinct feature times at or before its own
    (0 if none). A feature row is then known at a label's time exactly when they share the entity
    and the row's key is <= the label's key. Feature rows are sorted by (key, input position), the
    labels by key, and one ``searchsorted(side="right")`` of the sorted label keys (a near-linear
    merge, since the queries are sorted) lands one past the last qualifying row: the latest one and,
    among equal times, the last in input order. It counts only if it belongs to the label's entity.
    """
    result = np.full(len(label_codes), -1, dtype=np.int64)
    usable = np.flatnonzero((feature_codes >= 0) & feature_known)
    asking = np.flatnonzero((label_codes >= 0) & label_known)
    if not len(usable) or not len(asking):
        return result
    ticks = feature_ticks[usable]
    by_time = np.argsort(ticks)  # any order among equal times: only the ranks are read
    sorted_ticks = ticks[by_time]
    first = np.empty(len(sorted_ticks), dtype=bool)
    first[0] = True
    np.not_equal(sorted_ticks[1:], sorted_ticks[:-1], out=first[1:])
    distinct = sorted_ticks[first]
    ranks = np.empty(len(ticks), dtype=np.int64)
    ranks[by_time] = np.cumsum(first)
    del by_time, sorted_ticks, first
    width = len(distinct) + 1
    feature_keys = feature_codes[usable] * width + ranks
    del ranks

    asked_ticks = label_ticks[asking]
    by_time = np.argsort(asked_ticks)
    label_ranks = np.empty(len(asking), dtype=np.int64)
    label_ranks[by_time] = np.searchsorted(distinct, asked_ticks[by_time], side="right")
    del by_time
    label_keys = label_codes[asking] * width + label_ranks
    del label_ranks

    feature_order, feature_keys = _sorted_by_key(feature_keys)
    label_order, label_keys = _sorted_by_key(label_keys)
    found = np.searchsorted(feature_keys, label_keys, side="right") - 1
    hit = np.flatnonzero(found >= 0)
    same = feature_keys[found[hit]] // width == label_keys[hit] // width
    hit = hit[same]
    labels = asking[label_order[hit]]
    rows = usable[feature_order[found[hit]]]
    if max_age is not None:
        fresh = label_ticks[labels] - feature_ticks[rows] <= max_age
        labels, rows = labels[fresh], rows[fresh]
    result[labels] = rows
    return result


def _sorted_by_key(keys: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The stable sorting permutation of non-negative `keys`, and the sorted keys.

    When key and position fit in 63 bits together they are packed into one int64 and sorted by value
    (several times faster than a stable argsort); otherwise a stable argsort does it.
    """
    position_bits = max(len(keys) - 1, 1).bit_length()
    if int(keys.max()).bit_length() + position_bits <= 63:
        packed = (keys << position_bits) | np.arange(len(keys), dtype=np.int64)
        packed.sort()
        return packed & ((1 << position_bits) - 1), packed >> position_bits
    order = np.argsort(keys, kind="stable")
    return order, keys[order]


def _take(column: pd.Series, rows: NDArray[np.int64]) -> Any:
    """The column's values at `rows`, missing where a row is -1 (upcast only if one is)."""
    values = column.to_numpy() if isinstance(column.dtype, np.dtype) else column.array
    return take(values, rows, allow_fill=True)
