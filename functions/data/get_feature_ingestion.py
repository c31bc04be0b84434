"""GET /api/v1/data/features/{group}/ingestions/{ingestion_id}: an ingestion and its outcome."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.data.feature_models import IngestionJob
from cirrus_core.data.features_wiring import feature_store
from cirrus_core.data.http import FeatureGroupPath, JobIdPath, error_responses

app = make_resolver()


@app.get(
    f"{API_PREFIX}/data/features/<group>/ingestions/<ingestion_id>",
    tags=["data"],
    summary="Get a feature ingestion",
    description="Its status; the rows and partition written, or why the data did not fit (per column).",
    responses=error_responses(403, 404, 429),
)
def get_feature_ingestion(group: FeatureGroupPath, ingestion_id: JobIdPath) -> IngestionJob:
    return feature_store().get_ingestion(group, ingestion_id, request_caller(app))


lambda_handler = entrypoint(app)
