"""POST /api/v1/monitoring/channels: create a notification channel (201; its secret is never shown)."""

from aws_lambda_powertools.event_handler import Response, content_types

from cirrus_core.alerting.channels import ChannelView, CreateChannelRequest
from cirrus_core.alerting.http import error_responses
from cirrus_core.alerting.wiring import channel_service
from cirrus_core.api import API_PREFIX, entrypoint, make_resolver, request_caller

app = make_resolver()


@app.post(
    f"{API_PREFIX}/monitoring/channels",
    status_code=201,
    tags=["monitoring"],
    summary="Create a notification channel",
    description=(
        "`{name, type, description?, config}`; config per type: webhook `{url, signing_secret}` "
        "(`whsec_...`), slack `{webhook_url}`, pagerduty `{routing_key, events_url?}`, email "
        "`{addresses}`. Secrets go to Secrets Manager and are never shown. Destinations must be https "
        "and resolve to public addresses only (422 destination_refused); a taken name is 409 "
        "channel_exists (system_config)."
    ),
    responses=error_responses(400, 403, 409, 429, success=201),
)
def create_channel(request: CreateChannelRequest) -> Response[ChannelView]:
    channel = channel_service().create(request, request_caller(app))
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=channel)


lambda_handler = entrypoint(app)
