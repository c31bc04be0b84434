"""The MySQL and MariaDB connector (PyMySQL): a read-only transaction, an unbuffered cursor, Arrow batches.

Connection fields: `host`, `port` (3306), `database`, `user`; secret: `password`; `sslmode`
(`disable`, `prefer` (the default: TLS when the server offers it), `require`, `verify-ca`,
`verify-full`), `sslrootcert` (a CA file for the verify modes) and `connect_timeout` (seconds,
default 10) from the options or the connection fields. The session's time zone is UTC.

An extraction runs in a READ ONLY transaction through PyMySQL's SSCursor, which reads rows off the
socket as they are fetched (FETCH_ROWS at a time, each turned into Arrow at once): the client holds
one batch of `chunk_rows` rows and one fetch, never the table. Tables are backtick-quoted identifier
by identifier (`db.table`); incremental extraction wraps the table or query as PostgreSQL's
connector does (`... AS q WHERE q.<watermark> > %s ORDER BY q.<watermark>`, the value escaped by
PyMySQL). An extraction abandoned part-way closes the connection (see MySQLConnector).

Arrow types, from each column's type code and flags (known before the first row):
TINYINT/SMALLINT/MEDIUMINT/INT/BIGINT -> int8/16/32/32/64, uint* when UNSIGNED (TINYINT(1) stays an
integer); YEAR -> int16; FLOAT/DOUBLE -> float/double; DECIMAL(p, s) -> decimal128(p, s) (decimal256
past 38 digits); DATE -> date32; DATETIME -> timestamp[us]; TIMESTAMP -> timestamp[us, tz=UTC];
TIME -> duration[us] (MySQL's TIME is a signed span of up to 838 hours, not a time of day); JSON ->
string; CHAR/VARCHAR/TEXT/ENUM/SET -> string; BINARY/VARBINARY/BLOB (binary character set) -> binary;
BIT -> uint64; everything else (GEOMETRY, NULL) -> string or binary by character set. Dates,
times and decimals come as text that Arrow parses; zero dates ('0000-00-00', a 00 month or day)
read as null.
"""

from __future__ import annotations

import contextlib
import itertools
import ssl
import time
from typing import TYPE_CHECKING, Any, Final, cast

import pyarrow as pa
import pymysql
import pymysql.cursors
from pymysql.constants import FIELD_TYPE, FLAG
from pymysql.converters import conversions

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
from cirrus_connectors.base import ConnectionFailed, ExtractionRefused

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from cirrus_core.data.connection import ExtractRequest, SourceConfig

DEFAULT_PORT: Final = 3306
_BINARY_CHARSET: Final = 63
_NO_SUCH_TABLE: Final = 1146
_BAD_FIELD: Final = 1054

_INTEGERS: Final[dict[int, tuple[pa.DataType, pa.DataType]]] = {
    FIELD_TYPE.TINY: (pa.int8(), pa.uint8()),
    FIELD_TYPE.SHORT: (pa.int16(), pa.uint16()),
    FIELD_TYPE.INT24: (pa.int32(), pa.uint32()),
    FIELD_TYPE.LONG: (pa.int32(), pa.uint32()),
    FIELD_TYPE.LONGLONG: (pa.int64(), pa.uint64()),
}
_DIRECT: Final[dict[int, pa.DataType]] = {
    FIELD_TYPE.YEAR: pa.int16(),
    FIELD_TYPE.FLOAT: pa.float32(),
    FIELD_TYPE.DOUBLE: pa.float64(),
    FIELD_TYPE.TIME: pa.duration("us"),
    FIELD_TYPE.JSON: pa.string(),
}
# Dates and times arrive as MySQL's text (see _CONVERTERS) and Arrow parses them, which is much
# faster than PyMySQL's regular expression and datetime per value.
_DATES: Final[dict[int, pa.DataType]] = {
    FIELD_TYPE.DATE: pa.date32(),
    FIELD_TYPE.NEWDATE: pa.date32(),
    FIELD_TYPE.DATETIME: pa.timestamp("us"),
    # The session is in UTC, so TIMESTAMP values arrive as UTC wall times.
    FIELD_TYPE.TIMESTAMP: pa.timestamp("us", tz="UTC"),
}
_DECIMALS: Final = frozenset({FIELD_TYPE.DECIMAL, FIELD_TYPE.NEWDECIMAL})
# Text or bytes by character set, as PyMySQL decodes them.
_CHARACTER: Final = frozenset(
    {
        FIELD_TYPE.VARCHAR,
        FIELD_TYPE.VAR_STRING,
        FIELD_TYPE.STRING,
        FIELD_TYPE.TINY_BLOB,
        FIELD_TYPE.MEDIUM_BLOB,
        FIELD_TYPE.LONG_BLOB,
        FIELD_TYPE.BLOB,
        FIELD_TYPE.ENUM,
        FIELD_TYPE.SET,
        FIELD_TYPE.GEOMETRY,
    }
)

