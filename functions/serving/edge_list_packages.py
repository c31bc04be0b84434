"""GET /api/v1/models/{model_id}/edge-packages: a model's edge packages."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.registry.http import DEFAULT_PAGE_SIZE, Limit, ModelIdPath, NextToken
from cirrus_core.serving.edge_http import error_responses
from cirrus_core.serving.edge_models import EdgePackagePage
from cirrus_core.serving.edge_wiring import edge_service

app = make_resolver()


@app.get(
    f"{API_PREFIX}/models/<model_id>/edge-packages",
    tags=["serving"],
    summary="List edge packages",
    description="A model's edge packages in package id order, paginated (ListEdgePackages).",
    responses=error_responses(400, 403, 429),
)
def list_edge_packages(
    model_id: ModelIdPath, limit: Limit = DEFAULT_PAGE_SIZE, next_token: NextToken = None
) -> EdgePackagePage:
    return edge_service().list(model_id, limit, next_token, request_caller(app))


lambda_handler = entrypoint(app)
