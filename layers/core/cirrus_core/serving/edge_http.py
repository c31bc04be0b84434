"""HTTP parameter types and documented error responses of the edge package routes."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Path

from cirrus_core.http_errors import documented_errors
from cirrus_core.serving.edge_models import PACKAGE_ID_PATTERN

PackageIdPath = Annotated[
    str, Path(pattern=PACKAGE_ID_PATTERN, description="The edge package's id (32 hex digits).")
]

_DESCRIPTIONS = {
    400: "Malformed request (body is not JSON, or a bad next_token).",
    401: "No authenticated identity.",
    403: "The caller may not do this.",
    404: "The model, version, edge package or route does not exist.",
    409: "The version is not approved or is retired, the package is not built yet, or an idempotent "
    "retry is in progress.",
    413: "The body is too large.",
    422: "The request failed validation.",
    429: "Too many requests; retry shortly.",
}


def error_responses(*statuses: int, success: int = 200) -> dict[int, Any]:
    """OpenAPI response entries: the success status and the given error statuses (401, 413, 422 always)."""
    return documented_errors(_DESCRIPTIONS, statuses, success)
