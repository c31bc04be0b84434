"""HTTP parameter types and documented error responses of the predict and batch job routes."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from cirrus_core.http_errors import documented_errors
from cirrus_core.registry.models import Environment

JOB_ID_PATTERN = r"^[0-9a-f]{32}$"

EnvironmentQuery = Annotated[
    Environment, Query(description="The environment whose endpoint answers (dev, staging or prod).")
]
JobIdPath = Annotated[str, Path(pattern=JOB_ID_PATTERN, description="The batch job's id (32 hex digits).")]

_DESCRIPTIONS = {
    400: "Malformed request (body is not JSON, or a bad next_token).",
    401: "No authenticated identity.",
    403: "The caller may not do this.",
    404: "The model, version, environment's deployment, batch job or route does not exist.",
    406: "The Accept header allows neither application/json nor text/csv.",
    409: "The version is not approved or is retired, or an idempotent retry is in progress.",
    413: "The body is too large.",
    415: "The body is neither application/json nor text/csv (or is empty).",
    422: "The request failed validation.",
    424: "The model failed to answer (its container's status and message are in details).",
    429: "Too many requests; retry shortly.",
    503: "The environment's endpoint cannot serve now (missing, updating out of service, throttled).",
}


def error_responses(*statuses: int, success: int = 200) -> dict[int, Any]:
    """OpenAPI response entries: the success status and the given error statuses (401, 413, 422 always)."""
    return documented_errors(_DESCRIPTIONS, statuses, success)
