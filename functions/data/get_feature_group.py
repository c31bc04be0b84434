"""GET /api/v1/data/features/{group}: a feature group with its latest version's definition."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.data.feature_models import FeatureGroupView
from cirrus_core.data.features_wiring import feature_store
from cirrus_core.data.http import FeatureGroupPath, error_responses

app = make_resolver()


@app.get(
    f"{API_PREFIX}/data/features/<group>",
    tags=["data"],
    summary="Get a feature group",
    responses=error_responses(403, 404, 429),
)
def get_feature_group(group: FeatureGroupPath) -> FeatureGroupView:
    return feature_store().get_group(group, request_caller(app))


lambda_handler = entrypoint(app)
