"""One HTTP POST to a checked destination: to the address the check resolved, never following a redirect.

The destination is checked again right before each send (`check_destination`), and the connection is
opened to one of the addresses that check accepted, with TLS SNI and the Host header of the URL's
name; so a name cannot resolve to a public address when checked and a private one when used. The
answer's status is the outcome: 2xx delivered, anything else (a 3xx included: no redirect is
followed) failed. Error texts never carry the URL (its path or query may hold a token).
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from cirrus_core.monitoring.destinations import DestinationRefused, check_destination

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from cirrus_core.monitoring.destinations import Destination, Resolver

USER_AGENT = "Cirrus-Alerts/1"
_MAX_ANSWER_BYTES = 4096


@dataclass(frozen=True)
class SendResult:
    """What one attempt gave: the status (None when there was no answer), latency, and an error."""

    status_code: int | None
    latency_ms: int
    error: str | None = None

    @property
    def delivered(self) -> bool:
        # An HTTP attempt always has a status or an error; an SNS publish that returned has neither.
        return self.error is None and (self.status_code is None or 200 <= self.status_code < 300)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a given address, verifying the certificate of (and sending SNI for) the URL's host."""

    def __init__(self, host: str, port: int, address: str, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Plain HTTP to a given address: only for the local cloud's listed receivers."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class HttpTransport:
    """Posts JSON bodies to destinations, checked at send time."""

    def __init__(
        self,
        *,
        local_receivers: Iterable[str] = (),
        timeout_seconds: float = 5.0,
        resolver: Resolver | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._local_receivers = tuple(local_receivers)
        self._timeout = timeout_seconds
        self._resolver = resolver
        self._clock = clock
        self._tls = ssl.create_default_context()

    def check(self, url: str) -> Destination:
        """The destination, checked (DestinationRefused otherwise)."""
        if self._resolver is None:
            return check_destination(url, local_receivers=self._local_receivers)
        return check_destination(url, resolver=self._resolver, local_receivers=self._local_receivers)

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> SendResult:
        started = self._clock()

        def elapsed() -> int:
            return max(0, round((self._clock() - started) * 1000))

        try:
            destination = self.check(url)
        except DestinationRefused as error:
            return SendResult(None, elapsed(), f"destination refused: {error}")
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection = self._connection(parts.scheme, destination)
        try:
            connection.request(
                "POST",
                target,
                body=body,
                headers={
                    "Content-Type": "application/json",
                    "User-Agent": USER_AGENT,
                    **headers,
                },
            )
            answer = connection.getresponse()
            answer.read(_MAX_ANSWER_BYTES)
            status = answer.status
        except (OSError, http.client.HTTPException) as error:
            return SendResult(None, elapsed(), _describe(error))
        finally:
            connection.close()
        if 300 <= status < 400:
            return SendResult(status, elapsed(), f"HTTP {status}: redirects are not followed")
        if not 200 <= status < 300:
            return SendResult(status, elapsed(), f"HTTP {status}")
        return SendResult(status, elapsed())

    def _connection(self, scheme: str, destination: Destination) -> http.client.HTTPConnection:
        address = destination.addresses[0]
        if scheme == "https":
            return _PinnedHTTPSConnection(
                destination.host, destination.port, address, self._timeout, self._tls
            )
        # check_destination accepts plain http only for an exactly listed local receiver.
        return _PinnedHTTPConnection(destination.host, destination.port, address, self._timeout)


def _describe(error: BaseException) -> str:
    """The error's kind and message (socket and TLS errors name the host at most, never the path)."""
    if isinstance(error, TimeoutError | socket.timeout):
        return "timed out"
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}"[:500]
