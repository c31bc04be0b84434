"""The served recipes take RAW records: what a client has (the preprocess input's columns, no target).

The model bundles what the data steps fitted (preprocess's schema.json, each feature step's
transform.json) and repeats them at serving: missing values filled with the train split's fill
values, then every feature branch's fitted transform, then the model. The proof is on real data:
the demo generator's rows, split as preprocess split them, answered from their raw values, get the
predictions the model gives the engineered test split that the pipeline evaluated it on.
"""

from __future__ import annotations

import io
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
from tests.unit.recipes.conftest import ROWS, PipelineRun
from tests.unit.recipes.support import RECIPES, load_script

SELF_SERVING = {"SAGEMAKER_PROGRAM": "train.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}
JSON = "application/json"
CSV = "text/csv"
# model step -> (its preprocess step, the demo data's seed and task), as conftest.trained made them
MODELS = {
    "sk_clf": ("prep_clf", 7, "classification"),  # scikit-learn classifier on one feature branch
    "sk_reg": ("prep_reg", 8, "regression"),  # scikit-learn regressor (gradient boosting) on one
    "xgb_clf": ("prep_clf", 7, "classification"),  # XGBoost classifier: a branch and preprocess's output
    "xgb_branches": ("prep_reg", 8, "regression"),  # XGBoost regressor on two feature branches
    "xgb_reg": ("prep_reg", 8, "regression"),  # XGBoost regressor on preprocess's output alone
    "sk_chain": ("prep_clf", 7, "classification"),  # a feature step over a feature step
}


@pytest.fixture(scope="module")
def served(
    trained: PipelineRun, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, InferenceModel]]:
    """The trained models loaded as an endpoint loads them (the archive serves itself), by step id."""
    models = {
        step_id: load_inference_model(
            trained.world.s3,
            ContainerDefinition(trained.world.model_uri(trained.jobs[step_id]), SELF_SERVING),
            tmp_path_factory.mktemp(step_id),
        )
        for step_id in [*MODELS, "sk_plain"]
    }
    yield models
    for model in models.values():
        unload(model)


@pytest.fixture(scope="module")
def preprocess() -> Iterator[ModuleType]:
    """preprocess.py as a module, importing its helpers from beside it as its container does."""
    processing = str(RECIPES / "processing")
    sys.path.insert(0, processing)
    try:
        yield load_script(RECIPES / "processing" / "preprocess.py")
    finally:
        sys.path.remove(processing)


def metadata_of(model: InferenceModel) -> dict[str, Any]:
    return json.loads((model.model_dir / "metadata.json").read_text())


def raw_test_split(preprocess: ModuleType, seed: int, task: str) -> pd.DataFrame:
    """The demo rows preprocess put in the test split, as they were before it filled them in."""
    data = pd.read_csv(io.StringIO(generate(ROWS, seed=seed, task=task).to_csv(index=False)))
    labels = data["label"] if task == "classification" else None
    positions, _, _ = preprocess.split_rows(labels, 0.15, 0.15, seed, len(data))
    return data.iloc[positions["test"]].reset_index(drop=True)


