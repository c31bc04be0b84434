"""GET /api/v1/models/{model_id}/batch-jobs: a model's batch jobs, newest first."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.registry.http import DEFAULT_PAGE_SIZE, Limit, ModelIdPath, NextToken
from cirrus_core.serving.batch import BatchJobPage
from cirrus_core.serving.batch_wiring import batch_service
from cirrus_core.serving.inference_http import error_responses

app = make_resolver()


@app.get(
    f"{API_PREFIX}/models/<model_id>/batch-jobs",
    tags=["serving"],
    summary="List a model's batch jobs",
    responses=error_responses(400, 403),
)
def list_batch_jobs(
    model_id: ModelIdPath, limit: Limit = DEFAULT_PAGE_SIZE, next_token: NextToken = None
) -> BatchJobPage:
    return batch_service().list_jobs(model_id, limit, next_token, request_caller(app))


lambda_handler = entrypoint(app)
