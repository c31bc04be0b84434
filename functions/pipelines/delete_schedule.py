"""DELETE /api/v1/pipelines/{pipeline_id}/schedules/{schedule_name}: stop scheduling runs."""

from aws_lambda_powertools.event_handler import Response

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.pipelines.http import PipelineIdPath, ScheduleNamePath, error_responses
from cirrus_core.pipelines.wiring import pipeline_service

app = make_resolver()


@app.delete(
    f"{API_PREFIX}/pipelines/<pipeline_id>/schedules/<schedule_name>",
    tags=["pipelines"],
    summary="Delete a schedule",
    description="Runs the schedule already started are left alone.",
    responses=error_responses(403, 404, success=204),
)
def delete_schedule(pipeline_id: PipelineIdPath, schedule_name: ScheduleNamePath) -> Response[None]:
    pipeline_service().delete_schedule(pipeline_id, schedule_name, request_caller(app))
    return Response(status_code=204)


lambda_handler = entrypoint(app)
