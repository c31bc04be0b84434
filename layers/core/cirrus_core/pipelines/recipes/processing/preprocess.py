"""Built-in preprocessing: raw CSV in, clean train/validation/test splits out.

A SageMaker Processing script, run as `python3 /opt/ml/processing/input/code/preprocess.py`:

- reads every CSV and Parquet file under `/opt/ml/processing/input/data/source/` (one object or a
  whole prefix), or exactly the files `_source_files` lists (a dataset version's parts, relative to
  that directory), and concatenates them;
- drops the columns `exclude_columns` names (ids, timestamps: not features), before anything else;
- drops the rows whose target is missing;
- splits the rows into train, validation and test, stratified by class for classification when every
  class has enough rows for each split;
- fills missing values with what the train split alone says: the median of a numeric column, the
  category `__missing__` for any other column;
- writes `train.csv`, `validation.csv` and `test.csv` (header row, target column kept, rows in
  their original order) and `schema.json` to `/opt/ml/processing/output/`.

Parameters (`/opt/ml/processing/input/config/parameters.json`): `target_column` ("label"), `task`
("classification" or "regression"), `seed` (42), `validation_fraction` (0.15), `test_fraction`
(0.15), `exclude_columns` (none: a list of column names, or the names comma-separated). A refusal
(no data, no target column, an excluded column the data lacks, bad parameters) is written to
`/opt/ml/output/message` and the script exits with status 1.

Runs on the SageMaker scikit-learn image (Python 3.8+, pandas 1.x or later): no newer syntax.
"""

from __future__ import annotations

import json
import math
import sys
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from container import RecipeError, choice_parameter, run, text_parameter
from feature_transforms import (
    MISSING_CATEGORY,
    SCHEMA_FILE,
    impute,
    is_numeric,
)

if TYPE_CHECKING:
    from pathlib import Path

TASKS = ("classification", "regression")
SPLITS = ("train", "validation", "test")
CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet",)
# The parameter naming a dataset version's parts (cirrus_core.pipelines.prepare.SOURCE_FILES_PARAMETER).
SOURCE_FILES = "_source_files"


# -- the container's paths and parameters ------------------------------------------------------------


def number_parameter(params: dict[str, Any], name: str, default: float, low: float, high: float) -> float:
    """A number parameter within [low, high]."""
    raw = params.get(name, default)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise RecipeError(f"parameter {name} must be a number, not {raw!r}") from None
    if not (low <= value <= high) or math.isnan(value):
        raise RecipeError(f"parameter {name} must be between {low} and {high}, not {raw!r}")
    return value


def integer_parameter(params: dict[str, Any], name: str, default: int) -> int:
    """A whole-number parameter (`7`, `"7"` and `7.0` all read as 7)."""
    raw = params.get(name, default)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise RecipeError(f"parameter {name} must be an integer, not {raw!r}") from None
    if not value.is_integer():
        raise RecipeError(f"parameter {name} must be an integer, not {raw!r}")
    return int(value)


def columns_parameter(params: dict[str, Any], name: str, target: str) -> list[str]:
    """Column names: a JSON list, or text of comma-separated names (what a step parameter can hold);
    distinct, and never the target."""
    raw = params.get(name)
    if raw is None:
        return []
    if isinstance(raw, str):
        names = [part.strip() for part in raw.split(",") if part.strip()]
    elif isinstance(raw, list) and all(isinstance(item, str) and item.strip() for item in raw):
        names = [item.strip() for item in raw]
    else:
        raise RecipeError(f"parameter {name} must be a list of column names, not {raw!r}")
    repeated = sorted({column for column in names if names.count(column) > 1})
    if repeated:
        raise RecipeError(f"parameter {name} lists {', '.join(map(repr, repeated))} more than once")
    if target in names:
        raise RecipeError(f"parameter {name} names the target column {target!r}: it cannot be excluded")
    return names


# -- reading ------------------------------------------------------------------------------------------


def source_files(source: Path, listed: Any = None) -> list[Path]:
    """The files to read: exactly `listed` (paths relative to the source) when given, else the CSV
    and Parquet files under the source (by name, recursively), or any regular file when none is so named."""
    if listed is not None:
        return listed_files(source, listed)
    if not source.is_dir():
        return []
    files = sorted(path for path in source.rglob("*") if path.is_file() and not path.name.startswith("."))
    named = [path for path in files if path.name.lower().endswith(CSV_SUFFIXES + PARQUET_SUFFIXES)]
    return named or files


