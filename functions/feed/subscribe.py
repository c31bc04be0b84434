"""WebSocket routes `subscribe`, `unsubscribe` and `$default` of the live feed.

`{"action": "subscribe", "models": ["fraud_v2", ...] | "*"}` answers on the socket
`{"type": "subscribed", "models": [...every model followed...], "request_id"}`; a refusal answers
`{"type": "error", "error": {"code", "message", "details"}, "request_id"}` and stores nothing.
"""

from typing import Any

from cirrus_core.feed.models import SubscriptionsAck
from cirrus_core.feed.websocket import entrypoint, message_event, subscription_message
from cirrus_core.feed.wiring import feed_service


def on_message(event: dict[str, Any]) -> SubscriptionsAck:
    request = message_event(event)
    message = subscription_message(request.body)
    context = request.request_context
    if message.action == "subscribe":
        return feed_service().subscribe(context.connection_id, message, context.request_id)
    return feed_service().unsubscribe(context.connection_id, message, context.request_id)


lambda_handler = entrypoint(on_message)
