"""preprocess.py's `exclude_columns`: columns of the data that are not features never reach the model.

A point-in-time training set carries the label dataset's id and label-time columns; excluded, they
are dropped right after reading (the split is the one the data without them gets), schema.json lists
them apart from its columns, and the served model ignores them when a request still carries them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cirrus.localcloud.sagemaker_inference import (
    ContainerDefinition,
    InferenceError,
    InferenceModel,
    load_inference_model,
    unload,
)
from examples.demo_data import generate
from tests.unit.recipes.support import RECIPES, Job, RecipeWorld, load_script

ROWS = 600
SPLITS = ("train", "validation", "test")
EXCLUDED = ["transaction_id", "label_time"]
SELF_SERVING = {"SAGEMAKER_PROGRAM": "train.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}
JSON = "application/json"
CSV = "text/csv"


def _source() -> pd.DataFrame:
    """Demo rows as a training set holds them: an id first, the label time among the features."""
    frame = generate(ROWS, seed=31)
    frame.insert(0, "transaction_id", [f"tx-{number:05d}" for number in range(ROWS)])
    times = pd.date_range("2024-05-01", periods=ROWS, freq="h").strftime("%Y-%m-%dT%H:%M:%SZ")
    frame.insert(frame.columns.get_loc("hour") + 1, "label_time", times)
    return frame


@pytest.fixture(scope="module")
def jobs(world: RecipeWorld) -> dict[str, tuple[Job, dict[str, Any]]]:
    """The preprocessing jobs of this module, started together, described once ended."""
    source = world.put_frame("raw/excluding/training-set.csv", _source())
    without = world.put_frame("raw/excluding/without.csv", _source().drop(columns=EXCLUDED))
    started = {
        "excluded": world.start_processing(
            "preprocess.py", "prep_excluded", {"seed": 3, "exclude_columns": EXCLUDED}, {"source": source}
        ),
        # a step parameter is a scalar: the names come comma-separated
        "as_text": world.start_processing(
            "preprocess.py",
            "prep_as_text",
            {"seed": 3, "exclude_columns": "label_time, transaction_id"},
            {"source": source},
        ),
        "without": world.start_processing("preprocess.py", "prep_without", {"seed": 3}, {"source": without}),
        "unknown": world.start_processing(
            "preprocess.py",
            "prep_unknown",
            {"exclude_columns": ["transaction_id", "order_ref"]},
            {
                "source": world.put_frame(
                    "raw/excluding/small.csv", pd.DataFrame({"a": [1, 2], "label": [0, 1]})
                )
            },
        ),
        "target": world.start_processing(
            "preprocess.py", "prep_target", {"exclude_columns": "transaction_id,label"}, {"source": source}
        ),
    }
    return {name: (job, world.wait_processing(job)) for name, job in started.items()}


def completed(jobs: dict[str, tuple[Job, dict[str, Any]]], name: str) -> Job:
    job, described = jobs[name]
    assert described["ProcessingJobStatus"] == "Completed", described.get("ExitMessage")
    return job


def splits_of(world: RecipeWorld, job: Job) -> dict[str, pd.DataFrame]:
    return {split: world.frame(f"{job.output_uri}{split}.csv") for split in SPLITS}


# -- preprocessing ------------------------------------------------------------------------------------


def test_the_excluded_columns_are_dropped_before_the_split(
    world: RecipeWorld, jobs: dict[str, tuple[Job, dict[str, Any]]]
) -> None:
    # GIVEN the training set preprocessed with its id and label time excluded, and the same rows
    # preprocessed without those columns at all
    excluded = splits_of(world, completed(jobs, "excluded"))
    without = splits_of(world, completed(jobs, "without"))

    # THEN neither column is in any split, and the splits are exactly the ones the data without them gets
    for split in SPLITS:
        assert not set(EXCLUDED) & set(excluded[split].columns)
        pd.testing.assert_frame_equal(excluded[split], without[split])
    assert sum(len(frame) for frame in excluded.values()) == ROWS


def test_the_schema_lists_them_apart_from_its_columns(
    world: RecipeWorld, jobs: dict[str, tuple[Job, dict[str, Any]]]
) -> None:
    schema = world.json(f"{completed(jobs, 'excluded').output_uri}schema.json")
    plain = world.json(f"{completed(jobs, 'without').output_uri}schema.json")

    assert [column["name"] for column in schema["columns"]] == [column["name"] for column in plain["columns"]]
    assert schema["columns"] == plain["columns"]
    assert schema["excluded_columns"] == EXCLUDED
    assert schema["input_columns"] == list(_source().columns)
    assert plain["excluded_columns"] == []
    assert plain["input_columns"] == list(_source().drop(columns=EXCLUDED).columns)


def test_names_given_as_text_exclude_alike(
    world: RecipeWorld, jobs: dict[str, tuple[Job, dict[str, Any]]]
) -> None:
    excluded, as_text = completed(jobs, "excluded"), completed(jobs, "as_text")

    for split in SPLITS:
        assert world.get(f"{as_text.output_uri}{split}.csv") == world.get(f"{excluded.output_uri}{split}.csv")
    assert world.json(f"{as_text.output_uri}schema.json")["excluded_columns"] == [
        "label_time",
        "transaction_id",
    ]


def test_a_column_the_data_lacks_is_refused_naming_it_and_the_columns(
    world: RecipeWorld, jobs: dict[str, tuple[Job, dict[str, Any]]]
) -> None:
    job, described = jobs["unknown"]

    assert described["ProcessingJobStatus"] == "Failed"
    assert described["ExitMessage"] == (
        "exclude_columns names 'transaction_id', 'order_ref', which are not in the data; "
        "its columns are: a, label"
    )
    assert world.keys(job.output_uri) == []


def test_the_target_column_cannot_be_excluded(
    world: RecipeWorld, jobs: dict[str, tuple[Job, dict[str, Any]]]
) -> None:
    job, described = jobs["target"]

    assert described["ProcessingJobStatus"] == "Failed"
    assert described["ExitMessage"] == (
        "parameter exclude_columns names the target column 'label': it cannot be excluded"
    )
    assert world.keys(job.output_uri) == []


@pytest.fixture(scope="module")
def preprocess() -> Iterator[ModuleType]:
    """preprocess.py as a module, importing its helpers from beside it as its container does."""
    processing = str(RECIPES / "processing")
    sys.path.insert(0, processing)
    try:
        yield load_script(RECIPES / "processing" / "preprocess.py", "preprocess_under_test")
    finally:
        sys.path.remove(processing)


@pytest.mark.parametrize(
    ("value", "names"),
    [(None, []), ("", []), ([], []), (" a ,b,", ["a", "b"]), (["b", "a"], ["b", "a"])],
)
def test_the_parameter_reads_a_list_or_comma_separated_text(
    preprocess: ModuleType, value: Any, names: list[str]
) -> None:
    assert preprocess.columns_parameter({"exclude_columns": value}, "exclude_columns", "label") == names


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"a": 1}, "parameter exclude_columns must be a list of column names, not {'a': 1}"),
        (["a", 3], "parameter exclude_columns must be a list of column names, not ['a', 3]"),
        (["a", " "], "parameter exclude_columns must be a list of column names, not ['a', ' ']"),
        ("a,b,a", "parameter exclude_columns lists 'a' more than once"),
    ],
)
def test_a_bad_parameter_is_refused(preprocess: ModuleType, value: Any, message: str) -> None:
    with pytest.raises(preprocess.RecipeError) as refused:
        preprocess.columns_parameter({"exclude_columns": value}, "exclude_columns", "label")

    assert str(refused.value) == message


# -- the model trained on it, and served ----------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(world: RecipeWorld, jobs: dict[str, tuple[Job, dict[str, Any]]]) -> dict[str, Job]:
    """A feature step over the excluding preprocessing, and a model trained on it."""
    prepared = completed(jobs, "excluded")
    features = world.start_processing(
        "features.py", "feat_excluded", {}, {"prep_excluded": prepared.output_uri}
    )
    described = world.wait_processing(features)
    assert described["ProcessingJobStatus"] == "Completed", described.get("ExitMessage")
    model = world.start_training(
        "sk_excluded",
        {"feat_excluded": features.output_uri},
        {"target_column": "label", "task": "classification", "seed": 3, "n_estimators": 20},
    )
    described = world.wait_training(model)
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    return {"prep": prepared, "features": features, "model": model}


@pytest.fixture(scope="module")
def served(
    world: RecipeWorld, trained: dict[str, Job], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[InferenceModel]:
    model = load_inference_model(
        world.s3,
        ContainerDefinition(world.model_uri(trained["model"]), SELF_SERVING),
        tmp_path_factory.mktemp("sk_excluded"),
    )
    yield model
    unload(model)


def metadata_of(model: InferenceModel) -> dict[str, Any]:
    metadata: dict[str, Any] = json.loads((Path(model.model_dir) / "metadata.json").read_text())
    return metadata


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready records, numbers as the frame holds them."""
    return [
        {str(column): value.item() if hasattr(value, "item") else value for column, value in row.items()}
        for row in frame.to_dict(orient="records")
    ]


