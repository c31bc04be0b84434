"""GET /api/v1/monitoring/models/{model_id}/drift-runs: a model's drift runs, newest first."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.monitoring.http import EnvironmentFilter, error_responses
from cirrus_core.monitoring.models import DriftRunPage
from cirrus_core.monitoring.wiring import monitoring_service
from cirrus_core.registry.http import DEFAULT_PAGE_SIZE, Limit, ModelIdPath, NextToken

app = make_resolver()


@app.get(
    f"{API_PREFIX}/monitoring/models/<model_id>/drift-runs",
    tags=["monitoring"],
    summary="List a model's drift runs",
    responses=error_responses(400, 403, 404),
)
def list_drift_runs(
    model_id: ModelIdPath,
    environment: EnvironmentFilter = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    next_token: NextToken = None,
) -> DriftRunPage:
    return monitoring_service().list_runs(
        model_id, limit, next_token, environment.value if environment else None, request_caller(app)
    )


lambda_handler = entrypoint(app)
