"""GET /api/v1/pipelines: pipelines in id order, the built-in `training` pipeline among them."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.pipelines.http import DEFAULT_PAGE_SIZE, Limit, NextToken, error_responses
from cirrus_core.pipelines.models import PipelinePage
from cirrus_core.pipelines.wiring import pipeline_service

app = make_resolver()


@app.get(
    f"{API_PREFIX}/pipelines",
    tags=["pipelines"],
    summary="List pipelines",
    responses=error_responses(400, 403),
)
def list_pipelines(limit: Limit = DEFAULT_PAGE_SIZE, next_token: NextToken = None) -> PipelinePage:
    return pipeline_service().list_pipelines(limit, next_token, request_caller(app))


lambda_handler = entrypoint(app)
