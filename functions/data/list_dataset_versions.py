"""GET /api/v1/data/datasets/{name}/versions: a dataset's versions, newest first."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.data.dataset_read_service import DatasetVersionPage
from cirrus_core.data.datasets_wiring import dataset_read_service
from cirrus_core.data.http import DatasetNamePath, error_responses
from cirrus_core.registry.http import DEFAULT_PAGE_SIZE, Limit, NextToken

app = make_resolver()


@app.get(
    f"{API_PREFIX}/data/datasets/<name>/versions",
    tags=["data"],
    summary="List a dataset's versions",
    description="Newest first, `limit` at a time, building and failed ones included (data_access).",
    responses=error_responses(400, 403, 404, 429),
)
def list_dataset_versions(
    name: DatasetNamePath, limit: Limit = DEFAULT_PAGE_SIZE, next_token: NextToken = None
) -> DatasetVersionPage:
    return dataset_read_service().versions(name, limit, next_token, request_caller(app))


lambda_handler = entrypoint(app)
