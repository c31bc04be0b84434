"""GET /api/v1/data/transformations/{name}/runs/{run_id}: a run, its pinned inputs and its output."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.data.http import TransformationNamePath, error_responses
from cirrus_core.data.transformations import RunIdPath, TransformationRun
from cirrus_core.data.transformations_wiring import transformation_service

app = make_resolver()


@app.get(
    f"{API_PREFIX}/data/transformations/<name>/runs/<run_id>",
    tags=["data"],
    summary="Get a transformation run",
    description=(
        "`running`, `succeeded` (with the output version's row count and content hash) or `failed` "
        "(with why); `output.reference` names the version it makes (data_access)."
    ),
    responses=error_responses(403, 404, 429),
)
def get_transformation_run(name: TransformationNamePath, run_id: RunIdPath) -> TransformationRun:
    return transformation_service().get_run(name, run_id, request_caller(app))


lambda_handler = entrypoint(app)
