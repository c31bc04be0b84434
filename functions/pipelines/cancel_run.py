"""POST /api/v1/pipelines/{pipeline_id}/runs/{run_id}/cancel: stop a running run."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.pipelines.http import PipelineIdPath, RunIdPath, error_responses
from cirrus_core.pipelines.models import RunSummary
from cirrus_core.pipelines.wiring import pipeline_service

app = make_resolver()


@app.post(
    f"{API_PREFIX}/pipelines/<pipeline_id>/runs/<run_id>/cancel",
    tags=["pipelines"],
    summary="Cancel a run",
    description="Stops the execution; refused with 409 run_not_cancellable unless the run is RUNNING.",
    responses=error_responses(403, 404, 409),
)
def cancel_run(pipeline_id: PipelineIdPath, run_id: RunIdPath) -> RunSummary:
    return pipeline_service().cancel(pipeline_id, run_id, request_caller(app))


lambda_handler = entrypoint(app)
