"""PUT /api/v1/models/{model_id}/promote: point an environment's alias at a version."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.registry.bodies import PromoteRequest
from cirrus_core.registry.http import ModelIdPath, error_responses
from cirrus_core.registry.models import PromotionResult
from cirrus_core.registry.wiring import registry_service

app = make_resolver()


@app.put(
    f"{API_PREFIX}/models/<model_id>/promote",
    tags=["aliases"],
    summary="Promote a version to an environment",
    description="staging and prod take approved versions only; promoting the current version is a no-op.",
    responses=error_responses(403, 404, 409, 429),
)
def promote_model(model_id: ModelIdPath, request: PromoteRequest) -> PromotionResult:
    caller = request_caller(app)
    return registry_service().promote(model_id, request.version, request.environment, request.reason, caller)


lambda_handler = entrypoint(app)
