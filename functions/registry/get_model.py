"""GET /api/v1/models/{model_id}: a model with its aliases, counts and latest version."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.registry.http import ModelIdPath, error_responses
from cirrus_core.registry.models import ModelDetail
from cirrus_core.registry.wiring import registry_service

app = make_resolver()


@app.get(
    f"{API_PREFIX}/models/<model_id>",
    tags=["registry"],
    summary="Get a model",
    responses=error_responses(403, 404),
)
def get_model(model_id: ModelIdPath) -> ModelDetail:
    return registry_service().get_model(model_id, request_caller(app))


lambda_handler = entrypoint(app)
