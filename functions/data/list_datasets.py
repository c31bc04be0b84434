"""GET /api/v1/data/datasets: the datasets, by name."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.data.dataset_read_service import DatasetPage
from cirrus_core.data.datasets_wiring import dataset_read_service
from cirrus_core.data.http import error_responses
from cirrus_core.registry.http import DEFAULT_PAGE_SIZE, Limit, NextToken

app = make_resolver()


@app.get(
    f"{API_PREFIX}/data/datasets",
    tags=["data"],
    summary="List datasets",
    description="By name, `limit` at a time (data_access).",
    responses=error_responses(400, 403, 429),
)
def list_datasets(limit: Limit = DEFAULT_PAGE_SIZE, next_token: NextToken = None) -> DatasetPage:
    return dataset_read_service().list(limit, next_token, request_caller(app))


lambda_handler = entrypoint(app)
