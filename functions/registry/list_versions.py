"""GET /api/v1/models/{model_id}/versions: versions newest first, optionally by approval status."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.registry.http import DEFAULT_PAGE_SIZE, Limit, ModelIdPath, NextToken, error_responses
from cirrus_core.registry.models import ApprovalStatus, VersionPage
from cirrus_core.registry.wiring import registry_service

app = make_resolver()


@app.get(
    f"{API_PREFIX}/models/<model_id>/versions",
    tags=["registry"],
    summary="List a model's versions",
    responses=error_responses(400, 403, 404),
)
def list_versions(
    model_id: ModelIdPath,
    status: Annotated[ApprovalStatus | None, Query(description="Only versions with this status.")] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    next_token: NextToken = None,
) -> VersionPage:
    return registry_service().list_versions(model_id, status, limit, next_token, request_caller(app))


lambda_handler = entrypoint(app)
