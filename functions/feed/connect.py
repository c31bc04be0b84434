"""WebSocket `$connect` of the live feed: admits a socket whose Cognito token is valid (401 otherwise)
and whose caller the policies allow `WatchFeed` (403 otherwise); any other status refuses the handshake."""

from typing import Any

from cirrus_core.feed.websocket import connect_event, entrypoint
from cirrus_core.feed.wiring import feed_service


def connect(event: dict[str, Any]) -> None:
    request = connect_event(event)
    feed_service().connect(request.request_context.connection_id, request.token())


lambda_handler = entrypoint(connect)
