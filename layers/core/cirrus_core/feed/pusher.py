"""API Gateway's management API: posting a message to one WebSocket connection."""

from __future__ import annotations

from typing import Any


class ConnectionGone(Exception):
    """The connection is closed (410 GoneException): its items should go."""


class ConnectionPusher:
    """`post_to_connection` through an injected `apigatewaymanagementapi` client.

    The client's endpoint is the API's callback URL,
    `https://<api id>.execute-api.<region>.amazonaws.com/<stage>`.
    """

    def __init__(self, client: Any) -> None:
        self._client = client

    def post(self, connection_id: str, data: bytes) -> None:
        """Send `data` as one text frame; `ConnectionGone` when the socket is closed."""
        try:
            self._client.post_to_connection(ConnectionId=connection_id, Data=data)
        except self._client.exceptions.GoneException as error:
            raise ConnectionGone(connection_id) from error
