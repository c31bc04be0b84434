"""How the built-in data recipes change data, shared by the processing jobs and the served model.

`preprocess.py` fills missing values with `impute`; `features.py` applies its fitted operations with
`apply_operations`. The training recipes' sourcedir carries this module beside `train.py` and
`script_mode.py` (`pack_sourcedir`), so the served model repeats exactly what the data steps did:
raw records are filled with preprocess's train-split fill values, then each feature branch's
fitted transform runs on them, with this very code.

It lies in the recipes' `processing/` prefix (a processing job imports it from beside its script).
It imports only the standard library at the top (numpy and pandas inside functions), so a training
script that imports it lazily stays loadable without the science stack, and keeps to Python 3.8
syntax and pandas 1.x: SageMaker's images run it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

MISSING_CATEGORY = "__missing__"
# What preprocess.py and features.py write beside their splits, and what the model bundles.
SCHEMA_FILE = "schema.json"
TRANSFORM_FILE = "transform.json"


def is_numeric(values: pd.Series) -> bool:
    """Numbers (booleans are categories here)."""
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(values)) and not pd.api.types.is_bool_dtype(values)


def category_name(value: Any) -> str:
    """A value as a category name: whole floats as integers, so 3.0 (a column with gaps) matches 3."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def as_category(values: pd.Series) -> pd.Series:
    """Values as category names (strings); missing values as `__missing__`."""
    names = values.astype(object).where(values.notna(), MISSING_CATEGORY)
    return names.map(category_name)


def impute(frame: pd.DataFrame, fills: dict[str, Any]) -> pd.DataFrame:
    """The frame with every filled column's missing values replaced by its fill value."""
    out = frame.copy()
    for column, value in fills.items():
        if column in out.columns and out[column].isna().any():
            out[column] = out[column].fillna(value)
    return out


def apply_operations(frame: pd.DataFrame, operations: list[dict[str, Any]], prefix: str) -> pd.DataFrame:
    """The output feature columns of `frame` (named `<prefix>__...`), in operation order: what
    features.py fitted (`transform.json`'s `operations`), applied."""
    import numpy as np
    import pandas as pd

    columns: dict[str, pd.Series] = {}
    for operation in operations:
        kind = operation["op"]
        if kind == "passthrough":
            columns[f"{prefix}__{operation['column']}"] = frame[operation["column"]]
        elif kind == "standardize":
            values = frame[operation["column"]].astype(float)
            columns[f"{prefix}__{operation['column']}"] = (values - operation["mean"]) / operation["scale"]
        elif kind == "log1p":
            values = frame[operation["column"]].astype(float)
            columns[f"{prefix}__{operation['column']}"] = np.sign(values) * np.log1p(values.abs())
        elif kind == "interaction":
            left, right = operation["columns"]
            columns[f"{prefix}__{left}_x_{right}"] = frame[left].astype(float) * frame[right].astype(float)
        elif kind == "one_hot":
            names = as_category(frame[operation["column"]])
            for category in operation["categories"]:
                columns[f"{prefix}__{operation['column']}={category}"] = (names == category).astype("int64")
        else:
            raise ValueError(f"unknown feature operation {kind!r}")
    return pd.DataFrame(columns, index=frame.index)


def operation_inputs(operations: list[dict[str, Any]]) -> list[str]:
    """The input columns the operations read, in first-use order."""
    seen: dict[str, None] = {}
    for operation in operations:
        for column in operation.get("columns") or [operation.get("column")]:
            if column is not None:
                seen.setdefault(str(column), None)
    return list(seen)
