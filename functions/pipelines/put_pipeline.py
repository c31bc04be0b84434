"""POST /api/v1/pipelines: create a pipeline, or store the next version of its definition."""

from aws_lambda_powertools.event_handler import Response, content_types

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.idempotency import run_idempotently
from cirrus_core.pipelines.definition import PipelineDefinitionRequest
from cirrus_core.pipelines.http import IdempotencyKey, error_responses
from cirrus_core.pipelines.models import PipelineStored
from cirrus_core.pipelines.wiring import pipeline_service

app = make_resolver()


@app.post(
    f"{API_PREFIX}/pipelines",
    status_code=201,
    tags=["pipelines"],
    summary="Define a pipeline",
    description=(
        "Validates the steps as a DAG, compiles them to a Step Functions state machine, creates or "
        "updates it, and stores the definition as the pipeline's next version (201). A definition "
        "equal to the current one stores nothing and answers 200 with `changed: false`. "
        "`training` is the built-in pipeline's id and is reserved."
    ),
    responses={
        **error_responses(400, 403, 409, 429, success=201),
        200: {"description": "The definition equals the current one: nothing was stored."},
    },
)
def put_pipeline(
    request: PipelineDefinitionRequest, idempotency_key: IdempotencyKey = None
) -> Response[PipelineStored]:
    caller = request_caller(app)
    stored = run_idempotently(
        key=idempotency_key,
        scope=f"{caller.principal.sub}:put_pipeline",
        request=request,
        result_type=PipelineStored,
        operation=lambda: pipeline_service().put_pipeline(request, caller),
    )
    return Response(
        status_code=201 if stored.changed else 200, content_type=content_types.APPLICATION_JSON, body=stored
    )


lambda_handler = entrypoint(app, idempotent=True)
