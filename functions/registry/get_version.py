"""GET /api/v1/models/{model_id}/versions/{version}: one version of a model."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.registry.http import ModelIdPath, VersionPath, error_responses
from cirrus_core.registry.models import ModelVersion
from cirrus_core.registry.wiring import registry_service

app = make_resolver()


@app.get(
    f"{API_PREFIX}/models/<model_id>/versions/<version>",
    tags=["registry"],
    summary="Get a version",
    responses=error_responses(403, 404),
)
def get_version(model_id: ModelIdPath, version: VersionPath) -> ModelVersion:
    return registry_service().get_version(model_id, version, request_caller(app))


lambda_handler = entrypoint(app)
