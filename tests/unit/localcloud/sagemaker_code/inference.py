"""Inference for train.py's model: model_fn only, so the container's default handlers do the rest.

model_fn appends to `model_fn.calls` in the model directory, so tests can count loads.
"""

import json
import os


class LinearModel:
    def __init__(self, slope: float, intercept: float) -> None:
        self.slope = slope
        self.intercept = intercept

    def predict(self, rows: list[list[float]]) -> list[float]:
        return [self.slope * row[0] + self.intercept for row in rows]


def model_fn(model_dir: str) -> LinearModel:
    with open(os.path.join(model_dir, "model_fn.calls"), "a") as calls:
        calls.write("model_fn\n")
    with open(os.path.join(model_dir, "model.json")) as source:
        params = json.load(source)
    return LinearModel(params["a"], params["b"])
