"""GET /api/v1/data/datasets/{name}: a dataset, its producer and its latest versions' numbers."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.data.dataset_read_service import DatasetDetail
from cirrus_core.data.datasets_wiring import dataset_read_service
from cirrus_core.data.http import DatasetNamePath, error_responses

app = make_resolver()


@app.get(
    f"{API_PREFIX}/data/datasets/<name>",
    tags=["data"],
    summary="Get a dataset",
    description=(
        "`latest_version` is the last one allocated, `latest_ready_version` the last one to read "
        "(data_access)."
    ),
    responses=error_responses(403, 404, 429),
)
def get_dataset(name: DatasetNamePath) -> DatasetDetail:
    return dataset_read_service().get(name, request_caller(app))


lambda_handler = entrypoint(app)
