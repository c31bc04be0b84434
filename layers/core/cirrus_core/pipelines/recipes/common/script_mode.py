"""What the built-in training recipes share: script-mode training and the serving functions.

A recipe's entry script (`sklearn/train.py`, `xgboost/train.py`) defines its model-specific part,
the hooks of a `Recipe`, and hands it to `main`, `load_model` and `predict`. `pack_sourcedir`
(cirrus_core.pipelines.recipes_upload) puts this module beside the entry script at the root of every
`sourcedir.tar.gz`, so the SageMaker containers, the evaluation job and the serving container all
import it from there, and `copy_code` ships it inside model.tar.gz with the script.

It imports only the standard library at the top (numpy, pandas and scikit-learn inside functions),
and keeps to Python 3.8 syntax: SageMaker's framework images run it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import numpy as np
    import pandas as pd


class Recipe(NamedTuple):
    """A training recipe's model-specific part."""

    model_type: str
    model_file: str
    # The recipe's own hyperparameters (beyond SHARED_OPTIONS) and their defaults.
    options: dict[str, str]
    # The code to ship inside model.tar.gz: the entry script's directory.
    code_dir: Path
    # (task, options, seed) -> the estimator class and the recipe's defaults for it.
    estimator_class: Callable[[str, dict[str, str], int], tuple[type, dict[str, Any]]]
    # (estimator, x_train, y_train, x_validation, y_validation) -> metadata to keep.
    fit_estimator: Callable[..., dict[str, Any]]
    save_estimator: Callable[[Any, Path], None]
    load_estimator: Callable[[Path, dict[str, Any]], Any]
    # (estimator, matrix, metadata) -> class indices and probabilities, or values and None.
    predict_matrix: Callable[[Any, Any, dict[str, Any]], tuple[Any, Any]]
    library_versions: Callable[[], dict[str, str]]


TASKS = ("classification", "regression")
METADATA_FILE = "metadata.json"
MISSING_CATEGORY = "__missing__"
JSON_TYPE = "application/json"
CSV_TYPE = "text/csv"
# The hyperparameters every recipe reads, and their defaults; the rest go to the estimator.
SHARED_OPTIONS = {"target_column": "label", "task": "classification", "seed": "42", "max_categories": "100"}


class RecipeError(Exception):
    """A refusal with a message for whoever started the job (becomes its FailureReason)."""


class RequestError(ValueError):
    """An inference request the model cannot answer; the serving container replies with `status_code`."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code


# -- hyperparameters ----------------------------------------------------------------------------------


def unquote(text: str) -> str:
    """A hyperparameter as text: a JSON-encoded string (`"label"`, as the SageMaker SDK sends it) decoded."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            decoded = json.loads(text)
        except ValueError:
            return text
        return decoded if isinstance(decoded, str) else text
    return text


