"""GET /api/v1/models/{model_id}/deployments/{deployment}: one deployment, step by step."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.registry.http import ModelIdPath
from cirrus_core.serving.deployment_http import DeploymentIdPath, error_responses
from cirrus_core.serving.deployment_models import Deployment
from cirrus_core.serving.deployment_wiring import deployment_service

app = make_resolver()


@app.get(
    f"{API_PREFIX}/models/<model_id>/deployments/<deployment>",
    tags=["deployments"],
    summary="Get a deployment",
    description="Status, history, and where and why it failed; `deployment` is the deployment's id.",
    responses=error_responses(403, 404),
)
def get_deployment(model_id: ModelIdPath, deployment: DeploymentIdPath) -> Deployment:
    return deployment_service().get(model_id, deployment, request_caller(app))


lambda_handler = entrypoint(app)
