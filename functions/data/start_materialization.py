"""POST /api/v1/data/features/{group}/materializations: copy the offline store's latest rows online (202)."""

from aws_lambda_powertools.event_handler import Response, content_types

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.data.feature_models import MaterializationJob, StartMaterializationRequest
from cirrus_core.data.features_wiring import feature_store
from cirrus_core.data.http import FeatureGroupPath, error_responses
from cirrus_core.idempotency import run_idempotently
from cirrus_core.pipelines.http import IdempotencyKey

app = make_resolver()


@app.post(
    f"{API_PREFIX}/data/features/<group>/materializations",
    status_code=202,
    tags=["data"],
    summary="Materialise a feature group online",
    description=(
        "`{version?}`. The job takes every entity's latest row (by event time) over the offline store "
        "and the staged streaming puts, and writes it online unless the stored row is newer; "
        "features.materialized reports the rows written and skipped. Answers 202 with the job."
    ),
    responses=error_responses(400, 403, 404, 409, 429, success=202),
)
def start_materialization(
    group: FeatureGroupPath, request: StartMaterializationRequest, idempotency_key: IdempotencyKey = None
) -> Response[MaterializationJob]:
    caller = request_caller(app)
    job = run_idempotently(
        key=idempotency_key,
        scope=f"{caller.principal.sub}:start_materialization:{group}",
        request=request,
        result_type=MaterializationJob,
        operation=lambda: feature_store().start_materialization(group, request, caller),
    )
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=job)


lambda_handler = entrypoint(app, idempotent=True)
