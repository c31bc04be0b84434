"""Built-in evaluation: a trained model's metrics on the held-out test split.

A SageMaker Processing script, run as `python3 /opt/ml/processing/input/code/evaluate.py`, with:
- `/opt/ml/processing/input/model/model.tar.gz`: the training job's model archive;
- `/opt/ml/processing/input/sourcedir/sourcedir.tar.gz`: the training code; its entry point
  (parameter `entry_point`, default `train.py`) is imported, never run as a script, so its training
  (under `if __name__ == "__main__"`) does not start; without a sourcedir the archive's `code/` serves;
- `/opt/ml/processing/input/data/<channel>/test.csv` (or `test.parquet`) for each data channel the
  training job had.

The test split goes through the model exactly as an endpoint would serve it: the entry point's
`model_fn`, then `input_fn` (CSV rows without a header, in the model's feature order), `predict_fn`
and `output_fn` (JSON: `{"predictions": [...], "probabilities": [[...]]}` or a bare list). The
feature order is `feature_columns` from the archive's `metadata.json` when it has one, else the
channels' columns as training put them side by side (channels in name order, a name taken twice
prefixed `<channel>__`).

Writes `/opt/ml/processing/output/evaluation.json`:
`{"task", "metrics": {...}, "rows", "split": "test", ...}` with accuracy, f1, precision and recall
(macro averages) and roc_auc (binary only) for classification; rmse, mae and r2 for regression.

Parameters: `entry_point`, `target_column` ("label"), `task` (default: the model's metadata, else
classification). A refusal is written to `/opt/ml/output/message` and the script exits with status 1.
The container must hold the model's library (the XGBoost image for XGBoost models).
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from container import RecipeError, run, text_parameter

if TYPE_CHECKING:
    from types import ModuleType

TASKS = ("classification", "regression")


# -- the container's paths and parameters ------------------------------------------------------------


# -- the model and its code ---------------------------------------------------------------------------


def within(path: Path, parent: Path) -> bool:
    """Whether `path` is `parent` or below it (Path.is_relative_to needs Python 3.9)."""
    try:
        path.relative_to(parent)
    except ValueError:
        return False
    return True


def extract(archive: Path, target: Path) -> Path:
    """Unpack a (gzipped) tar into `target`, refusing members that would land outside it."""
    target.mkdir(parents=True, exist_ok=True)
    root = target.resolve()
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        for member in members:
            destination = (target / member.name).resolve()
            if not within(destination, root) or member.issym() or member.islnk():
                raise RecipeError(f"{archive.name} holds an unsafe member: {member.name}")
            if not (member.isfile() or member.isdir()):
                raise RecipeError(f"{archive.name} holds a member that is not a file: {member.name}")
        # Python releases with extraction filters get the "data" one too (older ones lack the argument).
        options: dict[str, Any] = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        for member in members:
            tar.extract(member, target, **options)
    return target


def single_archive(directory: Path, what: str) -> Path | None:
    """The one .tar.gz in a directory (None if there is none)."""
    archives = sorted(directory.glob("*.tar.gz")) if directory.is_dir() else []
    if len(archives) > 1:
        raise RecipeError(f"expected one {what} archive, found {', '.join(path.name for path in archives)}")
    return archives[0] if archives else None


def import_entry_point(script: Path) -> ModuleType:
    """Import the training script as a module (its `__main__` block, the training, does not run)."""
    sys.path.insert(0, str(script.parent))  # the script may import modules shipped beside it
    spec = importlib.util.spec_from_file_location(script.stem, script)
    if spec is None or spec.loader is None:
        raise RecipeError(f"cannot import {script.name}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[script.stem] = module  # pickles and dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


# -- the test data ------------------------------------------------------------------------------------


def read_test(data: Path, channels: list[str], target: str) -> tuple[pd.DataFrame, pd.Series]:
    """The test split's features from every channel side by side, and the target once."""
    features: list[pd.DataFrame] = []
    labels: pd.Series | None = None
    seen: set[str] = set()
    for name in channels:
        path = data / name / "test.csv"
        if not path.is_file() and (data / name / "test.parquet").is_file():
            path = data / name / "test.parquet"
        if not path.is_file():
            raise RecipeError(f"channel {name} has no test.csv (nor test.parquet)")
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, low_memory=False)
        if target not in frame.columns:
            raise RecipeError(f"target column {target!r} is not in {path.name} of channel {name}")
        if labels is None:
            labels = frame[target].reset_index(drop=True)
        elif len(frame) != len(labels):
            raise RecipeError(
                f"{path.name} of channel {name} does not have the same rows as channel {channels[0]}"
            )
        frame = frame.drop(columns=[target]).reset_index(drop=True)
        frame.columns = [f"{name}__{column}" if column in seen else str(column) for column in frame.columns]
        seen.update(frame.columns)
        features.append(frame)
    if labels is None or len(labels) == 0:
        raise RecipeError("the test split holds no rows")
    return pd.concat(features, axis=1), labels


