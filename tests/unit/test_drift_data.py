"""The drift benchmark's data generator: deterministic, and its labels say what was shifted."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import drift_data

ROWS = 10_000


@pytest.fixture(scope="module")
def windows() -> tuple[drift_data.Table, drift_data.Table]:
    return drift_data.window(11, ROWS), drift_data.window(11, ROWS, drifted=False)


def test_same_seed_same_data_and_another_seed_other_data() -> None:
    first, again, other = drift_data.window(3, 500), drift_data.window(3, 500), drift_data.window(4, 500)
    for name in drift_data.NUMERIC_NAMES:
        assert np.array_equal(first[name], again[name], equal_nan=True)
    for name in drift_data.CATEGORICAL_NAMES:
        assert np.array_equal(first[name], again[name])
    assert not np.array_equal(first["num_01"], other["num_01"], equal_nan=True)


def test_schema() -> None:
    table = drift_data.window(3, 500)
    assert len(drift_data.NUMERIC_NAMES) == 50
    assert len(drift_data.CATEGORICAL_NAMES) == 10
    assert list(table) == list(drift_data.FEATURES)
    assert all(table[name].dtype == np.float64 for name in drift_data.NUMERIC_NAMES)
    assert any(np.isnan(table[name]).any() for name in drift_data.NUMERIC_NAMES)
    for name in drift_data.CATEGORICAL_NAMES:
        assert table[name].dtype.kind == "U"
        assert set(table[name].tolist()) <= set(drift_data.LEVELS)
    assert set(drift_data.FEATURES) == drift_data.DRIFTED | drift_data.UNCHANGED
    assert {d.magnitude for d in drift_data.SCENARIO.values()} == set(drift_data.MAGNITUDES)


def test_unchanged_features_are_untouched(windows: tuple[drift_data.Table, drift_data.Table]) -> None:
    drifted, unchanged = windows
    for name in drift_data.FEATURES:
        same = np.array_equal(drifted[name], unchanged[name], equal_nan=name in drift_data.NUMERIC_NAMES)
        assert same == (name in drift_data.UNCHANGED), name


def test_each_drifted_feature_moved_by_its_label(windows: tuple[drift_data.Table, drift_data.Table]) -> None:
    drifted, unchanged = windows
    specs = {spec.name: spec for spec in drift_data.NUMERIC}
    for name, drift in drift_data.SCENARIO.items():
        if drift.kind == "shares":  # the mass moved off the two commonest levels: the TVD of the shares
            top_two = [np.isin(x[name], drift_data.LEVELS[:2]).mean() for x in (unchanged, drifted)]
            moved, expected = top_two[0] - top_two[1], drift.size
        else:
            after = np.asarray(drifted[name], dtype=np.float64)
            before = np.asarray(unchanged[name], dtype=np.float64)
            if drift.kind == "mean":  # in standard deviations
                moved, expected = (np.nanmean(after) - np.nanmean(before)) / specs[name].std, drift.size
            else:  # the spread's relative change
                moved, expected = np.nanstd(after) / np.nanstd(before) - 1, drift.size - 1
        assert moved == pytest.approx(expected, rel=0.2, abs=0.003), (name, drift, moved)


def test_scores_count_flagged_features() -> None:
    flagged = {"num_00", "cat_0", "num_01"}
    scored = drift_data.score(flagged)
    assert scored == {"precision": 2 / 3, "recall": 2 / 18, "true_positive": 2, "false_positive": 1}
    assert drift_data.found_by_magnitude(flagged)["large"] == 2
