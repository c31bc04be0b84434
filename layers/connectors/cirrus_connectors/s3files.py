"""S3 connector: the CSV, Parquet or JSON Lines objects under a prefix, read as one dataset.

Connection: `bucket`, optional `prefix`, `format` (csv | parquet | jsonl) and `region`; the secret may
hold `aws_access_key_id`, `aws_secret_access_key` (and `aws_session_token`) for a bucket of another
account; without them the function's own role reads. A request may narrow the read with `prefix`
(`s3://<bucket>/<key prefix>` inside the source's bucket and prefix, or a key prefix) and override
`format`. Options: `csv_delimiter` and `csv_header` (see CsvOptions).

The objects are listed with a paginator and read in key order. Keys ending in `/` (folder markers),
empty objects, and names starting with `_` or `.` (`_SUCCESS`, `.crc` files that Spark and Hadoop
write beside their output) are skipped. Memory stays bounded: CSV is parsed as a stream in blocks of
CSV_BLOCK_BYTES; Parquet is read a record batch at a time through ranged GETs (only the footer and
the row groups being read are fetched); JSON Lines are parsed `chunk_rows` lines at a time. Every
batch has at most `chunk_rows` rows.

Schema: the first object's is the dataset's (for CSV and JSON Lines, as inferred from its first
block or chunk). Later objects must have the same column names (in any order): their columns are put
in the dataset's order and cast to its types. An object whose columns differ, or whose values do not
cast, refuses the extraction with its key named; nothing is dropped silently.
"""

from __future__ import annotations

import io
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import pyarrow as pa

from cirrus_connectors.base import ConnectionFailed, ExtractionRefused, ExtractRequest, SourceConfig
from cirrus_core.data.ranged_object import RangedObject

if TYPE_CHECKING:
    from collections.abc import Iterator

FORMATS: Final = frozenset({"csv", "parquet", "jsonl"})
# One CSV block is parsed at a time: the reader's memory is about this much per column set.
CSV_BLOCK_BYTES: Final = 8 * 1024 * 1024
# Parquet pages come through ranged GETs; a buffer this size keeps their number low.
RANGE_BUFFER_BYTES: Final = 8 * 1024 * 1024
_SECRET_KEYS: Final = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")


def open(source: SourceConfig, *, client: Any = None) -> S3FilesConnector:
    """A connector for an S3 source; `client` is an S3 client (boto3's by default)."""
    return S3FilesConnector(source, client=client)


def s3_client(source: SourceConfig) -> Any:
    """A boto3 S3 client in the source's region, with the secret's keys when it has them."""
    import boto3

    arguments: dict[str, Any] = {}
    if source.connection.get("region"):
        arguments["region_name"] = str(source.connection["region"])
    for name in _SECRET_KEYS:
        if source.secret.get(name):
            arguments[name] = str(source.secret[name])
    return boto3.client("s3", **arguments)


