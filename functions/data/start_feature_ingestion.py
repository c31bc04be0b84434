"""POST /api/v1/data/features/{group}/ingestions: ingest a dataset version into the offline store (202)."""

from aws_lambda_powertools.event_handler import Response, content_types

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.data.feature_models import IngestionJob, StartIngestionRequest
from cirrus_core.data.features_wiring import feature_store
from cirrus_core.data.http import FeatureGroupPath, error_responses
from cirrus_core.idempotency import run_idempotently
from cirrus_core.pipelines.http import IdempotencyKey

app = make_resolver()


@app.post(
    f"{API_PREFIX}/data/features/<group>/ingestions",
    status_code=202,
    tags=["data"],
    summary="Ingest a dataset version into a feature group",
    description=(
        "`{dataset: dataset:<name>[@<version>], version?}`. The dataset version's schema must hold the "
        "entity key, the event time and every non-nullable feature, in types that cast (422 "
        "incompatible_feature_data, details per column); its values are checked by the job, which "
        "writes features/<group>/offline/v<version>/<ingestion_id>/part-00000.parquet or ends failed "
        "with the problems. Answers 202 with the ingestion, `running`; follow it at `links.self`."
    ),
    responses=error_responses(400, 403, 404, 409, 429, success=202),
)
def start_feature_ingestion(
    group: FeatureGroupPath, request: StartIngestionRequest, idempotency_key: IdempotencyKey = None
) -> Response[IngestionJob]:
    caller = request_caller(app)
    job = run_idempotently(
        key=idempotency_key,
        scope=f"{caller.principal.sub}:start_feature_ingestion:{group}",
        request=request,
        result_type=IngestionJob,
        operation=lambda: feature_store().start_ingestion(group, request, caller),
    )
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=job)


lambda_handler = entrypoint(app, idempotent=True)
