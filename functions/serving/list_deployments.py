"""GET /api/v1/models/{model_id}/deployments: the model's environments and deployments, newest first."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.registry.http import ModelIdPath
from cirrus_core.serving.deployment_http import (
    DEFAULT_PAGE_SIZE,
    EnvironmentFilter,
    Limit,
    NextToken,
    error_responses,
)
from cirrus_core.serving.deployment_models import DeploymentList
from cirrus_core.serving.deployment_wiring import deployment_service

app = make_resolver()


@app.get(
    f"{API_PREFIX}/models/<model_id>/deployments",
    tags=["deployments"],
    summary="List a model's deployments",
    description="What each environment serves, and every deployment with its status and history.",
    responses=error_responses(400, 403, 404),
)
def list_deployments(
    model_id: ModelIdPath,
    environment: EnvironmentFilter = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    next_token: NextToken = None,
) -> DeploymentList:
    return deployment_service().list(model_id, environment, limit, next_token, request_caller(app))


lambda_handler = entrypoint(app)
