"""GET /api/v1/models/{model_id}/edge-packages/{package_id}: a package, with its manifest and recipe."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.registry.http import ModelIdPath
from cirrus_core.serving.edge_http import PackageIdPath, error_responses
from cirrus_core.serving.edge_models import EdgePackageDetail
from cirrus_core.serving.edge_wiring import edge_service

app = make_resolver()


@app.get(
    f"{API_PREFIX}/models/<model_id>/edge-packages/<package_id>",
    tags=["serving"],
    summary="Get an edge package",
    description=(
        "Status, compilation (neo, or emulated on the local cloud), the Greengrass component, where its "
        "files are, the signature and public key; once ready, the manifest and the recipe (GetEdgePackage)."
    ),
    responses=error_responses(403, 404, 429),
)
def get_edge_package(model_id: ModelIdPath, package_id: PackageIdPath) -> EdgePackageDetail:
    return edge_service().get(model_id, package_id, request_caller(app))


lambda_handler = entrypoint(app)
