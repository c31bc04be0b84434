"""POST /api/v1/data/sources/{name}/test: connect to a data source and report whether it answers."""

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.data.http import SourceNamePath, error_responses
from cirrus_core.data.sources import SourceTestResult
from cirrus_core.data.sources_wiring import source_service

app = make_resolver()


@app.post(
    f"{API_PREFIX}/data/sources/<name>/test",
    tags=["data"],
    summary="Test a data source's connection",
    description=(
        "Opens the source's connector and runs a trivial request: `{ok: true, latency_ms}`, or "
        "`{ok: false, error: {code: connection_failed, message}}` with the driver's reason (no secret "
        "value in it). Both are 200: the test ran (data_access)."
    ),
    responses=error_responses(403, 404, 429),
)
def test_source(name: SourceNamePath) -> SourceTestResult:
    return source_service().test(name, request_caller(app))


lambda_handler = entrypoint(app)
