"""DELETE /api/v1/data/sources/{name}: delete a data source (204); its secret is scheduled for deletion."""

from aws_lambda_powertools.event_handler import Response

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.data.http import SourceNamePath, error_responses
from cirrus_core.data.sources_wiring import source_service

app = make_resolver()


@app.delete(
    f"{API_PREFIX}/data/sources/<name>",
    tags=["data"],
    summary="Delete a data source",
    description=(
        "The source goes at once; its secret is scheduled for deletion after Secrets Manager's recovery "
        "window (7 days). Dataset versions made from it stay (system_config)."
    ),
    responses=error_responses(403, 404, 429, success=204),
)
def delete_source(name: SourceNamePath) -> Response[None]:
    source_service().delete(name, request_caller(app))
    return Response(status_code=204)


lambda_handler = entrypoint(app)
