"""Drift baselines: building, summaries, serialisation, fingerprints, and captured data to columns."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cirrus_science.drift.baseline import (
    FORMAT_VERSION,
    Baseline,
    FeatureSpec,
    build_baseline,
    columns_from_csv,
    columns_from_records,
)
from cirrus_science.drift.reference import CategoricalReference, NumericReference


def _table(rows: int = 500, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10, 1, size=rows)
    income[::50] = np.nan
    return {
        "age": rng.integers(18, 90, size=rows),
        "income": income,
        "plan": rng.choice(["basic", "plus", "pro"], size=rows, p=[0.6, 0.3, 0.1]),
        "churned": rng.random(rows) < 0.2,
    }


# --- building -----------------------------------------------------------------------------------


def test_kinds_are_inferred_from_the_values() -> None:
    baseline = build_baseline(
        {
            "ints": [1, 2, 3],
            "floats_with_missing": [1.5, None, float("nan")],
            "text": ["a", "b", "a"],
            "flags": [True, False, True],
            "mixed": [1, "two", 3],
        }
    )

    assert [(f.name, f.kind) for f in baseline.features] == [
        ("ints", "numeric"),
        ("floats_with_missing", "numeric"),
        ("text", "categorical"),
        ("flags", "categorical"),  # a bool is not a number here
        ("mixed", "categorical"),
    ]


def test_given_kinds_override_inference() -> None:
    baseline = build_baseline({"zip": [10115, 10115, 80331]}, kinds={"zip": "categorical"})

    reference = baseline.references["zip"]
    assert isinstance(reference, CategoricalReference)
    assert reference.categories == ("10115", "80331")


def test_numeric_summary_describes_the_present_values() -> None:
    values = np.array([1.0, 2.0, 3.0, 4.0, np.nan])

    summary = build_baseline({"x": values}).summary["x"]

    assert summary["count"] == 4
    assert summary["missing_share"] == pytest.approx(0.2)
    assert summary["mean"] == pytest.approx(2.5)
    assert summary["std"] == pytest.approx(np.std([1, 2, 3, 4], ddof=1))
    assert (summary["min"], summary["p25"], summary["median"], summary["p75"], summary["max"]) == (
        1.0,
        1.75,
        2.5,
        3.25,
        4.0,
    )


def test_categorical_summary_lists_at_most_twenty_top_categories_by_share() -> None:
    values = [f"c{i:02d}" for i in range(30) for _ in range(i + 1)]

    summary = build_baseline({"c": values}).summary["c"]

    assert summary["distinct"] == 30
    assert len(summary["top"]) == 20
    assert summary["top"][0] == {"category": "c29", "share": pytest.approx(30 / len(values))}
    shares = [entry["share"] for entry in summary["top"]]
    assert shares == sorted(shares, reverse=True)


def test_the_missing_count_is_kept_on_the_numeric_reference() -> None:
    baseline = build_baseline({"x": [1.0, None, 3.0, float("inf")]})

    reference = baseline.references["x"]
    assert isinstance(reference, NumericReference)
    assert (reference.n_present, reference.n_missing) == (2, 2)
    assert baseline.row_count == 4


@pytest.mark.parametrize(
    ("columns", "kinds", "message"),
    [
        ({}, None, "no columns"),
        ({"x": []}, None, "no rows"),
        ({"x": [1, 2], "y": [1]}, None, "different lengths"),
        ({"x": [None, None]}, None, "no present"),
        ({"x": [np.nan, np.nan]}, None, "no present"),
        ({"x": ["a", "b"]}, {"x": "numeric"}, "non-numeric"),
        ({"x": [1, 2]}, {"y": "numeric"}, "does not have"),
    ],
)
def test_bad_tables_are_refused_with_a_clear_message(
    columns: dict[str, list[object]], kinds: dict[str, str] | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build_baseline(columns, kinds=kinds)  # type: ignore[arg-type]


def test_metadata_that_is_not_json_is_refused() -> None:
    with pytest.raises(ValueError, match="JSON"):
        build_baseline({"x": [1, 2]}, metadata={"when": object()})


# --- serialisation and fingerprint --------------------------------------------------------------


def test_json_round_trip_keeps_everything() -> None:
    baseline = build_baseline(_table(), metadata={"source": "s3://bucket/train.csv", "target": "label"})

    restored = Baseline.from_json(baseline.to_json())

    assert restored.to_dict() == baseline.to_dict()
    assert restored.fingerprint == baseline.fingerprint
    assert restored.metadata["source"] == "s3://bucket/train.csv"


def test_to_json_is_compact_and_versioned() -> None:
    data = build_baseline({"x": [1.0, 2.0]}).to_json()

    assert b", " not in data
    assert b": " not in data
    assert json.loads(data)["format_version"] == FORMAT_VERSION


def test_fingerprint_identifies_the_statistics_not_the_metadata() -> None:
    a = build_baseline(_table(), metadata={"created_at": "2026-01-01"})
    b = build_baseline(_table(), metadata={"created_at": "2026-02-02"})
    c = build_baseline(_table(seed=1))

    assert a.fingerprint == b.fingerprint
    assert a.fingerprint != c.fingerprint
    assert len(a.fingerprint) == 64


def test_from_dict_refuses_an_unknown_format_version() -> None:
    data = build_baseline({"x": [1.0, 2.0]}).to_dict()
    data["format_version"] = FORMAT_VERSION + 1

    with pytest.raises(ValueError, match="format version"):
        Baseline.from_dict(data)


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda d: d.update(row_count=d["row_count"] + 1),
        lambda d: d["features"][0].update(kind="categorical"),
        lambda d: d["features"].append(d["features"][0]),
        lambda d: d["features"][0].pop("summary"),
        lambda d: d.update(features=[]),
    ],
    ids=["row-count", "kind", "duplicate", "no-summary", "no-features"],
)
def test_from_dict_refuses_inconsistent_data(corrupt: object) -> None:
    data = build_baseline({"x": [1.0, 2.0, 3.0], "y": ["a", "b", "a"]}).to_dict()
    corrupt(data)  # type: ignore[operator]

    with pytest.raises(ValueError, match=r"inconsistent|unique|at least one|duplicate"):
        Baseline.from_dict(data)


# --- captured data to columns -------------------------------------------------------------------

FEATURES = (
    FeatureSpec("age", "numeric"),
    FeatureSpec("plan", "categorical"),
    FeatureSpec("score", "numeric"),
)


def test_records_become_typed_columns_and_unknown_keys_are_reported() -> None:
    records: list[dict[str, object]] = [
        {"age": 31, "plan": "pro", "score": 0.5, "prediction": 1},
        {"age": None, "plan": None, "score": "n/a", "request_id": "r2"},
    ]

    columns, extra = columns_from_records(records, FEATURES)

    assert columns["age"].dtype == np.float64
    np.testing.assert_array_equal(columns["age"], [31.0, np.nan])
    assert columns["plan"].dtype == object
    assert columns["plan"].tolist() == ["pro", None]
    assert columns["score"].dtype == object  # text among numbers: kept for the non-numeric check
    assert extra == ("prediction", "request_id")


def test_a_feature_no_record_carries_is_left_out() -> None:
    columns, _ = columns_from_records([{"age": 1}], FEATURES)

    assert set(columns) == {"age"}


def test_csv_header_is_detected_when_it_names_every_feature() -> None:
    text = "plan,score,age,label\npro,0.5,31,1\n,,42,0\n"

    columns, extra = columns_from_csv(text, FEATURES)

    np.testing.assert_array_equal(columns["age"], [31.0, 42.0])
    np.testing.assert_array_equal(columns["score"], [0.5, np.nan])
    assert columns["plan"].tolist() == ["pro", None]
    assert extra == ("label",)


def test_csv_with_a_header_that_lacks_a_feature_leaves_it_out() -> None:
    columns, extra = columns_from_csv("plan,age\npro,31\n", FEATURES, header=True)

    assert set(columns) == {"plan", "age"}
    assert extra == ()


def test_csv_without_a_header_is_positional() -> None:
    text = "31,pro,0.5,extra\n42,basic,,x\n"

    columns, extra = columns_from_csv(text, FEATURES)

    np.testing.assert_array_equal(columns["age"], [31.0, 42.0])
    np.testing.assert_array_equal(columns["score"], [0.5, np.nan])
    assert extra == ("column_4",)


def test_csv_numeric_cells_that_do_not_parse_stay_text() -> None:
    columns, _ = columns_from_csv("age,plan,score\nabc,pro,1\n", FEATURES, header=True)

    assert columns["age"].tolist() == ["abc"]


def test_an_integer_beyond_float64_in_the_baseline_counts_as_missing() -> None:
    baseline = build_baseline({"x": [10**400, -(10**400)] + [1.0, 2.0, 3.0] * 40})

    reference = baseline.references["x"]
    assert isinstance(reference, NumericReference)
    assert (reference.n_missing, reference.n_present) == (2, 120)
