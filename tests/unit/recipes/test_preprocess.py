"""preprocess.py: raw CSV under a source prefix -> imputed, stratified train/validation/test splits."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from examples.demo_data import generate
from tests.unit.recipes.support import Job, RecipeWorld

ROWS = 1000
NO_TARGET_IDS = frozenset(range(5, ROWS, 50))  # 20 rows whose label is missing
SPLITS = ("train", "validation", "test")


def _source() -> pd.DataFrame:
    """Demo data with a row id, some labels missing and more amounts missing (so medians matter)."""
    frame = generate(ROWS, seed=21)
    frame.insert(0, "row_id", range(ROWS))
    frame.loc[frame["row_id"].isin(NO_TARGET_IDS), "label"] = np.nan
    frame.loc[frame["row_id"] % 9 == 4, "amount"] = np.nan
    return frame


@pytest.fixture(scope="module")
def jobs(world: RecipeWorld) -> dict[str, tuple[Job, dict[str, Any]]]:
    """Every preprocessing job of this module, started together, described once ended."""
    source = _source()
    half = ROWS // 2
    world.put_frame("raw/rich/part-1.csv", source.iloc[:half])
    world.put_frame("raw/rich/more/part-2.csv", source.iloc[half:])  # a prefix may hold folders
    small_class = pd.DataFrame({"x": range(200), "label": ["a"] * 120 + ["b"] * 78 + ["c"] * 2})
    started = {
        "rich": world.start_processing(
            "preprocess.py", "prep_rich", {"seed": 5}, {"source": world.uri("raw/rich/")}
        ),
        "small_class": world.start_processing(
            "preprocess.py",
            "prep_small",
            {"seed": 5},
            {"source": world.put_frame("raw/small.csv", small_class)},
        ),
        "no_target": world.start_processing(
            "preprocess.py",
            "prep_no_target",
            {"target_column": "is_fraud"},
            {"source": world.put_frame("raw/no-target.csv", pd.DataFrame({"a": [1, 2], "b": [3, 4]}))},
        ),
        "empty": world.start_processing(
            "preprocess.py", "prep_empty", {}, {"source": world.put("raw/empty/data.csv", b"amount,label\n")}
        ),
    }
    return {name: (job, world.wait_processing(job)) for name, job in started.items()}


@pytest.fixture(scope="module")
def rich(world: RecipeWorld, jobs: dict[str, tuple[Job, dict[str, Any]]]) -> dict[str, Any]:
    """The splits and schema of the main job."""
    job, described = jobs["rich"]
    assert described["ProcessingJobStatus"] == "Completed", described.get("ExitMessage")
    splits = {split: world.frame(f"{job.output_uri}{split}.csv") for split in SPLITS}
    return {"splits": splits, "schema": world.json(f"{job.output_uri}schema.json"), "job": job}


def test_every_labelled_row_lands_in_exactly_one_split_in_its_original_order(rich: dict[str, Any]) -> None:
    splits = rich["splits"]
    ids = {split: frame["row_id"].tolist() for split, frame in splits.items()}
    labelled = set(range(ROWS)) - NO_TARGET_IDS

    assert sorted(ids["train"] + ids["validation"] + ids["test"]) == sorted(labelled)
    # Files are read in name order (more/part-2.csv, then part-1.csv), their rows in order.
    position = {row_id: index for index, row_id in enumerate([*range(ROWS // 2, ROWS), *range(ROWS // 2)])}
    assert all(values == sorted(values, key=position.__getitem__) for values in ids.values())
    assert [len(splits[split]) for split in SPLITS] == [686, 147, 147]
    for frame in splits.values():
        assert list(frame.columns) == list(_source().columns)  # header kept, target column kept


def test_rows_without_a_target_are_dropped_and_counted(rich: dict[str, Any]) -> None:
    assert rich["schema"]["rows"] == {
        "input": ROWS,
        "dropped_missing_target": len(NO_TARGET_IDS),
        "train": 686,
        "validation": 147,
        "test": 147,
    }
    assert all(frame["label"].notna().all() for frame in rich["splits"].values())
    assert rich["splits"]["train"]["label"].dtype == np.int64  # 0/1, not 0.0/1.0


def test_missing_numbers_take_the_train_median_only(rich: dict[str, Any]) -> None:
    # GIVEN the source's amounts and which rows went to train
    source = _source().set_index("row_id")
    train_ids = rich["splits"]["train"]["row_id"]
    train_median = float(source.loc[train_ids, "amount"].median())
    all_median = float(source.loc[source["label"].notna(), "amount"].median())
    assert train_median != pytest.approx(all_median)  # otherwise this test could not tell them apart

    # THEN every split's gaps hold the train median, and the schema says so
    for frame in rich["splits"].values():
        gaps = frame["row_id"].isin(source.index[source["amount"].isna()])
        assert gaps.any()
        assert frame.loc[gaps, "amount"].tolist() == pytest.approx([train_median] * int(gaps.sum()))
        assert frame["amount"].notna().all()
    [amount] = [column for column in rich["schema"]["columns"] if column["name"] == "amount"]
    assert amount["fill_value"] == pytest.approx(train_median)
    assert amount["role"] == "numeric"
    assert sum(amount["missing"].values()) == int(source.loc[source["label"].notna(), "amount"].isna().sum())


def test_missing_categories_become_a_category_of_their_own(rich: dict[str, Any]) -> None:
    source = _source().set_index("row_id")
    missing = set(source.index[source["merchant_category"].isna() & source["label"].notna()])
    assert missing

    for frame in rich["splits"].values():
        gaps = frame["row_id"].isin(missing)
        assert (frame.loc[gaps, "merchant_category"] == "__missing__").all()
        assert frame["merchant_category"].notna().all()


def test_classification_splits_are_stratified(rich: dict[str, Any]) -> None:
    splits = rich["splits"]
    positives = sum(int(frame["label"].sum()) for frame in splits.values())
    total = sum(len(frame) for frame in splits.values())

    assert rich["schema"]["stratified"] is True
    for split in ("validation", "test"):
        share = int(splits[split]["label"].sum())
        assert share == int(np.floor(positives * 0.15 + 0.5))
        assert len(splits[split]) == int(np.floor(positives * 0.15 + 0.5)) + int(
            np.floor((total - positives) * 0.15 + 0.5)
        )
    assert rich["schema"]["classes"]["train"] == {
        "0": int((splits["train"]["label"] == 0).sum()),
        "1": int((splits["train"]["label"] == 1).sum()),
    }


def test_a_class_too_small_for_every_split_gives_a_plain_random_split(
    world: RecipeWorld, jobs: dict[str, tuple[Job, dict[str, Any]]]
) -> None:
    job, described = jobs["small_class"]
    assert described["ProcessingJobStatus"] == "Completed", described.get("ExitMessage")

    schema = world.json(f"{job.output_uri}schema.json")

    assert schema["stratified"] is False
    assert schema["stratify_note"] == "not stratified: too few rows of class c for every split"
    assert [schema["rows"][split] for split in SPLITS] == [140, 30, 30]


def test_a_missing_target_column_is_refused_naming_the_columns(
    world: RecipeWorld, jobs: dict[str, tuple[Job, dict[str, Any]]]
) -> None:
    job, described = jobs["no_target"]

    assert described["ProcessingJobStatus"] == "Failed"
    assert described["ExitMessage"] == "target column 'is_fraud' is not in the data; its columns are: a, b"
    assert world.keys(job.output_uri) == []


def test_a_source_without_rows_is_refused(jobs: dict[str, tuple[Job, dict[str, Any]]]) -> None:
    _, described = jobs["empty"]

    assert described["ProcessingJobStatus"] == "Failed"
    assert described["ExitMessage"] == "the data source is empty: 1 file(s) but no rows"


def test_the_schema_lists_every_column_and_the_sources(rich: dict[str, Any]) -> None:
    schema = rich["schema"]

    assert schema["sources"] == ["more/part-2.csv", "part-1.csv"]
    assert [column["name"] for column in schema["columns"]] == list(_source().columns)
    roles = {column["name"]: column["role"] for column in schema["columns"]}
    assert roles["label"] == "target"
    assert roles["channel"] == "categorical"
    assert roles["hour"] == "numeric"
    assert (schema["seed"], schema["validation_fraction"], schema["test_fraction"]) == (5, 0.15, 0.15)
