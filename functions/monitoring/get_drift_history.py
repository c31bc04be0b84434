"""GET /api/v1/monitoring/models/{model_id}/drift: per-feature drift scores over time."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.metrics.http import EnvironmentFilter, FromQuery, ToQuery, error_responses
from cirrus_core.metrics.models import DriftHistory
from cirrus_core.metrics.wiring import history_service
from cirrus_core.registry.http import ModelIdPath

app = make_resolver()


@app.get(
    f"{API_PREFIX}/monitoring/models/<model_id>/drift",
    tags=["monitoring"],
    summary="A model's drift scores over time",
    description=(
        "The drift runs started in [`from`, `to`) (default: the last 7 days; at most 400 days), oldest "
        "first, each with every feature's scores, and per `<feature>.<method>` the scores over time."
    ),
    responses=error_responses(403, 404, 429),
)
def get_drift_history(
    model_id: ModelIdPath, start: FromQuery = None, end: ToQuery = None, environment: EnvironmentFilter = None
) -> DriftHistory:
    return history_service().drift_history(model_id, start, end, environment, request_caller(app))


lambda_handler = entrypoint(app)
