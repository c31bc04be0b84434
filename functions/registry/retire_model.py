"""DELETE /api/v1/models/{model_id}/retire[?version=N]: retire a version, or the whole model."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.registry.http import ModelIdPath, error_responses
from cirrus_core.registry.models import RetireResult
from cirrus_core.registry.primitives import MAX_VERSION
from cirrus_core.registry.wiring import registry_service

app = make_resolver()


@app.delete(
    f"{API_PREFIX}/models/<model_id>/retire",
    tags=["registry"],
    summary="Retire a version or a model",
    description="Refused with 409 while an environment alias points at what would be retired.",
    responses=error_responses(403, 404, 409, 429),
)
def retire_model(
    model_id: ModelIdPath,
    version: Annotated[
        int | None, Query(ge=1, le=MAX_VERSION, description="Retire only this version.")
    ] = None,
) -> RetireResult:
    caller = request_caller(app)
    return registry_service().retire(model_id, version, caller)


lambda_handler = entrypoint(app)
