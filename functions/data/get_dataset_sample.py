"""GET /api/v1/data/datasets/{name}/versions/{version}/sample: the first rows of a ready version."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.data.dataset_read_service import DEFAULT_SAMPLE_ROWS, MAX_SAMPLE_ROWS, DatasetSample
from cirrus_core.data.datasets_wiring import dataset_read_service
from cirrus_core.data.http import DatasetNamePath, VersionPath, error_responses

SampleLimit = Annotated[int, Query(ge=1, le=MAX_SAMPLE_ROWS, description="Rows to return, at most 100.")]

app = make_resolver()


@app.get(
    f"{API_PREFIX}/data/datasets/<name>/versions/<version>/sample",
    tags=["data"],
    summary="Read a sample of a dataset version",
    description=(
        "The first `limit` rows (default 20, at most 100) of the version's first part, as JSON: "
        "timestamps in ISO 8601, decimals as strings, binary in base64. A version that is not ready "
        "is 409 dataset_version_not_ready (data_access; recorded as data usage)."
    ),
    responses=error_responses(403, 404, 409, 429),
)
def get_dataset_sample(
    name: DatasetNamePath, version: VersionPath, limit: SampleLimit = DEFAULT_SAMPLE_ROWS
) -> DatasetSample:
    return dataset_read_service().sample(name, version, limit, request_caller(app))


lambda_handler = entrypoint(app)
