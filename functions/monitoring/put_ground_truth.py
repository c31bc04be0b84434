"""POST /api/v1/monitoring/ground-truth: labels for earlier predictions, joined on their inference ids."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.metrics.http import error_responses
from cirrus_core.metrics.models import GroundTruthRequest, GroundTruthResult
from cirrus_core.metrics.wiring import ground_truth_service

app = make_resolver()


@app.post(
    f"{API_PREFIX}/monitoring/ground-truth",
    tags=["monitoring"],
    summary="Send ground truth for predictions",
    description=(
        "`{records: [{inference_id, label}]}` (1 to 500). Each label is joined to its prediction and "
        "compared (docs/monitoring.md, the comparison rule); accuracy, MAE and RMSE follow. Sending a "
        "recorded label again changes nothing. Refusals, nothing written: unknown_inference_id (422), "
        "unjoinable_ground_truth (422), ground_truth_conflict (409), access_denied (403)."
    ),
    responses=error_responses(400, 403, 409, 429),
)
def put_ground_truth(request: GroundTruthRequest) -> GroundTruthResult:
    return ground_truth_service().put(request, request_caller(app))


lambda_handler = entrypoint(app)
