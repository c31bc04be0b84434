"""What the built-in training recipes share: script-mode training and the serving functions.

A recipe's entry script (`sklearn/train.py`, `xgboost/train.py`) defines its model-specific part,
the hooks of a `Recipe`, and hands it to `main`, `load_model` and `predict`. `pack_sourcedir`
(cirrus_core.pipelines.recipes_upload) puts this module beside the entry script at the root of every
`sourcedir.tar.gz`, so the SageMaker containers, the evaluation job and the serving container all
import it from there, and `copy_code` ships it inside model.tar.gz with the script.

The served model takes raw records too: training copies what the data steps fitted (preprocess's
`schema.json`, each feature step's `transform.json`, found beside the channels' splits) into
`<model>/preprocessing/<channel>/`, and `load_model` reads them back; raw requests are filled and
transformed by `feature_transforms.py` (the processing recipes' own module, packed beside this one),
so serving repeats the data steps exactly. `to_frame` says how raw and engineered requests are told
apart.

It imports only the standard library at the top (numpy, pandas, scikit-learn and feature_transforms
inside functions), and keeps to Python 3.8 syntax: SageMaker's framework images run it.
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


def split_file(directory: Path, split: str) -> Path | None:
    """A channel's file of a split: `<split>.csv`, else `<split>.parquet`; None when it has neither."""
    for suffix in (".csv", ".parquet"):
        path = directory / f"{split}{suffix}"
        if path.is_file():
            return path
    return None


def read_table(path: Path, nrows: int | None = None) -> pd.DataFrame:
    """A split file: Parquet by its suffix, else CSV with a header row."""
    import pandas as pd

    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
        return frame if nrows is None else frame.head(nrows)
    return pd.read_csv(path, low_memory=False, nrows=nrows)


def read_split(
    channels: list[tuple[str, Path]], split: str, target: str, required: bool = True
) -> tuple[pd.DataFrame, pd.Series] | None:
    """The split's features from every channel side by side (a name taken twice gets
    `<channel>__` in front), and the target from the first channel; None if the split is absent."""
    features: list[tuple[str, pd.DataFrame]] = []
    labels: pd.Series | None = None
    for name, directory in channels:
        path = split_file(directory, split)
        if path is None:
            if required:
                raise RecipeError(f"channel {name} has no {split}.csv (nor {split}.parquet)")
            return None
        frame = read_table(path)
        if target not in frame.columns:
            raise RecipeError(f"target column {target!r} is not in {path.name} of channel {name}")
        if labels is None:
            labels = frame[target].reset_index(drop=True)
        elif not aligned(frame[target], labels):
            raise RecipeError(
                f"{path.name} of channel {name} does not line up with channel {channels[0][0]}: "
                "channels must hold the same rows in the same order"
            )
        features.append((name, frame.drop(columns=[target])))
    if labels is None or len(labels) == 0:
        raise RecipeError(f"{split}.csv holds no rows")
    return join_channels(features), labels


def join_channels(parts: list[tuple[str, pd.DataFrame]]) -> pd.DataFrame:
    """Channels' feature columns side by side, in the order given; a name already taken gets
    `<channel>__` in front. Training and raw-record serving join alike."""
    import pandas as pd

    seen: set[str] = set()
    frames = []
    for name, part in parts:
        frame = part.reset_index(drop=True)
        frame.columns = [f"{name}__{column}" if column in seen else str(column) for column in frame.columns]
        seen.update(frame.columns)
        frames.append(frame)
    return pd.concat(frames, axis=1)


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


