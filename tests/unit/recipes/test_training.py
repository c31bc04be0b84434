"""The training recipes, run as SageMaker script-mode jobs on preprocessed demo data.

The jobs come from the package's `trained` fixture (conftest.py): both recipes train a classifier
and a regressor, and each gets a job with a bad hyperparameter.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.unit.recipes.conftest import PipelineRun
from tests.unit.recipes.support import RECIPES, final_metrics, load_script

CLASSIFICATION_METRICS = {
    f"{split}:{name}" for split in ("train", "validation") for name in ("accuracy", "f1", "auc")
}
REGRESSION_METRICS = {
    f"{split}:{name}" for split in ("train", "validation") for name in ("rmse", "mae", "r2")
}


def _majority_rate(run: PipelineRun, step_id: str) -> float:
    validation = run.world.frame(f"{run.output(step_id)}validation.csv")
    return float(validation["label"].value_counts(normalize=True).max())


@pytest.mark.parametrize(("step_id", "floor"), [("sk_clf", 0.85), ("xgb_clf", 0.87)])
def test_a_classifier_beats_the_majority_class_on_validation(
    trained: PipelineRun, step_id: str, floor: float
) -> None:
    metrics = final_metrics(trained.described[step_id])

    assert set(metrics) == CLASSIFICATION_METRICS
    assert metrics["validation:accuracy"] >= floor
    assert metrics["validation:accuracy"] > _majority_rate(trained, "prep_clf") + 0.12
    assert metrics["validation:auc"] > 0.9
    assert 0.5 < metrics["validation:f1"] <= 1.0


@pytest.mark.parametrize("step_id", ["sk_reg", "xgb_reg"])
def test_a_regressor_explains_most_of_the_target(trained: PipelineRun, step_id: str) -> None:
    metrics = final_metrics(trained.described[step_id])
    spread = float(trained.world.frame(f"{trained.output('prep_reg')}validation.csv")["label"].std())

    assert set(metrics) == REGRESSION_METRICS
    assert metrics["validation:r2"] > 0.7
    assert 0 < metrics["validation:mae"] <= metrics["validation:rmse"] < spread


@pytest.mark.parametrize("step_id", ["sk_clf", "xgb_reg"])
def test_printed_metric_lines_match_the_metric_definitions(trained: PipelineRun, step_id: str) -> None:
    # GIVEN what the job printed and the recipe's MetricDefinitions
    lines = trained.world.log_lines("TrainingJobs", trained.jobs[step_id])
    model_type = "sklearn" if step_id.startswith("sk") else "xgboost"
    definitions = load_script(RECIPES / model_type / "train.py").METRIC_DEFINITIONS

    # WHEN each definition is applied to the output, as SageMaker applies it
    captured = {}
    for definition in definitions:
        for line in lines:
            match = re.search(definition["Regex"], line)
            if match:
                captured[definition["Name"]] = float(match.group(1))

    # THEN the values are the job's final metrics
    assert captured == pytest.approx(final_metrics(trained.described[step_id]))
    assert any(line.startswith("validation:") and line.endswith(";") for line in lines)


def test_both_recipes_define_the_same_metrics() -> None:
    sklearn = load_script(RECIPES / "sklearn" / "train.py").METRIC_DEFINITIONS
    xgboost = load_script(RECIPES / "xgboost" / "train.py").METRIC_DEFINITIONS

    assert sklearn == xgboost
    assert {definition["Name"] for definition in sklearn} == CLASSIFICATION_METRICS | REGRESSION_METRICS


@pytest.mark.parametrize(
    ("step_id", "error"),
    [
        ("sk_bad", "sklearn.utils._param_validation.InvalidParameterError: The 'max_depth' parameter of "),
        ("xgb_bad", "xgboost.core.XGBoostError: value -3 for Parameter max_depth"),
    ],
)
def test_a_bad_hyperparameter_fails_the_job_with_the_library_error(
    trained: PipelineRun, step_id: str, error: str
) -> None:
    described = trained.described[step_id]

    assert described["TrainingJobStatus"] == "Failed"
    assert described["FailureReason"].startswith(error)
    assert "Traceback" not in described["FailureReason"]
    assert "ModelArtifacts" not in described


FITTED = {
    "sk_clf": {"preprocessing/feat_clf/schema.json", "preprocessing/feat_clf/transform.json"},
    "xgb_clf": {
        "preprocessing/feat_clf/schema.json",
        "preprocessing/feat_clf/transform.json",
        "preprocessing/prep_clf/schema.json",
    },
    "xgb_reg": {"preprocessing/prep_reg/schema.json"},
}


@pytest.mark.parametrize(
    ("step_id", "model_file"),
    [("sk_clf", "model.joblib"), ("xgb_clf", "model.json"), ("xgb_reg", "model.json")],
)
def test_the_model_archive_holds_the_model_its_metadata_its_code_and_the_fitted_data_steps(
    trained: PipelineRun, step_id: str, model_file: str
) -> None:
    files = trained.world.model_files(trained.jobs[step_id])
    model_type = "sklearn" if step_id.startswith("sk") else "xgboost"
    code = {"code/train.py", "code/script_mode.py", "code/feature_transforms.py"}

    assert set(files) == {model_file, "metadata.json", *code, *FITTED[step_id]}
    assert files["code/train.py"] == (RECIPES / model_type / "train.py").read_bytes()
    assert files["code/script_mode.py"] == (RECIPES / "common" / "script_mode.py").read_bytes()
    assert (
        files["code/feature_transforms.py"] == (RECIPES / "processing" / "feature_transforms.py").read_bytes()
    )
    # byte for byte what preprocess wrote (features.py forwards its schema.json beside its splits)
    channel, preprocess = ("prep_reg", "prep_reg") if step_id == "xgb_reg" else ("feat_clf", "prep_clf")
    schema = trained.world.get(f"{trained.output(preprocess)}schema.json")
    assert files[f"preprocessing/{channel}/schema.json"] == schema
    assert trained.world.get(f"{trained.output(channel)}schema.json") == schema


def test_metadata_documents_the_raw_input_the_model_serves(trained: PipelineRun) -> None:
    metadata = json.loads(trained.world.model_files(trained.jobs["xgb_clf"])["metadata.json"])
    schema = trained.world.json(f"{trained.output('prep_clf')}schema.json")
    raw_columns = [column["name"] for column in schema["columns"] if column["role"] != "target"]

    raw = metadata["raw_input"]
    assert metadata["raw_input_note"] is None
    assert raw["columns"] == raw_columns
    assert raw["target_column"] == "label"
    assert raw["categorical_columns"] == ["merchant_category", "channel", "country"]
    assert raw["fill_values"]["merchant_category"] == "__missing__"
    assert raw["fill_values"]["distance_km"] == next(
        column["fill_value"] for column in schema["columns"] if column["name"] == "distance_km"
    )
    assert raw["channels"] == {
        "feat_clf": {
            "schema": "preprocessing/feat_clf/schema.json",
            "transform": "preprocessing/feat_clf/transform.json",
        },
        "prep_clf": {"schema": "preprocessing/prep_clf/schema.json", "transform": None},
    }


def test_a_model_on_splits_without_the_data_steps_files_serves_engineered_records_only(
    trained: PipelineRun,
) -> None:
    # GIVEN a recipe model trained on a channel holding the splits alone (as a custom step leaves them)
    files = trained.world.model_files(trained.jobs["sk_plain"])
    metadata = json.loads(files["metadata.json"])

    # THEN it bundles nothing of the data steps and says why
    assert metadata["raw_input"] is None
    assert metadata["raw_input_note"] == (
        "channel plain has no schema.json (it does not come from the built-in steps)"
    )
    assert not any(name.startswith("preprocessing/") for name in files)
    assert "the model serves engineered records only: channel plain has no schema.json" in " ".join(
        trained.world.log_lines("TrainingJobs", trained.jobs["sk_plain"])
    )


def test_xgboost_saves_its_native_json_format(trained: PipelineRun) -> None:
    saved = json.loads(trained.world.model_files(trained.jobs["xgb_clf"])["model.json"])

    assert "learner" in saved
    assert saved["learner"]["objective"]["name"] == "binary:logistic"


def test_metadata_describes_the_features_classes_and_libraries(trained: PipelineRun) -> None:
    metadata = json.loads(trained.world.model_files(trained.jobs["sk_clf"])["metadata.json"])
    train = trained.world.frame(f"{trained.output('feat_clf')}train.csv")

    assert metadata["task"] == "classification"
    assert metadata["model_type"] == "sklearn"
    assert metadata["estimator"] == "RandomForestClassifier"
    assert metadata["target_column"] == "label"
    assert metadata["feature_columns"] == [column for column in train.columns if column != "label"]
    assert metadata["classes"] == [0, 1]
    assert metadata["channels"] == ["feat_clf"]
    assert metadata["estimator_params"] == {
        "n_estimators": 40,
        "max_depth": 10,
        "n_jobs": -1,
        "random_state": 7,
    }
    assert set(metadata["versions"]) >= {"python", "numpy", "pandas", "scikit-learn"}
    assert metadata["metrics"]["validation"]["accuracy"] == pytest.approx(
        final_metrics(trained.described["sk_clf"])["validation:accuracy"], abs=1e-6
    )


def test_channels_are_joined_side_by_side_with_the_target_once(trained: PipelineRun) -> None:
    # GIVEN the XGBoost classifier trained on two channels: the preprocessed and the engineered data
    metadata = json.loads(trained.world.model_files(trained.jobs["xgb_clf"])["metadata.json"])
    raw = trained.world.frame(f"{trained.output('prep_clf')}train.csv")
    engineered = trained.world.frame(f"{trained.output('feat_clf')}train.csv")

    # THEN channels come in name order, each one's feature columns kept, the target taken once
    assert metadata["channels"] == ["feat_clf", "prep_clf"]
    expected = [column for column in engineered.columns if column != "label"] + [
        column for column in raw.columns if column != "label"
    ]
    assert metadata["feature_columns"] == expected
    assert "label" not in metadata["feature_columns"]
    # the raw channel's text columns are one-hot encoded inside the recipe
    assert metadata["categorical_levels"]["channel"] == ["chip", "contactless", "online", "swipe"]


def test_hyperparameters_the_estimator_does_not_take_are_ignored_and_said_so(trained: PipelineRun) -> None:
    lines = trained.world.log_lines("TrainingJobs", trained.jobs["sk_clf"])

    assert "ignoring hyperparameters RandomForestClassifier does not take: data_source" in lines


def test_a_users_own_training_script_runs_under_the_same_contract(trained: PipelineRun) -> None:
    metrics = final_metrics(trained.described["custom"])
    files = trained.world.model_files(trained.jobs["custom"])

    assert metrics["validation:accuracy"] > _majority_rate(trained, "prep_clf")
    assert set(files) == {"model.joblib", "metadata.json"}
