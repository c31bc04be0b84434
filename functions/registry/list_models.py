"""GET /api/v1/models: models in name order, filtered by id prefix."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.registry.http import DEFAULT_PAGE_SIZE, Limit, NextToken, error_responses
from cirrus_core.registry.models import ModelPage
from cirrus_core.registry.wiring import registry_service

app = make_resolver()


@app.get(
    f"{API_PREFIX}/models", tags=["registry"], summary="List models", responses=error_responses(400, 403)
)
def list_models(
    prefix: Annotated[str, Query(pattern=r"^[a-z0-9_-]{0,63}$", description="Model id prefix.")] = "",
    limit: Limit = DEFAULT_PAGE_SIZE,
    next_token: NextToken = None,
) -> ModelPage:
    return registry_service().list_models(prefix, limit, next_token, request_caller(app))


lambda_handler = entrypoint(app)
