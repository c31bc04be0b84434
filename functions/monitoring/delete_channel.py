"""DELETE /api/v1/monitoring/channels/{name}: delete a channel no alert rule names (204)."""

from aws_lambda_powertools.event_handler import Response

from cirrus_core.alerting.http import ChannelNamePath, error_responses
from cirrus_core.alerting.wiring import channel_service
from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller

app = make_resolver()


@app.delete(
    f"{API_PREFIX}/monitoring/channels/<name>",
    tags=["monitoring"],
    summary="Delete a notification channel",
    description="409 channel_in_use while alert rules name it; its secret is deleted too (system_config).",
    responses=error_responses(403, 404, 409, 429, success=204),
)
def delete_channel(name: ChannelNamePath) -> Response[None]:
    channel_service().delete(name, request_caller(app))
    return Response(status_code=204)


lambda_handler = entrypoint(app)
