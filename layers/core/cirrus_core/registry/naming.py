"""SageMaker names for model ids. SageMaker forbids `_` and caps names at 63 characters."""

from __future__ import annotations

import hashlib

SAGEMAKER_NAME_LIMIT = 63
RESERVED_MODEL_IDS = frozenset({"register"})  # `/models/register` is a route, not a model


def sagemaker_base_name(model_id: str) -> str:
    """Map a model id to a SageMaker-safe base name: `_` becomes `-`, deterministically.

    Two ids can map to the same base name (`a_b`, `a-b`); the registry reserves base names so the
    second one is refused rather than sharing SageMaker resources.
    """
    name = model_id.replace("_", "-")
    while "--" in name:
        name = name.replace("--", "-")
    return name.strip("-") or "m"


def sagemaker_name(base_name: str, suffix: str) -> str:
    """`<base>-<suffix>` within 63 characters; long bases are cut and keep a hash of the whole."""
    name = f"{base_name}-{suffix}"
    if len(name) <= SAGEMAKER_NAME_LIMIT:
        return name
    digest = hashlib.sha256(base_name.encode()).hexdigest()[:8]
    keep = SAGEMAKER_NAME_LIMIT - len(suffix) - len(digest) - 2
    return f"{base_name[:keep].rstrip('-')}-{digest}-{suffix}"
