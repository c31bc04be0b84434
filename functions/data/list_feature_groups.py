"""GET /api/v1/data/features: the feature groups, by name."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.data.feature_models import FeatureGroupPage
from cirrus_core.data.features_wiring import feature_store
from cirrus_core.data.http import error_responses
from cirrus_core.registry.http import DEFAULT_PAGE_SIZE, Limit, NextToken

app = make_resolver()


@app.get(
    f"{API_PREFIX}/data/features",
    tags=["data"],
    summary="List feature groups",
    responses=error_responses(400, 403, 429),
)
def list_feature_groups(limit: Limit = DEFAULT_PAGE_SIZE, next_token: NextToken = None) -> FeatureGroupPage:
    return feature_store().list_groups(limit, next_token, request_caller(app))


lambda_handler = entrypoint(app)
