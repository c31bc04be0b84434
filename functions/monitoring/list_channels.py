"""GET /api/v1/monitoring/channels: the notification channels, by name (no secrets)."""

from cirrus_core.alerting.channels import ChannelPage
from cirrus_core.alerting.http import error_responses
from cirrus_core.alerting.wiring import channel_service
from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller
from cirrus_core.registry.http import DEFAULT_PAGE_SIZE, Limit, NextToken

app = make_resolver()


@app.get(
    f"{API_PREFIX}/monitoring/channels",
    tags=["monitoring"],
    summary="List notification channels",
    responses=error_responses(400, 403, 429),
)
def list_channels(limit: Limit = DEFAULT_PAGE_SIZE, next_token: NextToken = None) -> ChannelPage:
    return channel_service().list(limit, next_token, request_caller(app))


lambda_handler = entrypoint(app)