def channel_names(data: Path, metadata: dict[str, Any]) -> list[str]:
    """The data channels: the training job's order from metadata.json when all are here, else by name."""
    present = sorted(path.name for path in data.iterdir() if path.is_dir()) if data.is_dir() else []
    if not present:
        raise RecipeError("no data channel under input/data: give the evaluation the training job's channels")
    trained = metadata.get("channels")
    if isinstance(trained, list) and sorted(map(str, trained)) == present:
        return [str(name) for name in trained]
    return present


# -- predicting and scoring ---------------------------------------------------------------------------


def predict(module: ModuleType, model: Any, features: pd.DataFrame) -> dict[str, Any]:
    """Serve the rows through the entry point's handlers, as an endpoint would: CSV in, JSON out."""
    body = features.to_csv(header=False, index=False)
    input_fn = getattr(module, "input_fn", None)
    predict_fn = getattr(module, "predict_fn", None)
    output_fn = getattr(module, "output_fn", None)
    data = input_fn(body, "text/csv") if input_fn else features.to_numpy()
    prediction = predict_fn(data, model) if predict_fn else model.predict(data)
    answer = (
        output_fn(prediction, "application/json")
        if output_fn
        else json.dumps(np.asarray(prediction).tolist())
    )
    if isinstance(answer, tuple):
        answer = answer[0]
    if isinstance(answer, (bytes, bytearray)):
        answer = answer.decode("utf-8")
    decoded = json.loads(answer)
    if isinstance(decoded, list):
        decoded = {"predictions": decoded}
    if not isinstance(decoded, dict) or not isinstance(decoded.get("predictions"), list):
        raise RecipeError("the model's JSON answer has no predictions list")
    if len(decoded["predictions"]) != len(features):
        raise RecipeError(
            f"the model answered {len(decoded['predictions'])} predictions for {len(features)} rows"
        )
    return decoded


