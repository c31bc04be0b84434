"""HTTP parameter types and documented error responses shared by the pipelines' routes."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query

from cirrus_core.http_errors import documented_errors
from cirrus_core.idempotency import IDEMPOTENCY_KEY_HEADER, IDEMPOTENCY_KEY_PATTERN
from cirrus_core.pipelines.definition import PIPELINE_ID_PATTERN
from cirrus_core.pipelines.models import RUN_ID_PATTERN, SCHEDULE_NAME_PATTERN

PipelineIdPath = Annotated[
    str, Path(pattern=PIPELINE_ID_PATTERN, max_length=63, description="The pipeline id.")
]
RunIdPath = Annotated[str, Path(pattern=RUN_ID_PATTERN, description="The run id (the execution's name).")]
ScheduleNamePath = Annotated[str, Path(pattern=SCHEDULE_NAME_PATTERN, description="The schedule's name.")]
Limit = Annotated[int, Query(ge=1, le=100, description="Page size, at most 100.")]
NextToken = Annotated[str | None, Query(max_length=1024, description="Opaque token from the previous page.")]
# Run listings wrap Step Functions' own token, which may be longer than ours.
RunsNextToken = Annotated[
    str | None, Query(max_length=4096, description="Opaque token from the previous page.")
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_KEY_HEADER,
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="A retry with the same key returns the first answer.",
    ),
]

DEFAULT_PAGE_SIZE = 50

_DESCRIPTIONS = {
    400: "Malformed request (body is not JSON, or a bad next_token).",
    401: "No authenticated identity.",
    403: "The caller may not do this.",
    404: "The pipeline, version, run, schedule or route does not exist.",
    409: "The request conflicts with the run's current state, or an idempotent retry is in progress.",
    413: "The body is too large.",
    422: "The request failed validation.",
    429: "Too many concurrent changes to this pipeline; retry shortly.",
}


def error_responses(*statuses: int, success: int = 200) -> dict[int, Any]:
    """OpenAPI response entries: the success status and the given error statuses (401, 413, 422 always)."""
    return documented_errors(_DESCRIPTIONS, statuses, success)
