"""POST /api/v1/data/transformations/{name}/runs: run a transformation into a new version (202)."""

from aws_lambda_powertools.event_handler import Response, content_types

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.data.http import TransformationNamePath, error_responses
from cirrus_core.data.transformations import RunTarget, TransformationRun
from cirrus_core.data.transformations_wiring import transformation_service
from cirrus_core.idempotency import run_idempotently
from cirrus_core.pipelines.http import IdempotencyKey

app = make_resolver()


@app.post(
    f"{API_PREFIX}/data/transformations/<name>/runs",
    status_code=202,
    tags=["data"],
    summary="Run a transformation",
    description=(
        "Pins every input to a ready version now (no version: the latest ready one), allocates the "
        "output dataset's next version `building` with its lineage (inputs, transformation, code hash, "
        "parameters) and starts the run; answers the run, `running`, with the output reference. Follow "
        "it at GET .../runs/{run_id}. An unknown input is 404, an input without a ready version 409 or "
        "422, an output dataset another producer makes 409 (data_access)."
    ),
    responses=error_responses(400, 403, 404, 409, 429, success=202),
)
def run_transformation(
    name: TransformationNamePath, idempotency_key: IdempotencyKey = None
) -> Response[TransformationRun]:
    caller = request_caller(app)
    run = run_idempotently(
        key=idempotency_key,
        scope=f"{caller.principal.sub}:run_transformation:{name}",
        request=RunTarget(transformation=name),
        result_type=TransformationRun,
        operation=lambda: transformation_service().run(name, caller),
    )
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=run)


lambda_handler = entrypoint(app, idempotent=True)
