"""GET /api/v1/monitoring/channels/{name}: one notification channel (no secret)."""

from cirrus_core.alerting.channels import ChannelView
from cirrus_core.alerting.http import ChannelNamePath, error_responses
from cirrus_core.alerting.wiring import channel_service
from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller

app = make_resolver()


@app.get(
    f"{API_PREFIX}/monitoring/channels/<name>",
    tags=["monitoring"],
    summary="Get a notification channel",
    responses=error_responses(403, 404, 429),
)
def get_channel(name: ChannelNamePath) -> ChannelView:
    return channel_service().get(name, request_caller(app))


lambda_handler = entrypoint(app)
