"""GET /api/v1/data/features/{group}/materializations/{materialization_id}: a materialisation."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.data.feature_models import MaterializationJob
from cirrus_core.data.features_wiring import feature_store
from cirrus_core.data.http import FeatureGroupPath, JobIdPath, error_responses

app = make_resolver()


@app.get(
    f"{API_PREFIX}/data/features/<group>/materializations/<materialization_id>",
    tags=["data"],
    summary="Get a feature materialization",
    description=(
        "Its status; once it succeeded, the entities it found, the online rows it wrote and those it "
        "skipped because the online row was newer."
    ),
    responses=error_responses(403, 404, 429),
)
def get_materialization(group: FeatureGroupPath, materialization_id: JobIdPath) -> MaterializationJob:
    return feature_store().get_materialization(group, materialization_id, request_caller(app))


lambda_handler = entrypoint(app)
