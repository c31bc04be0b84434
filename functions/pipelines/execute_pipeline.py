"""POST /api/v1/pipelines/execute: start a run now (202), or schedule runs on a cron expression (201).

CI systems call the same handler at POST /api/v1/ci/pipelines/execute with an OAuth access token
(API Gateway checks its scope); their policies let them start runs, never schedule them.
"""

from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.idempotency import run_idempotently
from cirrus_core.pipelines.http import IdempotencyKey, error_responses
from cirrus_core.pipelines.models import ExecutePipelineRequest, PipelineSchedule, RunStarted
from cirrus_core.pipelines.wiring import pipeline_service

app = make_resolver()

# One operation, two paths: people's (Cognito ID token) and CI's (OAuth access token).
_OPERATION: dict[str, Any] = {
    "status_code": 202,
    "tags": ["pipelines"],
    "summary": "Start or schedule a pipeline run",
    "description": (
        "Without `schedule`: starts a run as the caller (ExecutePipeline) and answers 202 with the run. "
        "With `schedule` (five-field cron, in `timezone`): creates an EventBridge Scheduler schedule "
        "that starts such runs (SchedulePipeline) and answers 201 with it; asking again for the same "
        "schedule answers the existing one. Parameters are merged over the definition's defaults and "
        "validated first: invalid_run_parameters, invalid_schedule."
    ),
    "responses": {
        **error_responses(400, 403, 404, 409, success=202),
        202: {"description": "The run was started.", "content": {"application/json": {"model": RunStarted}}},
        201: {
            "description": "The schedule was created (or already existed).",
            "content": {"application/json": {"model": PipelineSchedule}},
        },
    },
}


@app.post(f"{API_PREFIX}/pipelines/execute", **_OPERATION)
@app.post(f"{API_PREFIX}/ci/pipelines/execute", **_OPERATION)
def execute_pipeline(
    request: ExecutePipelineRequest, idempotency_key: IdempotencyKey = None
) -> Response[RunStarted | PipelineSchedule]:
    caller = request_caller(app)
    service = pipeline_service()
    if request.schedule is not None:
        schedule = run_idempotently(
            key=idempotency_key,
            scope=f"{caller.principal.sub}:schedule_pipeline",
            request=request,
            result_type=PipelineSchedule,
            operation=lambda: service.schedule(request, caller),
        )
        return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=schedule)
    run = run_idempotently(
        key=idempotency_key,
        scope=f"{caller.principal.sub}:execute_pipeline",
        request=request,
        result_type=RunStarted,
        operation=lambda: service.execute(request, caller),
    )
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=run)


lambda_handler = entrypoint(app, idempotent=True)
