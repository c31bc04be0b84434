"""Your own training script for a Cirrus pipeline: logistic regression in SageMaker script mode.

A pipeline's `model_training` step runs this instead of a built-in recipe when the step names it:
`"script": {"source_uri": "s3://.../sourcedir.tar.gz", "entry_point": "train.py"}` (see README.md).
It follows the same contract as the recipes:

- hyperparameters arrive as `--name value` arguments (`-C value` for the one-letter `C`); the
  pipeline passes its run parameters too, so unknown ones are ignored;
- each input channel (`SM_CHANNELS`, `SM_CHANNEL_<NAME>`) is an upstream data step's output with
  `train.csv`, `validation.csv` and `test.csv`; their feature columns go side by side;
- metrics are printed as `validation:accuracy=0.912000;` for the job's MetricDefinitions;
- the model goes to `SM_MODEL_DIR` with a `metadata.json` naming its feature columns (evaluation
  feeds the test split in that order); a failure goes to `$SM_OUTPUT_DIR/failure`;
- `model_fn`, `input_fn`, `predict_fn` and `output_fn` serve it: CSV rows (no header) or JSON
  (`{"instances": [...]}`, rows or records) in, `{"predictions": [...], "probabilities": [...]}` out.

Training runs only under `if __name__ == "__main__"`, so importing this module (to serve or to
evaluate the model) never trains.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

JSON_TYPE = "application/json"
CSV_TYPE = "text/csv"


def read_channels(split: str, target: str) -> tuple[Any, Any]:
    """The split's feature columns from every channel side by side, and the target (first channel)."""
    import pandas as pd

    names = sorted(json.loads(os.environ.get("SM_CHANNELS", "[]")))
    if not names:
        raise ValueError("the job has no input channels")
    frames = []
    for name in names:
        directory = os.environ.get(f"SM_CHANNEL_{name.upper()}", f"/opt/ml/input/data/{name}")
        frames.append(pd.read_csv(Path(directory) / f"{split}.csv"))
    labels = frames[0][target]
    features = pd.concat([frame.drop(columns=[target]) for frame in frames], axis=1)
    return features, labels


def train(argv: list[str]) -> None:
    """Fit a scaled, one-hot-encoded logistic regression and save it with its metadata."""
    import joblib
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    parser = argparse.ArgumentParser()
    parser.add_argument("--target_column", default="label")
    parser.add_argument("-C", "--C", dest="C", type=float, default=1.0)
    parser.add_argument("--max_iter", type=int, default=1000)
    args, ignored = parser.parse_known_args(argv)
    if ignored:
        print(f"ignoring arguments: {' '.join(ignored)}")
    target = args.target_column.strip('"')

    x_train, y_train = read_channels("train", target)
    x_validation, y_validation = read_channels("validation", target)
    numeric = [column for column in x_train.columns if pd.api.types.is_numeric_dtype(x_train[column])]
    categorical = [column for column in x_train.columns if column not in numeric]
    model = Pipeline(
        [
            (
                "encode",
                ColumnTransformer(
                    [
                        (
                            "numbers",
                            Pipeline(
                                [("fill", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
                            ),
                            numeric,
                        ),
                        (
                            "categories",
                            Pipeline(
                                [
                                    ("fill", SimpleImputer(strategy="constant", fill_value="__missing__")),
                                    ("one_hot", OneHotEncoder(handle_unknown="ignore")),
                                ]
                            ),
                            categorical,
                        ),
                    ]
                ),
            ),
            ("classify", LogisticRegression(C=args.C, max_iter=args.max_iter)),
        ]
    )
    model.fit(x_train, y_train)
    for split, features, labels in (("train", x_train, y_train), ("validation", x_validation, y_validation)):
        predicted = model.predict(features)
        accuracy = accuracy_score(labels, predicted)
        f1 = f1_score(labels, predicted, average="macro")
        print(f"{split}:accuracy={accuracy:.6f}; {split}:f1={f1:.6f};")

    model_dir = Path(os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    model_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, model_dir / "model.joblib")
    metadata = {
        "task": "classification",
        "model_type": "custom-logistic-regression",
        "target_column": target,
        "feature_columns": [str(column) for column in x_train.columns],
        "numeric_columns": numeric,
        "classes": model.classes_.tolist(),
    }
    (model_dir / "metadata.json").write_text(json.dumps(metadata, indent=2))


# -- serving ------------------------------------------------------------------------------------------


def model_fn(model_dir: str) -> dict[str, Any]:
    """The fitted pipeline and its metadata."""
    import joblib

    metadata = json.loads((Path(model_dir) / "metadata.json").read_text())
    return {"pipeline": joblib.load(Path(model_dir) / "model.joblib"), "metadata": metadata}


def input_fn(input_data: str | bytes, content_type: str) -> list[Any]:
    """CSV rows (no header, feature order) or JSON rows/records, as a list."""
    text = input_data.decode("utf-8") if isinstance(input_data, bytes) else input_data
    media = content_type.split(";")[0].strip().lower()
    if media == CSV_TYPE:
        return [row for row in csv.reader(io.StringIO(text)) if row]
    if media == JSON_TYPE:
        payload = json.loads(text)
        payload = payload.get("instances", [payload]) if isinstance(payload, dict) else payload
        return payload if isinstance(payload, list) else [payload]
    raise ValueError(f"unsupported content type {content_type}")


def predict_fn(data: list[Any], model: dict[str, Any]) -> dict[str, Any]:
    """Labels and class probabilities for the rows or records."""
    import pandas as pd

    columns = model["metadata"]["feature_columns"]
    rows = [[item.get(column) for column in columns] if isinstance(item, dict) else item for item in data]
    frame = pd.DataFrame(rows, columns=columns, dtype=object)
    frame = frame.where(frame.notna() & (frame != ""), float("nan"))
    for column in model["metadata"]["numeric_columns"]:  # CSV values arrive as text
        frame[column] = pd.to_numeric(frame[column]).astype(float)
    pipeline = model["pipeline"]
    return {
        "predictions": pipeline.predict(frame).tolist(),
        "probabilities": pipeline.predict_proba(frame).tolist(),
        "classes": model["metadata"]["classes"],
    }


def output_fn(prediction: dict[str, Any], accept: str) -> tuple[str, str]:
    """JSON, or CSV with one predicted label per line."""
    if accept.split(";")[0].strip().lower() == CSV_TYPE:
        return "\n".join(str(label) for label in prediction["predictions"]) + "\n", CSV_TYPE
    return json.dumps(prediction), JSON_TYPE


def main() -> int:
    """Train; on failure, tell SageMaker why in $SM_OUTPUT_DIR/failure."""
    try:
        train(sys.argv[1:])
    except Exception as error:
        traceback.print_exc()
        output = Path(os.environ.get("SM_OUTPUT_DIR", "/opt/ml/output"))
        output.mkdir(parents=True, exist_ok=True)
        (output / "failure").write_text("".join(traceback.format_exception_only(type(error), error)).strip())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