def listed_files(source: Path, listed: Any) -> list[Path]:
    """The parts a dataset version lists, in its order; one missing or outside the source is refused."""
    if not isinstance(listed, list) or not all(isinstance(item, str) and item for item in listed):
        raise RecipeError(f"parameter {SOURCE_FILES} must be a list of file paths")
    files = []
    for item in listed:
        if item.startswith("/") or ".." in item.split("/"):
            raise RecipeError(f"{SOURCE_FILES} names {item!r}, which is not inside the data source")
        path = source / item
        if not path.is_file():
            raise RecipeError(f"the dataset version's part {item!r} is missing from the data source")
        files.append(path)
    return files


def read_parquet(path: Path) -> pd.DataFrame:
    """A Parquet part as CSV would have read it: times as ISO 8601 text, decimals as floats."""
    frame = pd.read_parquet(path)
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_datetime64_any_dtype(values):
            text = values.map(lambda value: value.isoformat() if not pd.isna(value) else None)
            frame[column] = text.astype(object)
        elif values.dtype == object:
            present = values.dropna()
            if len(present) and all(isinstance(value, Decimal) for value in present):
                numbers = values.map(lambda value: None if value is None else float(value))
                frame[column] = pd.to_numeric(numbers)
    return frame


def read_source(files: list[Path]) -> pd.DataFrame:
    """Every file's rows, concatenated (columns missing from a file are empty in its rows)."""
    frames = []
    for path in files:
        if path.name.lower().endswith(PARQUET_SUFFIXES):
            frame = read_parquet(path)
        else:
            try:
                frame = pd.read_csv(path, low_memory=False)
            except pd.errors.EmptyDataError:
                continue
        frame.columns = [str(column).strip() for column in frame.columns]
        frames.append(frame)
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True, sort=False)


def integral_if_possible(values: pd.Series) -> pd.Series:
    """Float class labels that are all whole numbers (1.0, 0.0) as integers, as they were written."""
    if pd.api.types.is_float_dtype(values) and bool(np.all(np.mod(values.to_numpy(), 1) == 0)):
        return values.astype("int64")
    return values


# -- splitting ----------------------------------------------------------------------------------------


def allocation(count: int, validation_fraction: float, test_fraction: float) -> tuple[int, int, int]:
    """How many of `count` rows go to train, validation and test (fractions rounded half up)."""
    test = math.floor(count * test_fraction + 0.5)
    validation = math.floor(count * validation_fraction + 0.5)
    return count - validation - test, validation, test


def split_rows(
    labels: pd.Series | None, validation_fraction: float, test_fraction: float, seed: int, count: int
) -> tuple[dict[str, np.ndarray], bool, str]:
    """Row positions of each split (sorted), whether the split was stratified, and why not if not."""
    rng = np.random.RandomState(seed)  # the legacy generator: the same split on every numpy release
    groups: list[np.ndarray] = [np.arange(count)]
    stratified, note = False, ""
    if labels is not None:
        counts = labels.astype(str).value_counts()
        short = [
            name
            for name, size in counts.items()
            if min(allocation(int(size), validation_fraction, test_fraction)) < 1
        ]
        if short:
            note = (
                f"not stratified: too few rows of class {', '.join(sorted(map(str, short)))} for every split"
            )
        else:
            keys = labels.astype(str).to_numpy()
            groups = [np.flatnonzero(keys == name) for name in sorted(counts.index)]
            stratified = True
    parts: dict[str, list[np.ndarray]] = {split: [] for split in SPLITS}
    for group in groups:
        shuffled = group[rng.permutation(len(group))]
        train, validation, _ = allocation(len(group), validation_fraction, test_fraction)
        parts["train"].append(shuffled[:train])
        parts["validation"].append(shuffled[train : train + validation])
        parts["test"].append(shuffled[train + validation :])
    positions = {split: np.sort(np.concatenate(chunks)) for split, chunks in parts.items()}
    empty = [split for split in SPLITS if len(positions[split]) == 0]
    if empty:
        raise RecipeError(
            f"{count} rows are too few to split with validation_fraction {validation_fraction} and "
            f"test_fraction {test_fraction}: the {' and '.join(empty)} split would be empty"
        )
    return positions, stratified, note


# -- imputation ---------------------------------------------------------------------------------------


def role(column: str, values: pd.Series, target: str) -> str:
    """A column's role in schema.json: target, numeric or categorical."""
    if column == target:
        return "target"
    return "numeric" if is_numeric(values) else "categorical"


def fill_values(train: pd.DataFrame, target: str) -> dict[str, Any]:
    """Each feature column's fill value, from the train split only."""
    fills: dict[str, Any] = {}
    for column in train.columns:
        if column == target:
            continue
        if is_numeric(train[column]):
            median = train[column].median(skipna=True)
            fills[column] = 0.0 if pd.isna(median) else float(median)
        else:
            fills[column] = MISSING_CATEGORY
    return fills


