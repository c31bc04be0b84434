"""DELETE /api/v1/models/{model_id}/deployments/{deployment}: take an environment down.

`deployment` names the environment here (API Gateway gives both methods of the path one variable).
"""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.registry.http import ModelIdPath
from cirrus_core.serving.deployment_http import EnvironmentPath, error_responses
from cirrus_core.serving.deployment_models import UndeployResult
from cirrus_core.serving.deployment_wiring import deployment_service

app = make_resolver()


@app.delete(
    f"{API_PREFIX}/models/<model_id>/deployments/<deployment>",
    tags=["deployments"],
    summary="Undeploy an environment",
    description=(
        "UndeployModel: deletes the environment's endpoint, its autoscaling and alarms, clears its alias. "
        "`deployment` is the environment (dev, staging, prod). 404 environment_not_deployed when nothing "
        "is deployed there; 409 deployment_in_progress while a deployment runs."
    ),
    responses=error_responses(403, 404, 409),
)
def undeploy_model(model_id: ModelIdPath, deployment: EnvironmentPath) -> UndeployResult:
    return deployment_service().undeploy(model_id, deployment, request_caller(app))


lambda_handler = entrypoint(app)
