"""Stream micro-batching: the records of one invocation, checked against the stream's schema, as Parquet.

A Kinesis or Kafka event source mapping invokes a consumer with a batch of records. Each record's
payload must be a JSON object (UTF-8); it is checked against the stream's declared schema
(`[{name, type, nullable}]`, Arrow type names as in docs/data.md) and becomes one row:
- a declared field that is missing or null is null, or rejects the record when `nullable` is false;
- fields the schema does not declare are not stored (the schema is what the stream's dataset keeps);
- values must be of their column's JSON kind: `bool`; integers (`int8` ... `uint64`, within range);
  numbers (`halffloat`, `float`, `double`); strings (`string`, `large_string`); base64 text (`binary`,
  `large_binary`); `YYYY-MM-DD` (`date32[day]`, `date64[ms]`); `HH:MM:SS[.ffffff]` (`time64[us|ns]`);
  ISO 8601 date-times (`timestamp[unit, tz=...]` needs a UTC offset in the value; a timestamp without
  `tz` takes wall-clock values, and values with an offset as their UTC time); numbers or numeric
  strings that fit exactly (`decimal128(p, s)`). Nothing is rounded or truncated: a value finer than its
  column's unit or scale rejects the record.
A rejected record is reported back to the event source mapping (the consumers' batchItemFailures);
the messages name the field and the rule, never a value.

The accepted rows are written to the data bucket as Parquet, one object per invocation and hour:
`streams/<source>/dt=<yyyy-mm-dd>/hour=<hh>/<uuid>.parquet`, partitioned by each record's arrival time
(Kinesis: approximateArrivalTimestamp; Kafka: the record's timestamp), so a batch that straddles an
hour writes one object per hour. The uuid is derived from the records' identifiers: a batch retried
after a failed write overwrites its objects rather than duplicating them. A failed write fails the
whole invocation, and the event source mapping retries the batch.
"""

from __future__ import annotations

import base64
import binascii
import functools
import io
import json
import math
import os
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Final, Protocol

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

MAX_COLUMNS: Final = 500
PARQUET_CONTENT_TYPE: Final = "application/vnd.apache.parquet"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_TIMESTAMP = re.compile(r"^timestamp\[(s|ms|us|ns)(?:, tz=([A-Za-z0-9_+/:-]{1,64}))?\]$")
_DECIMAL = re.compile(r"^decimal128\(([1-9][0-9]?), ([0-9][0-9]?)\)$")
_TIME = re.compile(r"^time64\[(us|ns)\]$")
# The object names of a source's micro-batches live in their own uuid5 namespace.
_OBJECT_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "urn:cirrus:data:streams")
_INTEGER_BITS: Final = {"int8": 8, "int16": 16, "int32": 32, "int64": 64}
# Each float type with its largest finite value: Arrow would store a larger one as infinity.
_FLOATS: Final = {
    "halffloat": (pa.float16(), 65504.0),
    "float": (pa.float32(), 3.4028234663852886e38),
    "double": (pa.float64(), math.inf),
}
# Nanosecond timestamps are int64 nanoseconds since the epoch: about 1677-09-21 to 2262-04-11.
_NANOSECOND_RANGE: Final = (
    datetime(1677, 9, 22, tzinfo=UTC),
    datetime(2262, 4, 11, tzinfo=UTC),
)
_UNIT_MICROSECONDS: Final = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 1}


class StreamConfigurationError(ValueError):
    """The consumer's source name or schema is not usable: every invocation fails until it is fixed."""


class RecordRejected(ValueError):
    """A record that is not a JSON object or does not fit the stream's schema (the message names no value)."""


# ------------------------------------------------------------------------------------------ schema


Converter = Callable[[Any], Any]


@dataclass(frozen=True)
class StreamColumn:
    """One declared column: its Arrow type and how a JSON value becomes a value of it."""

    name: str
    type_name: str
    nullable: bool
    arrow_type: Any
    convert: Converter


@dataclass(frozen=True)
class StreamSchema:
    """A stream's declared columns, in order."""

    columns: tuple[StreamColumn, ...]

    @property
    def arrow_schema(self) -> Any:
        return pa.schema(
            [pa.field(column.name, column.arrow_type, nullable=column.nullable) for column in self.columns]
        )

    def row(self, document: Any) -> dict[str, Any]:
        """A decoded JSON value as a row of this schema, or RecordRejected."""
        if not isinstance(document, dict):
            raise RecordRejected("the record is not a JSON object")
        row: dict[str, Any] = {}
        for column in self.columns:
            value = document.get(column.name)
            if value is None:
                if not column.nullable:
                    raise RecordRejected(f"{column.name}: required")
                row[column.name] = None
                continue
            try:
                row[column.name] = column.convert(value)
            except (TypeError, ValueError, ArithmeticError, binascii.Error):
                raise RecordRejected(f"{column.name}: expected {column.type_name}") from None
        return row


