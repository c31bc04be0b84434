"""evaluate.py: a trained model's metrics on the test split, served through its entry point."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.unit.recipes.conftest import PipelineRun
from tests.unit.recipes.support import RECIPES, Job, load_script


@pytest.fixture(scope="module")
def evaluated(trained: PipelineRun) -> dict[str, tuple[Job, dict[str, Any]]]:
    """Evaluation jobs for several trained models, started together, each described once ended."""
    world = trained.world
    sourcedirs = {
        "sklearn": world.uri("recipes/sklearn/sourcedir.tar.gz"),
        "xgboost": world.uri("recipes/xgboost/sourcedir.tar.gz"),
        "custom": world.uri("code/custom/sourcedir.tar.gz"),
    }
    plans = {
        "eval_sk_clf": (
            "sk_clf",
            "sklearn",
            ["feat_clf"],
            {"entry_point": "train.py", "target_column": "label"},
        ),
        # no task parameter: the model's metadata says regression
        "eval_xgb_reg": ("xgb_reg", "xgboost", ["prep_reg"], {"entry_point": "train.py"}),
        "eval_xgb_clf": ("xgb_clf", "xgboost", ["prep_clf", "feat_clf"], {"task": "classification"}),
        "eval_custom": ("custom", "custom", ["feat_clf"], {"entry_point": "train.py"}),
        "eval_no_entry": ("sk_clf", "sklearn", ["feat_clf"], {"entry_point": "nope.py"}),
    }
    jobs = {
        step_id: world.start_processing(
            "evaluate.py",
            step_id,
            parameters,
            {channel: trained.output(channel) for channel in channels},
            model_uri=world.model_uri(trained.jobs[model_step]),
            sourcedir_uri=sourcedirs[sourcedir],
        )
        for step_id, (model_step, sourcedir, channels, parameters) in plans.items()
    }
    return {step_id: (job, world.wait_processing(job)) for step_id, job in jobs.items()}


def _evaluation(trained: PipelineRun, evaluated: dict[str, tuple[Job, dict[str, Any]]], step_id: str) -> Any:
    job, described = evaluated[step_id]
    assert described["ProcessingJobStatus"] == "Completed", described.get("ExitMessage")
    return trained.world.json(f"{job.output_uri}evaluation.json")


def test_evaluation_reports_classification_metrics_on_the_test_split(
    trained: PipelineRun, evaluated: dict[str, tuple[Job, dict[str, Any]]]
) -> None:
    evaluation = _evaluation(trained, evaluated, "eval_sk_clf")
    test = trained.world.frame(f"{trained.output('feat_clf')}test.csv")
    majority = float(test["label"].value_counts(normalize=True).max())

    assert evaluation["task"] == "classification"
    assert evaluation["split"] == "test"
    assert evaluation["rows"] == len(test)
    assert set(evaluation["metrics"]) == {"accuracy", "f1", "precision", "recall", "roc_auc"}
    assert evaluation["metrics"]["accuracy"] > majority + 0.1
    assert all(0 <= value <= 1 for value in evaluation["metrics"].values())


def test_evaluation_agrees_with_the_model_predicting_in_process(
    trained: PipelineRun, evaluated: dict[str, tuple[Job, dict[str, Any]]], tmp_path: Path
) -> None:
    # GIVEN the model archive, extracted, and the recipe module
    archive = trained.world.get(trained.world.model_uri(trained.jobs["sk_clf"]))
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tmp_path, filter="data")
    recipe = load_script(RECIPES / "sklearn" / "train.py")
    test = trained.world.frame(f"{trained.output('feat_clf')}test.csv")

    # WHEN it predicts the test split here
    predicted = recipe.predict_fn(test.drop(columns=["label"]), recipe.model_fn(str(tmp_path)))["predictions"]

    # THEN the evaluation job measured the same predictions
    accuracy = sum(int(guess == truth) for guess, truth in zip(predicted, test["label"], strict=True)) / len(
        test
    )
    assert _evaluation(trained, evaluated, "eval_sk_clf")["metrics"]["accuracy"] == pytest.approx(accuracy)


def test_evaluation_reports_regression_metrics_taking_the_task_from_the_model(
    trained: PipelineRun, evaluated: dict[str, tuple[Job, dict[str, Any]]]
) -> None:
    evaluation = _evaluation(trained, evaluated, "eval_xgb_reg")

    assert evaluation["task"] == "regression"
    assert evaluation["model_type"] == "xgboost"
    assert set(evaluation["metrics"]) == {"rmse", "mae", "r2"}
    assert evaluation["metrics"]["r2"] > 0.7
    assert 0 < evaluation["metrics"]["mae"] <= evaluation["metrics"]["rmse"]


def test_evaluation_joins_the_channels_as_training_did(
    trained: PipelineRun, evaluated: dict[str, tuple[Job, dict[str, Any]]]
) -> None:
    evaluation = _evaluation(trained, evaluated, "eval_xgb_clf")

    assert evaluation["channels"] == ["feat_clf", "prep_clf"]
    assert evaluation["metrics"]["accuracy"] > 0.85


def test_evaluation_serves_a_users_own_script(
    trained: PipelineRun, evaluated: dict[str, tuple[Job, dict[str, Any]]]
) -> None:
    evaluation = _evaluation(trained, evaluated, "eval_custom")

    assert evaluation["model_type"] == "custom-logistic-regression"
    assert evaluation["metrics"]["accuracy"] > 0.75
    assert "roc_auc" in evaluation["metrics"]


def test_evaluation_imports_the_entry_point_without_training(
    trained: PipelineRun, evaluated: dict[str, tuple[Job, dict[str, Any]]]
) -> None:
    for step_id in ("eval_sk_clf", "eval_xgb_reg", "eval_custom"):
        lines = trained.world.log_lines("ProcessingJobs", evaluated[step_id][0])

        assert [line for line in lines if line.startswith("test:")], step_id
        assert not [line for line in lines if line.startswith(("training ", "train:", "validation:"))], (
            step_id
        )


def test_a_missing_entry_point_is_refused_with_a_message(
    trained: PipelineRun, evaluated: dict[str, tuple[Job, dict[str, Any]]]
) -> None:
    job, described = evaluated["eval_no_entry"]

    assert described["ProcessingJobStatus"] == "Failed"
    assert described["ExitMessage"] == "entry point nope.py is not in the sourcedir"
    assert trained.world.keys(job.output_uri) == []
