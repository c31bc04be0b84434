"""What the SQL connectors share: rows to Arrow column by column, requests, secrets kept out of errors."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import pyarrow as pa

from cirrus_connectors.base import ConnectionFailed, ExtractionRefused

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    from cirrus_core.data.connection import ExtractRequest, SourceConfig

# Rows fetched per round trip. Each fetch becomes Arrow arrays at once, so no more than this many
# rows are ever Python objects (some 500 bytes a row), whatever chunk_rows is.
FETCH_ROWS: Final = 10_000
# Arrow's decimal128 holds 38 digits, decimal256 76; a wider declared numeric is kept as text.
DECIMAL128_DIGITS: Final = 38
DECIMAL256_DIGITS: Final = 76
SSL_MODES: Final = frozenset({"disable", "allow", "prefer", "require", "verify-ca", "verify-full"})
_REDACTED: Final = "***"


@dataclass(frozen=True)
class Column:
    """One result column: its Arrow type, and how the driver's values become an Arrow array.

    By default Arrow takes the driver's Python values as they are; `from_text` means the driver hands
    over the database's text and Arrow parses it (a cast from string, faster than Python objects),
    as `text_type` first when that is given (MySQL's TIMESTAMP text has no zone: parsed as a naive
    timestamp, then marked UTC); `convert` rewrites the values in Python first where needed.
    """

    name: str
    type: pa.DataType
    convert: Callable[[Sequence[Any]], Sequence[Any]] | None = None
    from_text: bool = False
    text_type: pa.DataType | None = None

    def field(self) -> pa.Field:
        return pa.field(self.name, self.type, nullable=True)

    def array(self, values: Sequence[Any]) -> pa.Array:
        values = self.convert(values) if self.convert else values
        if not self.from_text:
            return pa.array(values, type=self.type)
        text = pa.array(values, type=pa.string())
        if self.text_type is not None:
            return text.cast(self.text_type).cast(self.type)
        return text.cast(self.type)


def decimal_type(precision: int, scale: int) -> pa.DataType | None:
    """decimal128 or decimal256 for a declared precision, None when Arrow has no decimal that wide."""
    if precision <= DECIMAL128_DIGITS:
        return pa.decimal128(precision, scale)
    if precision <= DECIMAL256_DIGITS:
        return pa.decimal256(precision, scale)
    return None


def as_text(values: Sequence[Any]) -> list[str | None]:
    """Values Arrow has no column type for, as text: lists and dicts as JSON, the rest with str()."""
    return [None if value is None else _text(value) for value in values]


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list | dict):
        return json.dumps(value, default=str)
    return str(value)


def empty_batch(schema: pa.Schema) -> pa.RecordBatch:
    """A batch of no rows that still carries the schema."""
    return pa.record_batch([pa.array([], type=field.type) for field in schema], schema=schema)


def schema_of(columns: Sequence[Column]) -> pa.Schema:
    """The batches' schema; refuses a result with two columns of one name (Parquet cannot hold it)."""
    if not columns:
        raise ExtractionRefused("the result has no columns")
    seen: set[str] = set()
    for column in columns:
        if column.name in seen:
            raise ExtractionRefused(
                f"the result has two columns named {column.name!r}: give them distinct names (AS ...)"
            )
        seen.add(column.name)
    return pa.schema([column.field() for column in columns])


def batch_from_rows(
    rows: Sequence[Sequence[Any]], columns: Sequence[Column], schema: pa.Schema
) -> pa.RecordBatch:
    """One record batch from driver rows, built column by column (one pa.array call per column)."""
    if not rows:
        return empty_batch(schema)
    arrays = []
    for column, values in zip(columns, zip(*rows, strict=True), strict=True):
        try:
            arrays.append(column.array(values))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, ValueError, TypeError) as error:
            raise ExtractionRefused(
                f"column {column.name!r} holds a value its Arrow type {column.type} cannot hold: {error}"
            ) from None
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def chunked_batches(
    fetch: Callable[[int], Sequence[Sequence[Any]]],
    columns: Sequence[Column],
    schema: pa.Schema,
    chunk_rows: int,
) -> Iterator[pa.RecordBatch]:
    """Batches of exactly `chunk_rows` rows (the last one shorter) from `fetch(n)`, which returns at
    most n rows, fewer only at the end. Rows are fetched FETCH_ROWS at a time and turned into Arrow
    at once; a result of no rows gives one empty batch with the schema."""
    step = min(chunk_rows, FETCH_ROWS)
    pieces: list[pa.RecordBatch] = []
    held = 0
    emitted = False
    while True:
        wanted = min(step, chunk_rows - held)
        rows = fetch(wanted)
        count = len(rows)
        if count:
            pieces.append(batch_from_rows(rows, columns, schema))
            held += count
        del rows  # before the next fetch: one fetch's Python objects alive at a time
        finished = count < wanted
        if held and (held == chunk_rows or finished):
            yield _joined(pieces, schema)
            emitted = True
            pieces, held = [], 0
        if finished:
            break
    if not emitted:
        yield empty_batch(schema)


