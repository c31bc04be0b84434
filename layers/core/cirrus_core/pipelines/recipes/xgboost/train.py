"""Built-in XGBoost recipe: trains in SageMaker script mode, then serves the model it saved.

Training (`python train.py --name value ...`, as the SageMaker XGBoost image runs a script):
- every input channel (`SM_CHANNELS`, `SM_CHANNEL_<NAME>`) is one upstream data step's output with
  `train.csv`, `validation.csv` and `test.csv`; their feature columns are put side by side (channels
  in name order, rows aligned), the target taken once;
- columns that are not numbers are one-hot encoded (the `max_categories` most frequent values of
  the train split), missing numbers filled with the train medians;
- the model is an `XGBClassifier` or an `XGBRegressor` by `--task`, with the recipe's defaults
  (`n_estimators` 100, `max_depth` 6, `learning_rate` 0.1, `tree_method` hist); every other
  hyperparameter the estimator takes (`subsample`, `colsample_bytree`, `min_child_weight`,
  `reg_lambda`, `early_stopping_rounds`, ...) is passed to it as given, so the library itself refuses
  bad values; the validation split is the evaluation set (early stopping uses it);
- metrics on the train and validation splits are printed as `validation:accuracy=0.931200;`
  (METRIC_DEFINITIONS captures them);
- `SM_MODEL_DIR` receives `model.json` (XGBoost's own format, `save_model`), `metadata.json` and
  `code/` (this script), so the model archive serves itself (`SAGEMAKER_PROGRAM=train.py`,
  `SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code`);
- a failure's last traceback line goes to `$SM_OUTPUT_DIR/failure` (the job's FailureReason), exit 1.

Serving: `model_fn`, `input_fn`, `predict_fn` and `output_fn` below (see RECIPES.md for the formats).

The shared part (reading channels, encoding, metrics, the failure file, serving) is
`script_mode.py`, packed beside this script in the sourcedir. This module imports only the standard
library and it at the top, so METRIC_DEFINITIONS can be read without the science stack.
It runs on SageMaker's XGBoost image (Python 3.8+, XGBoost 1.7+, which carries
scikit-learn and pandas).
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import script_mode

if TYPE_CHECKING:
    import numpy as np

MODEL_TYPE = "xgboost"
MODEL_FILE = "model.json"
# This recipe's own hyperparameters (beyond the shared ones) and their defaults: none.
MODEL_OPTIONS: dict[str, str] = {}

# What training prints, for the training job's MetricDefinitions.
METRIC_DEFINITIONS = [
    {"Name": "train:accuracy", "Regex": r"train:accuracy=(-?[0-9.]+);"},
    {"Name": "train:f1", "Regex": r"train:f1=(-?[0-9.]+);"},
    {"Name": "train:auc", "Regex": r"train:auc=(-?[0-9.]+);"},
    {"Name": "train:rmse", "Regex": r"train:rmse=(-?[0-9.]+);"},
    {"Name": "train:mae", "Regex": r"train:mae=(-?[0-9.]+);"},
    {"Name": "train:r2", "Regex": r"train:r2=(-?[0-9.]+);"},
    {"Name": "validation:accuracy", "Regex": r"validation:accuracy=(-?[0-9.]+);"},
    {"Name": "validation:f1", "Regex": r"validation:f1=(-?[0-9.]+);"},
    {"Name": "validation:auc", "Regex": r"validation:auc=(-?[0-9.]+);"},
    {"Name": "validation:rmse", "Regex": r"validation:rmse=(-?[0-9.]+);"},
    {"Name": "validation:mae", "Regex": r"validation:mae=(-?[0-9.]+);"},
    {"Name": "validation:r2", "Regex": r"validation:r2=(-?[0-9.]+);"},
]


# -- XGBoost: what differs from the scikit-learn recipe ------------------------------------------------


def estimator_class(task: str, options: dict[str, str], seed: int) -> tuple[type, dict[str, Any]]:
    """XGBClassifier or XGBRegressor, and the defaults the recipe gives it."""
    from xgboost import XGBClassifier, XGBRegressor

    del options
    chosen = XGBClassifier if task == "classification" else XGBRegressor
    return chosen, {
        "n_estimators": 100,
        "max_depth": 6,
        "learning_rate": 0.1,
        "tree_method": "hist",
        "random_state": seed,
    }


def fit_estimator(
    estimator: Any,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_validation: np.ndarray | None,
    y_validation: np.ndarray | None,
) -> dict[str, Any]:
    """Fit on the train split with the validation split as evaluation set; returns metadata to keep
    (`best_iteration` when early stopping chose one)."""
    extra: dict[str, Any] = {}
    if x_validation is not None and y_validation is not None and len(y_validation) > 0:
        estimator.fit(x_train, y_train, eval_set=[(x_validation, y_validation)], verbose=False)
    else:
        estimator.fit(x_train, y_train)
    # best_iteration exists only when early stopping ran (reading it otherwise raises AttributeError).
    best = (
        getattr(estimator, "best_iteration", None)
        if estimator.get_params().get("early_stopping_rounds")
        else None
    )
    if best is not None:
        extra["best_iteration"] = int(best)
    return extra


def save_estimator(estimator: Any, model_dir: Path) -> None:
    """The fitted model in XGBoost's JSON format, as model.json."""
    estimator.save_model(str(model_dir / MODEL_FILE))


