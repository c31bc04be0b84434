"""GET /api/v1/models/{model_id}/lineage: the provenance graph of a model's versions."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.registry.http import ModelIdPath, error_responses
from cirrus_core.registry.models import Lineage
from cirrus_core.registry.primitives import MAX_VERSION
from cirrus_core.registry.wiring import registry_service

app = make_resolver()


@app.get(
    f"{API_PREFIX}/models/<model_id>/lineage",
    tags=["registry"],
    summary="Get a model's lineage",
    responses=error_responses(403, 404),
)
def get_lineage(
    model_id: ModelIdPath,
    version: Annotated[
        int | None, Query(ge=1, le=MAX_VERSION, description="Only this version and its ancestors.")
    ] = None,
) -> Lineage:
    return registry_service().lineage(model_id, version, request_caller(app))


lambda_handler = entrypoint(app)
