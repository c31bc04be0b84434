"""Built-in scikit-learn recipe: trains in SageMaker script mode, then serves the model it saved.

Training (`python train.py --name value ...`, as the SageMaker scikit-learn image runs it):
- every input channel (`SM_CHANNELS`, `SM_CHANNEL_<NAME>`) is one upstream data step's output with
  `train.csv`, `validation.csv` and `test.csv`; their feature columns are put side by side (channels
  in name order, rows aligned), the target taken once;
- columns that are not numbers are one-hot encoded (the `max_categories` most frequent values of
  the train split), missing numbers filled with the train medians;
- the estimator is a random forest (`--estimator random_forest`, the default) or gradient boosting
  (`--estimator gradient_boosting`), a classifier or a regressor by `--task`; every other
  hyperparameter the estimator takes (`n_estimators`, `max_depth`, `learning_rate`,
  `min_samples_leaf`, ...) is passed to it as given, so the library itself refuses bad values;
- metrics on the train and validation splits are printed as `validation:accuracy=0.931200;`
  (METRIC_DEFINITIONS captures them);
- `SM_MODEL_DIR` receives `model.joblib`, `metadata.json` and `code/` (this script), so the model
  archive serves itself (`SAGEMAKER_PROGRAM=train.py`, `SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code`);
- a failure's last traceback line goes to `$SM_OUTPUT_DIR/failure` (the job's FailureReason), exit 1.

Serving: `model_fn`, `input_fn`, `predict_fn` and `output_fn` below (see RECIPES.md for the formats).

The shared part (reading channels, encoding, metrics, the failure file, serving) is
`script_mode.py`, packed beside this script in the sourcedir. This module imports only the standard
library and it at the top, so METRIC_DEFINITIONS can be read without the science stack.
It runs on SageMaker's scikit-learn image (Python 3.8+, scikit-learn 1.2+).
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import script_mode
from script_mode import RecipeError

if TYPE_CHECKING:
    import numpy as np

MODEL_TYPE = "sklearn"
MODEL_FILE = "model.joblib"
ESTIMATORS = ("random_forest", "gradient_boosting")
# This recipe's own hyperparameters (beyond the shared ones) and their defaults.
MODEL_OPTIONS = {"estimator": "random_forest"}

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


# -- scikit-learn: what differs from the XGBoost recipe ------------------------------------------------


def estimator_class(task: str, options: dict[str, str], seed: int) -> tuple[type, dict[str, Any]]:
    """The estimator class for the task and `--estimator`, and the defaults the recipe gives it."""
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )

    name = options["estimator"]
    classification = task == "classification"
    if name == "random_forest":
        chosen = RandomForestClassifier if classification else RandomForestRegressor
        return chosen, {"n_estimators": 100, "n_jobs": -1, "random_state": seed}
    if name == "gradient_boosting":
        chosen = GradientBoostingClassifier if classification else GradientBoostingRegressor
        return chosen, {"n_estimators": 100, "random_state": seed}
    raise RecipeError(f"hyperparameter estimator must be one of {', '.join(ESTIMATORS)}, not {name!r}")


def fit_estimator(
    estimator: Any,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_validation: np.ndarray | None,
    y_validation: np.ndarray | None,
) -> dict[str, Any]:
    """Fit on the train split (the validation split is only measured); returns metadata to keep."""
    del x_validation, y_validation
    estimator.fit(x_train, y_train)
    return {}


def save_estimator(estimator: Any, model_dir: Path) -> None:
    """The fitted estimator as model.joblib."""
    import joblib

    joblib.dump(estimator, model_dir / MODEL_FILE)


def load_estimator(model_dir: Path, metadata: dict[str, Any]) -> Any:
    """The estimator model.joblib holds."""
    import joblib

    del metadata
    return joblib.load(model_dir / MODEL_FILE)


def predict_matrix(estimator: Any, matrix: np.ndarray, metadata: dict[str, Any]) -> tuple[Any, Any]:
    """Class indices and probabilities (classification) or values and None (regression)."""
    if metadata["task"] == "classification":
        probabilities = estimator.predict_proba(matrix)
        return probabilities.argmax(axis=1), probabilities
    return estimator.predict(matrix), None


def library_versions() -> dict[str, str]:
    """The versions a model was trained with, for metadata.json."""
    import joblib
    import numpy
    import pandas
    import sklearn

    return {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "scikit-learn": sklearn.__version__,
        "joblib": joblib.__version__,
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
