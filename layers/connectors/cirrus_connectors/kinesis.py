"""Kinesis connector: a connection test only.

A Kinesis stream reaches Cirrus through a Lambda event source mapping (the consume_kinesis step
writes its micro-batches under `streams/<source>/`); there is nothing for a snapshot to extract.
Connection: `stream_arn` (its region is the client's) or `stream_name` with `region`; the secret may
hold `aws_access_key_id`/`aws_secret_access_key` (and `aws_session_token`) for another account's stream.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final, NoReturn

from cirrus_connectors.base import ConnectionFailed, ExtractionRefused, ExtractRequest, SourceConfig

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pyarrow as pa

_SECRET_KEYS: Final = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")


def open(source: SourceConfig, *, client: Any = None) -> KinesisConnector:
    """A connector for a Kinesis source; `client` is a Kinesis client (boto3's by default)."""
    return KinesisConnector(source, client=client)


def kinesis_client(source: SourceConfig) -> Any:
    """A boto3 Kinesis client in the source's region, with the secret's keys when it has them."""
    import boto3

    arguments: dict[str, Any] = {}
    region = source.connection.get("region") or _arn_region(source.connection.get("stream_arn"))
    if region:
        arguments["region_name"] = str(region)
    for name in _SECRET_KEYS:
        if source.secret.get(name):
            arguments[name] = str(source.secret[name])
    return boto3.client("kinesis", **arguments)


class KinesisConnector:
    """One Kinesis data stream."""

    def __init__(self, source: SourceConfig, *, client: Any = None) -> None:
        self._source = source
        arn = source.connection.get("stream_arn")
        name = source.connection.get("stream_name")
        if arn:
            self._stream: dict[str, str] = {"StreamARN": str(arn)}
        elif name:
            self._stream = {"StreamName": str(name)}
        else:
            raise ExtractionRefused("a kinesis source needs `stream_name` or `stream_arn`")
        self._owns_client = client is None
        self._client = client if client is not None else kinesis_client(source)

    def test(self) -> float:
        """Latency of DescribeStreamSummary in milliseconds."""
        started = time.perf_counter()
        with self._aws_errors():
            self._client.describe_stream_summary(**self._stream)
        return (time.perf_counter() - started) * 1000.0

    def extract(self, request: ExtractRequest) -> Iterator[pa.RecordBatch]:
        """Always refused: a stream's records arrive through its event source mapping."""
        _refuse_extraction("kinesis")

    def close(self) -> None:
        """Close the client's connections when this connector made it."""
        if self._owns_client:
            self._client.close()

    @contextmanager
    def _aws_errors(self) -> Iterator[None]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except (ClientError, BotoCoreError) as error:
            from cirrus_core.data.sources import scrub

            text = scrub(str(error).strip(), self._source.secret.values())
            message = "Kinesis did not describe the stream"
            raise ConnectionFailed(
                f"{message}: {text}" if text else message, driver_error=text or None
            ) from None


def _arn_region(arn: Any) -> str | None:
    """The region of an ARN (`arn:aws:kinesis:<region>:<account>:stream/<name>`)."""
    parts = str(arn or "").split(":")
    return parts[3] if len(parts) > 5 and parts[3] else None


def _refuse_extraction(kind: str) -> NoReturn:
    raise ExtractionRefused(
        f"a {kind} stream is not snapshotted: its records arrive through a Lambda event source mapping "
        "and are written as micro-batches under streams/<source>/"
    )
