"""PUT /api/v1/data/features/{group}: define a feature group, or store the next version of its definition."""

from aws_lambda_powertools.event_handler import Response, content_types

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.data.feature_models import FeatureGroupVersionResult, PutFeatureGroupRequest
from cirrus_core.data.features import ChangeKind
from cirrus_core.data.features_wiring import feature_store
from cirrus_core.data.http import FeatureGroupPath, error_responses

app = make_resolver()


@app.put(
    f"{API_PREFIX}/data/features/<group>",
    status_code=201,
    tags=["data"],
    summary="Define a feature group or a new version of it",
    description=(
        "`{name, entity_key: {name, type}, event_time, features: [{name, type, dimension?, nullable?, "
        "description?}], owner, description?, tags?, new_version?}`. The first definition is version 1 "
        "(201); a compatible change (a nullable feature added, descriptions, owner, tags) is the next "
        "version (201); an identical definition answers the current version (200, nothing written). A "
        "breaking change (a feature removed, a type or nullability changed, the key or event time "
        "changed) is 422 breaking_feature_change listing every difference unless `new_version: true`, "
        "which stores it as a new version marked breaking (data_access)."
    ),
    responses=error_responses(400, 403, 429, success=201),
)
def put_feature_group(
    group: FeatureGroupPath, request: PutFeatureGroupRequest
) -> Response[FeatureGroupVersionResult]:
    result = feature_store().put_group(group, request, request_caller(app))
    status = 200 if result.change is ChangeKind.UNCHANGED else 201
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=result)


lambda_handler = entrypoint(app)
