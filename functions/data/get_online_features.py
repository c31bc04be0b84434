"""GET /api/v1/data/features/{group}/online?entity=<key>: an entity's latest feature values."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.data.feature_models import OnlineFeatures
from cirrus_core.data.features_wiring import feature_store
from cirrus_core.data.http import FeatureGroupPath, error_responses

app = make_resolver()

EntityQuery = Annotated[
    str,
    Query(
        min_length=1,
        max_length=2048,
        description="The entity key's value (a composite key's values joined with `|`).",
    ),
]
FeaturesQuery = Annotated[
    str | None,
    Query(
        max_length=4096,
        pattern=r"^[a-z][a-z0-9_]{0,63}(,[a-z][a-z0-9_]{0,63})*$",
        description="Comma-separated features to return (default: all).",
    ),
]


@app.get(
    f"{API_PREFIX}/data/features/<group>/online",
    tags=["data"],
    summary="Read an entity's online features",
    description=(
        "The values of the entity's latest row, the group version and event time it was written at. "
        "404 entity_not_found for an entity with no row, feature_group_not_found for an unknown group; "
        "422 feature_not_in_group for a `features` name the group lacks."
    ),
    responses=error_responses(400, 403, 404, 429),
)
def get_online_features(
    group: FeatureGroupPath, entity: EntityQuery, features: FeaturesQuery = None
) -> OnlineFeatures:
    wanted = features.split(",") if features else None
    return feature_store().online_features(group, entity, wanted, request_caller(app))


lambda_handler = entrypoint(app)