def engineered_test_split(trained: PipelineRun, metadata: dict[str, Any]) -> pd.DataFrame:
    """The test split as the model's feature columns: its channels' test.csv joined as training did."""
    seen: set[str] = set()
    parts = []
    for channel in metadata["channels"]:
        frame = trained.world.frame(f"{trained.output(channel)}test.csv").drop(columns=["label"])
        frame.columns = [f"{channel}__{column}" if column in seen else column for column in frame.columns]
        seen.update(frame.columns)
        parts.append(frame)
    return pd.concat(parts, axis=1)[metadata["feature_columns"]]


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready records, missing values as None, numbers exactly as the frame holds them."""
    return [
        {
            str(column): None if pd.isna(value) else (value.item() if hasattr(value, "item") else value)
            for column, value in row.items()
        }
        for row in frame.to_dict(orient="records")
    ]


def ask(model: InferenceModel, body: str, content_type: str = JSON) -> dict[str, Any]:
    answer: dict[str, Any] = json.loads(model.invoke(body.encode(), content_type, JSON).body)
    return answer


def assert_same_answers(answer: dict[str, Any], expected: dict[str, Any], task: str) -> None:
    if task == "classification":
        assert answer["predictions"] == expected["predictions"]
        assert np.asarray(answer["probabilities"]) == pytest.approx(
            np.asarray(expected["probabilities"]), abs=1e-9
        )
    else:
        assert answer["predictions"] == pytest.approx(expected["predictions"], rel=1e-9, abs=1e-9)


def refusal(model: InferenceModel, body: str, content_type: str = JSON) -> InferenceError:
    with pytest.raises(InferenceError) as refused:
        model.invoke(body.encode(), content_type, JSON)
    return refused.value


# -- the same predictions -----------------------------------------------------------------------------


@pytest.mark.parametrize("step_id", list(MODELS))
def test_raw_records_get_the_predictions_of_the_engineered_test_split(
    trained: PipelineRun, served: dict[str, InferenceModel], preprocess: ModuleType, step_id: str
) -> None:
    # GIVEN the demo rows preprocess put in the test split, raw: gaps and all, the target removed
    prep_step, seed, task = MODELS[step_id]
    raw = raw_test_split(preprocess, seed, task)
    preprocessed = trained.world.frame(f"{trained.output(prep_step)}test.csv")
    assert raw["label"].tolist() == pytest.approx(preprocessed["label"].tolist())  # the same rows
    assert raw[["distance_km", "merchant_category"]].isna().to_numpy().any()  # with missing values
    model = served[step_id]
    engineered = engineered_test_split(trained, metadata_of(model))

    # WHEN they are sent as raw JSON records, and the engineered split as the evaluation sends it
    answer = ask(model, json.dumps({"instances": records(raw.drop(columns=["label"]))}))
    expected = ask(model, engineered.to_csv(header=False, index=False), CSV)

    # THEN the answers are the same, row for row
    assert len(answer["predictions"]) == len(raw) == len(engineered)
    assert_same_answers(answer, expected, task)


@pytest.mark.parametrize("step_id", ["sk_clf", "xgb_branches"])
def test_raw_csv_rows_in_the_schemas_column_order_are_answered_alike(
    trained: PipelineRun, served: dict[str, InferenceModel], preprocess: ModuleType, step_id: str
) -> None:
    # GIVEN raw test rows in the column order the bundled schema documents
    _, seed, task = MODELS[step_id]
    model = served[step_id]
    order = metadata_of(model)["raw_input"]["columns"]
    schema = json.loads(
        (model.model_dir / "preprocessing" / metadata_of(model)["channels"][0] / "schema.json").read_text()
    )
    assert order == [column["name"] for column in schema["columns"] if column["role"] != "target"]
    raw = raw_test_split(preprocess, seed, task).head(40)

    # WHEN they are sent as CSV without a header, with one, and as JSON rows
    bare = ask(model, raw[order].to_csv(header=False, index=False), CSV)
    headed = ask(model, raw[order].to_csv(index=False), CSV)
    as_json = ask(model, json.dumps(records(raw[order])))

    # THEN all three get the same answer
    assert_same_answers(bare, as_json, task)
    assert_same_answers(headed, as_json, task)
    assert len(bare["predictions"]) == 40


def test_a_missing_value_in_a_raw_record_gets_the_train_splits_fill(
    trained: PipelineRun, served: dict[str, InferenceModel]
) -> None:
    # GIVEN one raw record, and the fill values preprocess took from the train split
    model = served["xgb_clf"]
    schema = trained.world.json(f"{trained.output('prep_clf')}schema.json")
    fills = {column["name"]: column["fill_value"] for column in schema["columns"]}
    record = records(trained.world.frame(f"{trained.output('prep_clf')}test.csv").drop(columns=["label"]))[3]

    # WHEN its distance and merchant are missing (null, or empty), and when they hold the fill values
    gaps = [{**record, "distance_km": None, "merchant_category": None}]
    gaps.append({**record, "distance_km": "", "merchant_category": ""})
    filled = {**record, "distance_km": fills["distance_km"], "merchant_category": "__missing__"}
    answers = ask(model, json.dumps(gaps))
    expected = ask(model, json.dumps([filled, filled]))

    # THEN the gaps were filled as preprocess filled them
    assert fills["merchant_category"] == "__missing__"
    assert_same_answers(answers, expected, "classification")


def test_engineered_records_keep_working_and_may_carry_other_keys(
    trained: PipelineRun, served: dict[str, InferenceModel]
) -> None:
    model = served["sk_clf"]
    engineered = engineered_test_split(trained, metadata_of(model)).head(5)
    with_extra = [{**record, "note": "ignored"} for record in records(engineered)]

    answer = ask(model, json.dumps({"instances": with_extra}))
    expected = ask(model, engineered.to_csv(header=False, index=False), CSV)

    assert_same_answers(answer, expected, "classification")


# -- refusals -----------------------------------------------------------------------------------------


def test_an_unknown_column_in_a_raw_record_is_a_client_error(
    trained: PipelineRun, served: dict[str, InferenceModel]
) -> None:
    record = records(trained.world.frame(f"{trained.output('prep_clf')}test.csv").drop(columns=["label"]))[0]

    refused = refusal(served["sk_clf"], json.dumps({"instances": [{**record, "loyalty_tier": "gold"}]}))

    assert refused.status_code == 400
    assert "record 0 has columns the model does not take: loyalty_tier" in refused.message
    assert "raw columns (amount, account_age_days" in refused.message


def test_a_raw_record_without_a_required_column_is_a_client_error(
    trained: PipelineRun, served: dict[str, InferenceModel]
) -> None:
    frame = trained.world.frame(f"{trained.output('prep_clf')}test.csv").drop(columns=["label", "country"])

    refused = refusal(served["sk_clf"], json.dumps(records(frame.head(2))))

    assert refused.status_code == 400
    assert refused.message == (
        "RequestError: record 0 lacks raw columns: country "
        '(a raw record carries every raw column, null or "" for a missing value)'
    )


def test_a_raw_csv_row_of_the_wrong_length_is_a_client_error(
    trained: PipelineRun, served: dict[str, InferenceModel]
) -> None:
    frame = trained.world.frame(f"{trained.output('prep_clf')}test.csv").drop(columns=["label", "country"])

    refused = refusal(served["sk_clf"], frame.head(1).to_csv(header=False, index=False), CSV)

    assert refused.status_code == 400
    count = len(metadata_of(served["sk_clf"])["feature_columns"])
    assert "row 0 has 7 values; the model takes 8 raw values (amount, " in refused.message
    assert f"or {count} engineered values (feat_clf__amount, " in refused.message


def test_text_in_a_raw_numeric_column_is_a_client_error(
    trained: PipelineRun, served: dict[str, InferenceModel]
) -> None:
    record = records(trained.world.frame(f"{trained.output('prep_clf')}test.csv").drop(columns=["label"]))[0]

    refused = refusal(served["sk_chain"], json.dumps({**record, "hour": "noon"}))

    assert refused.status_code == 400
    assert "column hour takes numbers, not 'noon'" in refused.message


def test_a_model_without_the_data_steps_files_takes_engineered_records_only(
    trained: PipelineRun, served: dict[str, InferenceModel]
) -> None:
    raw = trained.world.frame(f"{trained.output('prep_clf')}test.csv").drop(columns=["label"]).head(1)
    engineered = (
        trained.world.frame(f"{trained.world.step_prefix('plain')}test.csv").drop(columns=["label"]).head(1)
    )

    refused = refusal(served["sk_plain"], json.dumps(records(raw)))
    answer = ask(served["sk_plain"], json.dumps(records(engineered)))

    assert refused.status_code == 400
    assert "record 0 lacks feature columns: feat_clf__amount" in refused.message
    assert len(answer["predictions"]) == 1


# -- how raw and engineered rows are told apart, on a model whose two column sets are the same size ----


@pytest.fixture(scope="module")
def recipe_modules() -> tuple[ModuleType, ModuleType]:
    script_mode = load_script(RECIPES / "common" / "script_mode.py", "script_mode_under_test")
    transforms = load_script(
        RECIPES / "processing" / "feature_transforms.py", "feature_transforms_under_test"
    )
    return script_mode, transforms


def _standardized(recipe_modules: tuple[ModuleType, ModuleType]) -> tuple[Any, dict[str, Any]]:
    """A raw input of two numbers, standardized by one feature step: two raw and two feature columns."""
    script_mode, transforms = recipe_modules
    schema = {
        "target_column": "label",
        "columns": [
            {"name": "x", "role": "numeric", "fill_value": 1.0},
            {"name": "y", "role": "numeric", "fill_value": 5.0},
            {"name": "label", "role": "target", "fill_value": None},
        ],
    }
    operations = [
        {"op": "standardize", "column": "x", "mean": 1.0, "scale": 2.0},
        {"op": "standardize", "column": "y", "mean": 4.0, "scale": 0.5},
    ]
    raw = script_mode.RawInput(schema, [("f", [{"prefix": "f", "operations": operations}])], transforms)
    return raw, {"feature_columns": ["f__x", "f__y"]}


def test_rows_as_long_as_both_are_engineered_unless_a_header_says_raw(
    recipe_modules: tuple[ModuleType, ModuleType],
) -> None:
    script_mode, _ = recipe_modules
    raw, metadata = _standardized(recipe_modules)

    bare = script_mode.to_frame([[3.0, 6.0]], metadata, raw)
    headed = script_mode.to_frame([["x", "y"], [3.0, 6.0]], metadata, raw)
    engineered_header = script_mode.to_frame([["f__x", "f__y"], [3.0, 6.0]], metadata, raw)
    record = script_mode.to_frame({"x": 3.0, "y": None}, metadata, raw)

    assert bare.to_numpy().tolist() == [[3.0, 6.0]]
    assert headed.to_numpy().tolist() == [[1.0, 4.0]]
    assert engineered_header.to_numpy().tolist() == [[3.0, 6.0]]
    assert record.to_numpy().tolist() == [[1.0, 2.0]]  # y filled with 5.0, then standardized


def test_the_transform_application_is_features_own(recipe_modules: tuple[ModuleType, ModuleType]) -> None:
    # features.py applies its fitted operations with feature_transforms.apply_operations, the module
    # the served model carries: there is no second copy to drift apart
    source = (RECIPES / "processing" / "features.py").read_text()
    serving = (RECIPES / "common" / "script_mode.py").read_text()

    assert "from feature_transforms import" in source
    assert "apply_operations(frame, operations, prefix)" in source
    assert "def apply(" not in source
    assert "self.transforms.apply_operations(" in serving
    assert Path(RECIPES / "processing" / "feature_transforms.py").is_file()


def test_raw_and_engineered_records_are_not_mixed_in_one_request(
    recipe_modules: tuple[ModuleType, ModuleType],
) -> None:
    script_mode, _ = recipe_modules
    raw, metadata = _standardized(recipe_modules)

    with pytest.raises(script_mode.RequestError) as refused:
        script_mode.to_frame([{"x": 1.0, "y": 2.0}, {"f__x": 0.0, "f__y": 0.0}], metadata, raw)

    assert refused.value.status_code == 400
    assert str(refused.value) == (
        "record 0 lacks feature columns: f__x, f__y (one request carries raw records or engineered "
        "records, not both)"
    )
