"""GET /api/v1/models/{model_id}/edge-packages/{package_id}/verification: re-hash and check the signature."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.registry.http import ModelIdPath
from cirrus_core.serving.edge_http import PackageIdPath, error_responses
from cirrus_core.serving.edge_models import EdgePackageVerification
from cirrus_core.serving.edge_wiring import edge_service

app = make_resolver()


@app.get(
    f"{API_PREFIX}/models/<model_id>/edge-packages/<package_id>/verification",
    tags=["serving"],
    summary="Verify an edge package",
    description=(
        "Downloads every artifact the manifest lists, recomputes its SHA-256 and checks the manifest's "
        "signature with KMS (VerifyEdgePackage). Answers 200 whether the package is valid or not: `valid`, "
        "`signature_valid`, each artifact's expected and actual hash, and the problems found. A package "
        "that is not built yet is refused (409 edge_package_not_ready)."
    ),
    responses=error_responses(403, 404, 409, 429),
)
def verify_edge_package(model_id: ModelIdPath, package_id: PackageIdPath) -> EdgePackageVerification:
    return edge_service().verify(model_id, package_id, request_caller(app))


lambda_handler = entrypoint(app)
