"""Inference whose predict_fn fails on negative inputs, as a model with a bug would."""

from typing import Any

from inference import model_fn  # a sibling module, as real inference code often imports

__all__ = ["model_fn", "predict_fn"]


def predict_fn(data: list[list[float]], model: Any) -> Any:
    if any(row[0] < 0 for row in data):
        raise ValueError("negative sizes are not supported")
    return model.predict(data)
