"""The live feed from the user's side: connect with a token, subscribe, and read notices as they come."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from collections.abc import Iterator


class FeedRefused(Exception):
    """The feed refused the connection or the subscription; `code` is the machine-readable reason."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def follow(
    url: str, token: str, models: list[str] | str, *, open_timeout: float = 30.0
) -> Iterator[dict[str, Any]]:
    """Connect to the feed at `url` (ws:// or wss://), subscribe to `models` (ids, or "*" for every
    model the caller may read) and yield each notice: `{"type", "model_id", "occurred_at", "data", ...}`.

    The first item is the subscription's acknowledgement (`type` "subscribed").
    """
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    try:
        socket = connect(f"{url}?token={quote(token, safe='')}", open_timeout=open_timeout)
    except InvalidStatus as error:
        response = error.response
        code, message = _error_of(response.body or b"", f"the feed answered {response.status_code}")
        raise FeedRefused(code, message, response.status_code) from error
    with socket:
        socket.send(json.dumps({"action": "subscribe", "models": models}))
        ack = json.loads(socket.recv(timeout=open_timeout))
        if ack.get("type") == "error":
            error_body = ack.get("error") or {}
            raise FeedRefused(str(error_body.get("code", "error")), str(error_body.get("message", "")))
        yield ack
        for frame in socket:
            yield json.loads(frame)


def _error_of(body: bytes, fallback: str) -> tuple[str, str]:
    try:
        error = json.loads(body).get("error") or {}
    except (ValueError, AttributeError):
        return "refused", fallback
    return str(error.get("code", "refused")), str(error.get("message", fallback))
