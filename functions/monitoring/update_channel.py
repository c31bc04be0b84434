"""PUT /api/v1/monitoring/channels/{name}: replace a channel's type, description and config."""

from cirrus_core.alerting.channels import ChannelSettings, ChannelView
from cirrus_core.alerting.http import ChannelNamePath, error_responses
from cirrus_core.alerting.wiring import channel_service
from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller

app = make_resolver()


@app.put(
    f"{API_PREFIX}/monitoring/channels/<name>",
    tags=["monitoring"],
    summary="Replace a notification channel",
    description=(
        "`{type, description?, config}` as in POST /channels (the name stays). The secret is stored as "
        "a new version; destinations are checked again (422 destination_refused) (system_config)."
    ),
    responses=error_responses(400, 403, 404, 429),
)
def update_channel(name: ChannelNamePath, request: ChannelSettings) -> ChannelView:
    return channel_service().update(name, request, request_caller(app))


lambda_handler = entrypoint(app)