_cursor_numbers = itertools.count(1)


def open(source: SourceConfig) -> MySQLConnector:
    """A connected MySQL/MariaDB connector, or ConnectionFailed."""
    return MySQLConnector(source)


class MySQLConnector:
    """One connection to a MySQL or MariaDB database (autocommit; each extraction one transaction).

    An extraction abandoned part-way closes the connection (an unbuffered result would otherwise be
    read to its end); the next call opens a new one.
    """

    def __init__(self, source: SourceConfig) -> None:
        self._source = source
        self._secrets = secret_values(source.secret)
        self._connection: pymysql.connections.Connection[pymysql.cursors.SSCursor] | None = self._connect()

    def _connect(self) -> pymysql.connections.Connection[pymysql.cursors.SSCursor]:
        source = self._source
        host = required(source, "host")
        user = required(source, "user")
        database = source.connection.get("database")
        mode = ssl_mode_of(source)
        password = source.secret.get("password")
        try:
            connection = pymysql.connect(
                host=host,
                port=port_of(source, DEFAULT_PORT),
                user=user,
                password=str(password) if password is not None else "",
                database=str(database) if database else None,
                connect_timeout=timeout_of(source),
                charset="utf8mb4",
                cursorclass=pymysql.cursors.SSCursor,
                autocommit=True,
                init_command="SET time_zone = '+00:00'",
                conv=_CONVERTERS,
                ssl=_ssl_context(mode, setting(source, "sslrootcert")),
                ssl_disabled=mode == "disable",
            )
        except (pymysql.Error, OSError) as error:
            raise failure(f"could not connect to MySQL at {host}", error, self._secrets) from None
        return connection

    def _live(self) -> pymysql.connections.Connection[pymysql.cursors.SSCursor]:
        if self._connection is None or not self._connection.open:
            self._connection = self._connect()
        return self._connection

    def test(self) -> float:
        """Round-trip milliseconds of `SELECT 1`."""
        connection = self._live()
        started = time.perf_counter()
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchall()
        except pymysql.Error as error:
            raise failure("MySQL did not answer SELECT 1", error, self._secrets) from None
        return (time.perf_counter() - started) * 1000

    def extract(self, request: ExtractRequest) -> Iterator[pa.RecordBatch]:
        """The request's rows in batches of at most `chunk_rows`; a result of no rows gives one empty
        batch with the schema. The request is checked now; the query runs on the first batch."""
        chunk_rows = check_request(request)
        statement, params = _statement(request)
        return self._batches(statement, params, request, chunk_rows)

    def close(self) -> None:
        """Close the connection."""
        connection, self._connection = self._connection, None
        if connection is not None and connection.open:
            # A connection that broke mid-result may refuse a polite goodbye; it is closed either way.
            with contextlib.suppress(pymysql.Error, OSError):
                connection.close()

    def _batches(
        self, statement: str, params: tuple[Any, ...] | None, request: ExtractRequest, chunk_rows: int
    ) -> Iterator[pa.RecordBatch]:
        connection = self._live()
        finished = False
        # No `with` around the cursor: closing an unbuffered cursor reads the rest of its result,
        # the whole table when the caller stopped early; closing the connection does not.
        cursor = connection.cursor()
        try:
            cursor.execute("START TRANSACTION READ ONLY")
            cursor.execute(statement, params)
            columns = _columns(cursor)
            schema = schema_of(columns)
            yield from chunked_batches(cursor.fetchmany, columns, schema, chunk_rows)
            cursor.execute("COMMIT")
            cursor.close()
            finished = True
        except pymysql.Error as error:
            raise self._refusal(error, request) from None
        finally:
            if not finished:
                _abandon(cursor)
                self.close()

    def _refusal(self, error: pymysql.Error, request: ExtractRequest) -> Exception:
        code = error.args[0] if error.args and isinstance(error.args[0], int) else None
        text = scrub(" ".join(str(arg) for arg in error.args[1:]) or str(error), self._secrets)
        if code == _NO_SUCH_TABLE:
            if request.table is not None:
                return ExtractionRefused(f"table {request.table!r} does not exist in MySQL ({text})")
            return ExtractionRefused(f"the query names a table that does not exist ({text})")
        if code == _BAD_FIELD:
            if request.watermark_column and request.watermark_column in text:
                return ExtractionRefused(
                    f"watermark column {request.watermark_column!r} does not exist in the result ({text})"
                )
            return ExtractionRefused(f"the query names a column that does not exist ({text})")
        return ConnectionFailed(f"MySQL refused the extraction: {text}", driver_error=text)