def label_key(value: Any) -> str:
    """A class label as text, so that 1, 1.0 and "1" from CSV and JSON compare equal."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def classification_metrics(
    truth: pd.Series, answer: dict[str, Any], classes: list[Any] | None
) -> dict[str, float]:
    """accuracy, f1, precision, recall (macro) and roc_auc (binary, given probabilities)."""
    from sklearn import metrics

    actual = [label_key(value) for value in truth]
    guessed = [label_key(value) for value in answer["predictions"]]
    scores = {
        "accuracy": metrics.accuracy_score(actual, guessed),
        "f1": metrics.f1_score(actual, guessed, average="macro", zero_division=0),
        "precision": metrics.precision_score(actual, guessed, average="macro", zero_division=0),
        "recall": metrics.recall_score(actual, guessed, average="macro", zero_division=0),
    }
    classes = answer.get("classes") or classes or sorted(set(actual))
    probabilities = answer.get("probabilities")
    if len(classes) == 2 and probabilities is not None and len(set(actual)) == 2:
        shares = np.asarray(probabilities, dtype=float)
        if shares.ndim == 2 and shares.shape[1] == 2:
            positive = [value == label_key(classes[1]) for value in actual]
            scores["roc_auc"] = metrics.roc_auc_score(positive, shares[:, 1])
    return {name: float(value) for name, value in scores.items()}


def regression_metrics(truth: pd.Series, answer: dict[str, Any]) -> dict[str, float]:
    """rmse, mae and r2."""
    from sklearn import metrics

    actual = truth.astype(float).to_numpy()
    predicted = np.asarray(answer["predictions"], dtype=float)
    scores = {
        "rmse": math.sqrt(metrics.mean_squared_error(actual, predicted)),
        "mae": metrics.mean_absolute_error(actual, predicted),
    }
    if len(actual) >= 2:
        scores["r2"] = metrics.r2_score(actual, predicted)
    return {name: float(value) for name, value in scores.items()}


# -- the step -----------------------------------------------------------------------------------------


def evaluate(root: Path, params: dict[str, Any]) -> None:
    """Load the model through its entry point, predict the test split, write evaluation.json."""
    inputs = root / "processing" / "input"
    entry_point = text_parameter(params, "entry_point", "train.py")
    target = text_parameter(params, "target_column", "label")
    work = Path(tempfile.mkdtemp(prefix="evaluate-"))

    archive = single_archive(inputs / "model", "model")
    if archive is not None:
        model_dir = extract(archive, work / "model")
    elif (inputs / "model").is_dir() and any((inputs / "model").iterdir()):
        model_dir = inputs / "model"  # an uncompressed model
    else:
        raise RecipeError("no model under input/model: give the evaluation the training job's model.tar.gz")
    sourcedir = single_archive(inputs / "sourcedir", "sourcedir")
    code_dir = extract(sourcedir, work / "code") if sourcedir is not None else model_dir / "code"
    script = code_dir / entry_point
    if not script.is_file():
        raise RecipeError(
            f"entry point {entry_point} is not in the {'sourcedir' if sourcedir else 'model code'}"
        )
    metadata_path = model_dir / "metadata.json"
    metadata = json.loads(metadata_path.read_text(encoding="utf-8")) if metadata_path.is_file() else {}
    task = text_parameter(params, "task", str(metadata.get("task") or "classification")).lower()
    if task not in TASKS:
        raise RecipeError(f"parameter task must be one of {', '.join(TASKS)}, not {task!r}")

    module = import_entry_point(script)
    if not hasattr(module, "model_fn"):
        raise RecipeError(f"{entry_point} defines no model_fn")
    model = module.model_fn(str(model_dir))
    channels = channel_names(inputs / "data", metadata)
    features, truth = read_test(inputs / "data", channels, target)
    order = metadata.get("feature_columns")
    if isinstance(order, list):
        missing = [column for column in order if column not in features.columns]
        if missing:
            raise RecipeError(f"the test data lacks the model's feature columns: {', '.join(missing)}")
        features = features[order]
    answer = predict(module, model, features)
    if task == "classification":
        scores = classification_metrics(truth, answer, metadata.get("classes"))
    else:
        scores = regression_metrics(truth, answer)

    evaluation = {
        "task": task,
        "metrics": scores,
        "rows": len(truth),
        "split": "test",
        "target_column": target,
        "channels": channels,
        "entry_point": entry_point,
        "model_type": metadata.get("model_type"),
    }
    output = root / "processing" / "output"
    output.mkdir(parents=True, exist_ok=True)
    (output / "evaluation.json").write_text(json.dumps(evaluation, indent=2) + "\n", encoding="utf-8")
    print(" ".join(f"test:{name}={value:.6f};" for name, value in scores.items()))


if __name__ == "__main__":
    sys.exit(run("evaluate", evaluate))
