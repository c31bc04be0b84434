"""GET /api/v1/data/sources/{name}: one data source (no secret)."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.data.http import SourceNamePath, error_responses
from cirrus_core.data.sources import SourceView
from cirrus_core.data.sources_wiring import source_service

app = make_resolver()


@app.get(
    f"{API_PREFIX}/data/sources/<name>",
    tags=["data"],
    summary="Get a data source",
    description="Its connection parameters but the secret ones, which are only named (data_access).",
    responses=error_responses(403, 404, 429),
)
def get_source(name: SourceNamePath) -> SourceView:
    return source_service().get(name, request_caller(app))


lambda_handler = entrypoint(app)
