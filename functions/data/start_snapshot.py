"""POST /api/v1/data/datasets/{name}/snapshots: snapshot a source into the dataset's next version (202)."""

from aws_lambda_powertools.event_handler import Response, content_types

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.data.datasets_wiring import snapshot_service
from cirrus_core.data.http import DatasetNamePath, error_responses
from cirrus_core.data.snapshots import CreateSnapshotRequest, SnapshotJob
from cirrus_core.idempotency import run_idempotently
from cirrus_core.pipelines.http import IdempotencyKey

app = make_resolver()


@app.post(
    f"{API_PREFIX}/data/datasets/<name>/snapshots",
    status_code=202,
    tags=["data"],
    summary="Snapshot a source into a new dataset version",
    description=(
        "`{source, table? | query? | filter?+projection? | prefix?+format?, incremental?: "
        "{watermark_column}, description?}`: SQL and CQL sources take a table or a query, mongodb a "
        "collection (`table`) with an optional filter and projection, s3 a prefix and format "
        "(422 invalid_snapshot_request otherwise). The dataset's next version is allocated `building` "
        "and the job answered `queued`; follow it at GET .../snapshots/{job_id}. `incremental` reads "
        "only the rows past the previous ready version's watermark and keeps that version's parts. "
        "An unknown source is 404 source_not_found; a dataset made from another source or by another "
        "producer is 409 (data_access)."
    ),
    responses=error_responses(400, 403, 404, 409, 429, success=202),
)
def start_snapshot(
    name: DatasetNamePath, request: CreateSnapshotRequest, idempotency_key: IdempotencyKey = None
) -> Response[SnapshotJob]:
    caller = request_caller(app)
    job = run_idempotently(
        key=idempotency_key,
        scope=f"{caller.principal.sub}:start_snapshot:{name}",
        request=request,
        result_type=SnapshotJob,
        operation=lambda: snapshot_service().start(name, request, caller),
    )
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=job)


lambda_handler = entrypoint(app, idempotent=True)
