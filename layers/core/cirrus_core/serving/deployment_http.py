"""HTTP parameter types and documented error responses of the deployment routes.

`GET .../deployments/{deployment}` (a deployment id) and `DELETE .../deployments/{deployment}` (an
environment) share their path variable's name: API Gateway allows one variable per path level.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query

from cirrus_core.http_errors import documented_errors
from cirrus_core.idempotency import IDEMPOTENCY_KEY_HEADER, IDEMPOTENCY_KEY_PATTERN
from cirrus_core.registry.models import Environment
from cirrus_core.serving.deployment_models import DEPLOYMENT_ID_PATTERN

DeploymentIdPath = Annotated[str, Path(pattern=DEPLOYMENT_ID_PATTERN, description="The deployment's id.")]
EnvironmentPath = Annotated[Environment, Path(description="The environment to undeploy.")]
EnvironmentFilter = Annotated[Environment | None, Query(description="Only this environment.")]
Limit = Annotated[int, Query(ge=1, le=100, description="Page size, at most 100.")]
NextToken = Annotated[str | None, Query(max_length=1024, description="Opaque token from the previous page.")]
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
    404: "The model, version, deployment, environment or route does not exist.",
    409: "The version is not approved or is retired, the environment is busy, or an idempotent retry runs.",
    413: "The body is too large.",
    422: "The request failed validation (or the version cannot be served, or has no sample payloads).",
    429: "Too many requests; retry shortly.",
}


def error_responses(*statuses: int, success: int = 200) -> dict[int, Any]:
    """OpenAPI response entries: the success status and the given error statuses (401, 413, 422 always)."""
    return documented_errors(_DESCRIPTIONS, statuses, success)
