"""POST /api/v1/models/{model_id}/rollback: move an alias back to the version it held before."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.registry.bodies import RollbackRequest
from cirrus_core.registry.http import ModelIdPath, error_responses
from cirrus_core.registry.models import PromotionResult
from cirrus_core.registry.wiring import registry_service

app = make_resolver()


@app.post(
    f"{API_PREFIX}/models/<model_id>/rollback",
    tags=["aliases"],
    summary="Roll back an environment",
    responses=error_responses(403, 404, 409, 429),
)
def rollback_model(model_id: ModelIdPath, request: RollbackRequest) -> PromotionResult:
    caller = request_caller(app)
    return registry_service().rollback(model_id, request.environment, request.reason, caller)


lambda_handler = entrypoint(app)
