"""POST /api/v1/models/{model_id}/deployments: deploy an approved version to an environment (202)."""

from aws_lambda_powertools.event_handler import Response, content_types

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.idempotency import run_idempotently
from cirrus_core.registry.http import ModelIdPath
from cirrus_core.serving.deployment_http import IdempotencyKey, error_responses
from cirrus_core.serving.deployment_models import Deployment, DeploymentRequest
from cirrus_core.serving.deployment_wiring import deployment_service

app = make_resolver()


@app.post(
    f"{API_PREFIX}/models/<model_id>/deployments",
    status_code=202,
    tags=["deployments"],
    summary="Deploy a version to an environment",
    description=(
        "Starts the deployment state machine (DeployModel): the version's model and endpoint config, a "
        "candidate endpoint smoke-tested with the sample payloads, then the environment's endpoint created "
        "or updated blue/green, autoscaling, and the environment's alias. Any failure rolls back to what "
        "served before. Refusals: version_not_approved, version_retired, deployment_in_progress, "
        "serving_kind_change (409); no_sample_payloads, unservable_version (422)."
    ),
    responses={
        **error_responses(400, 403, 404, 409, 429, success=202),
        202: {
            "description": "The deployment started.",
            "content": {"application/json": {"model": Deployment}},
        },
    },
)
def deploy_model(
    model_id: ModelIdPath, request: DeploymentRequest, idempotency_key: IdempotencyKey = None
) -> Response[Deployment]:
    caller = request_caller(app)
    deployment = run_idempotently(
        key=idempotency_key,
        scope=f"{caller.principal.sub}:deploy_model:{model_id}",
        request=request,
        result_type=Deployment,
        operation=lambda: deployment_service().start(model_id, request, caller),
    )
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=deployment)


lambda_handler = entrypoint(app, idempotent=True)
