"""HTTP parameter types and documented error responses of the metrics routes."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query

from cirrus_core.http_errors import documented_errors
from cirrus_core.registry.models import Environment

MetricQuery = Annotated[str | None, Query(max_length=64, description="A metric name (MetricName).")]
ResolutionQuery = Annotated[str | None, Query(max_length=8, description="1m, 1h (default) or 1d.")]
FromQuery = Annotated[
    str | None, Query(alias="from", max_length=64, description="ISO 8601 start with a time zone (inclusive).")
]
ToQuery = Annotated[
    str | None,
    Query(alias="to", max_length=64, description="ISO 8601 end with a time zone (exclusive); default now."),
]
EnvironmentQuery = Annotated[Environment, Query(description="The environment (default prod).")]
EnvironmentFilter = Annotated[Environment | None, Query(description="Only runs of this environment.")]

_DESCRIPTIONS = {
    400: "Malformed request (body is not JSON).",
    401: "No authenticated identity, or a wrong scrape token.",
    403: "The caller may not do this.",
    404: "The model or route does not exist.",
    409: "A label differs from the one recorded for the same prediction.",
    413: "The body is too large.",
    422: "The request failed validation (unknown inference id or metric, bad range or resolution).",
    429: "Too many requests; retry shortly.",
}


def error_responses(*statuses: int, success: int = 200) -> dict[int, Any]:
    """OpenAPI response entries: the success status and the given error statuses (401, 413, 422 always)."""
    return documented_errors(_DESCRIPTIONS, statuses, success)