def parse_value(text: str) -> Any:
    """A hyperparameter for the estimator: None, a bool, an int, a float, else the text."""
    text = unquote(text)
    lowered = text.lower()
    if lowered in ("", "none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            continue
    return text


def parse_arguments(argv: Sequence[str]) -> dict[str, str]:
    """`--name value` (or `-n value`, or `--name=value`) pairs, as the training toolkits pass them."""
    arguments: dict[str, str] = {}
    index = 0
    while index < len(argv):
        token = argv[index]
        if not token.startswith("-"):
            raise RecipeError(f"unexpected argument {token!r}: hyperparameters come as --name value")
        name = token.lstrip("-")
        if "=" in name:
            name, value = name.split("=", 1)
            index += 1
        elif index + 1 < len(argv):
            value = argv[index + 1]
            index += 2
        else:
            value = "true"
            index += 1
        arguments[name] = value
    return arguments


def integer_option(options: dict[str, str], name: str, low: int) -> int:
    """A recipe option that must be a whole number of at least `low`."""
    value = parse_value(options[name])
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise RecipeError(
            f"hyperparameter {name} must be an integer of at least {low}, not {options[name]!r}"
        )
    return value


# -- data ---------------------------------------------------------------------------------------------


def env_name(name: str) -> str:
    """A channel name as the toolkits put it in SM_CHANNEL_<NAME>."""
    return "".join(char if char.isalnum() else "_" for char in name.upper())


def channel_dirs() -> list[tuple[str, Path]]:
    """The job's channels in name order, each with its directory."""
    input_dir = Path(os.environ.get("SM_INPUT_DIR", "/opt/ml/input"))
    if os.environ.get("SM_CHANNELS"):
        names = [str(name) for name in json.loads(os.environ["SM_CHANNELS"])]
    else:
        data = input_dir / "data"
        names = [path.name for path in data.iterdir() if path.is_dir()] if data.is_dir() else []
    channels = [
        (name, Path(os.environ.get(f"SM_CHANNEL_{env_name(name)}", str(input_dir / "data" / name))))
        for name in sorted(names)
    ]
    if not channels:
        raise RecipeError("the job has no input channels: give it one per upstream data step")
    return channels


def aligned(labels: pd.Series, first: pd.Series) -> bool:
    """Whether two channels' targets are the same values in the same order."""
    if len(labels) != len(first):
        return False
    return bool((labels.astype(str).to_numpy() == first.astype(str).to_numpy()).all())


def read_split(
    channels: list[tuple[str, Path]], split: str, target: str, required: bool = True
) -> tuple[pd.DataFrame, pd.Series] | None:
    """The split's features from every channel side by side (a name taken twice gets
    `<channel>__` in front), and the target from the first channel; None if the split is absent."""
    import pandas as pd

    features: list[pd.DataFrame] = []
    labels: pd.Series | None = None
    seen: set[str] = set()
    for name, directory in channels:
        path = directory / f"{split}.csv"
        if not path.is_file():
            if required:
                raise RecipeError(f"channel {name} has no {split}.csv")
            return None
        frame = pd.read_csv(path, low_memory=False)
        if target not in frame.columns:
            raise RecipeError(f"target column {target!r} is not in {split}.csv of channel {name}")
        if labels is None:
            labels = frame[target].reset_index(drop=True)
        elif not aligned(frame[target], labels):
            raise RecipeError(
                f"{split}.csv of channel {name} does not line up with channel {channels[0][0]}: "
                "channels must hold the same rows in the same order"
            )
        frame = frame.drop(columns=[target]).reset_index(drop=True)
        frame.columns = [f"{name}__{column}" if column in seen else str(column) for column in frame.columns]
        seen.update(frame.columns)
        features.append(frame)
    if labels is None or len(labels) == 0:
        raise RecipeError(f"{split}.csv holds no rows")
    return pd.concat(features, axis=1), labels


# -- encoding: the same for training and serving ----------------------------------------------------


def is_numeric(values: pd.Series) -> bool:
    """Numbers (booleans are categories here)."""
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(values)) and not pd.api.types.is_bool_dtype(values)


def as_category(values: pd.Series) -> pd.Series:
    """Values as category names (strings); missing values as `__missing__`."""
    names = values.astype(object).where(values.notna(), MISSING_CATEGORY)
    return names.map(str)


def as_numbers(values: pd.Series, column: str) -> pd.Series:
    """Values as floats (missing ones NaN); RequestError for anything that is not a number."""
    import pandas as pd

    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & values.notna()
    if bad.any():
        raise RequestError(f"column {column} takes numbers, not {values[bad].iloc[0]!r}")
    return numbers.astype(float)


def fit_encoding(frame: pd.DataFrame, max_categories: int) -> dict[str, Any]:
    """How input columns become the model's matrix, learnt from the train split: numbers as they are
    (missing ones filled with the train median), other columns one-hot over their frequent values."""
    numeric: list[str] = []
    levels: dict[str, list[str]] = {}
    fills: dict[str, float] = {}
    encoded: list[str] = []
    for column in frame.columns:
        values = frame[column]
        if is_numeric(values):
            median = values.astype(float).median(skipna=True)
            fills[column] = 0.0 if median != median else float(median)  # NaN when the column is empty
            numeric.append(column)
            encoded.append(column)
        else:
            counts = as_category(values).value_counts()
            ranked = sorted(counts.items(), key=lambda item: (-int(item[1]), str(item[0])))
            levels[column] = sorted(str(level) for level, _ in ranked[:max_categories])
            encoded += [f"{column}={level}" for level in levels[column]]
    return {
        "feature_columns": [str(column) for column in frame.columns],
        "numeric_columns": numeric,
        "categorical_levels": levels,
        "fill_values": fills,
        "encoded_columns": encoded,
    }