def _joined(pieces: list[pa.RecordBatch], schema: pa.Schema) -> pa.RecordBatch:
    if len(pieces) == 1:
        return pieces[0]
    batch: pa.RecordBatch = pa.Table.from_batches(pieces, schema=schema).combine_chunks().to_batches()[0]
    return batch


def check_request(request: ExtractRequest) -> int:
    """The chunk size of a table or query extraction; refuses a request that names neither or both."""
    if (request.table is None) == (request.query is None):
        raise ExtractionRefused("give either a table or a query, not both and not neither")
    if request.table is not None and not request.table.strip():
        raise ExtractionRefused("the table name is empty")
    if request.query is not None and not strip_query(request.query):
        raise ExtractionRefused("the query is empty")
    if request.after_watermark is not None and not request.watermark_column:
        raise ExtractionRefused("after_watermark needs a watermark_column")
    if request.chunk_rows < 1:
        raise ExtractionRefused("chunk_rows must be at least 1")
    return request.chunk_rows


def strip_query(query: str) -> str:
    """The query without surrounding blanks and trailing semicolons, so it can be wrapped."""
    return query.strip().rstrip(";").rstrip()


def table_parts(table: str) -> list[str]:
    """`schema.table` (or `table`) split into the identifiers the connector quotes one by one."""
    parts = table.split(".")
    if any(not part for part in parts):
        raise ExtractionRefused(f"table name {table!r} has an empty part")
    return parts


def setting(source: SourceConfig, key: str, default: Any = None) -> Any:
    """A connection setting from the source's options, else from its connection fields."""
    if key in source.options:
        return source.options[key]
    return source.connection.get(key, default)


def secret_values(secret: Mapping[str, Any]) -> list[str]:
    """The secret's values as text, longest first, to strip out of any message."""
    values = {str(value) for value in secret.values() if value not in (None, "")}
    return sorted(values, key=len, reverse=True)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """The text with every secret value replaced (a driver may echo a password or a DSN)."""
    for value in secrets:
        text = text.replace(value, _REDACTED)
    return text


def failure(message: str, error: BaseException, secrets: Iterable[str]) -> ConnectionFailed:
    """A ConnectionFailed carrying the driver's text with the secrets removed."""
    driver = scrub(str(error).strip(), secrets)
    return ConnectionFailed(f"{message}: {driver}" if driver else message, driver_error=driver or None)


def required(source: SourceConfig, key: str) -> str:
    """A connection field the connector cannot go without."""
    value = source.connection.get(key)
    if value in (None, ""):
        raise ConnectionFailed(f"the {source.type} source {source.name!r} has no connection field {key!r}")
    return str(value)


def port_of(source: SourceConfig, default: int) -> int:
    value = source.connection.get("port", default)
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ConnectionFailed(f"the port of source {source.name!r} is not a number: {value!r}") from None
    if not 0 < port < 65536:
        raise ConnectionFailed(f"the port of source {source.name!r} is out of range: {port}")
    return port


def timeout_of(source: SourceConfig, default: int = 10) -> int:
    value = setting(source, "connect_timeout", default)
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        raise ConnectionFailed(
            f"connect_timeout of source {source.name!r} is not a number: {value!r}"
        ) from None
    return max(1, seconds)


def ssl_mode_of(source: SourceConfig, default: str = "prefer") -> str:
    mode = str(setting(source, "sslmode", default))
    if mode not in SSL_MODES:
        raise ConnectionFailed(
            f"sslmode of source {source.name!r} must be one of {sorted(SSL_MODES)}, not {mode!r}"
        )
    return mode
