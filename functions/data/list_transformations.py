"""GET /api/v1/data/transformations: the declared transformations, by name."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.data.http import error_responses
from cirrus_core.data.transformations import TransformationPage
from cirrus_core.data.transformations_wiring import transformation_service
from cirrus_core.registry.http import DEFAULT_PAGE_SIZE, Limit, NextToken

app = make_resolver()


@app.get(
    f"{API_PREFIX}/data/transformations",
    tags=["data"],
    summary="List transformations",
    responses=error_responses(400, 403, 429),
)
def list_transformations(
    limit: Limit = DEFAULT_PAGE_SIZE, next_token: NextToken = None
) -> TransformationPage:
    return transformation_service().list(limit, next_token, request_caller(app))


lambda_handler = entrypoint(app)
