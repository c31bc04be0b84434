"""POST /api/v1/models/{model_id}/batch-jobs: start a batch transform job (202)."""

from aws_lambda_powertools.event_handler import Response, content_types

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.idempotency import run_idempotently
from cirrus_core.pipelines.http import IdempotencyKey
from cirrus_core.registry.http import ModelIdPath
from cirrus_core.serving.batch import BatchJob, StartBatchJobRequest
from cirrus_core.serving.batch_wiring import batch_service
from cirrus_core.serving.inference_http import error_responses

app = make_resolver()


@app.post(
    f"{API_PREFIX}/models/<model_id>/batch-jobs",
    status_code=202,
    tags=["serving"],
    summary="Start a batch transform job",
    description=(
        "Runs a SageMaker transform job over `input_uri` into `output_uri` (both in the artifact bucket "
        "or the allowlist: invalid_batch_uri) with `version`, or the version `environment` serves "
        "(exactly one). The version must be approved (version_not_approved) and not retired. Answers "
        "202 with the job, `in_progress`; follow it at `links.self`."
    ),
    responses=error_responses(400, 403, 404, 409, 429, success=202),
)
def start_batch_job(
    model_id: ModelIdPath, request: StartBatchJobRequest, idempotency_key: IdempotencyKey = None
) -> Response[BatchJob]:
    caller = request_caller(app)
    job = run_idempotently(
        key=idempotency_key,
        scope=f"{caller.principal.sub}:start_batch_job:{model_id}",
        request=request,
        result_type=BatchJob,
        operation=lambda: batch_service().start(model_id, request, caller),
    )
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=job)


lambda_handler = entrypoint(app, idempotent=True)
