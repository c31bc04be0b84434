"""GET /api/v1/data/datasets/{name}/versions/{version}: one version with its schema, files and lineage."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.data.datasets import DatasetVersion
from cirrus_core.data.datasets_wiring import dataset_read_service
from cirrus_core.data.http import DatasetNamePath, VersionPath, error_responses

app = make_resolver()


@app.get(
    f"{API_PREFIX}/data/datasets/<name>/versions/<version>",
    tags=["data"],
    summary="Get a dataset version",
    description=(
        "Its status, schema (Arrow type names), row count, content hash, Parquet parts and lineage "
        "(data_access)."
    ),
    responses=error_responses(403, 404, 429),
)
def get_dataset_version(name: DatasetNamePath, version: VersionPath) -> DatasetVersion:
    return dataset_read_service().version(name, version, request_caller(app))


lambda_handler = entrypoint(app)