def load_estimator(model_dir: Path, metadata: dict[str, Any]) -> Any:
    """The Booster model.json holds (a Booster predicts the same on every XGBoost release that reads it)."""
    import xgboost

    del metadata
    booster = xgboost.Booster()
    booster.load_model(str(model_dir / MODEL_FILE))
    return booster


def predict_matrix(booster: Any, matrix: np.ndarray, metadata: dict[str, Any]) -> tuple[Any, Any]:
    """Class indices and probabilities (classification) or values and None (regression)."""
    import numpy as np
    import xgboost

    options: dict[str, Any] = {}
    if metadata.get("best_iteration") is not None:
        options["iteration_range"] = (0, int(metadata["best_iteration"]) + 1)
    scores = booster.predict(xgboost.DMatrix(matrix), **options)
    if metadata["task"] != "classification":
        return scores, None
    if scores.ndim == 1:  # binary:logistic gives the positive class's probability
        scores = np.column_stack([1.0 - scores, scores])
    return scores.argmax(axis=1), scores


def library_versions() -> dict[str, str]:
    """The versions a model was trained with, for metadata.json."""
    import numpy
    import pandas
    import sklearn
    import xgboost

    return {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "scikit-learn": sklearn.__version__,
        "xgboost": xgboost.__version__,
    }


RECIPE = script_mode.Recipe(
    model_type=MODEL_TYPE,
    model_file=MODEL_FILE,
    options=MODEL_OPTIONS,
    code_dir=Path(os.path.abspath(__file__)).parent,
    estimator_class=estimator_class,
    fit_estimator=fit_estimator,
    save_estimator=save_estimator,
    load_estimator=load_estimator,
    predict_matrix=predict_matrix,
    library_versions=library_versions,
)


# -- serving: the functions SageMaker's serving container looks up in this module ---------------------


def model_fn(model_dir: str) -> script_mode.RecipeModel:
    """Load the model from an extracted model.tar.gz."""
    return script_mode.load_model(RECIPE, model_dir)


input_fn = script_mode.input_fn
output_fn = script_mode.output_fn


def predict_fn(data: Any, model: script_mode.RecipeModel) -> dict[str, Any]:
    """Predictions; for classification also each class's probability (in `classes` order)."""
    prediction: dict[str, Any] = script_mode.predict(RECIPE, data, model)
    return prediction


if __name__ == "__main__":
    sys.exit(script_mode.main(RECIPE))