def parse_schema(raw: Any) -> StreamSchema:
    """A schema from its JSON form (`[{name, type, nullable?}]`, or that JSON as text)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise StreamConfigurationError("the stream schema is not JSON") from None
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_COLUMNS:
        raise StreamConfigurationError(f"the stream schema must be a list of 1 to {MAX_COLUMNS} columns")
    columns: list[StreamColumn] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or set(item) - {"name", "type", "nullable"}:
            raise StreamConfigurationError(f"schema[{index}] must be {{name, type, nullable?}}")
        name, type_name, nullable = item.get("name"), item.get("type"), item.get("nullable", True)
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise StreamConfigurationError(f"schema[{index}].name must match {_NAME.pattern}")
        if not isinstance(nullable, bool):
            raise StreamConfigurationError(f"schema[{index}].nullable must be true or false")
        if not isinstance(type_name, str):
            raise StreamConfigurationError(f"schema[{index}].type must be an Arrow type name")
        arrow_type, convert = _column_type(type_name, index)
        columns.append(StreamColumn(name, type_name, nullable, arrow_type, convert))
    names = [column.name for column in columns]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise StreamConfigurationError(f"columns named more than once: {', '.join(duplicates)}")
    return StreamSchema(tuple(columns))


def _column_type(type_name: str, index: int) -> tuple[Any, Converter]:
    simple: dict[str, tuple[Any, Converter]] = {
        "bool": (pa.bool_(), _boolean),
        "string": (pa.string(), _string),
        "large_string": (pa.large_string(), _string),
        "binary": (pa.binary(), _base64),
        "large_binary": (pa.large_binary(), _base64),
        "date32[day]": (pa.date32(), _date),
        "date64[ms]": (pa.date64(), _date),
    }
    if type_name in simple:
        return simple[type_name]
    unsigned = type_name.startswith("u")
    bits = _INTEGER_BITS.get(type_name.removeprefix("u"))
    if bits is not None:
        low, high = (0, 2**bits - 1) if unsigned else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
        arrow_type = getattr(pa, type_name)()
        return arrow_type, functools.partial(_integer, low=low, high=high)
    if type_name in _FLOATS:
        arrow_type, largest = _FLOATS[type_name]
        return arrow_type, functools.partial(_number, largest=largest)
    if match := _TIME.fullmatch(type_name):
        return pa.time64(match.group(1)), _time_of_day
    if match := _TIMESTAMP.fullmatch(type_name):
        unit, zone = match.group(1), match.group(2)
        if zone is not None and not _known_zone(zone):
            raise StreamConfigurationError(f"schema[{index}].type {type_name}: unknown time zone")
        return pa.timestamp(unit, tz=zone), functools.partial(_timestamp, unit=unit, aware=zone is not None)
    if match := _DECIMAL.fullmatch(type_name):
        precision, scale = int(match.group(1)), int(match.group(2))
        if scale > precision or precision > 38:
            raise StreamConfigurationError(
                f"schema[{index}].type {type_name}: the scale exceeds the precision, or 38"
            )
        return pa.decimal128(precision, scale), functools.partial(_decimal, precision=precision, scale=scale)
    raise StreamConfigurationError(f"schema[{index}].type {type_name!r} is not a supported Arrow type name")


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError
    return value


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError
    return value


def _base64(value: Any) -> bytes:
    return base64.b64decode(_string(value), validate=True)


def _integer(value: Any, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise TypeError
    return value


def _number(value: Any, *, largest: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError
    number = float(value)
    if not math.isfinite(number) or abs(number) > largest:
        raise ValueError
    return number


def _date(value: Any) -> date:
    text = _string(value)
    if len(text) != len("yyyy-mm-dd"):
        raise ValueError
    return date.fromisoformat(text)


def _time_of_day(value: Any) -> time:
    parsed = time.fromisoformat(_string(value))
    if parsed.tzinfo is not None:
        raise ValueError
    return parsed


def _timestamp(value: Any, *, unit: str, aware: bool) -> datetime:
    parsed = datetime.fromisoformat(_string(value))
    if aware and parsed.tzinfo is None:
        raise ValueError
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC)
        if not aware:
            parsed = parsed.replace(tzinfo=None)
    if parsed.microsecond % _UNIT_MICROSECONDS[unit]:
        raise ValueError  # finer than the column's unit: Arrow would truncate it
    if unit == "ns":
        instant = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
        if not _NANOSECOND_RANGE[0] <= instant <= _NANOSECOND_RANGE[1]:
            raise ValueError
    return parsed


def _known_zone(zone: str) -> bool:
    """UTC, a fixed offset (+01:00) or an IANA zone name."""
    if zone == "UTC" or re.fullmatch(r"[+-](0[0-9]|1[0-4]):[0-5][0-9]", zone):
        return True
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _decimal(value: Any, *, precision: int, scale: int) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError
    number = Decimal(str(value))
    if not number.is_finite():
        raise ValueError
    exponent = int(number.as_tuple().exponent)
    integer_digits = max(number.adjusted() + 1, 0)
    if -exponent > scale or integer_digits > precision - scale:
        raise ValueError
    return number


def decode_json(payload: bytes) -> Any:
    """A record's payload as JSON, or RecordRejected."""
    try:
        return json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise RecordRejected("the record is not UTF-8 JSON") from None
    except RecursionError:
        raise RecordRejected("the record nests too deeply") from None


