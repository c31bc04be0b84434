"""POST /api/v1/models/{model_id}/versions/{version}/reject: reject a pending version."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.registry.bodies import ReviewRequest
from cirrus_core.registry.http import ModelIdPath, VersionPath, error_responses
from cirrus_core.registry.models import ModelVersion
from cirrus_core.registry.wiring import registry_service

app = make_resolver()


@app.post(
    f"{API_PREFIX}/models/<model_id>/versions/<version>/reject",
    tags=["approval"],
    summary="Reject a pending version",
    responses=error_responses(403, 404, 409, 429),
)
def reject_version(model_id: ModelIdPath, version: VersionPath, request: ReviewRequest) -> ModelVersion:
    caller = request_caller(app)
    return registry_service().reject(model_id, version, request.comment, caller)


lambda_handler = entrypoint(app)
