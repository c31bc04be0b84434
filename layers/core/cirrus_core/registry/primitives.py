"""The registry's smallest types: model ids, version numbers, environments, S3 URIs.

Apart from the registry's models so that modules needing only these (the drift monitor's step, whose
cold start is measured) do not build every registry model class at import.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

MODEL_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
MAX_VERSION = 1_000_000_000
ModelId = Annotated[str, StringConstraints(pattern=MODEL_ID_PATTERN, max_length=63)]
VersionNumber = Annotated[int, Field(ge=1, le=MAX_VERSION)]
S3Uri = Annotated[str, StringConstraints(min_length=6, max_length=1024, pattern=r"^s3://")]


class Environment(StrEnum):
    """Deployment environments; each has one alias per model."""

    DEV = "dev"
    STAGING = "staging"
    PROD = "prod"


def model_pk(model_id: str) -> str:
    """The registry table's partition key of a model and its versions."""
    return f"MODEL#{model_id}"


def version_sk(version: int) -> str:
    """The registry table's sort key of a version."""
    return f"VERSION#{version:010d}"