# ------------------------------------------------------------------------------------------ batches


@dataclass(frozen=True)
class StreamRow:
    """An accepted record: its identifier in the stream, when it arrived, and its row."""

    identifier: str
    arrival: datetime
    values: Mapping[str, Any]


@dataclass(frozen=True)
class WrittenObject:
    """One Parquet object of a micro-batch."""

    key: str
    rows: int
    size: int


class ObjectStore(Protocol):
    """Where micro-batches go (the data bucket)."""

    def put(self, key: str, body: bytes) -> None: ...


class S3ObjectStore:
    """The data bucket, through an injected S3 client."""

    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def put(self, key: str, body: bytes) -> None:
        self._client.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType=PARQUET_CONTENT_TYPE)


def partition_key(source: str, arrival: datetime, name: uuid.UUID) -> str:
    """The object key of a micro-batch whose records arrived in `arrival`'s hour (UTC)."""
    instant = arrival.astimezone(UTC)
    return f"streams/{source}/dt={instant:%Y-%m-%d}/hour={instant:%H}/{name}.parquet"


class MicroBatchWriter:
    """Turns a stream's records into rows and writes an invocation's rows as Parquet."""

    def __init__(self, source: str, schema: StreamSchema, store: ObjectStore) -> None:
        if not _SOURCE_NAME.fullmatch(source):
            raise StreamConfigurationError(f"the stream's source name must match {_SOURCE_NAME.pattern}")
        self.source = source
        self.schema = schema
        self._store = store

    def accept(self, identifier: str, payload: bytes, arrival: datetime) -> StreamRow:
        """A record as a row of the stream's schema, or RecordRejected."""
        return StreamRow(identifier, arrival, self.schema.row(decode_json(payload)))

    def write(self, rows: Sequence[StreamRow]) -> list[WrittenObject]:
        """One Parquet object per hour of arrival (one per invocation unless the batch straddles an hour)."""
        hours: dict[datetime, list[StreamRow]] = {}
        for row in rows:
            instant = row.arrival.astimezone(UTC)
            hours.setdefault(instant.replace(minute=0, second=0, microsecond=0), []).append(row)
        written = []
        for hour, hour_rows in sorted(hours.items()):
            name = uuid.uuid5(
                _OBJECT_NAMESPACE, "\n".join([self.source, *(row.identifier for row in hour_rows)])
            )
            body = self._parquet([row.values for row in hour_rows])
            key = partition_key(self.source, hour, name)
            self._store.put(key, body)
            written.append(WrittenObject(key=key, rows=len(hour_rows), size=len(body)))
        return written

    def _parquet(self, values: Iterable[Mapping[str, Any]]) -> bytes:
        table = pa.Table.from_pylist(list(values), schema=self.schema.arrow_schema)
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="snappy")
        return buffer.getvalue()


# ------------------------------------------------------------------------------------------ wiring


def arrival_from_epoch_seconds(seconds: float) -> datetime:
    """Kinesis' approximateArrivalTimestamp as a UTC datetime."""
    return datetime.fromtimestamp(seconds, UTC)


def arrival_from_epoch_milliseconds(milliseconds: int) -> datetime:
    """A Kafka record's timestamp as a UTC datetime."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=milliseconds)


class StreamSettings(BaseModel):
    """A consumer's stream, from its environment (set from the template's parameters)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    source: str = Field(default="", alias="DATA_STREAM_SOURCE")
    schema_text: str = Field(default="", alias="DATA_STREAM_SCHEMA")


@functools.cache
def micro_batch_writer() -> MicroBatchWriter:
    """The consumer's writer, built once per execution environment (DATA_STREAM_SOURCE,
    DATA_STREAM_SCHEMA, DATA_BUCKET)."""
    import boto3

    from cirrus_core.data.settings import get_data_settings

    bucket = get_data_settings().data_bucket
    if not bucket:
        raise StreamConfigurationError("DATA_BUCKET is not set")
    settings = StreamSettings.model_validate(os.environ)
    store = S3ObjectStore(boto3.client("s3"), bucket)
    return MicroBatchWriter(settings.source, parse_schema(settings.schema_text), store)
