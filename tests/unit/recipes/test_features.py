"""features.py: transforms fitted on the train split only, output columns prefixed by the step id."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.unit.recipes.support import Job, RecipeWorld

SPLITS = ("train", "validation", "test")


def _split(rows: int, seed: int, center: float, colors: list[str]) -> pd.DataFrame:
    rng = np.random.RandomState(seed)
    return pd.DataFrame(
        {
            "x1": np.round(rng.normal(center, 2.0, rows), 3),
            "x2": np.round(rng.uniform(0, 1, rows), 3),
            "x3": rng.randint(0, 5, rows),
            "color": [colors[index % len(colors)] for index in range(rows)],
            "label": rng.randint(0, 2, rows),
        }
    )


# Validation is drawn elsewhere (x1 around 20, not 10) and holds a colour train never saw.
UPSTREAM = {
    "train": _split(60, 1, 10.0, ["red", "green", "blue"]),
    "validation": _split(20, 2, 20.0, ["red", "purple"]),
    "test": _split(20, 3, 10.0, ["blue", "green"]),
}


@pytest.fixture(scope="module")
def jobs(world: RecipeWorld) -> dict[str, tuple[Job, dict[str, Any]]]:
    """Every feature job of this module on the same upstream step's output, started together."""
    upstream = {"prep": world.put_splits("prep", UPSTREAM)}
    started = {
        "feat_auto": world.start_processing("features.py", "feat_auto", {}, upstream),
        "feat_inter": world.start_processing(
            "features.py", "feat_inter", {"transform": "interactions", "max_interactions": 2}, upstream
        ),
        "feat_log": world.start_processing(
            "features.py", "feat_log", {"transform": "log1p", "columns": "x1"}, upstream
        ),
        "feat_bad": world.start_processing(
            "features.py", "feat_bad", {"transform": "standardize", "columns": "x1,color"}, upstream
        ),
    }
    return {name: (job, world.wait_processing(job)) for name, job in started.items()}


def _outputs(
    world: RecipeWorld, jobs: dict[str, tuple[Job, dict[str, Any]]], name: str
) -> dict[str, pd.DataFrame]:
    job, described = jobs[name]
    assert described["ProcessingJobStatus"] == "Completed", described.get("ExitMessage")
    return {split: world.frame(f"{job.output_uri}{split}.csv") for split in SPLITS}


def test_feature_columns_carry_the_step_id_and_the_target_keeps_its_name(
    world: RecipeWorld, jobs: dict[str, tuple[Job, dict[str, Any]]]
) -> None:
    outputs = _outputs(world, jobs, "feat_auto")

    expected = [
        "feat_auto__x1",
        "feat_auto__x2",
        "feat_auto__x3",
        "feat_auto__color=blue",
        "feat_auto__color=green",
        "feat_auto__color=red",
        "label",
    ]
    for split in SPLITS:
        assert list(outputs[split].columns) == expected
        assert outputs[split]["label"].tolist() == UPSTREAM[split]["label"].tolist()


def test_standardizing_uses_the_train_split_statistics_only(
    world: RecipeWorld, jobs: dict[str, tuple[Job, dict[str, Any]]]
) -> None:
    outputs = _outputs(world, jobs, "feat_auto")
    mean, scale = UPSTREAM["train"]["x1"].mean(), UPSTREAM["train"]["x1"].std(ddof=0)

    assert outputs["train"]["feat_auto__x1"].mean() == pytest.approx(0.0, abs=1e-9)
    assert outputs["train"]["feat_auto__x1"].std(ddof=0) == pytest.approx(1.0)
    assert outputs["validation"]["feat_auto__x1"].tolist() == pytest.approx(
        ((UPSTREAM["validation"]["x1"] - mean) / scale).tolist()
    )
    assert outputs["validation"]["feat_auto__x1"].mean() > 3  # validation's own statistics were not used


def test_a_category_unseen_in_train_sets_no_indicator(
    world: RecipeWorld, jobs: dict[str, tuple[Job, dict[str, Any]]]
) -> None:
    validation = _outputs(world, jobs, "feat_auto")["validation"]
    indicators = validation[["feat_auto__color=blue", "feat_auto__color=green", "feat_auto__color=red"]]
    purple = (UPSTREAM["validation"]["color"] == "purple").to_numpy()

    assert indicators[purple].to_numpy().sum() == 0
    assert (indicators[~purple].sum(axis=1) == 1).all()


def test_interactions_are_products_capped_by_max_interactions(
    world: RecipeWorld, jobs: dict[str, tuple[Job, dict[str, Any]]]
) -> None:
    test = _outputs(world, jobs, "feat_inter")["test"]
    raw = UPSTREAM["test"]

    assert list(test.columns) == ["feat_inter__x1_x_x2", "feat_inter__x1_x_x3", "label"]
    assert test["feat_inter__x1_x_x2"].tolist() == pytest.approx((raw["x1"] * raw["x2"]).tolist())
    assert test["feat_inter__x1_x_x3"].tolist() == pytest.approx((raw["x1"] * raw["x3"]).tolist())


def test_a_transform_restricted_to_some_columns_passes_the_others_through(
    world: RecipeWorld, jobs: dict[str, tuple[Job, dict[str, Any]]]
) -> None:
    train = _outputs(world, jobs, "feat_log")["train"]
    raw = UPSTREAM["train"]

    assert list(train.columns) == ["feat_log__x1", "feat_log__x2", "feat_log__x3", "feat_log__color", "label"]
    assert train["feat_log__x1"].tolist() == pytest.approx(np.log1p(raw["x1"]).tolist())
    assert train["feat_log__x2"].tolist() == raw["x2"].tolist()
    assert train["feat_log__color"].tolist() == raw["color"].tolist()


def test_the_fitted_transform_is_recorded(
    world: RecipeWorld, jobs: dict[str, tuple[Job, dict[str, Any]]]
) -> None:
    job, _ = jobs["feat_auto"]

    fitted = world.json(f"{job.output_uri}transform.json")

    assert fitted["transform"] == "auto"
    assert fitted["upstream"] == "prep"
    assert fitted["operations"][0] == {
        "op": "standardize",
        "column": "x1",
        "mean": pytest.approx(UPSTREAM["train"]["x1"].mean()),
        "scale": pytest.approx(UPSTREAM["train"]["x1"].std(ddof=0)),
    }
    assert fitted["operations"][3] == {
        "op": "one_hot",
        "column": "color",
        "categories": ["blue", "green", "red"],
    }


def test_a_numeric_transform_of_a_text_column_is_refused(
    world: RecipeWorld, jobs: dict[str, tuple[Job, dict[str, Any]]]
) -> None:
    job, described = jobs["feat_bad"]

    assert described["ProcessingJobStatus"] == "Failed"
    assert described["ExitMessage"] == "transform standardize needs numeric columns; not numeric: color"
    assert world.keys(job.output_uri) == []
