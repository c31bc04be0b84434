"""GET /api/v1/data/datasets/{name}/snapshots/{job_id}: a snapshot job and how far it got."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.data.datasets_wiring import snapshot_service
from cirrus_core.data.http import DatasetNamePath, JobIdPath, error_responses
from cirrus_core.data.snapshots import SnapshotJob

app = make_resolver()


@app.get(
    f"{API_PREFIX}/data/datasets/<name>/snapshots/<job_id>",
    tags=["data"],
    summary="Get a snapshot job",
    description=(
        "queued, running, succeeded (with the version's row count) or failed (with the source's "
        "error) (data_access)."
    ),
    responses=error_responses(403, 404, 429),
)
def get_snapshot_job(name: DatasetNamePath, job_id: JobIdPath) -> SnapshotJob:
    return snapshot_service().job(name, job_id, request_caller(app))


lambda_handler = entrypoint(app)
