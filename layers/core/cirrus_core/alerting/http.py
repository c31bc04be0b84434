"""HTTP parameter types and documented error responses of the channel and delivery routes."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Path

from cirrus_core.alerting.channels import CHANNEL_NAME_PATTERN
from cirrus_core.http_errors import documented_errors
from cirrus_core.monitoring.models import ALERT_ID_PATTERN

ChannelNamePath = Annotated[str, Path(pattern=CHANNEL_NAME_PATTERN, description="The channel's name.")]
AlertIdPath = Annotated[str, Path(pattern=ALERT_ID_PATTERN, description="The alert rule's id (32 hex).")]

_DESCRIPTIONS = {
    400: "Malformed request (body is not JSON, or a bad next_token).",
    401: "No authenticated identity.",
    403: "The caller may not do this.",
    404: "The channel, alert rule or route does not exist.",
    409: "A channel of that name exists, or alert rules still name the channel.",
    413: "The body is too large.",
    422: "The request failed validation, or a destination was refused (destination_refused).",
    429: "Too many requests; retry shortly.",
}


def error_responses(*statuses: int, success: int = 200) -> dict[int, Any]:
    """OpenAPI response entries: the success status and the given error statuses (401, 413, 422 always)."""
    return documented_errors(_DESCRIPTIONS, statuses, success)
