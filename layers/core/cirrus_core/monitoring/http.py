"""HTTP parameter types and documented error responses of the monitoring routes."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from cirrus_core.http_errors import documented_errors
from cirrus_core.monitoring.models import ALERT_ID_PATTERN, RUN_ID_PATTERN
from cirrus_core.registry.models import Environment

RunIdPath = Annotated[
    str, Path(pattern=RUN_ID_PATTERN, description="The drift run's id (`<yyyymmddThhmmssZ>-<12 hex>`).")
]
EnvironmentFilter = Annotated[Environment | None, Query(description="Only runs of this environment.")]
AlertIdPath = Annotated[
    str, Path(pattern=ALERT_ID_PATTERN, description="The alert rule's id (32 hex digits).")
]
AlertModelFilter = Annotated[
    str | None,
    Query(
        pattern=r"^([a-z0-9][a-z0-9_-]{0,62}|\*)$",
        description="Only rules of this model (`*`: platform-wide).",
    ),
]

_DESCRIPTIONS = {
    400: "Malformed request (body is not JSON, or a bad next_token).",
    401: "No authenticated identity.",
    403: "The caller may not do this.",
    404: "The model, version, drift run, alert rule, environment's deployment or route does not exist.",
    409: "No drift baseline to compare with, the report is not ready, or an idempotent retry is in progress.",
    413: "The body is too large.",
    422: (
        "The request failed validation (a threshold out of range, an unknown feature or channel, a window "
        "too short)."
    ),
    429: "Too many requests; retry shortly.",
}


def error_responses(*statuses: int, success: int = 200) -> dict[int, Any]:
    """OpenAPI response entries: the success status and the given error statuses (401, 413, 422 always)."""
    return documented_errors(_DESCRIPTIONS, statuses, success)
