"""The point-in-time join at 1M x 1M rows: cirrus_core's as_of_join against pandas.merge_asof.

Data (seeded): 1,000,000 label rows and 1,000,000 feature rows over 100,000 entities, nanosecond
timestamps spread over a year, three feature columns (floats with NaNs, floats, integers).

Baseline, measured in the same run on the same data: what a pandas user does to get the same table,
namely sort both frames by time (merge_asof refuses unsorted keys; a stable sort, so ties keep input
order), `pandas.merge_asof(direction="backward", allow_exact_matches=True, by=entity)`, and put the rows
back in the labels' order (as_of_join returns them in that order). The sorts and the reordering are in
the baseline's timing because a user must do them. A second pandas row times the merge_asof call alone
on inputs sorted beforehand, to show how much of the baseline is sorting.

Both results are checked to agree (NaN-aware) before any figure is printed. Peak memory is measured
with tracemalloc in separate calls (tracemalloc slows allocation, so never during the timed calls): the
peak of memory allocated during the call, the result included, the inputs not.
"""

from __future__ import annotations

import gc
import sys
import time
import tracemalloc
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from benchmarks.common import Figure, print_table, timed_ms
from cirrus_frames.point_in_time import as_of_join

if TYPE_CHECKING:
    from collections.abc import Callable

LABELS = 1_000_000
FEATURES = 1_000_000
ENTITIES = 100_000
REPEATS = 5
SEED = 20240101
FEATURE_COLUMNS = ["spend_7d", "score", "visits"]


def make_data(seed: int = SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Labels (entity, label_time, label) and features (entity, event_time, three values)."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-01-01").as_unit("ns").value
    year = 365 * 24 * 3600 * 10**9

    def times(count: int) -> Any:
        return pd.to_datetime(start + rng.integers(0, year, count), unit="ns")

    labels = pd.DataFrame(
        {
            "entity": rng.integers(0, ENTITIES, LABELS),
            "label_time": times(LABELS),
            "label": rng.integers(0, 2, LABELS).astype(np.int8),
        }
    )
    spend = rng.gamma(2.0, 50.0, FEATURES)
    spend[rng.random(FEATURES) < 0.05] = np.nan
    features = pd.DataFrame(
        {
            "entity": rng.integers(0, ENTITIES, FEATURES),
            "event_time": times(FEATURES),
            "spend_7d": spend,
            "score": rng.normal(size=FEATURES),
            "visits": rng.integers(0, 100, FEATURES),
        }
    )
    return labels, features


def cirrus_join(labels: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    return as_of_join(
        labels, features, entity_key="entity", label_time="label_time", feature_time="event_time"
    )


def pandas_join(labels: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    """The same table with pandas: sort both by time, merge_asof, restore the labels' order."""
    order = np.argsort(labels["label_time"].to_numpy(), kind="stable")
    left = labels.take(order)
    right = features.sort_values("event_time", kind="stable")
    merged = pd.merge_asof(
        left,
        right,
        left_on="label_time",
        right_on="event_time",
        by="entity",
        direction="backward",
        allow_exact_matches=True,
    )
    back = np.empty_like(order)
    back[order] = np.arange(len(order))
    return merged.take(back).set_axis(labels.index)


def check_agreement(labels: pd.DataFrame, ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    """Raise unless both joins hold the same labels and the same feature values (NaN-aware)."""
    if not ours[labels.columns].equals(labels) or not theirs[labels.columns].equals(labels):
        raise RuntimeError("the label columns differ")
    for column in FEATURE_COLUMNS:
        mine, reference = ours[column].to_numpy(), theirs[column].to_numpy()
        if mine.dtype != reference.dtype or not np.array_equal(mine, reference, equal_nan=True):
            raise RuntimeError(f"as_of_join and merge_asof disagree on {column!r}")


def peak_mb(call: Callable[[], object]) -> float:
    """Peak memory allocated during one call, in MB (tracemalloc; numpy and pandas report to it)."""
    gc.collect()
    tracemalloc.start()
    try:
        result = call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del result
    return peak / 1e6


def run() -> list[Figure]:
    """The join timings and peak memories, baselines first."""
    started = time.perf_counter()
    labels, features = make_data()
    ours = cirrus_join(labels, features)  # also warms both paths up
    check_agreement(labels, ours, pandas_join(labels, features))
    matched = int(ours["score"].notna().sum())
    del ours

    left = labels.sort_values("label_time", kind="stable")
    right = features.sort_values("event_time", kind="stable")

    def merge_only() -> object:
        return pd.merge_asof(
            left, right, left_on="label_time", right_on="event_time", by="entity", direction="backward"
        )

    pandas_s: list[float] = []
    cirrus_s: list[float] = []
    merge_s: list[float] = []
    for _ in range(REPEATS):  # alternated, so machine load affects both alike
        pandas_s += [ms / 1000 for ms in timed_ms(lambda: pandas_join(labels, features), 1)]
        cirrus_s += [ms / 1000 for ms in timed_ms(lambda: cirrus_join(labels, features), 1)]
        merge_s += [ms / 1000 for ms in timed_ms(merge_only, 1)]
    pandas_mb = peak_mb(lambda: pandas_join(labels, features))
    cirrus_mb = peak_mb(lambda: cirrus_join(labels, features))

    base = Figure("pandas: sort, merge_asof, reorder (baseline)", "s", pandas_s)
    base_mb = Figure("pandas: peak memory (baseline)", "MB", [pandas_mb])
    rows = [
        base,
        Figure("as_of_join", "s", cirrus_s, base.name, base.median),
        Figure("merge_asof call alone, inputs pre-sorted", "s", merge_s, base.name, base.median),
        base_mb,
        Figure("as_of_join: peak memory", "MB", [cirrus_mb], base_mb.name, base_mb.median),
    ]
    print(
        f"point-in-time join, {LABELS:,} labels x {FEATURES:,} feature rows over {ENTITIES:,} entities: "
        f"took {time.perf_counter() - started:.1f} s; results agree; {matched:,} labels matched a row",
        file=sys.stderr,
    )
    return rows


def main() -> None:
    rows = run()
    print_table(rows)


if __name__ == "__main__":
    main()
