"""GET /api/v1/monitoring/models/{model_id}/drift-runs/{run_id}: a run with every feature's scores."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.monitoring.http import RunIdPath, error_responses
from cirrus_core.monitoring.models import DriftRun
from cirrus_core.monitoring.wiring import monitoring_service
from cirrus_core.registry.http import ModelIdPath

app = make_resolver()


@app.get(
    f"{API_PREFIX}/monitoring/models/<model_id>/drift-runs/<run_id>",
    tags=["monitoring"],
    summary="Get a drift run",
    description=(
        "Its status, window and verdict; per feature every method's score, the threshold it was held "
        "to and where that threshold came from; and `links.report`, the HTML report."
    ),
    responses=error_responses(403, 404),
)
def get_drift_run(model_id: ModelIdPath, run_id: RunIdPath) -> DriftRun:
    return monitoring_service().get_run(model_id, run_id, request_caller(app))


lambda_handler = entrypoint(app)
