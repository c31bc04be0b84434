"""Built-in feature engineering: one upstream step's splits in, engineered splits out.

A SageMaker Processing script, run as `python3 /opt/ml/processing/input/code/features.py`. It reads
`train.csv`, `validation.csv` and `test.csv` from its one upstream step
(`/opt/ml/processing/input/data/<upstream_step_id>/`), fits a transform on the train split only,
applies it to all three and writes them to `/opt/ml/processing/output/` with `transform.json` (what
was fitted: the operations, the columns they read and make, and `upstream_transforms`, the fitted
transforms of the feature steps above this one, first one first) and the upstream's `schema.json`
when it has one (preprocess's, forwarded). A training job finds both beside the splits and bundles
them into the model, which then serves raw records: the operations are applied by
`feature_transforms.apply_operations`, the same code at serving as here.

Parameters (`/opt/ml/processing/input/config/parameters.json`):
- `transform`: `auto` (default: standardize numeric columns, one-hot encode the others),
  `standardize`, `one_hot`, `interactions` (pairwise products of numeric columns) or `log1p`
  (`sign(x) * log(1 + |x|)` of numeric columns);
- `columns`: comma-separated columns to transform (default: every column the transform applies
  to; `one_hot` may name numeric columns to treat them as categories);
- `passthrough`: keep the columns the transform does not touch, unchanged (default true, except for
  `interactions`, whose output is the products alone so that it can feed a second channel);
- `max_interactions` (20): at most this many products, in column order;
- `max_categories` (50): one-hot keeps the most frequent categories of the train split; values it
  did not keep, or never saw, set no indicator;
- `target_column` ("label"); `_step_id`, which prefixes every output feature column
  (`<step_id>__<column>`) so two feature branches never collide; the target column keeps its name.

A refusal is written to `/opt/ml/output/message` and the script exits with status 1.
Runs on the SageMaker scikit-learn image (Python 3.8+, pandas 1.x or later): no newer syntax.
"""

from __future__ import annotations

import itertools
import json
import math
import shutil
import sys
from typing import TYPE_CHECKING, Any

import pandas as pd
from container import RecipeError, choice_parameter, run, text_parameter
from feature_transforms import (
    SCHEMA_FILE,
    TRANSFORM_FILE,
    apply_operations,
    as_category,
    is_numeric,
)

if TYPE_CHECKING:
    from pathlib import Path

TRANSFORMS = ("auto", "standardize", "one_hot", "interactions", "log1p")
SPLITS = ("train", "validation", "test")


# -- the container's paths and parameters ------------------------------------------------------------


def integer_parameter(params: dict[str, Any], name: str, default: int, low: int) -> int:
    """A whole-number parameter of at least `low` (`7`, `"7"` and `7.0` all read as 7)."""
    raw = params.get(name, default)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise RecipeError(f"parameter {name} must be an integer, not {raw!r}") from None
    if not value.is_integer() or value < low:
        raise RecipeError(f"parameter {name} must be an integer of at least {low}, not {raw!r}")
    return int(value)


def flag_parameter(params: dict[str, Any], name: str, default: bool) -> bool:
    """A true/false parameter (true, false, 1, 0, yes, no)."""
    raw = params.get(name)
    if raw is None or str(raw).strip() == "":
        return default
    text = str(raw).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise RecipeError(f"parameter {name} must be true or false, not {raw!r}")


# -- fitting and applying -----------------------------------------------------------------------------


def kept_categories(values: pd.Series, limit: int) -> list[str]:
    """The `limit` most frequent categories (ties by name), in name order."""
    counts = as_category(values).value_counts()
    ranked = sorted(counts.items(), key=lambda item: (-int(item[1]), str(item[0])))
    return sorted(str(name) for name, _ in ranked[:limit])


def fit_standardize(values: pd.Series) -> dict[str, float]:
    """Mean and standard deviation (population) of the train values; a constant column scales by 1."""
    numbers = values.astype(float)
    mean = float(numbers.mean(skipna=True)) if numbers.notna().any() else 0.0
    scale = float(numbers.std(ddof=0, skipna=True)) if numbers.notna().any() else 1.0
    if not math.isfinite(scale) or scale == 0.0:
        scale = 1.0
    return {"mean": mean, "scale": scale}


def column_operation(
    values: pd.Series,
    column: str,
    transform: str,
    chosen: list[str],
    numeric: list[str],
    requested: list[str],
    max_categories: int,
) -> dict[str, Any] | None:
    """What `transform` does to one input column, fitted on its train values; None leaves it alone."""
    if column not in chosen:
        return None
    if column in numeric and transform in ("auto", "standardize"):
        return {"op": "standardize", "column": column, **fit_standardize(values)}
    if column in numeric and transform == "log1p":
        return {"op": "log1p", "column": column}
    # one_hot encodes the columns it was asked to (numeric ones as categories), else the categorical ones.
    if (transform == "one_hot" and (requested or column not in numeric)) or (
        transform == "auto" and column not in numeric
    ):
        return {"op": "one_hot", "column": column, "categories": kept_categories(values, max_categories)}
    return None


