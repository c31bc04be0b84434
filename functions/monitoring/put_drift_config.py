"""PUT /api/v1/monitoring/models/{model_id}/drift-config: set how the model's drift checks decide."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.monitoring.http import error_responses
from cirrus_core.monitoring.models import DriftConfigRequest, DriftConfigView
from cirrus_core.monitoring.wiring import monitoring_service
from cirrus_core.registry.http import ModelIdPath

app = make_resolver()


@app.put(
    f"{API_PREFIX}/monitoring/models/<model_id>/drift-config",
    tags=["monitoring"],
    summary="Set a model's drift config",
    description=(
        "Benjamini-Hochberg FDR, the calibration quantile, distance floors, fixed thresholds per method "
        "for the model and per feature (features must exist in the model's latest baseline: "
        "unknown_feature), the verdict's method groups, the dataset drift share and the fewest rows "
        "a window needs. Replaces the whole config (system_config)."
    ),
    responses=error_responses(400, 403, 404, 409),
)
def put_drift_config(model_id: ModelIdPath, request: DriftConfigRequest) -> DriftConfigView:
    return monitoring_service().put_drift_config(model_id, request, request_caller(app))


lambda_handler = entrypoint(app)
