"""POST /api/v1/models/register: register the next version of a model."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Header

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.idempotency import IDEMPOTENCY_KEY_HEADER, IDEMPOTENCY_KEY_PATTERN, run_idempotently
from cirrus_core.registry.bodies import RegisterModelRequest
from cirrus_core.registry.http import error_responses
from cirrus_core.registry.models import ModelVersion
from cirrus_core.registry.wiring import registry_service

app = make_resolver()


@app.post(
    f"{API_PREFIX}/models/register",
    status_code=201,
    tags=["registry"],
    summary="Register a model version",
    description="Creates the model on first use and stores the next version as PendingManualApproval.",
    responses=error_responses(400, 403, 409, 429, success=201),
)
def register_model(
    request: RegisterModelRequest,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=IDEMPOTENCY_KEY_HEADER,
            pattern=IDEMPOTENCY_KEY_PATTERN,
            description="A retry with the same key returns the first answer.",
        ),
    ] = None,
) -> ModelVersion:
    caller = request_caller(app)
    return run_idempotently(
        key=idempotency_key,
        scope=f"{caller.principal.sub}:register_model",
        request=request,
        result_type=ModelVersion,
        operation=lambda: registry_service().register(request, caller),
    )


lambda_handler = entrypoint(app, idempotent=True)
