"""GET /api/v1/data/features/{group}/versions/{version}: one version of a group's definition."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.data.features import FeatureGroupVersion
from cirrus_core.data.features_wiring import feature_store
from cirrus_core.data.http import FeatureGroupPath, VersionPath, error_responses

app = make_resolver()


@app.get(
    f"{API_PREFIX}/data/features/<group>/versions/<version>",
    tags=["data"],
    summary="Get a feature group version",
    description="The definition, whether it broke compatibility, its line and its changes.",
    responses=error_responses(403, 404, 429),
)
def get_feature_group_version(group: FeatureGroupPath, version: VersionPath) -> FeatureGroupVersion:
    return feature_store().get_version(group, version, request_caller(app))


lambda_handler = entrypoint(app)
