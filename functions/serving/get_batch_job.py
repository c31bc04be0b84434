"""GET /api/v1/models/{model_id}/batch-jobs/{job_id}: a batch job's status."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.registry.http import ModelIdPath
from cirrus_core.serving.batch import BatchJob
from cirrus_core.serving.batch_wiring import batch_service
from cirrus_core.serving.inference_http import JobIdPath, error_responses

app = make_resolver()


@app.get(
    f"{API_PREFIX}/models/<model_id>/batch-jobs/<job_id>",
    tags=["serving"],
    summary="Get a batch job",
    description="Its status (in_progress, succeeded, failed), its transform job, and why it failed.",
    responses=error_responses(403, 404),
)
def get_batch_job(model_id: ModelIdPath, job_id: JobIdPath) -> BatchJob:
    return batch_service().get_job(model_id, job_id, request_caller(app))


lambda_handler = entrypoint(app)
