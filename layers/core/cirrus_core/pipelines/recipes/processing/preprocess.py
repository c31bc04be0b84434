"""Built-in preprocessing: raw CSV in, clean train/validation/test splits out.

A SageMaker Processing script, run as `python3 /opt/ml/processing/input/code/preprocess.py`:

- reads every CSV under `/opt/ml/processing/input/data/source/` (one object or a whole prefix) and
  concatenates them;
- drops the rows whose target is missing;
- splits the rows into train, validation and test, stratified by class for classification when every
  class has enough rows for each split;
- fills missing values with what the train split alone says: the median of a numeric column, the
  category `__missing__` for any other column;
- writes `train.csv`, `validation.csv` and `test.csv` (header row, target column kept, rows in
  their original order) and `schema.json` to `/opt/ml/processing/output/`.

Parameters (`/opt/ml/processing/input/config/parameters.json`): `target_column` ("label"), `task`
("classification" or "regression"), `seed` (42), `validation_fraction` (0.15), `test_fraction`
(0.15). A refusal (no data, no target column, bad parameters) is written to
`/opt/ml/output/message` and the script exits with status 1.

Runs on the SageMaker scikit-learn image (Python 3.8+, pandas 1.x or later): no newer syntax.
"""

from __future__ import annotations

import json
import math
import sys
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


# -- reading ------------------------------------------------------------------------------------------


def source_files(source: Path) -> list[Path]:
    """The CSV files under the source (by name, recursively); any regular file when none is named .csv."""
    if not source.is_dir():
        return []
    files = sorted(path for path in source.rglob("*") if path.is_file() and not path.name.startswith("."))
    named = [path for path in files if path.name.lower().endswith(CSV_SUFFIXES)]
    return named or files


def read_source(files: list[Path]) -> pd.DataFrame:
    """Every file's rows, concatenated (columns missing from a file are empty in its rows)."""
    frames = []
    for path in files:
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
    files = source_files(source)
    if not files:
        raise RecipeError("the data source is empty: no CSV files were found under it")
    data = read_source(files)
    if data.empty:
        raise RecipeError(f"the data source is empty: {len(files)} file(s) but no rows")
    if target not in data.columns:
        columns = ", ".join(map(str, data.columns[:20]))
        raise RecipeError(f"target column {target!r} is not in the data; its columns are: {columns}")
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
    if note:
        print(f"preprocess: {note}")


if __name__ == "__main__":
    sys.exit(run("preprocess", preprocess))
