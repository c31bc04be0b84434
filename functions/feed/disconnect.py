"""WebSocket `$disconnect` of the live feed: forgets the socket and its subscriptions."""

from typing import Any

from cirrus_core.feed.websocket import disconnect_event, entrypoint
from cirrus_core.feed.wiring import feed_service


def disconnect(event: dict[str, Any]) -> None:
    request = disconnect_event(event)
    feed_service().disconnect(request.request_context.connection_id)


lambda_handler = entrypoint(disconnect)
