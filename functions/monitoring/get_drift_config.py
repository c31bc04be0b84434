"""GET /api/v1/monitoring/models/{model_id}/drift-config: how the model's drift checks decide."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.monitoring.http import error_responses
from cirrus_core.monitoring.models import DriftConfigView
from cirrus_core.monitoring.wiring import monitoring_service
from cirrus_core.registry.http import ModelIdPath

app = make_resolver()


@app.get(
    f"{API_PREFIX}/monitoring/models/<model_id>/drift-config",
    tags=["monitoring"],
    summary="Get a model's drift config",
    description="The model's own config (`source: model`) or the defaults (`source: default`).",
    responses=error_responses(403, 404),
)
def get_drift_config(model_id: ModelIdPath) -> DriftConfigView:
    return monitoring_service().get_drift_config(model_id, request_caller(app))


lambda_handler = entrypoint(app)
