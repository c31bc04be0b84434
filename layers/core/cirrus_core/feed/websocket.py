"""WebSocket plumbing shared by the feed's route functions: events in, route responses out.

API Gateway invokes a WebSocket route's Lambda proxy integration with `requestContext.routeKey`,
`eventType` (CONNECT, MESSAGE, DISCONNECT) and `connectionId`. What a function returns is the route
response: for `$connect`, a status other than 2xx refuses the handshake; for a message route with a
route response, the `body` is sent back on the socket. Refusals carry the API's one error shape,
`{"type": "error", "error": {"code", "message", "details"}, "request_id"}`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayWebSocketConnectEventModel,
    APIGatewayWebSocketDisconnectEventModel,
    APIGatewayWebSocketMessageEventModel,
)
from pydantic import BaseModel, Field, ValidationError

from cirrus_core.errors import CirrusError, InvalidFeedMessage, MalformedJson, UnknownFeedAction
from cirrus_core.feed.models import SubscriptionMessage
from cirrus_core.feed.tokens import bearer_token
from cirrus_core.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

LambdaHandler = Callable[[dict[str, Any], "LambdaContext"], dict[str, Any]]
SUBSCRIPTION_ACTIONS = frozenset({"subscribe", "unsubscribe"})


class ConnectEvent(APIGatewayWebSocketConnectEventModel):
    """A `$connect` event; the query string is where a browser can put its token."""

    query_string_parameters: dict[str, str] | None = Field(None, alias="queryStringParameters")

    def token(self) -> str:
        """`?token=<jwt>`, else the `Authorization` header (`Bearer <jwt>`)."""
        query = self.query_string_parameters or {}
        if query.get("token"):
            return bearer_token(query["token"])
        return bearer_token(_header(self.headers, "Authorization"))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def connect_event(event: dict[str, Any]) -> ConnectEvent:
    parsed: ConnectEvent = parse(event=event, model=ConnectEvent)
    return parsed


def disconnect_event(event: dict[str, Any]) -> APIGatewayWebSocketDisconnectEventModel:
    parsed: APIGatewayWebSocketDisconnectEventModel = parse(
        event=event, model=APIGatewayWebSocketDisconnectEventModel
    )
    return parsed


def message_event(event: dict[str, Any]) -> APIGatewayWebSocketMessageEventModel:
    parsed: APIGatewayWebSocketMessageEventModel = parse(
        event=event, model=APIGatewayWebSocketMessageEventModel
    )
    return parsed


def subscription_message(body: Any) -> SubscriptionMessage:
    """The message a `subscribe`, `unsubscribe` (or `$default`) route received, validated."""
    try:
        document = json.loads(body) if isinstance(body, str | bytes) and body else None
    except ValueError:
        raise MalformedJson("The message is not valid JSON.") from None
    if not isinstance(document, dict):
        raise InvalidFeedMessage(
            "The message must be a JSON object with an `action`.",
            [{"field": "body", "message": "Input should be an object", "type": "object_type"}],
        )
    action = document.get("action")
    if action not in SUBSCRIPTION_ACTIONS:
        raise UnknownFeedAction(
            f"Unknown action {action!r}: the feed answers {sorted(SUBSCRIPTION_ACTIONS)}.",
            [{"field": "action", "allowed": sorted(SUBSCRIPTION_ACTIONS)}],
        )
    try:
        return SubscriptionMessage.model_validate(document)
    except ValidationError as error:
        details = [
            {
                "field": ".".join(str(part) for part in item.get("loc", ())),
                "message": item.get("msg", ""),
                "type": item.get("type", ""),
            }
            for item in error.errors()
        ]
        raise InvalidFeedMessage("The message is invalid.", details) from None


def entrypoint(route: Callable[[dict[str, Any]], BaseModel | None]) -> LambdaHandler:
    """The Lambda handler of a WebSocket route: observability, error mapping, the route response."""

    @logger.inject_lambda_context(correlation_id_path="requestContext.requestId", clear_state=True)
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        request_context = event.get("requestContext") or {}
        logger.append_keys(
            connection_id=request_context.get("connectionId"), route_key=request_context.get("routeKey")
        )
        try:
            reply = route(event)
        except CirrusError as error:
            logger.info("Feed request refused", extra={"code": error.code, "status": error.status})
            metrics.add_metric(name=f"Feed{error.status // 100}xx", unit=MetricUnit.Count, value=1)
            # The REST API's error shape (cirrus_core.api.error_body), without importing the REST plumbing.
            body = {
                "type": "error",
                "error": {"code": error.code, "message": error.message, "details": error.details},
                "request_id": request_context.get("requestId"),
            }
            return {"statusCode": error.status, "body": json.dumps(body)}
        metrics.add_metric(name="Feed2xx", unit=MetricUnit.Count, value=1)
        return {"statusCode": 200, "body": reply.model_dump_json() if reply is not None else ""}

    return handler
