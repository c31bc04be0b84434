"""POST /api/v1/pipelines/webhooks/{provider}: GitHub and GitLab deliveries that start pipeline runs.

API Gateway serves this route without the Cognito authorizer (a repository host cannot sign in),
so the entry point asks for no claims; each delivery proves itself instead, with the provider's
webhook secret, checked on the raw body before anything parses it
(`cirrus_core.pipelines.webhooks`). Answers: 202 with the runs started when trigger rules
matched; 200 when nothing was to start (a ping, an event no rule asks for, a replayed delivery:
`"duplicate": true`); 401 `invalid_webhook_signature`; 404 `unknown_webhook_provider`; 422
`invalid_webhook_payload` for a signed body that is not the event it claims to be.
"""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path

from cirrus_core.api import API_PREFIX, entrypoint, make_resolver
from cirrus_core.http_errors import ErrorBody
from cirrus_core.pipelines.webhooks import WebhookResponse, raw_body, webhook_receiver

app = make_resolver()

ProviderPath = Annotated[
    str, Path(min_length=1, max_length=32, description="The repository host: github or gitlab.")
]

_ERRORS: dict[int, str] = {
    401: "The signature (GitHub) or token (GitLab) is missing or does not match the webhook secret.",
    404: "No such provider, or webhooks from it are not configured.",
    413: "The body is too large.",
    422: "The signed body is not the event it claims to be.",
}
_RESPONSES: dict[int, Any] = {
    200: {"description": "Received; no run to start (ping, unmatched event, or a replayed delivery)."},
    202: {"description": "Received; the runs the matching trigger rules started."},
    **{
        status: {"description": text, "content": {"application/json": {"model": ErrorBody}}}
        for status, text in _ERRORS.items()
    },
}


@app.post(
    f"{API_PREFIX}/pipelines/webhooks/<provider>",
    tags=["pipelines"],
    summary="Receive a repository webhook",
    description=(
        "GitHub (`X-Hub-Signature-256`) and GitLab (`X-Gitlab-Token`) push, pull/merge request "
        "and tag deliveries start the runs of pipelines whose trigger rules match. No bearer "
        "token: the delivery is authenticated by the webhook secret."
    ),
    responses=_RESPONSES,
)
def receive_webhook(provider: ProviderPath) -> Response[WebhookResponse]:
    event = app.current_event
    result = webhook_receiver().receive(provider, event.headers, raw_body(event.raw_event))
    return Response(
        status_code=202 if result.accepted else 200,
        content_type=content_types.APPLICATION_JSON,
        body=result,
    )


lambda_handler = entrypoint(app, authenticated=False)
