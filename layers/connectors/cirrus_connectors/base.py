"""What every connector is given and what it answers (docs/data.md, "Connector interface").

`SourceConfig` and `ExtractRequest` live in the core layer (the services build them without pyarrow)
and are re-exported here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Final, Protocol

from cirrus_core.data.connection import DEFAULT_CHUNK_ROWS, ExtractRequest, SourceConfig

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pyarrow as pa


__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "ConnectionFailed",
    "Connector",
    "ExtractRequest",
    "ExtractionRefused",
    "SourceConfig",
    "open_connector",
]


class ConnectionFailed(Exception):
    """A connector could not connect, or its source refused a query; the message names no secret."""

    def __init__(self, message: str, *, driver_error: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.driver_error = driver_error


class ExtractionRefused(ValueError):
    """An extraction request this connector cannot run as given (a missing table, a bad watermark)."""


class Connector(Protocol):
    """An open connection to one source."""

    def test(self) -> float:
        """Round-trip latency in milliseconds of a trivial request, or ConnectionFailed."""
        ...

    def extract(self, request: ExtractRequest) -> Iterator[pa.RecordBatch]:
        """The rows the request names, as record batches of at most `request.chunk_rows` rows."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


# Each connector's module is imported only when a source of its type is opened: a driver costs
# import time only to the functions that use it.
_MODULES: Final[dict[str, str]] = {
    "postgresql": "cirrus_connectors.postgresql",
    "mysql": "cirrus_connectors.mysql",
    "mongodb": "cirrus_connectors.mongodb",
    "cassandra": "cirrus_connectors.cassandra",
    "s3": "cirrus_connectors.s3files",
    # Streams arrive through Lambda event source mappings; their connectors only test the connection.
    "kinesis": "cirrus_connectors.kinesis",
    "kafka": "cirrus_connectors.kafka",
}


def open_connector(source: SourceConfig) -> Connector:
    """The connector of a source's type (each module exposes `open(source) -> Connector`)."""
    module_name = _MODULES.get(source.type)
    if module_name is None:
        raise ExtractionRefused(f"no connector for sources of type {source.type!r}")
    connector: Connector = importlib.import_module(module_name).open(source)
    return connector