def encode(frame: pd.DataFrame, metadata: dict[str, Any]) -> np.ndarray:
    """The model's matrix for `frame` (its columns as metadata's feature_columns)."""
    import numpy as np

    numeric = set(metadata["numeric_columns"])
    blocks = []
    for column in metadata["feature_columns"]:
        if column in numeric:
            numbers = as_numbers(frame[column], column).fillna(metadata["fill_values"][column])
            blocks.append(numbers.to_numpy(dtype=float).reshape(-1, 1))
        else:
            names = as_category(frame[column]).to_numpy(dtype=object).reshape(-1, 1)
            levels = np.array(metadata["categorical_levels"][column], dtype=object).reshape(1, -1)
            blocks.append((names == levels).astype(float))
    if not blocks:
        return np.zeros((len(frame), 0))
    return np.hstack(blocks)


def to_frame(data: Any, metadata: dict[str, Any]) -> pd.DataFrame:
    """Requests as a frame of the model's feature columns: a DataFrame, records (dicts), one record,
    rows (lists, in feature_columns order) or one row. A first row that repeats the column names (a
    CSV header) is skipped."""
    import pandas as pd

    columns = metadata["feature_columns"]
    if isinstance(data, pd.DataFrame):
        missing = [column for column in columns if column not in data.columns]
        if missing:
            raise RequestError(f"the input lacks feature columns: {', '.join(missing)}")
        return data[columns].reset_index(drop=True)
    if hasattr(data, "tolist"):
        data = data.tolist()
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not data:
        raise RequestError("the input holds no rows")
    if not isinstance(data[0], (list, dict)):
        data = [data]
    if isinstance(data[0], list) and [str(value) for value in data[0]] == columns:
        data = data[1:]
    rows: list[list[Any]] = []
    for number, item in enumerate(data):
        if isinstance(item, dict):
            missing = [column for column in columns if column not in item]
            if missing:
                raise RequestError(f"record {number} lacks feature columns: {', '.join(missing)}")
            rows.append([item[column] for column in columns])
        elif isinstance(item, list):
            if len(item) != len(columns):
                raise RequestError(
                    f"row {number} has {len(item)} values; the model takes {len(columns)}: "
                    + ", ".join(columns)
                )
            rows.append(list(item))
        else:
            raise RequestError(f"row {number} is neither a list of values nor a record")
    frame = pd.DataFrame(rows, columns=columns, dtype=object)
    return frame.where(frame.notna() & (frame != ""), None)


# -- metrics ------------------------------------------------------------------------------------------


def compute_metrics(
    task: str, truth: Sequence[Any], predicted: Sequence[Any], probabilities: Any, classes: list[Any] | None
) -> dict[str, float]:
    """accuracy, f1 (macro) and auc (binary) for classification; rmse, mae and r2 for regression."""
    import numpy as np
    from sklearn import metrics

    if task == "classification":
        actual = [str(value) for value in truth]
        guessed = [str(value) for value in predicted]
        scores = {
            "accuracy": float(metrics.accuracy_score(actual, guessed)),
            "f1": float(metrics.f1_score(actual, guessed, average="macro", zero_division=0)),
        }
        if classes is not None and len(classes) == 2 and probabilities is not None and len(set(actual)) == 2:
            positive = [value == str(classes[1]) for value in actual]
            scores["auc"] = float(metrics.roc_auc_score(positive, np.asarray(probabilities)[:, 1]))
        return scores
    actual_values = np.asarray(truth, dtype=float)
    predicted_values = np.asarray(predicted, dtype=float)
    scores = {
        "rmse": float(np.sqrt(metrics.mean_squared_error(actual_values, predicted_values))),
        "mae": float(metrics.mean_absolute_error(actual_values, predicted_values)),
    }
    if len(actual_values) >= 2:
        scores["r2"] = float(metrics.r2_score(actual_values, predicted_values))
    return scores


def metric_line(split: str, scores: dict[str, float]) -> str:
    """`validation:accuracy=0.931200; validation:f1=0.912000;` as METRIC_DEFINITIONS reads it."""
    return " ".join(f"{split}:{name}={value:.6f};" for name, value in scores.items())


# -- training -----------------------------------------------------------------------------------------


