"""PUT /api/v1/data/features/{group}/records: streaming puts of feature records (online and staged)."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.data.feature_models import PutRecordsRequest, PutRecordsResult
from cirrus_core.data.features_wiring import feature_store
from cirrus_core.data.http import FeatureGroupPath, error_responses

app = make_resolver()


@app.put(
    f"{API_PREFIX}/data/features/<group>/records",
    tags=["data"],
    summary="Put feature records",
    description=(
        "`{records: [{<entity key>, <event time>, <feature>...}], version?}` (1 to 500). Every record "
        "must fit the group version (422 invalid_feature_records, each problem listed, nothing "
        "written). The records are staged for the offline store (features/<group>/staging/) and each "
        "entity's latest is written online unless the stored row is newer (counted as skipped)."
    ),
    responses=error_responses(400, 403, 404, 429),
)
def put_feature_records(group: FeatureGroupPath, request: PutRecordsRequest) -> PutRecordsResult:
    return feature_store().put_records(group, request, request_caller(app))


lambda_handler = entrypoint(app)
