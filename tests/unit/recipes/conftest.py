"""Fixtures of the recipe tests: one emulated SageMaker for the package, and a small pipeline run.

`trained` runs what the built-in pipeline runs, stage by stage, with the jobs of a stage started
together: preprocess and features for a classification and a regression dataset from the demo
generator (two feature branches of the regression data, and a feature step over a feature step),
then every training job the tests look at (both recipes, both tasks, two with a bad hyperparameter,
one on splits without the data steps' files, one on two branches, one on the chained features, and
the custom example). Row counts and estimator counts stay small.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from cirrus.localcloud.emulator import Emulator
from examples.demo_data import generate
from tests.unit.localcloud.sagemaker_support import SAGEMAKER_HOOKS
from tests.unit.recipes.support import Job, RecipeWorld

ROWS = 1200


@pytest.fixture(scope="package")
def world() -> Iterator[RecipeWorld]:
    """An emulator with the SageMaker hooks only, and the recipes uploaded (moto is process-wide:
    the emulator lives while this package's tests run, and no longer)."""
    with Emulator(hooks=SAGEMAKER_HOOKS) as running:
        yield RecipeWorld(running)


@dataclass
class PipelineRun:
    """The jobs of the shared run, by step id, each described once it ended."""

    world: RecipeWorld
    jobs: dict[str, Job] = field(default_factory=dict)
    described: dict[str, dict[str, Any]] = field(default_factory=dict)

    def output(self, step_id: str) -> str:
        """A step's output prefix."""
        return self.jobs[step_id].output_uri


def _completed(
    run: PipelineRun, jobs: list[Job], *, training: bool, expect_failure: tuple[str, ...] = ()
) -> None:
    for job in jobs:
        run.jobs[job.step_id] = job
        wait = run.world.wait_training if training else run.world.wait_processing
        described = run.described[job.step_id] = wait(job)
        status = described["TrainingJobStatus" if training else "ProcessingJobStatus"]
        if job.step_id not in expect_failure:
            assert status == "Completed", (
                job.step_id,
                described.get("FailureReason"),
                described.get("ExitMessage"),
            )


@pytest.fixture(scope="package")
def trained(world: RecipeWorld) -> PipelineRun:
    """Preprocess -> features -> training for a classification and a regression dataset."""
    run = PipelineRun(world)
    raw = {
        "classification": world.put_frame("raw/classification/demo.csv", generate(ROWS, seed=7)),
        "regression": world.put_frame("raw/regression/demo.csv", generate(ROWS, seed=8, task="regression")),
    }
    _completed(
        run,
        [
            world.start_processing(
                "preprocess.py", "prep_clf", {"seed": 7}, {"source": raw["classification"]}
            ),
            world.start_processing(
                "preprocess.py", "prep_reg", {"seed": 8, "task": "regression"}, {"source": raw["regression"]}
            ),
        ],
        training=False,
    )
    _completed(
        run,
        [
            world.start_processing("features.py", "feat_clf", {}, {"prep_clf": run.output("prep_clf")}),
            world.start_processing(
                "features.py", "feat_reg", {"task": "regression"}, {"prep_reg": run.output("prep_reg")}
            ),
            # a second branch of the regression data: products of raw columns, alone
            world.start_processing(
                "features.py",
                "cross_reg",
                {"transform": "interactions", "columns": "amount,distance_km,hour"},
                {"prep_reg": run.output("prep_reg")},
            ),
        ],
        training=False,
    )
    # a feature step over a feature step: log1p of two standardized columns, the rest passed through
    _completed(
        run,
        [
            world.start_processing(
                "features.py",
                "log_clf",
                {"transform": "log1p", "columns": "feat_clf__amount,feat_clf__distance_km"},
                {"feat_clf": run.output("feat_clf")},
            )
        ],
        training=False,
    )
    # The engineered splits alone, as a custom data step would leave them (no schema.json, no transform.json).
    plain = world.put_splits(
        "plain",
        {
            split: world.frame(f"{run.output('feat_clf')}{split}.csv")
            for split in ("train", "validation", "test")
        },
    )
    classification = {"target_column": "label", "task": "classification", "seed": 7}
    regression = {"target_column": "label", "task": "regression", "seed": 8}
    _completed(
        run,
        [
            world.start_training(
                "sk_clf",
                {"feat_clf": run.output("feat_clf")},
                # data_source is a run parameter the pipeline may pass along: the recipe ignores it.
                {**classification, "n_estimators": 40, "max_depth": 10, "data_source": "s3://data/demo.csv"},
            ),
            world.start_training(
                "sk_reg",
                {"feat_reg": run.output("feat_reg")},
                {**regression, "estimator": "gradient_boosting", "n_estimators": 80, "max_depth": 3},
            ),
            world.start_training(
                "xgb_clf",
                {"prep_clf": run.output("prep_clf"), "feat_clf": run.output("feat_clf")},
                {**classification, "n_estimators": 60, "max_depth": 4, "learning_rate": 0.2},
                model_type="xgboost",
                encode=False,  # plain strings, as a hand-written request might send them
            ),
            world.start_training(
                "xgb_reg",
                {"prep_reg": run.output("prep_reg")},
                {**regression, "n_estimators": 80, "max_depth": 4, "subsample": 0.9},
                model_type="xgboost",
            ),
            world.start_training("sk_plain", {"plain": plain}, {**classification, "n_estimators": 10}),
            world.start_training(
                "sk_chain", {"log_clf": run.output("log_clf")}, {**classification, "n_estimators": 20}
            ),
            world.start_training(
                "xgb_branches",
                {"feat_reg": run.output("feat_reg"), "cross_reg": run.output("cross_reg")},
                {**regression, "n_estimators": 60, "max_depth": 4},
                model_type="xgboost",
            ),
            world.start_training(
                "sk_bad", {"feat_clf": run.output("feat_clf")}, {**classification, "max_depth": -3}
            ),
            world.start_training(
                "xgb_bad",
                {"feat_clf": run.output("feat_clf")},
                {**classification, "max_depth": -3},
                model_type="xgboost",
            ),
            world.start_training(
                "custom",
                {"feat_clf": run.output("feat_clf")},
                {"target_column": "label", "C": 0.5, "max_iter": 500, "seed": 7},
                model_type="custom",
                sourcedir_uri=world.uri("code/custom/sourcedir.tar.gz"),
            ),
        ],
        training=True,
        expect_failure=("sk_bad", "xgb_bad"),
    )
    return run
