"""GET /api/v1/pipelines/{pipeline_id}/runs/{run_id}: a run, step by step.

CI systems follow the runs they start at GET /api/v1/ci/pipelines/{pipeline_id}/runs/{run_id}, the
same handler, with an OAuth access token (API Gateway checks its scope).
"""

from typing import Any

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.pipelines.http import PipelineIdPath, RunIdPath, error_responses
from cirrus_core.pipelines.models import RunDetail
from cirrus_core.pipelines.wiring import pipeline_service

app = make_resolver()

# One operation, two paths: people's (Cognito ID token) and CI's (OAuth access token).
_OPERATION: dict[str, Any] = {
    "tags": ["pipelines"],
    "summary": "Get a run",
    "description": (
        "Status and times, the parameters, trigger and actor it was started with, each step's status, "
        "where and why it failed, and the model version it registered."
    ),
    "responses": error_responses(403, 404),
}


@app.get(f"{API_PREFIX}/pipelines/<pipeline_id>/runs/<run_id>", **_OPERATION)
@app.get(f"{API_PREFIX}/ci/pipelines/<pipeline_id>/runs/<run_id>", **_OPERATION)
def get_run(pipeline_id: PipelineIdPath, run_id: RunIdPath) -> RunDetail:
    return pipeline_service().get_run(pipeline_id, run_id, request_caller(app))


lambda_handler = entrypoint(app)
