"""POST /api/v1/models/{model_id}/edge-packages: compile a version with SageMaker Neo and build a
signed IoT Greengrass v2 component of it (202; follow it at the package's `self` link)."""

from aws_lambda_powertools.event_handler import Response, content_types

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.idempotency import run_idempotently
from cirrus_core.pipelines.http import IdempotencyKey
from cirrus_core.registry.http import ModelIdPath
from cirrus_core.serving.edge_http import error_responses
from cirrus_core.serving.edge_models import CreateEdgePackageRequest, EdgePackage
from cirrus_core.serving.edge_wiring import edge_service

app = make_resolver()


@app.post(
    f"{API_PREFIX}/models/<model_id>/edge-packages",
    status_code=202,
    tags=["serving"],
    summary="Build an edge package",
    description=(
        "Runs a SageMaker Neo compilation job of an approved version for a target device or platform, then "
        "builds an IoT Greengrass v2 component (recipe and artifacts) with a manifest of every artifact's "
        "SHA-256, signed with a KMS key (CreateEdgePackage). Answers 202 with the package `pending`; it "
        "becomes `ready` (edge.package_created) or `failed` with the failed step and cause. Refusals: "
        "version_not_approved, version_retired, model_retired (409)."
    ),
    responses={
        **error_responses(400, 403, 404, 409, 429, success=202),
        202: {
            "description": "The package is being built.",
            "content": {"application/json": {"model": EdgePackage}},
        },
    },
)
def create_edge_package(
    model_id: ModelIdPath, request: CreateEdgePackageRequest, idempotency_key: IdempotencyKey = None
) -> Response[EdgePackage]:
    caller = request_caller(app)
    package = run_idempotently(
        key=idempotency_key,
        scope=f"{caller.principal.sub}:create_edge_package:{model_id}",
        request=request,
        result_type=EdgePackage,
        operation=lambda: edge_service().create(model_id, request, caller),
    )
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=package)


lambda_handler = entrypoint(app, idempotent=True)
