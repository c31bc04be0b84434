"""POST /api/v1/data/sources: register a data source (201; its secret fields are never shown)."""

from aws_lambda_powertools.event_handler import Response, content_types

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.data.http import error_responses
from cirrus_core.data.sources import CreateSourceRequest, SourceView
from cirrus_core.data.sources_wiring import source_service

app = make_resolver()


@app.post(
    f"{API_PREFIX}/data/sources",
    status_code=201,
    tags=["data"],
    summary="Register a data source",
    description=(
        "`{name, type, connection, options?, description?}`; type postgresql, mysql, mongodb, "
        "cassandra, s3, kinesis or kafka (422 unknown_source_type lists them). Connection parameters "
        "that do not fit the type are 422 invalid_connection, the details naming each field. Secret "
        "fields (password, a MongoDB uri) go to Secrets Manager and are never shown; an s3 bucket must "
        "be the data bucket, the artifact bucket or on the artifact allowlist. A taken name is 409 "
        "source_exists (system_config)."
    ),
    responses=error_responses(400, 403, 409, 429, success=201),
)
def create_source(request: CreateSourceRequest) -> Response[SourceView]:
    source = source_service().create(request, request_caller(app))
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=source)


lambda_handler = entrypoint(app)