def plan(train: pd.DataFrame, target: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The fitted transform: a list of operations, each making one or more output columns."""
    transform = choice_parameter(params, "transform", TRANSFORMS, "auto")
    passthrough = flag_parameter(params, "passthrough", transform != "interactions")
    max_interactions = integer_parameter(params, "max_interactions", 20, 1)
    max_categories = integer_parameter(params, "max_categories", 50, 1)
    features = [column for column in train.columns if column != target]
    requested = [name.strip() for name in text_parameter(params, "columns", "").split(",") if name.strip()]
    unknown = [name for name in requested if name not in features]
    if unknown:
        detail = "is the target" if unknown == [target] else "are not feature columns of the input"
        raise RecipeError(f"parameter columns names {', '.join(unknown)}, which {detail}")
    chosen = requested or features
    numeric = [column for column in chosen if is_numeric(train[column])]
    categorical = [column for column in chosen if not is_numeric(train[column])]
    if requested and transform in ("standardize", "log1p", "interactions") and categorical:
        raise RecipeError(
            f"transform {transform} needs numeric columns; not numeric: {', '.join(categorical)}"
        )

    operations: list[dict[str, Any]] = []
    if transform == "interactions":
        # Products are new columns: passthrough keeps every input column beside them.
        if passthrough:
            operations += [{"op": "passthrough", "column": column} for column in features]
        pairs = list(itertools.combinations(numeric, 2))[:max_interactions]
        operations += [{"op": "interaction", "columns": [left, right]} for left, right in pairs]
    else:
        for column in features:
            operation = column_operation(
                train[column], column, transform, chosen, numeric, requested, max_categories
            )
            if operation is not None:
                operations.append(operation)
            elif passthrough:
                operations.append({"op": "passthrough", "column": column})
    if not operations:
        raise RecipeError(f"transform {transform} has no column to work on in the input")
    return operations


# -- the step -----------------------------------------------------------------------------------------


def upstream_dir(data: Path) -> Path:
    """The one upstream step's directory under input/data."""
    found = sorted(path for path in data.iterdir() if path.is_dir()) if data.is_dir() else []
    if len(found) != 1:
        names = ", ".join(path.name for path in found) or "none"
        raise RecipeError(f"feature engineering takes exactly one upstream data step; found {names}")
    return found[0]


def features(root: Path, params: dict[str, Any]) -> None:
    """Fit on train, transform every split, write them (see the module docstring)."""
    target = text_parameter(params, "target_column", "label")
    prefix = text_parameter(params, "_step_id", "features")
    upstream = upstream_dir(root / "processing" / "input" / "data")
    splits: dict[str, pd.DataFrame] = {}
    for split in SPLITS:
        path = upstream / f"{split}.csv"
        if not path.is_file():
            raise RecipeError(f"{split}.csv is missing from upstream step {upstream.name}")
        frame = pd.read_csv(path, low_memory=False)
        if target not in frame.columns:
            raise RecipeError(
                f"target column {target!r} is not in {split}.csv of upstream step {upstream.name}"
            )
        splits[split] = frame
    train_columns = list(splits["train"].columns)
    for split in ("validation", "test"):
        missing = [column for column in train_columns if column not in splits[split].columns]
        if missing:
            raise RecipeError(f"{split}.csv lacks columns the train split has: {', '.join(missing)}")

    operations = plan(splits["train"], target, params)
    output = root / "processing" / "output"
    output.mkdir(parents=True, exist_ok=True)
    for split, frame in splits.items():
        engineered = apply_operations(frame, operations, prefix)
        engineered[target] = frame[target]
        engineered.to_csv(output / f"{split}.csv", index=False)
    fitted = {
        "transform": choice_parameter(params, "transform", TRANSFORMS, "auto"),
        "prefix": prefix,
        "target_column": target,
        "upstream": upstream.name,
        "input_columns": [str(column) for column in train_columns if column != target],
        "operations": operations,
        "columns": [*apply_operations(splits["train"].head(0), operations, prefix).columns, target],
        "upstream_transforms": upstream_transforms(upstream),
    }
    (output / TRANSFORM_FILE).write_text(json.dumps(fitted, indent=2) + "\n", encoding="utf-8")
    if (upstream / SCHEMA_FILE).is_file():
        # Forwarded, so that training finds beside these splits what their raw columns were.
        shutil.copyfile(upstream / SCHEMA_FILE, output / SCHEMA_FILE)
    print(f"features: {fitted['transform']} on {upstream.name}: {len(fitted['columns']) - 1} feature columns")


def upstream_transforms(upstream: Path) -> list[dict[str, Any]]:
    """The transforms that made the upstream step's columns from preprocessed data, first one first:
    empty above a preprocessing step, the upstream feature step's own chain and itself above one."""
    path = upstream / TRANSFORM_FILE
    if not path.is_file():
        return []
    earlier = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(earlier, dict) or not isinstance(earlier.get("operations"), list):
        raise RecipeError(f"{TRANSFORM_FILE} of upstream step {upstream.name} holds no operations")
    chain = earlier.pop("upstream_transforms", None) or []
    return [*chain, earlier]


if __name__ == "__main__":
    sys.exit(run("features", features))
