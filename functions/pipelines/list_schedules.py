"""GET /api/v1/pipelines/{pipeline_id}/schedules: the schedules that start a pipeline's runs."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.pipelines.http import PipelineIdPath, error_responses
from cirrus_core.pipelines.models import SchedulePage
from cirrus_core.pipelines.wiring import pipeline_service

app = make_resolver()


@app.get(
    f"{API_PREFIX}/pipelines/<pipeline_id>/schedules",
    tags=["pipelines"],
    summary="List a pipeline's schedules",
    responses=error_responses(403, 404),
)
def list_schedules(pipeline_id: PipelineIdPath) -> SchedulePage:
    return pipeline_service().list_schedules(pipeline_id, request_caller(app))


lambda_handler = entrypoint(app)
