"""GET /api/v1/pipelines/{pipeline_id}/runs: a pipeline's runs, newest first."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.pipelines.http import (
    DEFAULT_PAGE_SIZE,
    Limit,
    PipelineIdPath,
    RunsNextToken,
    error_responses,
)
from cirrus_core.pipelines.models import RunPage, RunStatus
from cirrus_core.pipelines.wiring import pipeline_service

app = make_resolver()


@app.get(
    f"{API_PREFIX}/pipelines/<pipeline_id>/runs",
    tags=["pipelines"],
    summary="List a pipeline's runs",
    responses=error_responses(400, 403, 404),
)
def list_runs(
    pipeline_id: PipelineIdPath,
    status: Annotated[RunStatus | None, Query(description="Only runs with this status.")] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    next_token: RunsNextToken = None,
) -> RunPage:
    return pipeline_service().list_runs(pipeline_id, status, limit, next_token, request_caller(app))


lambda_handler = entrypoint(app)
