"""GET /api/v1/models/{model_id}/promotions?environment=: an environment's alias history."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.registry.http import DEFAULT_PAGE_SIZE, Limit, ModelIdPath, NextToken, error_responses
from cirrus_core.registry.models import Environment, PromotionPage
from cirrus_core.registry.wiring import registry_service

app = make_resolver()


@app.get(
    f"{API_PREFIX}/models/<model_id>/promotions",
    tags=["aliases"],
    summary="Promotion history",
    responses=error_responses(400, 403, 404),
)
def list_promotions(
    model_id: ModelIdPath,
    environment: Annotated[Environment, Query(description="The environment whose alias history to read.")],
    limit: Limit = DEFAULT_PAGE_SIZE,
    next_token: NextToken = None,
) -> PromotionPage:
    return registry_service().promotion_history(model_id, environment, limit, next_token, request_caller(app))


lambda_handler = entrypoint(app)
