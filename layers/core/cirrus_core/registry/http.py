"""HTTP parameter types and documented error responses shared by the registry's routes."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from cirrus_core.http_errors import documented_errors
from cirrus_core.registry.primitives import MAX_VERSION, MODEL_ID_PATTERN

ModelIdPath = Annotated[str, Path(pattern=MODEL_ID_PATTERN, max_length=63, description="The model id.")]
VersionPath = Annotated[int, Path(ge=1, le=MAX_VERSION, description="The version number.")]
Limit = Annotated[int, Query(ge=1, le=100, description="Page size, at most 100.")]
NextToken = Annotated[str | None, Query(max_length=1024, description="Opaque token from the previous page.")]

DEFAULT_PAGE_SIZE = 50

_DESCRIPTIONS = {
    400: "Malformed request (body is not JSON, or a bad next_token).",
    401: "No authenticated identity.",
    403: "The caller may not do this.",
    404: "The model, version or route does not exist.",
    409: "The request conflicts with the model's current state.",
    413: "The body is too large.",
    422: "The request failed validation.",
    429: "Too many concurrent changes to this model; retry shortly.",
}


def error_responses(*statuses: int, success: int = 200) -> dict[int, Any]:
    """OpenAPI response entries: the success status and the given error statuses (401, 413, 422 always)."""
    return documented_errors(_DESCRIPTIONS, statuses, success)
