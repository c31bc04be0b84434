"""PUT /api/v1/data/transformations/{name}: declare a transformation (201 created, 200 replaced)."""

from aws_lambda_powertools.event_handler import Response, content_types

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.data.http import TransformationNamePath, error_responses
from cirrus_core.data.transformations import PutTransformationRequest, Transformation
from cirrus_core.data.transformations_wiring import transformation_service

app = make_resolver()


@app.put(
    f"{API_PREFIX}/data/transformations/<name>",
    tags=["data"],
    summary="Declare or replace a transformation",
    description=(
        "`{description?, inputs: {alias: dataset:<name>[@<version>]} (1 to 10), output: {dataset, "
        "description?}, runtime?: duckdb | glue | emr_serverless, parameters?, and exactly one of sql, "
        "python: {module, entrypoint?, engine?: pandas | polars} or processor: {name, parameters}}`. "
        "SQL is one query over the aliases (DDL, DML, COPY, ATTACH, INSTALL, LOAD, PRAGMA, several "
        "statements, other tables and file-reading table functions are 422 invalid_sql, with DuckDB's "
        "parse error); a module must define `entrypoint(inputs, parameters)` (422 "
        "python_entrypoint_missing: it is parsed, never run, here); processor parameters are validated "
        "(422 unknown_processor, invalid_processor_parameters). An unknown input dataset is 404, a "
        "pinned input version that is not ready 409, an output dataset another producer makes 409; "
        "glue and emr_serverless need a deployment with EnableSparkTransformations (422). Answers 201 "
        "when created, 200 when replaced (data_access)."
    ),
    responses=error_responses(400, 403, 404, 409, 413, 429, success=201),
)
def put_transformation(
    name: TransformationNamePath, request: PutTransformationRequest
) -> Response[Transformation]:
    transformation, created = transformation_service().put(name, request, request_caller(app))
    return Response(
        status_code=201 if created else 200, content_type=content_types.APPLICATION_JSON, body=transformation
    )


lambda_handler = entrypoint(app)
