"""One HTTP POST to a checked destination: to the addresses the check resolved, never following a redirect.

The destination is checked again right before each send (`check_destination`), and the connection is
opened to the addresses that check accepted, in its order (IPv4 first), each in turn until one connects,
with TLS SNI and the Host header of the URL's name; so a name cannot resolve to a public address when
checked and a private one when used. Once a request has gone out on a connection no other address is
tried (that could deliver twice). The answer's status is the outcome: 2xx delivered, anything else (a 3xx
included: no redirect is followed) failed. Error texts never carry the URL (its path or query may hold a
token).

The timeout bounds the whole attempt, not each socket operation (http.client's own timeout is per
operation, so a receiver trickling out its answer could hold a send for ever): the connects, the TLS
handshake, sending the request and every read of the answer get only the time left of one deadline.
"""

from __future__ import annotations

import http.client
import io
import socket
import ssl
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cirrus_core.monitoring.destinations import DestinationRefused, check_destination

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from cirrus_core.monitoring.destinations import Destination, Resolver

USER_AGENT = "Cirrus-Alerts/1"
_MAX_ANSWER_BYTES = 4096


class AttemptTimedOut(TimeoutError):
    """The attempt's deadline passed (whatever step it was at)."""


@dataclass(frozen=True)
class _Deadline:
    """The end of one attempt, on the transport's clock."""

    at: float
    clock: Callable[[], float]

    def left(self) -> float:
        """Seconds left; AttemptTimedOut when none are."""
        remaining = self.at - self.clock()
        if remaining <= 0:
            raise AttemptTimedOut("the attempt's deadline passed")
        return remaining


class _DeadlineReader(io.RawIOBase):
    """Reads a socket, each read waiting at most the time left of the deadline."""

    def __init__(self, sock: socket.socket, deadline: _Deadline) -> None:
        super().__init__()
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._sock.settimeout(self._deadline.left())
        return self._sock.recv_into(buffer)


def _answer_class(deadline: _Deadline) -> type[http.client.HTTPResponse]:
    """An HTTPResponse reading its status line, headers and body within `deadline`."""

    class _Answer(http.client.HTTPResponse):
        def __init__(self, sock: socket.socket, *args: Any, **kwargs: Any) -> None:
            super().__init__(sock, *args, **kwargs)
            # http.client's own reader (per-operation timeouts only) is not read from, but held open
            # until the answer closes: it keeps the socket open when the connection lets go of it.
            self._socket_file = self.fp
            self.fp = io.BufferedReader(_DeadlineReader(sock, deadline))

        def close(self) -> None:
            try:
                super().close()
            finally:
                self._socket_file.close()

    return _Answer


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


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Plain HTTP to a given address (only for the local cloud's listed receivers), within a deadline."""

    def __init__(self, host: str, port: int, address: str, deadline: _Deadline) -> None:
        super().__init__(host, port, timeout=deadline.left())
        self._address = address
        self._deadline = deadline
        self.response_class = _answer_class(deadline)

    def connect(self) -> None:
        self.sock = self._open()
        # sendall honours a socket timeout as the limit of the whole send.
        self.sock.settimeout(self._deadline.left())

    def _open(self) -> socket.socket:
        return socket.create_connection((self._address, self.port), self._deadline.left())


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    """HTTPS to a given address, verifying the certificate of (and sending SNI for) the URL's host."""

    default_port = http.client.HTTPS_PORT

    def __init__(
        self, host: str, port: int, address: str, deadline: _Deadline, context: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, address, deadline)
        self._tls = context

    def _open(self) -> socket.socket:
        raw = super()._open()
        try:
            raw.settimeout(self._deadline.left())  # the handshake as a whole waits at most this
            return self._tls.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise


class HttpTransport:
    """Posts JSON bodies to destinations, checked at send time, each attempt within one deadline."""

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
        deadline = _Deadline(started + self._timeout, self._clock)

        def elapsed() -> int:
            return max(0, round((self._clock() - started) * 1000))

        try:
            destination = self.check(url)
        except DestinationRefused as error:
            return SendResult(None, elapsed(), f"destination refused: {error}")
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        failure: BaseException | None = None
        tried = 0
        for address in destination.addresses:
            tried += 1
            try:
                connection = self._connection(parts.scheme, destination, address, deadline)
                connection.connect()
            except (OSError, http.client.HTTPException) as error:
                failure = error  # nothing was sent: the next address may be tried
                if isinstance(error, AttemptTimedOut):
                    break
                continue
            try:
                return self._exchange(connection, target, body, headers, elapsed)
            except (OSError, http.client.HTTPException) as error:
                return SendResult(None, elapsed(), self._describe(error))
            finally:
                connection.close()
        text = self._describe(failure) if failure is not None else "no address to connect to"
        return SendResult(
            None, elapsed(), text if tried <= 1 else f"{text} (the last of {tried} addresses tried)"
        )

    def _exchange(
        self,
        connection: http.client.HTTPConnection,
        target: str,
        body: bytes,
        headers: Mapping[str, str],
        elapsed: Callable[[], int],
    ) -> SendResult:
        connection.request(
            "POST",
            target,
            body=body,
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers},
        )
        with connection.getresponse() as answer:
            answer.read(_MAX_ANSWER_BYTES)
            status = answer.status
        if 300 <= status < 400:
            return SendResult(status, elapsed(), f"HTTP {status}: redirects are not followed")
        if not 200 <= status < 300:
            return SendResult(status, elapsed(), f"HTTP {status}")
        return SendResult(status, elapsed())

    def _connection(
        self, scheme: str, destination: Destination, address: str, deadline: _Deadline
    ) -> _PinnedHTTPConnection:
        if scheme == "https":
            return _PinnedHTTPSConnection(destination.host, destination.port, address, deadline, self._tls)
        # check_destination accepts plain http only for an exactly listed local receiver.
        return _PinnedHTTPConnection(destination.host, destination.port, address, deadline)

    def _describe(self, error: BaseException) -> str:
        """The error's kind and message (socket and TLS errors name the host at most, never the path)."""
        if isinstance(error, TimeoutError | socket.timeout):
            return f"timed out: no complete answer within the attempt's {self._timeout:g} s"
        text = str(error) or type(error).__name__
        return f"{type(error).__name__}: {text}"[:500]
