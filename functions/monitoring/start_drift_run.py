"""POST /api/v1/monitoring/models/{model_id}/drift-runs: check a window of captured traffic now (202)."""

from aws_lambda_powertools.event_handler import Response, content_types

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.idempotency import run_idempotently
from cirrus_core.monitoring.http import error_responses
from cirrus_core.monitoring.models import DriftRunSummary, StartDriftRunRequest
from cirrus_core.monitoring.wiring import monitoring_service
from cirrus_core.pipelines.http import IdempotencyKey
from cirrus_core.registry.http import ModelIdPath

app = make_resolver()


@app.post(
    f"{API_PREFIX}/monitoring/models/<model_id>/drift-runs",
    status_code=202,
    tags=["monitoring"],
    summary="Start a drift monitor run",
    description=(
        "Compares the environment's captured requests in the window (the last `window`, default 1h, "
        "or `window_start`..`window_end`) with the baseline of the version it serves. The environment "
        "must be deployed (environment_not_deployed) and its version have a baseline (no_baseline). "
        "Answers 202 with the run, `running`; follow it at `links.self`."
    ),
    responses=error_responses(400, 403, 404, 409, 429, success=202),
)
def start_drift_run(
    model_id: ModelIdPath, request: StartDriftRunRequest, idempotency_key: IdempotencyKey = None
) -> Response[DriftRunSummary]:
    caller = request_caller(app)
    run = run_idempotently(
        key=idempotency_key,
        scope=f"{caller.principal.sub}:start_drift_run:{model_id}",
        request=request,
        result_type=DriftRunSummary,
        operation=lambda: monitoring_service().start_run(model_id, request, caller),
    )
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=run)


lambda_handler = entrypoint(app, idempotent=True)
