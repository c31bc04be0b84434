"""GET /api/v1/monitoring/models/{model_id}/drift-runs/{run_id}/report: the run's HTML report."""

from aws_lambda_powertools.event_handler import Response

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.monitoring.http import RunIdPath, error_responses
from cirrus_core.monitoring.wiring import monitoring_service
from cirrus_core.registry.http import ModelIdPath

app = make_resolver()


@app.get(
    f"{API_PREFIX}/monitoring/models/<model_id>/drift-runs/<run_id>/report",
    tags=["monitoring"],
    summary="Get a drift run's HTML report",
    description="Reference and current histograms per feature, scores, thresholds and verdicts (text/html).",
    responses=error_responses(403, 404, 409),
)
def get_drift_report(model_id: ModelIdPath, run_id: RunIdPath) -> Response[str]:
    html = monitoring_service().report(model_id, run_id, request_caller(app))
    return Response(status_code=200, content_type="text/html; charset=utf-8", body=html)


lambda_handler = entrypoint(app)
