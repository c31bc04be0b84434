"""The PostgreSQL connector (psycopg 3): a read-only transaction, a server-side cursor, Arrow batches.

Connection fields: `host`, `port` (5432), `database`, `user`; secret: `password`; `sslmode`
(libpq's, default `prefer`), `sslrootcert` and `connect_timeout` (seconds, default 10) from the
options or the connection fields. The session runs in UTC.

An extraction declares a named (server-side) cursor inside a READ ONLY transaction and fetches
FETCH_ROWS rows a round trip, each turned into Arrow at once and joined into batches of `chunk_rows`:
the client holds one batch and one fetch whatever the table's size. A table is quoted identifier by
identifier (`schema.table`, with psycopg.sql.Identifier); a query runs as written. Incremental:
`SELECT * FROM (<query or table>) AS q WHERE q.<watermark> > <value> ORDER BY q.<watermark>`, the
value a quoted literal (psycopg.sql.Literal; without `after_watermark`: every row, in watermark
order); otherwise no ORDER BY is added.

Arrow types, from the columns' type OIDs (so a result of no rows still has its schema):
int2/int4/int8 -> int16/int32/int64; float4/float8 -> float/double; numeric(p, s) -> decimal128(p, s)
(decimal256 past 38 digits, text past 76); numeric without a declared precision (sum(), avg(), a bare
`numeric` column) -> double (NaN and Infinity included), because no fixed decimal type holds every
value it may take: declare or cast it (`::numeric(18, 4)`) to keep it exact; text/varchar/char/name
-> string; bool -> bool; date -> date32; timestamp -> timestamp[us]; timestamptz -> timestamp[us,
tz=UTC]; time -> time64[us]; json/jsonb -> string (the JSON text); uuid -> string; bytea -> binary;
arrays, intervals, inet, ranges, enums and every other type -> string, PostgreSQL's own text form of
the value. Numerics and timestamps come as text that Arrow parses; a value the Arrow type cannot
hold (NaN in a numeric(p, s), 'infinity' or a BC timestamp) refuses the extraction naming the column.
"""

from __future__ import annotations

import itertools
import time
from typing import TYPE_CHECKING, Any, Final

import psycopg
import pyarrow as pa
from psycopg import errors, postgres, sql
from psycopg.types.string import TextLoader

from cirrus_connectors._arrow_types import (
    Column,
    as_text,
    check_request,
    chunked_batches,
    decimal_type,
    failure,
    port_of,
    required,
    schema_of,
    scrub,
    secret_values,
    setting,
    ssl_mode_of,
    strip_query,
    table_parts,
    timeout_of,
)
from cirrus_connectors.base import ExtractionRefused

if TYPE_CHECKING:
    from collections.abc import Iterator

    from cirrus_core.data.connection import ExtractRequest, SourceConfig

DEFAULT_PORT: Final = 5432

_NUMERIC: Final = 1700
# Types whose psycopg values Arrow takes as they are.
_DIRECT: Final[dict[int, pa.DataType]] = {
    21: pa.int16(),
    23: pa.int32(),
    20: pa.int64(),
    700: pa.float32(),
    701: pa.float64(),
    16: pa.bool_(),
    1082: pa.date32(),
    1083: pa.time64("us"),
    17: pa.binary(),
    # Loaded as text (see _text_loaded_oids): the JSON text, the UUID's canonical form, the strings.
    25: pa.string(),  # text
    1043: pa.string(),  # varchar
    1042: pa.string(),  # char(n), blank-padded as PostgreSQL returns it
    19: pa.string(),  # name
    18: pa.string(),  # "char"
    114: pa.string(),  # json
    3802: pa.string(),  # jsonb
    2950: pa.string(),  # uuid
}
# Loaded as text and parsed by Arrow, which is faster than building a datetime (with its time zone)
# or a Decimal per value: PostgreSQL's text form is ISO 8601 (the session is in UTC: "+00").
_PARSED: Final[dict[int, pa.DataType]] = {
    1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"),
}
# The types loaded as Python objects that Arrow takes: everything else is loaded as text.
_LOADED: Final = frozenset({21, 23, 20, 700, 701, 16, 1082, 1083, 17})

_cursor_numbers = itertools.count(1)


def open(source: SourceConfig) -> PostgresConnector:
    """A connected PostgreSQL connector, or ConnectionFailed."""
    return PostgresConnector(source)


