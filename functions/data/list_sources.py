"""GET /api/v1/data/sources: the data sources, by name (no secrets)."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.data.http import error_responses
from cirrus_core.data.sources import SourcePage
from cirrus_core.data.sources_wiring import source_service
from cirrus_core.registry.http import DEFAULT_PAGE_SIZE, Limit, NextToken

app = make_resolver()


@app.get(
    f"{API_PREFIX}/data/sources",
    tags=["data"],
    summary="List data sources",
    description="By name, `limit` at a time (data_access).",
    responses=error_responses(400, 403, 429),
)
def list_sources(limit: Limit = DEFAULT_PAGE_SIZE, next_token: NextToken = None) -> SourcePage:
    return source_service().list(limit, next_token, request_caller(app))


lambda_handler = entrypoint(app)