class S3FilesConnector:
    """The objects under one bucket prefix."""

    def __init__(self, source: SourceConfig, *, client: Any = None) -> None:
        bucket = source.connection.get("bucket")
        if not bucket:
            raise ExtractionRefused("an s3 source needs `bucket`")
        self._source = source
        self._bucket = str(bucket)
        self._prefix = str(source.connection.get("prefix") or "")
        self._csv_options = CsvOptions(
            delimiter=str(source.options.get("csv_delimiter") or ","),
            header=source.options.get("csv_header") is not False,
        )
        self._owns_client = client is None
        self._client = client if client is not None else s3_client(source)

    def test(self) -> float:
        """Latency of listing one key under the source's prefix, in milliseconds."""
        started = time.perf_counter()
        with self._aws_errors("S3 refused the listing"):
            self._client.list_objects_v2(Bucket=self._bucket, Prefix=self._prefix, MaxKeys=1)
        return (time.perf_counter() - started) * 1000.0

    def extract(self, request: ExtractRequest) -> Iterator[pa.RecordBatch]:
        """The rows of every object under the prefix, in key order, in batches of at most `chunk_rows`.

        The request is checked and the objects listed here; they are read as the batches are consumed.
        """
        if request.query is not None or request.table is not None or request.filter is not None:
            raise ExtractionRefused("an s3 source reads objects under a prefix: give `prefix` and `format`")
        if request.watermark_column:
            raise ExtractionRefused("an s3 source has no incremental reads: name a narrower prefix")
        if request.chunk_rows < 1:
            raise ExtractionRefused("chunk_rows must be at least 1")
        file_format = str(request.format or self._source.connection.get("format") or "")
        if file_format not in FORMATS:
            raise ExtractionRefused(f"the s3 format must be one of {', '.join(sorted(FORMATS))}")
        prefix = self._request_prefix(request.prefix)
        objects = self._list(prefix)
        if not objects:
            raise ExtractionRefused(f"no objects to read under s3://{self._bucket}/{prefix}")
        return self._read(objects, file_format, request.chunk_rows)

    def close(self) -> None:
        """Close the client's connections when this connector made it."""
        if self._owns_client:
            self._client.close()

    def _request_prefix(self, requested: str | None) -> str:
        if not requested:
            return self._prefix
        key_prefix = requested
        if requested.startswith("s3://"):
            bucket, _, key_prefix = requested.removeprefix("s3://").partition("/")
            if bucket != self._bucket:
                raise ExtractionRefused(f"the prefix must be inside the source's bucket s3://{self._bucket}/")
        if not key_prefix.startswith(self._prefix):
            raise ExtractionRefused(
                f"the prefix must be inside the source's prefix s3://{self._bucket}/{self._prefix}"
            )
        return key_prefix

    def _list(self, prefix: str) -> list[tuple[str, int]]:
        """(key, size) of the objects to read, sorted by key."""
        objects: list[tuple[str, int]] = []
        with self._aws_errors(f"S3 refused the listing of s3://{self._bucket}/{prefix}"):
            for page in self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self._bucket, Prefix=prefix
            ):
                for item in page.get("Contents", []):
                    key, size = str(item["Key"]), int(item["Size"])
                    name = key.rsplit("/", 1)[-1]
                    if size > 0 and name and not name.startswith(("_", ".")):
                        objects.append((key, size))
        return sorted(objects)

    def _read(
        self, objects: list[tuple[str, int]], file_format: str, chunk_rows: int
    ) -> Iterator[pa.RecordBatch]:
        schema: Any = None
        for key, size in objects:
            with self._aws_errors(f"S3 refused the read of s3://{self._bucket}/{key}"):
                if file_format == "parquet":
                    batches = _parquet_batches(
                        RangedObject(self._client, self._bucket, key, size), chunk_rows
                    )
                else:
                    body = self._client.get_object(Bucket=self._bucket, Key=key)["Body"]
                    batches = (
                        _csv_batches(body, schema, self._csv_options)
                        if file_format == "csv"
                        else _jsonl_batches(body, schema, chunk_rows)
                    )
                for batch in _conformed(batches, schema, key):
                    schema = batch.schema if schema is None else schema
                    yield from _bounded(batch, chunk_rows)

    @contextmanager
    def _aws_errors(self, message: str) -> Iterator[None]:
        """boto3's errors as ConnectionFailed, with the secret's values taken out."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except (ClientError, BotoCoreError) as error:
            from cirrus_core.data.sources import scrub

            text = scrub(str(error).strip(), self._source.secret.values())
            failure = ConnectionFailed(f"{message}: {text}" if text else message, driver_error=text or None)
            raise failure from None


def _conformed(batches: Iterator[Any], schema: Any, key: str) -> Iterator[Any]:
    """The object's batches in the dataset's schema, or ExtractionRefused naming the object."""
    try:
        for batch in batches:
            if schema is None or batch.schema == schema:
                yield batch
                continue
            if sorted(batch.schema.names) != sorted(schema.names):
                missing = sorted(set(schema.names) - set(batch.schema.names))
                extra = sorted(set(batch.schema.names) - set(schema.names))
                raise ExtractionRefused(
                    f"{key}: its columns differ from the first object's (missing {missing}, extra {extra})"
                )
            yield batch.select(schema.names).cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as error:
        raise ExtractionRefused(f"{key}: does not fit the dataset's schema ({error})") from None


def _bounded(batch: Any, chunk_rows: int) -> Iterator[Any]:
    """The batch in slices of at most `chunk_rows` rows (slices share the batch's memory)."""
    for offset in range(0, batch.num_rows, chunk_rows):
        yield batch.slice(offset, chunk_rows)


def _csv_batches(body: Any, schema: Any, options: CsvOptions) -> Iterator[Any]:
    """A CSV object as a stream of blocks; later objects are parsed straight into the schema's types."""
    import pyarrow.csv as pcsv

    read_options = pcsv.ReadOptions(block_size=CSV_BLOCK_BYTES, autogenerate_column_names=not options.header)
    parse_options = pcsv.ParseOptions(delimiter=options.delimiter)
    convert = (
        pcsv.ConvertOptions(column_types={field.name: field.type for field in schema}) if schema else None
    )
    yield from pcsv.open_csv(
        body, read_options=read_options, parse_options=parse_options, convert_options=convert
    )


@dataclass(frozen=True)
class CsvOptions:
    """The source's CSV dialect: `csv_delimiter` (`,`) and `csv_header` (whether line 1 names the columns;
    without it the columns are f0, f1, ...)."""

    delimiter: str = ","
    header: bool = True


def _jsonl_batches(body: Any, schema: Any, chunk_rows: int) -> Iterator[Any]:
    """A JSON Lines object, `chunk_rows` lines at a time; unknown fields in later chunks are refused."""
    lines: list[bytes] = []
    for line in body.iter_lines():
        if line.strip():
            lines.append(line)
        if len(lines) == chunk_rows:
            table = _parse_json_lines(lines, schema)
            schema = schema or table.schema
            yield from table.to_batches()
            lines = []
    if lines:
        yield from _parse_json_lines(lines, schema).to_batches()


def _parse_json_lines(lines: list[bytes], schema: Any) -> Any:
    import pyarrow.json as pjson

    data = b"\n".join(lines) + b"\n"
    # One block holds the whole chunk: a block boundary must not split a line.
    read_options = pjson.ReadOptions(block_size=len(data) + 1)
    if schema is None:
        return pjson.read_json(io.BytesIO(data), read_options=read_options)
    parse_options = pjson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error")
    return pjson.read_json(io.BytesIO(data), read_options=read_options, parse_options=parse_options).select(
        schema.names
    )


def _parquet_batches(source: RangedObject, chunk_rows: int) -> Iterator[Any]:
    import pyarrow.parquet as pq

    with io.BufferedReader(source, buffer_size=RANGE_BUFFER_BYTES) as buffered:
        yield from pq.ParquetFile(buffered).iter_batches(batch_size=chunk_rows)