def ask(model: InferenceModel, body: str, content_type: str = JSON) -> dict[str, Any]:
    answer: dict[str, Any] = json.loads(model.invoke(body.encode(), content_type, JSON).body)
    return answer


def assert_same_answers(answer: dict[str, Any], expected: dict[str, Any]) -> None:
    assert answer["predictions"] == expected["predictions"]
    assert np.asarray(answer["probabilities"]) == pytest.approx(
        np.asarray(expected["probabilities"]), abs=1e-9
    )


def raw_test_rows(world: RecipeWorld, trained: dict[str, Job], count: int = 30) -> pd.DataFrame:
    """Raw test rows (preprocess's test split, the target removed), with an id and a label time the
    model never saw added where the training set had them."""
    raw = world.frame(f"{trained['prep'].output_uri}test.csv").drop(columns=["label"]).head(count)
    raw.insert(0, "transaction_id", [f"new-{number}" for number in range(len(raw))])
    raw.insert(raw.columns.get_loc("hour") + 1, "label_time", "2031-01-01T00:00:00Z")
    return raw


def test_the_model_never_sees_the_excluded_columns(
    world: RecipeWorld, trained: dict[str, Job], served: InferenceModel
) -> None:
    metadata = metadata_of(served)
    transform = world.json(f"{trained['features'].output_uri}transform.json")

    assert not set(EXCLUDED) & set(transform["input_columns"])
    assert not any(
        name.endswith(tuple(f"__{column}" for column in EXCLUDED)) for name in metadata["feature_columns"]
    )
    assert not set(EXCLUDED) & set(metadata["raw_input"]["columns"])
    assert metadata["raw_input"]["excluded_columns"] == EXCLUDED