# -- the step -----------------------------------------------------------------------------------------


def preprocess(root: Path, params: dict[str, Any]) -> None:
    """Read, clean, split, impute and write (see the module docstring)."""
    target = text_parameter(params, "target_column", "label")
    excluded = columns_parameter(params, "exclude_columns", target)
    task = choice_parameter(params, "task", TASKS, "classification")
    seed = integer_parameter(params, "seed", 42)
    validation_fraction = number_parameter(params, "validation_fraction", 0.15, 0.0, 0.9)
    test_fraction = number_parameter(params, "test_fraction", 0.15, 0.0, 0.9)
    if validation_fraction <= 0 or test_fraction <= 0 or validation_fraction + test_fraction >= 1:
        raise RecipeError(
            "validation_fraction and test_fraction must each be above 0, and below 1 together; got "
            f"{validation_fraction} and {test_fraction}"
        )

    source = root / "processing" / "input" / "data" / "source"
    files = source_files(source, params.get(SOURCE_FILES))
    if not files:
        raise RecipeError("the data source is empty: no CSV or Parquet files were found under it")
    data = read_source(files)
    if data.empty:
        raise RecipeError(f"the data source is empty: {len(files)} file(s) but no rows")
    if target not in data.columns:
        columns = ", ".join(map(str, data.columns[:20]))
        raise RecipeError(f"target column {target!r} is not in the data; its columns are: {columns}")
    absent = [column for column in excluded if column not in data.columns]
    if absent:
        columns = ", ".join(map(str, data.columns[:20]))
        names = ", ".join(map(repr, absent))
        raise RecipeError(
            f"exclude_columns names {names}, which {'is' if len(absent) == 1 else 'are'} not in the "
            f"data; its columns are: {columns}"
        )
    # The order the data came in, before the excluded columns go: a request in that shape is still served.
    input_columns = [str(column) for column in data.columns]
    data = data.drop(columns=excluded)
    rows_in = len(data)
    data = data[data[target].notna()].reset_index(drop=True)
    dropped = rows_in - len(data)
    if data.empty:
        raise RecipeError(f"every row's target {target!r} is missing: nothing to train on")
    if task == "regression":
        try:
            data[target] = pd.to_numeric(data[target])
        except (TypeError, ValueError):
            raise RecipeError(f"task regression needs a numeric target, but {target!r} is not") from None
    else:
        data[target] = integral_if_possible(data[target])

    labels = data[target] if task == "classification" else None
    positions, stratified, note = split_rows(labels, validation_fraction, test_fraction, seed, len(data))
    raw = {split: data.iloc[positions[split]].reset_index(drop=True) for split in SPLITS}
    fills = fill_values(raw["train"], target)
    splits = {split: impute(frame, fills) for split, frame in raw.items()}

    output = root / "processing" / "output"
    output.mkdir(parents=True, exist_ok=True)
    for split, frame in splits.items():
        frame.to_csv(output / f"{split}.csv", index=False)
    schema = {
        "target_column": target,
        "task": task,
        "seed": seed,
        "validation_fraction": validation_fraction,
        "test_fraction": test_fraction,
        "stratified": stratified,
        "sources": [path.relative_to(source).as_posix() for path in files],
        "input_columns": input_columns,
        "excluded_columns": excluded,
        "rows": {
            "input": rows_in,
            "dropped_missing_target": dropped,
            **{split: len(frame) for split, frame in splits.items()},
        },
        "columns": [
            {
                "name": column,
                "role": role(column, data[column], target),
                "dtype": str(splits["train"][column].dtype),
                "fill_value": fills.get(column),
                "missing": {split: int(frame[column].isna().sum()) for split, frame in raw.items()},
            }
            for column in data.columns
        ],
    }
    if note:
        schema["stratify_note"] = note
    if labels is not None:
        schema["classes"] = {
            split: {str(name): int(size) for name, size in frame[target].value_counts().sort_index().items()}
            for split, frame in splits.items()
        }
    (output / SCHEMA_FILE).write_text(json.dumps(schema, indent=2, default=str) + "\n", encoding="utf-8")
    counts = ", ".join(f"{split} {len(frame)}" for split, frame in splits.items())
    print(f"preprocess: {rows_in} rows from {len(files)} file(s), {dropped} without a target; {counts}")
    if excluded:
        print(f"preprocess: excluded columns {', '.join(excluded)} (not features)")
    if note:
        print(f"preprocess: {note}")


if __name__ == "__main__":
    sys.exit(run("preprocess", preprocess))