def train(recipe: Recipe, argv: Sequence[str]) -> None:
    """Read the channels, fit, save the model and its metadata, print the metrics."""
    import numpy as np

    arguments = parse_arguments(argv)
    options = {**SHARED_OPTIONS, **recipe.options}
    options.update({name: unquote(value) for name, value in arguments.items() if name in options})
    model_params = {name: parse_value(value) for name, value in arguments.items() if name not in options}
    target, task = options["target_column"], options["task"].lower()
    if task not in TASKS:
        raise RecipeError(f"hyperparameter task must be one of {', '.join(TASKS)}, not {task!r}")
    seed = integer_option(options, "seed", 0)
    max_categories = integer_option(options, "max_categories", 1)

    channels = channel_dirs()
    train_split = read_split(channels, "train", target)
    validation_split = read_split(channels, "validation", target, required=False)
    if train_split is None:  # required splits are never None; this keeps type checkers informed
        raise RecipeError("train.csv is missing")
    x_train, y_train = train_split
    metadata: dict[str, Any] = {
        "model_type": recipe.model_type,
        "task": task,
        "target_column": target,
        "channels": [name for name, _ in channels],
        **fit_encoding(x_train, max_categories),
        "classes": None,
    }
    if task == "classification":
        classes = sorted(set(y_train.tolist()), key=lambda value: (str(type(value)), value))
        if len(classes) < 2:
            raise RecipeError(f"classification needs at least two classes in train.csv; found {classes}")
        metadata["classes"] = classes
        index = {str(value): position for position, value in enumerate(classes)}
        y_fit = np.array([index[str(value)] for value in y_train])
    else:
        try:
            y_fit = y_train.astype(float).to_numpy()
        except (TypeError, ValueError):
            raise RecipeError(f"task regression needs a numeric target, but {target!r} is not") from None
    x_fit = encode(x_train, metadata)
    x_check, y_check = None, None
    if validation_split is not None:
        x_validation, y_validation = validation_split
        if task == "classification":
            known = np.array([str(value) in index for value in y_validation])
            x_check = encode(x_validation[known].reset_index(drop=True), metadata)
            y_check = np.array([index[str(value)] for value in y_validation[known]])
        else:
            x_check = encode(x_validation, metadata)
            y_check = y_validation.astype(float).to_numpy()

    chosen_class, defaults = recipe.estimator_class(task, options, seed)
    accepted = set(chosen_class().get_params())
    params = {**defaults, **{name: value for name, value in model_params.items() if name in accepted}}
    ignored = sorted(name for name in model_params if name not in accepted)
    if ignored:
        print(f"ignoring hyperparameters {chosen_class.__name__} does not take: {', '.join(ignored)}")
    estimator = chosen_class(**params)
    print(
        f"training {chosen_class.__name__} ({task}) on {len(x_train)} rows, {x_fit.shape[1]} encoded "
        f"features from channels {', '.join(metadata['channels'])}"
    )
    metadata.update(recipe.fit_estimator(estimator, x_fit, y_fit, x_check, y_check))

    model_dir = Path(os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    model_dir.mkdir(parents=True, exist_ok=True)
    recipe.save_estimator(estimator, model_dir)
    metadata.update(
        {
            "estimator": chosen_class.__name__,
            "estimator_params": params,
            "hyperparameters": dict(arguments),
            "model_file": recipe.model_file,
            "rows": {
                "train": len(x_train),
                "validation": 0 if validation_split is None else len(validation_split[1]),
            },
            "versions": recipe.library_versions(),
        }
    )
    (model_dir / METADATA_FILE).write_text(
        json.dumps(metadata, indent=2, default=str) + "\n", encoding="utf-8"
    )
    copy_code(recipe.code_dir, model_dir)

    # Metrics come from the saved model, served as an endpoint would serve it.
    model = load_model(recipe, str(model_dir))
    scores: dict[str, dict[str, float]] = {}
    for split, loaded in (("train", train_split), ("validation", validation_split)):
        if loaded is None:
            continue
        prediction = predict(recipe, loaded[0], model)
        scores[split] = compute_metrics(
            task,
            loaded[1].tolist(),
            prediction["predictions"],
            prediction.get("probabilities"),
            metadata["classes"],
        )
        print(metric_line(split, scores[split]))
    metadata["metrics"] = scores
    (model_dir / METADATA_FILE).write_text(
        json.dumps(metadata, indent=2, default=str) + "\n", encoding="utf-8"
    )


def within(path: Path, parent: Path) -> bool:
    """Whether `path` is `parent` or below it (Path.is_relative_to needs Python 3.9)."""
    try:
        path.relative_to(parent)
    except ValueError:
        return False
    return True


def copy_code(source: Path, model_dir: Path) -> None:
    """The recipe's code (the entry script and what shipped beside it) into `<model_dir>/code`, so the
    model serves itself."""
    target = Path(os.path.abspath(model_dir))
    caches = shutil.ignore_patterns("__pycache__", "*.pyc")

    def ignore(directory: str, names: list[str]) -> set[str]:
        # Never copy the model directory into itself (a local run may keep it beside the script).
        skipped = set(caches(directory, names))
        return skipped | {name for name in names if within(target, Path(directory) / name)}

    shutil.copytree(source, target / "code", ignore=ignore, dirs_exist_ok=True)


def failure_message(error: BaseException) -> str:
    """What the job reports: our refusal's message, or the library's error as the traceback's last line."""
    if isinstance(error, RecipeError):
        text = str(error)
    else:
        text = "".join(traceback.format_exception_only(type(error), error)).strip()
    return text.split("\nStack trace:", 1)[0].strip()[:1024]


def main(recipe: Recipe, argv: Sequence[str] | None = None) -> int:
    """Train; on failure write `$SM_OUTPUT_DIR/failure` and return 1."""
    try:
        train(recipe, sys.argv[1:] if argv is None else argv)
    except Exception as error:
        traceback.print_exc()
        output = Path(os.environ.get("SM_OUTPUT_DIR", "/opt/ml/output"))
        output.mkdir(parents=True, exist_ok=True)
        (output / "failure").write_text(failure_message(error), encoding="utf-8")
        return 1
    return 0


# -- serving ------------------------------------------------------------------------------------------


class RecipeModel:
    """A loaded model: the fitted estimator and its metadata.json."""

    def __init__(self, estimator: Any, metadata: dict[str, Any]) -> None:
        self.estimator = estimator
        self.metadata = metadata


def load_model(recipe: Recipe, model_dir: str) -> RecipeModel:
    """Load the model from an extracted model.tar.gz."""
    directory = Path(model_dir)
    metadata = json.loads((directory / METADATA_FILE).read_text(encoding="utf-8"))
    return RecipeModel(recipe.load_estimator(directory, metadata), metadata)


def input_fn(input_data: str | bytes, content_type: str) -> Any:
    """A request body as rows or records: JSON (`{"instances": [...]}`, a list of rows or records, or
    one record) or CSV (rows without a header, values in feature_columns order)."""
    media = (content_type or JSON_TYPE).split(";", 1)[0].strip().lower()
    text = input_data.decode("utf-8") if isinstance(input_data, (bytes, bytearray)) else str(input_data)
    if media == JSON_TYPE:
        try:
            payload = json.loads(text)
        except ValueError as error:
            raise RequestError(f"the body is not JSON: {error}") from None
        if isinstance(payload, dict) and "instances" in payload:
            return payload["instances"]
        return payload
    if media == CSV_TYPE:
        return [row for row in csv.reader(io.StringIO(text)) if any(value.strip() for value in row)]
    raise RequestError(f"content type {content_type} is not supported: send {JSON_TYPE} or {CSV_TYPE}", 415)


def predict(recipe: Recipe, data: Any, model: RecipeModel) -> dict[str, Any]:
    """Predictions; for classification also each class's probability (in `classes` order)."""
    metadata = model.metadata
    values, probabilities = recipe.predict_matrix(
        model.estimator, encode(to_frame(data, metadata), metadata), metadata
    )
    if metadata["task"] == "classification":
        classes = metadata["classes"]
        return {
            "predictions": [classes[int(position)] for position in values],
            "probabilities": [[float(share) for share in row] for row in probabilities],
            "classes": classes,
        }
    return {"predictions": [float(value) for value in values]}


def output_fn(prediction: dict[str, Any], accept: str) -> tuple[str, str]:
    """JSON (`{"predictions": [...], "probabilities": [[...]], "classes": [...]}`) or CSV (one line per
    row: the prediction, then each class's probability)."""
    for option in (accept or JSON_TYPE).split(","):
        media = option.split(";", 1)[0].strip().lower()
        if media in (JSON_TYPE, "*/*", ""):
            return json.dumps(prediction), JSON_TYPE
        if media == CSV_TYPE:
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            probabilities = prediction.get("probabilities")
            for position, value in enumerate(prediction["predictions"]):
                writer.writerow([value, *(probabilities[position] if probabilities else [])])
            return buffer.getvalue(), CSV_TYPE
    raise RequestError(f"accept type {accept} is not supported: ask for {JSON_TYPE} or {CSV_TYPE}", 406)
