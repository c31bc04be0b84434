"""An inference script with a bug, for the demo's safe rollout: it loads, then fails every request.

Packed as `code/inference.py` into a copy of a good model's `model.tar.gz`, it makes a version that
deploys cleanly (the container starts, `model_fn` succeeds) and then answers every prediction with
an error: the kind of fault only a request can reveal. The deployment's smoke test sends the
version's sample payloads to a candidate endpoint before any traffic moves, sees the errors and rolls
the deployment back, while the environment's live endpoint keeps serving the previous version.
"""

from __future__ import annotations

import json
import os
from typing import Any


def model_fn(model_dir: str) -> list[str]:
    """Load nothing in particular: the files are there, which is all a health check sees."""
    return sorted(os.listdir(model_dir))


def input_fn(body: str | bytes, content_type: str) -> Any:
    """JSON records (`{"instances": [...]}` or a list); CSV rows as lists of strings."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    if content_type.startswith("application/json"):
        payload = json.loads(text)
        return payload["instances"] if isinstance(payload, dict) and "instances" in payload else payload
    return [line.split(",") for line in text.splitlines() if line.strip()]


def predict_fn(data: Any, model: list[str]) -> list[float]:
    """The bug: it reads a feature that the training data never had."""
    return [float(row["merchant_risk_score"]) for row in data]
