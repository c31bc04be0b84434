"""Kafka connector: a connection test only, without a Kafka client library.

A Kafka topic reaches Cirrus through a Lambda event source mapping (MSK or self-managed; the
consume_kafka step writes its micro-batches under `streams/<source>/`): there is nothing for a
snapshot to extract, and no Kafka client is installed. The test opens a TCP connection to each
bootstrap broker (`bootstrap_servers`: a list or a comma-separated string of `host:port`, port 9092
when left out, `[v6 address]:port` for IPv6): it proves the brokers are reachable from the function,
not that TLS or SASL credentials are accepted (the event source mapping checks those).
"""

from __future__ import annotations

import socket
import time
from typing import TYPE_CHECKING, Final, NoReturn

from cirrus_connectors.base import ConnectionFailed, ExtractionRefused, ExtractRequest, SourceConfig

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pyarrow as pa

DEFAULT_PORT: Final = 9092
CONNECT_TIMEOUT_SECONDS: Final = 5.0


def open(source: SourceConfig, *, timeout_seconds: float = CONNECT_TIMEOUT_SECONDS) -> KafkaConnector:
    """A connector for a Kafka source (MSK or self-managed)."""
    return KafkaConnector(source, timeout_seconds=timeout_seconds)


def bootstrap_brokers(source: SourceConfig) -> list[tuple[str, int]]:
    """(host, port) of each bootstrap broker of the source."""
    raw = source.connection.get("bootstrap_servers")
    entries = raw.split(",") if isinstance(raw, str) else [str(entry) for entry in raw or []]
    brokers = [_broker(entry.strip()) for entry in entries if entry.strip()]
    if not brokers:
        raise ExtractionRefused("a kafka source needs `bootstrap_servers` (host:port, ...)")
    return brokers


def _broker(entry: str) -> tuple[str, int]:
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port_text = rest.removeprefix(":")
    else:
        host, _, port_text = entry.rpartition(":") if ":" in entry else (entry, "", "")
    try:
        port = int(port_text) if port_text else DEFAULT_PORT
    except ValueError:
        raise ExtractionRefused(f"bootstrap server {entry!r} is not host:port") from None
    if not host or not 0 < port < 65536:
        raise ExtractionRefused(f"bootstrap server {entry!r} is not host:port")
    return host, port


class KafkaConnector:
    """The bootstrap brokers of one Kafka cluster."""

    def __init__(self, source: SourceConfig, *, timeout_seconds: float = CONNECT_TIMEOUT_SECONDS) -> None:
        self._brokers = bootstrap_brokers(source)
        self._timeout = timeout_seconds

    def test(self) -> float:
        """The slowest broker's TCP connect time in milliseconds; ConnectionFailed names a failed broker."""
        slowest = 0.0
        for host, port in self._brokers:
            started = time.perf_counter()
            try:
                with socket.create_connection((host, port), timeout=self._timeout):
                    elapsed = (time.perf_counter() - started) * 1000.0
            except OSError as error:
                message = f"Kafka broker {_address(host, port)} did not accept a connection: {error}"
                raise ConnectionFailed(message, driver_error=str(error)) from None
            slowest = max(slowest, elapsed)
        return slowest

    def extract(self, request: ExtractRequest) -> Iterator[pa.RecordBatch]:
        """Always refused: a topic's records arrive through its event source mapping."""
        _refuse_extraction()

    def close(self) -> None:
        """Nothing to release: each test closes its sockets."""


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _refuse_extraction() -> NoReturn:
    raise ExtractionRefused(
        "a kafka topic is not snapshotted: its records arrive through a Lambda event source mapping "
        "and are written as micro-batches under streams/<source>/"
    )
