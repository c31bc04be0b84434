"""HTTP parameter types and documented error responses of the data routes."""

from __future__ import annotations

from typing import Annotated, Any, Final

from aws_lambda_powertools.event_handler.openapi.params import Path

from cirrus_core.http_errors import documented_errors

# Sources, datasets, transformations and feature groups are named as models are.
DATA_NAME_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]{0,62}$"
JOB_ID_PATTERN: Final = r"^[0-9a-f]{32}$"
MAX_VERSION: Final = 1_000_000_000

SourceNamePath = Annotated[str, Path(pattern=DATA_NAME_PATTERN, description="The data source's name.")]
DatasetNamePath = Annotated[str, Path(pattern=DATA_NAME_PATTERN, description="The dataset's name.")]
TransformationNamePath = Annotated[
    str, Path(pattern=DATA_NAME_PATTERN, description="The transformation's name.")
]
FeatureGroupPath = Annotated[str, Path(pattern=DATA_NAME_PATTERN, description="The feature group's name.")]
VersionPath = Annotated[int, Path(ge=1, le=MAX_VERSION, description="A version number (1, 2, 3 ...).")]
JobIdPath = Annotated[str, Path(pattern=JOB_ID_PATTERN, description="A job's id (32 hex digits).")]

_DESCRIPTIONS = {
    400: "Malformed request (body is not JSON, or a bad next_token).",
    401: "No authenticated identity.",
    403: "The caller may not do this.",
    404: "The source, dataset, version, job, transformation, feature group or entity does not exist.",
    409: "A source of that name exists, or something still uses it.",
    413: "The body is too large.",
    422: (
        "The request failed validation: an unknown source type, bad connection parameters, a breaking "
        "feature change without a new version, data that does not fit its schema."
    ),
    429: "Too many requests; retry shortly.",
}


def error_responses(*statuses: int, success: int = 200) -> dict[int, Any]:
    """OpenAPI response entries: the success status and the given error statuses (401, 413, 422 always)."""
    return documented_errors(_DESCRIPTIONS, statuses, success)
