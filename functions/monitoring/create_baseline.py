"""POST /api/v1/monitoring/baselines: build a version's drift baseline from a dataset (201)."""

from aws_lambda_powertools.event_handler import Response, content_types

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.idempotency import run_idempotently
from cirrus_core.monitoring.http import error_responses
from cirrus_core.monitoring.models import BaselineView, CreateBaselineRequest
from cirrus_core.monitoring.wiring import monitoring_service
from cirrus_core.pipelines.http import IdempotencyKey

app = make_resolver()


@app.post(
    f"{API_PREFIX}/monitoring/baselines",
    status_code=201,
    tags=["monitoring"],
    summary="Build a drift baseline",
    description=(
        "Profiles a dataset (CSV with a header row, or JSON Lines; in the artifact bucket or the "
        "allowlist) in the raw feature space the model is served with: per feature its kind, bin "
        "edges, category shares, a capped sorted sample and summary statistics. The baseline is "
        "stored in the monitoring bucket and linked to the version (`baseline_uri`), replacing any "
        "earlier one. For versions registered outside a pipeline (pipelines write their own)."
    ),
    responses=error_responses(400, 403, 404, 409, 429, success=201),
)
def create_baseline(
    request: CreateBaselineRequest, idempotency_key: IdempotencyKey = None
) -> Response[BaselineView]:
    caller = request_caller(app)
    view = run_idempotently(
        key=idempotency_key,
        scope=f"{caller.principal.sub}:create_baseline:{request.model_id}",
        request=request,
        result_type=BaselineView,
        operation=lambda: monitoring_service().create_baseline(request, caller),
    )
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=view)


lambda_handler = entrypoint(app, idempotent=True)
