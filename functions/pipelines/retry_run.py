"""POST /api/v1/pipelines/{pipeline_id}/runs/{run_id}/retry: start a new run with a failed run's input."""

from aws_lambda_powertools.event_handler import Response, content_types

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.idempotency import run_idempotently
from cirrus_core.pipelines.http import IdempotencyKey, PipelineIdPath, RunIdPath, error_responses
from cirrus_core.pipelines.models import RunReference, RunStarted
from cirrus_core.pipelines.wiring import pipeline_service

app = make_resolver()


@app.post(
    f"{API_PREFIX}/pipelines/<pipeline_id>/runs/<run_id>/retry",
    status_code=202,
    tags=["pipelines"],
    summary="Retry a run",
    description=(
        "Starts a new run with the same parameters and definition, as the caller. Refused with 409 "
        "run_not_retryable unless the run FAILED, TIMED_OUT or was ABORTED, or when the pipeline's "
        "definition changed since it started."
    ),
    responses=error_responses(403, 404, 409, success=202),
)
def retry_run(
    pipeline_id: PipelineIdPath, run_id: RunIdPath, idempotency_key: IdempotencyKey = None
) -> Response[RunStarted]:
    caller = request_caller(app)
    run = run_idempotently(
        key=idempotency_key,
        scope=f"{caller.principal.sub}:retry_pipeline_run",
        request=RunReference(pipeline_id=pipeline_id, run_id=run_id),
        result_type=RunStarted,
        operation=lambda: pipeline_service().retry(pipeline_id, run_id, caller),
    )
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=run)


lambda_handler = entrypoint(app, idempotent=True)
