"""GET /api/v1/pipelines/{pipeline_id}[?version=N]: a pipeline with one version of its definition."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.pipelines.http import PipelineIdPath, error_responses
from cirrus_core.pipelines.models import MAX_DEFINITION_VERSION, PipelineDetail
from cirrus_core.pipelines.wiring import pipeline_service

app = make_resolver()


@app.get(
    f"{API_PREFIX}/pipelines/<pipeline_id>",
    tags=["pipelines"],
    summary="Get a pipeline",
    description=(
        "The current definition unless `version` asks for another; its versions, triggers and state machine."
    ),
    responses=error_responses(403, 404),
)
def get_pipeline(
    pipeline_id: PipelineIdPath,
    version: Annotated[
        int | None, Query(ge=1, le=MAX_DEFINITION_VERSION, description="A stored version of the definition.")
    ] = None,
) -> PipelineDetail:
    return pipeline_service().get_pipeline(pipeline_id, version, request_caller(app))


lambda_handler = entrypoint(app)