def _ssl_context(mode: str, root_certificate: Any) -> ssl.SSLContext | None:
    """The TLS context a mode requires; None for `disable` and `prefer` (PyMySQL's own default)."""
    if mode in ("disable", "allow", "prefer"):
        return None
    context = ssl.create_default_context(cafile=str(root_certificate) if root_certificate else None)
    if mode != "verify-full":
        context.check_hostname = False
    if mode == "require":
        # libpq's meaning of `require`: encrypted, the certificate not checked.
        context.verify_mode = ssl.CERT_NONE
    return context


def _abandon(cursor: pymysql.cursors.SSCursor) -> None:
    """Give up the cursor's unbuffered result: PyMySQL would otherwise try to read the rest of it
    when the result is collected, from the socket that is being closed."""
    result = getattr(cursor, "_result", None)
    if result is not None:
        result.unbuffered_active = False


def _columns(cursor: pymysql.cursors.SSCursor) -> list[Column]:
    # PyMySQL keeps the column flags and character sets only on its result's field descriptors.
    result = getattr(cursor, "_result", None)
    fields = result.fields if result is not None else []
    return [_column(field) for field in fields]


def _column(field: Any) -> Column:
    name, code, flags = str(field.name), int(field.type_code), int(field.flags)
    unsigned = bool(flags & FLAG.UNSIGNED)
    if code in _INTEGERS:
        return Column(name, _INTEGERS[code][1 if unsigned else 0])
    if code in _DECIMALS:
        scale = int(field.scale)
        # The display length counts the sign and the decimal point.
        precision = int(field.length) - (1 if scale else 0) - (0 if unsigned else 1)
        declared = decimal_type(max(precision, scale, 1), scale)
        return Column(name, declared or pa.string(), from_text=True)
    if code in _DATES:
        arrow_type = _DATES[code]
        naive = pa.timestamp("us") if arrow_type == pa.timestamp("us", tz="UTC") else None
        return Column(name, arrow_type, _zero_dates_to_null, from_text=True, text_type=naive)
    if code == FIELD_TYPE.BIT:
        return Column(name, pa.uint64(), _bits)
    direct = _DIRECT.get(code)
    if direct is not None:
        return Column(name, direct)
    if code in _CHARACTER and int(field.charsetnr) == _BINARY_CHARSET:
        return Column(name, pa.binary())
    return Column(name, pa.string(), as_text)


def _bits(values: Sequence[Any]) -> list[int | None]:
    return [None if value is None else int.from_bytes(value, "big") for value in values]


def _quote(identifier: str) -> str:
    return "`" + identifier.replace("`", "``") + "`"


def _statement(request: ExtractRequest) -> tuple[str, tuple[Any, ...] | None]:
    """The SQL and its parameters; None means PyMySQL sends the SQL untouched (no % formatting)."""
    if request.table is not None:
        quoted = ".".join(_quote(part) for part in table_parts(request.table))
        source = f"SELECT * FROM {quoted}"  # noqa: S608  # backtick-quoted identifiers  # nosec B608
    else:
        source = strip_query(request.query or "")
    if not request.watermark_column:
        return source, None
    watermark = _quote(request.watermark_column)
    # PyMySQL formats the statement with % when it has parameters: the source's own % must stay.
    wrapped = source.replace("%", "%%")
    if request.after_watermark is None:
        # The user's own SQL, wrapped; the watermark column is quoted.
        return f"SELECT * FROM ({wrapped}) AS q ORDER BY q.{watermark}", ()  # noqa: S608  # nosec B608
    return (
        f"SELECT * FROM ({wrapped}) AS q WHERE q.{watermark} > %s ORDER BY q.{watermark}",  # noqa: S608  # nosec B608
        (request.after_watermark,),
    )


def _zero_dates_to_null(values: Sequence[Any]) -> list[Any]:
    """MySQL's zero dates ('0000-00-00', and '2024-00-00' where allowed) are no date: null."""
    return [None if value is None or "-00" in value[:10] else value for value in values]


# PyMySQL's converters, less those for dates, times and decimals: without a converter PyMySQL hands
# over the text, which Arrow parses. The encoders (Python values to SQL literals) stay.
_CONVERTERS: Final[dict[int | type[Any], Any]] = {
    key: value
    for key, value in cast("dict[int | type[Any], Any]", conversions).items()
    if key
    not in {
        FIELD_TYPE.DATETIME,
        FIELD_TYPE.TIMESTAMP,
        FIELD_TYPE.DATE,
        FIELD_TYPE.NEWDATE,
        FIELD_TYPE.DECIMAL,
        FIELD_TYPE.NEWDECIMAL,
    }
}