def test_records_still_carrying_them_are_answered_with_the_columns_ignored(
    world: RecipeWorld, trained: dict[str, Job], served: InferenceModel
) -> None:
    # GIVEN raw records with the id and label time, the same records without them, and the
    # engineered rows the pipeline made of them (what evaluation sends)
    raw = raw_test_rows(world, trained)
    engineered = (
        world.frame(f"{trained['features'].output_uri}test.csv").drop(columns=["label"]).head(len(raw))
    )
    engineered = engineered[metadata_of(served)["feature_columns"]]

    # WHEN each is sent
    carrying = ask(served, json.dumps({"instances": records(raw)}))
    plain = ask(served, json.dumps({"instances": records(raw.drop(columns=EXCLUDED))}))
    expected = ask(served, engineered.to_csv(header=False, index=False), CSV)

    # THEN all three get the same answers
    assert len(carrying["predictions"]) == len(raw)
    assert_same_answers(carrying, plain)
    assert_same_answers(carrying, expected)


def test_csv_rows_in_the_datas_column_order_are_answered_alike(
    world: RecipeWorld, trained: dict[str, Job], served: InferenceModel
) -> None:
    # GIVEN raw rows with every column the training set had but the target, in its order
    raw = raw_test_rows(world, trained)
    assert list(raw.columns) == [column for column in _source().columns if column != "label"]
    plain = ask(served, json.dumps(records(raw.drop(columns=EXCLUDED))))

    # WHEN they are sent as CSV after that header, and without a header
    headed = ask(served, raw.to_csv(index=False), CSV)
    bare = ask(served, raw.to_csv(header=False, index=False), CSV)

    # THEN the answers are those of the rows without the excluded columns
    assert_same_answers(headed, plain)
    assert_same_answers(bare, plain)


def test_a_column_nobody_excluded_is_still_refused(
    world: RecipeWorld, trained: dict[str, Job], served: InferenceModel
) -> None:
    [record] = records(raw_test_rows(world, trained, count=1))

    with pytest.raises(InferenceError) as refused:
        served.invoke(json.dumps([{**record, "loyalty_tier": "gold"}]).encode(), JSON, JSON)

    assert refused.value.status_code == 400
    assert "record 0 has columns the model does not take: loyalty_tier. Send raw" in refused.value.message


def test_a_csv_row_of_no_known_length_names_every_shape(
    world: RecipeWorld, trained: dict[str, Job], served: InferenceModel
) -> None:
    raw = raw_test_rows(world, trained, count=1).drop(columns=["country"])

    with pytest.raises(InferenceError) as refused:
        served.invoke(raw.to_csv(header=False, index=False).encode(), CSV, JSON)

    assert refused.value.status_code == 400
    assert "row 0 has 9 values; the model takes 8 raw values (amount, " in refused.value.message
    assert ", or 10 raw values with the excluded columns (transaction_id, amount, " in refused.value.message