class PostgresConnector:
    """One connection to a PostgreSQL database (autocommit; each extraction is one transaction)."""

    def __init__(self, source: SourceConfig) -> None:
        self._source = source
        self._secrets = secret_values(source.secret)
        self._connection = self._connect()

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        source = self._source
        host = required(source, "host")
        user = required(source, "user")
        keywords: dict[str, Any] = {
            "host": host,
            "port": port_of(source, DEFAULT_PORT),
            "dbname": str(source.connection.get("database") or user),
            "user": user,
            "connect_timeout": timeout_of(source),
            "sslmode": ssl_mode_of(source),
            "application_name": "cirrus",
            # Sessions in UTC: timestamptz values arrive as UTC instants.
            "options": "-c TimeZone=UTC",
        }
        root_certificate = setting(source, "sslrootcert")
        if root_certificate:
            keywords["sslrootcert"] = str(root_certificate)
        password = source.secret.get("password")
        if password is not None:
            keywords["password"] = str(password)
        try:
            connection = psycopg.connect(autocommit=True, **keywords)
        except psycopg.Error as error:
            raise failure(f"could not connect to PostgreSQL at {host}", error, self._secrets) from None
        connection.read_only = True
        for oid in _text_loaded_oids():
            connection.adapters.register_loader(oid, TextLoader)
        return connection

    def test(self) -> float:
        """Round-trip milliseconds of `SELECT 1`."""
        started = time.perf_counter()
        try:
            self._connection.execute("SELECT 1").fetchone()
        except psycopg.Error as error:
            raise failure("PostgreSQL did not answer SELECT 1", error, self._secrets) from None
        return (time.perf_counter() - started) * 1000

    def extract(self, request: ExtractRequest) -> Iterator[pa.RecordBatch]:
        """The request's rows in batches of at most `chunk_rows`; a result of no rows gives one empty
        batch with the schema. The request is checked now; the query runs on the first batch."""
        chunk_rows = check_request(request)
        return self._batches(_statement(request), request, chunk_rows)

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()

    def _batches(
        self, statement: sql.SQL | sql.Composed, request: ExtractRequest, chunk_rows: int
    ) -> Iterator[pa.RecordBatch]:
        connection = self._connection
        try:
            with (
                connection.transaction(),
                connection.cursor(name=f"cirrus_extract_{next(_cursor_numbers)}") as cursor,
            ):
                cursor.execute(statement)
                columns = _columns(cursor.description or [])
                yield from chunked_batches(cursor.fetchmany, columns, schema_of(columns), chunk_rows)
        except errors.UndefinedTable as error:
            text = self._driver_text(error)
            if request.table is not None:
                raise ExtractionRefused(
                    f"table {request.table!r} does not exist in PostgreSQL ({text})"
                ) from None
            raise ExtractionRefused(f"the query names a table that does not exist ({text})") from None
        except errors.UndefinedColumn as error:
            text = self._driver_text(error)
            if request.watermark_column and request.watermark_column in text:
                raise ExtractionRefused(
                    f"watermark column {request.watermark_column!r} does not exist in the result ({text})"
                ) from None
            raise ExtractionRefused(f"the query names a column that does not exist ({text})") from None
        except psycopg.Error as error:
            raise failure("PostgreSQL refused the extraction", error, self._secrets) from None

    def _driver_text(self, error: psycopg.Error) -> str:
        return scrub(str(error).strip(), self._secrets)


def _text_loaded_oids() -> list[int]:
    """Every built-in type (and array type) psycopg would load as a Python object we do not map."""
    oids: set[int] = set()
    for info in postgres.types:
        oids.add(info.oid)
        if info.array_oid:
            oids.add(info.array_oid)
    return sorted(oids - _LOADED)


def _columns(description: list[psycopg.Column]) -> list[Column]:
    return [_column(item) for item in description]


def _column(item: psycopg.Column) -> Column:
    oid = item.type_code
    if oid == _NUMERIC:
        if item.precision is None:
            return Column(item.name, pa.float64(), from_text=True)
        declared = decimal_type(item.precision, item.scale or 0)
        return Column(item.name, declared or pa.string(), from_text=True)
    parsed = _PARSED.get(oid)
    if parsed is not None:
        return Column(item.name, parsed, from_text=True)
    direct = _DIRECT.get(oid)
    if direct is not None:
        return Column(item.name, direct)
    return Column(item.name, pa.string(), as_text)


def _statement(request: ExtractRequest) -> sql.SQL | sql.Composed:
    """The SQL to declare the cursor for; a watermark goes in as a quoted literal, so the statement
    has no placeholders and the user's own % signs stay as written."""
    if request.table is not None:
        source: sql.SQL | sql.Composed = sql.SQL("SELECT * FROM {}").format(
            sql.Identifier(*table_parts(request.table))
        )
    else:
        source = sql.SQL(strip_query(request.query or ""))  # the user's own SQL, on purpose
    if not request.watermark_column:
        return source
    watermark = sql.Identifier(request.watermark_column)
    if request.after_watermark is None:
        return sql.SQL("SELECT * FROM ({}) AS q ORDER BY q.{}").format(source, watermark)
    return sql.SQL("SELECT * FROM ({}) AS q WHERE q.{} > {} ORDER BY q.{}").format(
        source, watermark, sql.Literal(request.after_watermark), watermark
    )
