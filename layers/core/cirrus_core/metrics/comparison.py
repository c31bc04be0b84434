"""How a stored prediction is compared with the label sent for it later (docs/monitoring.md).

A prediction is first read as **rows**, one answer per input row:
- `{"predictions": [...], ...}` (the built-in recipes; `probabilities` and `classes` beside it are not
  needed): each item of `predictions` is a row; a scalar there is one row;
- a JSON list: each item is a row (`[6.0, 11.0]` from scikit-learn's default handlers);
- a scalar (number, string, boolean): one row;
- CSV text (the recipes' CSV answer, a prediction then each class's probability): each non-empty
  line is a row, its first field the prediction;
- `{label: probability, ...}`: one row, the label with the highest probability.
Inside a row, a list of numbers is a probability vector (its arg-max index is the class), a
`{label: probability}` object its arg-max label, and a one-item list its item.

A label is one value for a one-row prediction, or a list with one value per row. Each row counts
once: `count` rows compared, `correct` rows equal. Two values are equal when, read as **class
keys**, they match: numbers by value (`1 == 1.0`), numeric text as its number (`"1" == 1`,
`"1.50" == 1.5`), booleans as the numbers 1 and 0 (`true == 1`), other text exactly (case
matters). When both sides of a row are numbers (not booleans, not text), the row also feeds the
regression errors: absolute and squared error, so MAE and RMSE can be read from the sums.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# Floats from a model are equal to a label when within this relative distance (1 vs 1.0000000000000002).
RELATIVE_TOLERANCE = 1e-9


class NotComparable(Exception):
    """The label cannot be compared with the prediction (shape, or a prediction with no rows)."""


@dataclass(frozen=True)
class Comparison:
    """What one label contributes to the accuracy fields."""

    count: int = 0
    correct: int = 0
    numeric_count: int = 0
    abs_error: float = 0.0
    squared_error: float = 0.0


def prediction_rows(prediction: Any) -> list[Any]:
    """The prediction's rows (see the module's rules); NotComparable when it has none."""
    if isinstance(prediction, dict):
        if "predictions" in prediction:
            inner = prediction["predictions"]
            rows = list(inner) if isinstance(inner, list) else [inner]
        else:
            rows = [_arg_max_label(prediction)]
    elif isinstance(prediction, list):
        rows = list(prediction)
    elif isinstance(prediction, str):
        rows = [_csv_first_field(line) for line in prediction.splitlines() if line.strip()]
    else:
        rows = [prediction]
    if not rows:
        raise NotComparable("the prediction has no rows")
    return [_row_value(row) for row in rows]


def compare(prediction: Any, label: Any) -> Comparison:
    """Compare a label (one value, or one per row) with a prediction."""
    rows = prediction_rows(prediction)
    if isinstance(label, list):
        labels = label
        if len(labels) != len(rows):
            raise NotComparable(f"the label has {len(labels)} values; the prediction has {len(rows)} rows")
    else:
        if len(rows) != 1:
            raise NotComparable(f"the prediction has {len(rows)} rows: send a list of {len(rows)} labels")
        labels = [label]
    correct = numeric = 0
    abs_error = squared_error = 0.0
    for predicted, actual in zip(rows, labels, strict=True):
        if isinstance(actual, list | dict) or actual is None:
            raise NotComparable("each label is a string, a number or a boolean")
        if same_class(predicted, actual):
            correct += 1
        if _is_number(predicted) and _is_number(actual):
            error = float(predicted) - float(actual)
            numeric += 1
            abs_error += abs(error)
            squared_error += error * error
    return Comparison(len(rows), correct, numeric, abs_error, squared_error)


def class_key(value: Any) -> tuple[str, Any]:
    """The key a value is compared by: ("n", float) for numbers, numeric text, booleans; else ("s", text)."""
    if isinstance(value, bool):
        return ("n", 1.0 if value else 0.0)
    if isinstance(value, int | float):
        return ("n", float(value))
    text = str(value).strip() if isinstance(value, str) else str(value)
    try:
        number = float(text)
    except ValueError:
        return ("s", text)
    if math.isfinite(number):
        return ("n", number)
    return ("s", text)


def same_class(predicted: Any, actual: Any) -> bool:
    """Whether a predicted value and a label are the same class (numbers within RELATIVE_TOLERANCE)."""
    left, right = class_key(predicted), class_key(actual)
    if left[0] != right[0]:
        return False
    if left[0] == "n":
        return math.isclose(left[1], right[1], rel_tol=RELATIVE_TOLERANCE, abs_tol=0.0)
    return bool(left[1] == right[1])


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _row_value(row: Any) -> Any:
    if isinstance(row, dict):
        return _arg_max_label(row)
    if isinstance(row, list):
        if len(row) == 1:
            return _row_value(row[0])
        if row and all(_is_number(item) for item in row):
            return max(range(len(row)), key=lambda index: row[index])
        raise NotComparable("a prediction row is a list that is not a probability vector")
    return row


def _arg_max_label(scores: dict[str, Any]) -> str:
    numeric = {label: value for label, value in scores.items() if _is_number(value)}
    if not numeric or len(numeric) != len(scores):
        raise NotComparable("a prediction object is neither {predictions: ...} nor {label: probability}")
    return max(numeric, key=lambda label: numeric[label])


def _csv_first_field(line: str) -> Any:
    field = line.split(",", 1)[0].strip().strip('"')
    try:
        return float(field)
    except ValueError:
        return field
