"""Script-mode training entry point: least squares for y = a * x + b, in pure Python.

Reads `x,y` rows from the `train` and `validation` channels, prints the validation RMSE after each
epoch (each fits on a growing share of the training rows, so only the last print is the final
model's), and writes `model.json` plus the inference code into the model directory, as the SageMaker
Python SDK's repack does. What the container handed it goes to `invocation.json` in the output data
directory, for the tests to check.
"""

import argparse
import json
import math
import os
import shutil
import sys
from pathlib import Path


def read_rows(channel_dir: str) -> list[tuple[float, float]]:
    rows = []
    for path in sorted(Path(channel_dir).glob("*.csv")):
        for line in path.read_text().splitlines():
            if line.strip():
                x, y = line.split(",")
                rows.append((float(x), float(y)))
    return rows


def fit(rows: list[tuple[float, float]]) -> tuple[float, float]:
    n = len(rows)
    mean_x = sum(x for x, _ in rows) / n
    mean_y = sum(y for _, y in rows) / n
    var_x = sum((x - mean_x) ** 2 for x, _ in rows)
    cov = sum((x - mean_x) * (y - mean_y) for x, y in rows)
    slope = cov / var_x
    return slope, mean_y - slope * mean_x


def rmse(model: tuple[float, float], rows: list[tuple[float, float]]) -> float:
    slope, intercept = model
    return math.sqrt(sum((slope * x + intercept - y) ** 2 for x, y in rows) / len(rows))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--model_name", default="linear")
    args = parser.parse_args()

    train = read_rows(os.environ["SM_CHANNEL_TRAIN"])
    validation = read_rows(os.environ["SM_CHANNEL_VALIDATION"])
    model = fit(train)
    for epoch in range(1, args.epochs + 1):
        model = fit(train[: max(2, len(train) * epoch // args.epochs)])
        print(f"epoch {epoch}: validation:rmse={rmse(model, validation):.6f}")

    model_dir = Path(os.environ["SM_MODEL_DIR"])
    slope, intercept = model
    (model_dir / "model.json").write_text(json.dumps({"a": slope, "b": intercept, "name": args.model_name}))
    shutil.copytree(Path(__file__).parent, model_dir / "code", ignore=shutil.ignore_patterns("__pycache__"))

    invocation = {
        "argv": sys.argv[1:],
        "cwd": os.getcwd(),
        "environment": {
            name: value for name, value in os.environ.items() if name.startswith(("SM_", "AWS_"))
        },
        "hyperparameters_json": json.loads(
            (Path(os.environ["SM_INPUT_CONFIG_DIR"]) / "hyperparameters.json").read_text()
        ),
    }
    (Path(os.environ["SM_OUTPUT_DATA_DIR"]) / "invocation.json").write_text(json.dumps(invocation))


if __name__ == "__main__":
    main()