def listed(names: Sequence[str], limit: int = 20) -> str:
    """Column names for a message, the first `limit` of them."""
    shown = ", ".join(str(name) for name in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def as_items(data: Any) -> list[Any]:
    """A request as a list of rows (lists) or records (dicts): one row or record becomes a list of one."""
    if hasattr(data, "tolist"):
        data = data.tolist()
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not data:
        raise RequestError("the input holds no rows")
    if not isinstance(data[0], (list, dict)):
        data = [data]
    kinds = {type(item) for item in data}
    for number, item in enumerate(data):
        if not isinstance(item, (list, dict)):
            raise RequestError(f"row {number} is neither a list of values nor a record")
    if len(kinds) > 1:
        raise RequestError("the input mixes rows (lists) and records (objects): send one kind")
    items: list[Any] = data
    return items


def to_frame(data: Any, metadata: dict[str, Any], raw: RawInput | None = None) -> pd.DataFrame:
    """Requests as a frame of the model's feature columns: a DataFrame, records (dicts), one record,
    rows (lists) or one row. Engineered input (the model's feature_columns) is taken as it is; raw
    input (the preprocess input's columns, when the model bundles what the data steps fitted) is
    filled and transformed as the data steps did. Which one a request is, its columns decide:
    - records whose keys are all raw columns (or the target, or a column preprocess excluded: both
      ignored) are raw, and must carry every raw column (null or "" for a missing value); else
      records carrying every feature column are engineered (other keys ignored);
    - rows: a first row repeating the raw or the feature column names (a CSV header) says which, and
      is skipped; else the length decides: the raw column count is raw, the feature column count
      engineered (engineered when the two counts are the same but not the same columns). Raw rows
      may also carry the excluded columns where the data had them (header or length), ignored.
    """
    import pandas as pd

    columns = metadata["feature_columns"]
    if isinstance(data, pd.DataFrame):
        if all(column in data.columns for column in columns):
            return data[columns].reset_index(drop=True)
        if raw is not None and all(column in data.columns for column in raw.columns):
            frame = data[raw.columns].astype(object).reset_index(drop=True)
            return raw.engineer(frame.where(frame.notna(), None), columns)
        missing = [column for column in columns if column not in data.columns]
        raise RequestError(f"the input lacks feature columns: {listed(missing)}")
    items = as_items(data)
    if isinstance(items[0], dict):
        return records_frame(items, columns, raw)
    return rows_frame(items, columns, raw)


def blanks_as_missing(frame: pd.DataFrame) -> pd.DataFrame:
    """Empty strings and nulls as None."""
    return frame.where(frame.notna() & (frame != ""), None)


def records_frame(items: list[dict[str, Any]], columns: list[str], raw: RawInput | None) -> pd.DataFrame:
    """Records as the model's feature frame (see to_frame)."""
    import pandas as pd

    if raw is not None:
        accepted = set(raw.columns) | raw.ignored
        if all(set(item) <= accepted for item in items):
            for number, item in enumerate(items):
                missing = [column for column in raw.columns if column not in item]
                if missing:
                    raise RequestError(
                        f"record {number} lacks raw columns: {listed(missing)} (a raw record carries "
                        'every raw column, null or "" for a missing value)'
                    )
            frame = pd.DataFrame([[item[column] for column in raw.columns] for item in items], dtype=object)
            frame.columns = list(raw.columns)
            return raw.engineer(blanks_as_missing(frame), columns)
    for number, item in enumerate(items):
        missing = [column for column in columns if column not in item]
        if not missing:
            continue
        if raw is None:
            raise RequestError(f"record {number} lacks feature columns: {listed(missing)}")
        unknown = [str(key) for key in item if key not in raw.columns and key not in raw.ignored]
        if not unknown:  # a raw record among engineered ones
            raise RequestError(
                f"record {number} lacks feature columns: {listed(missing)} (one request carries raw "
                "records or engineered records, not both)"
            )
        raise RequestError(
            f"record {number} has columns the model does not take: {listed(unknown)}. Send raw records "
            f"with exactly the raw columns ({listed(raw.columns)}), or engineered records with every "
            f"feature column ({listed(columns)})"
        )
    frame = pd.DataFrame([[item[column] for column in columns] for item in items], dtype=object)
    frame.columns = list(columns)
    return blanks_as_missing(frame)


def rows_frame(items: list[list[Any]], columns: list[str], raw: RawInput | None) -> pd.DataFrame:
    """Rows as the model's feature frame (see to_frame)."""
    import pandas as pd

    first = [str(value) for value in items[0]]
    raw_columns = raw.columns if raw is not None else None
    # Raw rows as the data had them, excluded columns included (None when preprocess excluded none).
    wide = raw.input_columns if raw is not None and raw.excluded else None
    is_wide = False
    if first == columns and first != raw_columns:
        is_raw, items = False, items[1:]
    elif raw_columns is not None and first == raw_columns:
        is_raw, items = True, items[1:]
    elif wide is not None and first == wide:
        is_raw, is_wide, items = True, True, items[1:]
    elif raw_columns is not None and len(first) == len(raw_columns):
        is_raw = len(first) != len(columns) or raw_columns == columns
    elif wide is not None and len(first) == len(wide) and len(first) != len(columns):
        is_raw = is_wide = True
    else:
        is_raw = False
    if not items:
        raise RequestError("the input holds no rows")
    expected = wide if is_wide and wide is not None else columns
    if is_raw and not is_wide and raw_columns is not None:
        expected = raw_columns
    for number, item in enumerate(items):
        if len(item) != len(expected):
            takes = f"the model takes {len(columns)}: {listed(columns)}"
            if raw_columns is not None:
                takes = (
                    f"the model takes {len(raw_columns)} raw values ({listed(raw_columns)}) or "
                    f"{len(columns)} engineered values ({listed(columns)})"
                )
            if wide is not None:
                takes += f", or {len(wide)} raw values with the excluded columns ({listed(wide)})"
            raise RequestError(f"row {number} has {len(item)} values; {takes}")
    frame = pd.DataFrame([list(item) for item in items], dtype=object)
    frame.columns = list(expected)
    if is_raw and raw is not None:
        # The excluded columns' values are dropped unread: the model never saw them.
        return raw.engineer(blanks_as_missing(frame[raw.columns]), columns)
    return blanks_as_missing(frame)


# -- raw records: what the data steps fitted, bundled with the model ---------------------------------


RAW_INPUT_DIR = "preprocessing"
SCHEMA_FILE = "schema.json"
TRANSFORM_FILE = "transform.json"


class RawInput:
    """How raw records become the model's feature columns, as the data steps made them: missing values
    filled with preprocess's train-split fill values, then each channel's fitted transforms applied
    in order (none for a channel that is preprocess's output itself), the channels joined as
    training joined them. `transforms` is the feature_transforms module, which shipped beside this one.
    The columns preprocess excluded (`exclude_columns`) are no raw columns: a request may still carry
    them, and they are ignored.
    """

    def __init__(
        self,
        schema: dict[str, Any],
        channels: list[tuple[str, list[dict[str, Any]]]],
        transforms: Any,
    ) -> None:
        described = [column for column in schema["columns"] if column.get("role") != "target"]
        self.target = str(schema["target_column"])
        self.columns = [str(column["name"]) for column in described]
        self.numeric = {str(column["name"]) for column in described if column.get("role") == "numeric"}
        self.fills = {str(column["name"]): column.get("fill_value") for column in described}
        self.excluded = [str(name) for name in schema.get("excluded_columns") or []]
        # What a request may carry besides the raw columns, unread.
        self.ignored = {self.target, *self.excluded}
        # The data's columns in the order preprocess read them, the target left out.
        order = [str(name) for name in schema.get("input_columns") or []]
        wanted = set(self.columns) | set(self.excluded)
        self.input_columns = (
            [name for name in order if name in wanted]
            if wanted <= set(order)
            else [*self.columns, *self.excluded]
        )
        self.channels = channels
        self.transforms = transforms

    def category(self, value: Any) -> str | None:
        """A raw value of a categorical column as the category name the data steps compared."""
        return None if value is None else str(self.transforms.category_name(value))

    def typed(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Raw values (None when missing) as preprocess's output holds them: numbers as floats (text
        refused), categories as text; then filled with the train-split fill values."""
        import pandas as pd

        values: dict[str, pd.Series] = {}
        for column in self.columns:
            given = frame[column].reset_index(drop=True)
            if column in self.numeric:
                values[column] = as_numbers(given, column)
            else:
                values[column] = given.map(self.category).astype(object)
        typed = pd.DataFrame(values, columns=self.columns)
        filled: pd.DataFrame = self.transforms.impute(typed, self.fills)
        return filled

    def channel_frames(self, filled: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
        """Each channel's feature columns for the filled raw frame."""
        parts = []
        for name, chain in self.channels:
            part = filled
            for transform in chain:
                part = self.transforms.apply_operations(part, transform["operations"], transform["prefix"])
            parts.append((name, part))
        return parts

    def engineer(self, frame: pd.DataFrame, feature_columns: list[str]) -> pd.DataFrame:
        """The model's feature frame for raw records (a frame of the raw columns, None when missing)."""
        joined = join_channels(self.channel_frames(self.typed(frame)))
        missing = [column for column in feature_columns if column not in joined.columns]
        if missing:  # the bundle was checked when the model was trained: a broken archive
            raise RequestError(f"the bundled transforms do not make: {listed(missing)}", 500)
        return joined[feature_columns]


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def transform_chain(document: dict[str, Any]) -> list[dict[str, Any]]:
    """A feature step's transform.json as the transforms to apply, first one first."""
    chain = [dict(item) for item in document.get("upstream_transforms") or []]
    own = {key: value for key, value in document.items() if key != "upstream_transforms"}
    return [*chain, own]


def schema_signature(schema: dict[str, Any]) -> str:
    """What of a preprocess schema serving depends on: the target, the columns, their roles and fills."""
    columns = [
        [column.get("name"), column.get("role"), column.get("fill_value")] for column in schema["columns"]
    ]
    return json.dumps([schema.get("target_column"), columns], sort_keys=True, default=str)


def bundle_raw_input(
    channels: list[tuple[str, Path]], target: str, model_dir: Path
) -> tuple[dict[str, Any] | None, str | None]:
    """Copy each channel's schema.json and transform.json into `<model_dir>/preprocessing/<channel>/`;
    return the `raw_input` summary for metadata.json, or None and why raw records cannot be served."""
    import pandas as pd

    schemas: dict[str, dict[str, Any]] = {}
    chains: list[tuple[str, list[dict[str, Any]]]] = []
    for name, directory in channels:
        if not (directory / SCHEMA_FILE).is_file():
            return None, f"channel {name} has no {SCHEMA_FILE} (it does not come from the built-in steps)"
        try:
            schema = read_json(directory / SCHEMA_FILE)
            transform = (
                read_json(directory / TRANSFORM_FILE) if (directory / TRANSFORM_FILE).is_file() else None
            )
            if not isinstance(schema.get("columns"), list) or not schema.get("target_column"):
                raise ValueError(f"{SCHEMA_FILE} has no columns or target_column")
            chain = transform_chain(transform) if transform is not None else []
        except (ValueError, TypeError, AttributeError, KeyError) as error:
            return None, f"channel {name}: {error}"
        if schema["target_column"] != target:
            return None, f"channel {name} was preprocessed for target {schema['target_column']!r}"
        schemas[name] = schema
        chains.append((name, chain))
    signatures = {schema_signature(schema) for schema in schemas.values()}
    if len(signatures) != 1:
        return None, "the channels were preprocessed differently (columns or fill values differ)"
    import feature_transforms  # beside this module in the sourcedir

    schema = next(iter(schemas.values()))
    # What the transforms make from raw columns must be what each channel holds.
    try:
        raw = RawInput(schema, chains, feature_transforms)
        empty = pd.DataFrame({column: pd.Series([], dtype=object) for column in raw.columns})
        made = raw.channel_frames(raw.typed(empty))
    except (KeyError, ValueError, TypeError) as error:
        return None, f"the bundled transforms do not apply to the raw columns: {error!r}"
    for position, (name, directory) in enumerate(channels):
        part = made[position][1]
        train_file = split_file(directory, "train")
        if train_file is None:
            return None, f"channel {name} has no train split"
        held = [str(column) for column in read_table(train_file, nrows=0).columns]
        if [str(column) for column in part.columns] != [column for column in held if column != target]:
            return None, f"channel {name}: its transforms do not make the columns its splits hold"

    summary_channels: dict[str, dict[str, str | None]] = {}
    for name, directory in channels:
        destination = model_dir / RAW_INPUT_DIR / name
        destination.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(directory / SCHEMA_FILE, destination / SCHEMA_FILE)
        entry: dict[str, str | None] = {"schema": f"{RAW_INPUT_DIR}/{name}/{SCHEMA_FILE}", "transform": None}
        if (directory / TRANSFORM_FILE).is_file():
            shutil.copyfile(directory / TRANSFORM_FILE, destination / TRANSFORM_FILE)
            entry["transform"] = f"{RAW_INPUT_DIR}/{name}/{TRANSFORM_FILE}"
        summary_channels[name] = entry
    return {
        "columns": raw.columns,
        "numeric_columns": [column for column in raw.columns if column in raw.numeric],
        "categorical_columns": [column for column in raw.columns if column not in raw.numeric],
        "fill_values": raw.fills,
        "target_column": raw.target,
        "excluded_columns": raw.excluded,
        "channels": summary_channels,
    }, None


def load_raw_input(directory: Path, metadata: dict[str, Any]) -> RawInput | None:
    """The raw-record transforms of an extracted model, from the files it bundles (None without)."""
    summary = metadata.get("raw_input")
    if not isinstance(summary, dict):
        return None
    import feature_transforms  # beside this module in the model's code/

    files = summary["channels"]
    chains: list[tuple[str, list[dict[str, Any]]]] = []
    schema: dict[str, Any] | None = None
    for name in metadata["channels"]:
        entry = files[name]
        schema = schema or read_json(directory / entry["schema"])
        chain = transform_chain(read_json(directory / entry["transform"])) if entry.get("transform") else []
        chains.append((name, chain))
    if schema is None:
        return None
    return RawInput(schema, chains, feature_transforms)


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
    raw_input, raw_note = bundle_raw_input(channels, target, model_dir)
    if raw_note:
        print(f"the model serves engineered records only: {raw_note}")
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
            "raw_input": raw_input,
            "raw_input_note": raw_note,
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
    """A loaded model: the fitted estimator, its metadata.json, and how raw records become its
    feature columns (None when the model takes engineered records only)."""

    def __init__(self, estimator: Any, metadata: dict[str, Any], raw_input: RawInput | None = None) -> None:
        self.estimator = estimator
        self.metadata = metadata
        self.raw_input = raw_input


def load_model(recipe: Recipe, model_dir: str) -> RecipeModel:
    """Load the model from an extracted model.tar.gz, with the data steps' fitted transforms it bundles."""
    directory = Path(model_dir)
    metadata = json.loads((directory / METADATA_FILE).read_text(encoding="utf-8"))
    return RecipeModel(
        recipe.load_estimator(directory, metadata), metadata, load_raw_input(directory, metadata)
    )


def input_fn(input_data: str | bytes, content_type: str) -> Any:
    """A request body as rows or records: JSON (`{"instances": [...]}`, a list of rows or records, or
    one record) or CSV (rows, values in the raw or the feature column order, optionally after a header
    row). Whether they are raw or engineered, predict decides (to_frame)."""
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
        model.estimator, encode(to_frame(data, metadata, model.raw_input), metadata), metadata
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
