"""Cassandra connector (cassandra-driver): a CQL query or a whole table, read page by page.

Connection: `contact_points` (a list, or a comma-separated string) or `host`, `port` (9042),
`keyspace`, `local_dc` (the data centre to read from; the driver takes the contact points' when it is
not given), `user` and `tls`; the secret holds `password`. Options: `consistency` (a consistency level
name) and `request_timeout_s` (per page; 60 s by default).

Reading. The statement is a `SimpleStatement` with `fetch_size = chunk_rows`, so each page the
server sends is one record batch; the next page is asked for with the previous page's
`paging_state`, and the read ends when a page carries none. Nothing but one page is held.
- `query`: the user's CQL, which must be a SELECT.
- `table`: `SELECT * FROM "<keyspace>"."<table>"` (`table` may be `keyspace.table`); the names are
  quoted, so they are taken exactly as Cassandra stores them (unquoted names are stored lower-case).
- Incremental (`watermark_column`, table mode only) adds `WHERE "<column>" > %s ALLOW FILTERING`, and
  only when the source's options say `allow_filtering: true`. A watermark column is rarely the
  partition key, and Cassandra filters on any other column only by reading every partition of the
  table on every replica set: the page latency then depends on how many rows the filter skips, and a
  large table can time out. The owner of the source opts in knowingly; otherwise the request is
  refused. With a query, write the condition into the CQL instead.

Types come from the result's column types (`cassandra.cqltypes`):
text/varchar/ascii -> string, int -> int32, bigint/counter -> int64, smallint -> int16,
tinyint -> int8, varint -> string (unbounded), boolean -> bool, float -> float32, double -> float64,
decimal -> string (each value has its own scale), timestamp -> timestamp[us, tz=UTC], date -> date32,
time -> time64[ns], uuid/timeuuid/inet/duration -> string, blob -> binary, and collections, tuples,
user types and vectors -> string holding their JSON.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any, Final

import pyarrow as pa

from cirrus_connectors.base import ConnectionFailed, ExtractionRefused, ExtractRequest, SourceConfig

DEFAULT_PORT: Final = 9042
CONNECT_TIMEOUT_SECONDS: Final = 10
# A page of a large scan may take a while on a busy cluster; a connection test answers in far less.
REQUEST_TIMEOUT_SECONDS: Final = 60.0
TEST_QUERY: Final = "SELECT release_version FROM system.local"
_SELECT: Final = re.compile(r"^\s*select\b", re.IGNORECASE)

ClusterFactory = Callable[..., Any]
"""Builds a cluster with cassandra.cluster.Cluster's signature; `connect(keyspace)` gives a Session."""


def open(source: SourceConfig, *, cluster_factory: ClusterFactory | None = None) -> CassandraConnector:
    """A connector for a Cassandra source; it connects on first use."""
    return CassandraConnector(source, cluster_factory=cluster_factory)


def contact_points(source: SourceConfig) -> list[str]:
    """The source's contact points, from `contact_points` or `host`."""
    raw = source.connection.get("contact_points") or source.connection.get("host")
    points = raw.split(",") if isinstance(raw, str) else list(raw or [])
    cleaned = [str(point).strip() for point in points if str(point).strip()]
    if not cleaned:
        raise ExtractionRefused("a cassandra source needs `contact_points` or `host`")
    return cleaned


def cluster_arguments(source: SourceConfig) -> dict[str, Any]:
    """The keyword arguments of the Cluster for this source."""
    from cassandra import ConsistencyLevel
    from cassandra.auth import PlainTextAuthProvider
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, ExecutionProfile
    from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
    from cassandra.query import tuple_factory

    local_dc = str(source.connection.get("local_dc") or "")
    profile_options: dict[str, Any] = {}
    consistency = source.options.get("consistency")
    if consistency:
        profile_options["consistency_level"] = ConsistencyLevel.name_to_value[str(consistency)]
    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=local_dc)),
        row_factory=tuple_factory,
        request_timeout=float(source.options.get("request_timeout_s") or REQUEST_TIMEOUT_SECONDS),
        **profile_options,
    )
    arguments: dict[str, Any] = {
        "contact_points": contact_points(source),
        "port": int(source.connection.get("port") or DEFAULT_PORT),
        "execution_profiles": {EXEC_PROFILE_DEFAULT: profile},
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "application_name": "cirrus",
    }
    user = source.connection.get("user")
    if user:
        arguments["auth_provider"] = PlainTextAuthProvider(
            username=str(user), password=str(source.secret.get("password", ""))
        )
    if source.connection.get("tls"):
        import ssl

        arguments["ssl_context"] = ssl.create_default_context()
    return arguments


def quote_identifier(name: str) -> str:
    """A CQL identifier in double quotes (an embedded quote doubled)."""
    if not name:
        raise ExtractionRefused("an empty keyspace, table or column name")
    return '"' + name.replace('"', '""') + '"'


def build_statement(request: ExtractRequest, source: SourceConfig) -> tuple[str, tuple[Any, ...]]:
    """The CQL and its parameters for a request (module docstring, "Reading")."""
    if request.query is not None:
        if request.table is not None:
            raise ExtractionRefused("give either `query` or `table`, not both")
        if request.watermark_column:
            raise ExtractionRefused(
                "an incremental read of a CQL query is not supported: put the condition in the query"
            )
        if not _SELECT.match(request.query):
            raise ExtractionRefused("a cassandra query must be a SELECT")
        return request.query, ()
    if not request.table:
        raise ExtractionRefused("a cassandra extraction needs `query` (CQL) or `table`")
    keyspace, _, table = request.table.rpartition(".")
    keyspace = keyspace or str(source.connection.get("keyspace") or "")
    if not keyspace:
        raise ExtractionRefused("name the keyspace: `keyspace.table`, or the source's `keyspace`")
    # Identifiers are quoted (no injection through a name); the watermark goes as a bound parameter.
    cql = f"SELECT * FROM {quote_identifier(keyspace)}.{quote_identifier(table)}"  # noqa: S608  # nosec B608
    if not request.watermark_column:
        return cql, ()
    if not source.options.get("allow_filtering"):
        raise ExtractionRefused(
            "an incremental cassandra read filters on a non-key column with ALLOW FILTERING, which "
            "scans the whole table: set the source option `allow_filtering: true` to accept that"
        )
    if request.after_watermark is None:
        return cql, ()
    return f"{cql} WHERE {quote_identifier(request.watermark_column)} > %s ALLOW FILTERING", (
        request.after_watermark,
    )


class CassandraConnector:
    """One cluster connection for one source."""

    def __init__(self, source: SourceConfig, *, cluster_factory: ClusterFactory | None = None) -> None:
        self._source = source
        self._cluster_factory = cluster_factory or _driver_cluster
        self._cluster: Any = None
        self._session: Any = None

    def test(self) -> float:
        """Latency of a read of `system.local` in milliseconds."""
        started = time.perf_counter()
        with self._driver_errors("Cassandra did not answer"):
            self._connect().execute(TEST_QUERY)
        return (time.perf_counter() - started) * 1000.0

    def extract(self, request: ExtractRequest) -> Iterator[pa.RecordBatch]:
        """The rows of the query or table, one record batch per page of `chunk_rows` rows at most.

        The request is checked here, before anything is read; pages are fetched as they are consumed.
        """
        if request.chunk_rows < 1:
            raise ExtractionRefused("chunk_rows must be at least 1")
        cql, parameters = build_statement(request, self._source)
        return self._pages(cql, parameters, request.chunk_rows)

    def close(self) -> None:
        """Shut the cluster connection down."""
        if self._cluster is not None:
            self._cluster.shutdown()
            self._cluster = None
            self._session = None

    def _pages(self, cql: str, parameters: tuple[Any, ...], chunk_rows: int) -> Iterator[pa.RecordBatch]:
        from cassandra.query import SimpleStatement

        statement = SimpleStatement(cql, fetch_size=chunk_rows)
        paging_state: bytes | None = None
        while True:
            with self._driver_errors("Cassandra refused the read"):
                page = self._connect().execute(statement, parameters or None, paging_state=paging_state)
            rows = list(page.current_rows)
            if rows:
                yield page_batch(rows, list(page.column_names), list(page.column_types))
            paging_state = page.paging_state
            if paging_state is None:
                return

    def _connect(self) -> Any:
        if self._session is None:
            self._cluster = self._cluster_factory(**cluster_arguments(self._source))
            keyspace = self._source.connection.get("keyspace")
            self._session = self._cluster.connect(str(keyspace) if keyspace else None)
        return self._session

    @contextmanager
    def _driver_errors(self, message: str) -> Iterator[None]:
        """The driver's errors as ConnectionFailed, with the secret's values taken out."""
        try:
            yield
        except _driver_exceptions() as error:
            from cirrus_core.data.sources import scrub

            text = scrub(str(error).strip(), self._source.secret.values())
            failure = ConnectionFailed(f"{message}: {text}" if text else message, driver_error=text or None)
            raise failure from None


def _driver_exceptions() -> tuple[type[BaseException], ...]:
    import cassandra
    from cassandra.cluster import NoHostAvailable

    return (
        cassandra.DriverException,
        cassandra.RequestExecutionException,
        cassandra.RequestValidationException,
        cassandra.OperationTimedOut,
        NoHostAvailable,
        OSError,
    )


def _driver_cluster(**arguments: Any) -> Any:
    from cassandra.cluster import Cluster

    return Cluster(**arguments)


# ------------------------------------------------------------------------------------------ types

_SCALARS: Final[Mapping[str, Any]] = {
    "text": pa.string(),
    "varchar": pa.string(),
    "ascii": pa.string(),
    "int": pa.int32(),
    "bigint": pa.int64(),
    "counter": pa.int64(),
    "smallint": pa.int16(),
    "tinyint": pa.int8(),
    "varint": pa.string(),
    "boolean": pa.bool_(),
    "float": pa.float32(),
    "double": pa.float64(),
    "decimal": pa.string(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
    "time": pa.time64("ns"),
    "uuid": pa.string(),
    "timeuuid": pa.string(),
    "inet": pa.string(),
    "duration": pa.string(),
    "blob": pa.binary(),
}
# Wrappers that change how a type is stored or sorted, not what its values are.
_WRAPPERS: Final = ("org.apache.cassandra.db.marshal.ReversedType", "frozen")


def _unwrapped(cql_type: Any) -> Any:
    while getattr(cql_type, "typename", None) in _WRAPPERS and getattr(cql_type, "subtypes", None):
        cql_type = cql_type.subtypes[0]
    return cql_type


def arrow_type(cql_type: Any) -> Any:
    """The Arrow type of a column of this cqltypes class (module docstring, "Types")."""
    return _SCALARS.get(getattr(_unwrapped(cql_type), "typename", ""), pa.string())


def page_batch(rows: Sequence[Any], names: list[str], cql_types: list[Any]) -> Any:
    """One page of rows (tuples, named tuples or dicts) as a record batch."""
    unwrapped = [_unwrapped(cql_type) for cql_type in cql_types]
    types = [arrow_type(cql_type) for cql_type in unwrapped]
    values = [[row[name] for name in names] if isinstance(row, Mapping) else list(row) for row in rows]
    arrays = [
        pa.array([_value(row[index], unwrapped[index], types[index]) for row in values], type=types[index])
        for index in range(len(names))
    ]
    schema = pa.schema([pa.field(name, kind, nullable=True) for name, kind in zip(names, types, strict=True)])
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _value(value: Any, cql_type: Any, kind: Any) -> Any:
    if value is None:
        return None
    typename = getattr(cql_type, "typename", "")
    if typename == "timestamp" and isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if typename == "date" and not isinstance(value, date):
        return value.date()  # cassandra.util.Date
    if typename == "time" and hasattr(value, "nanosecond_time"):
        return value.nanosecond_time  # cassandra.util.Time
    if kind == pa.string() and not isinstance(value, str):
        if typename in _SCALARS:
            return str(value)
        return json.dumps(_jsonable(value), default=str)
    return value


def _jsonable(value: Any) -> Any:
    """A collection, tuple or user type as plain JSON values (sets sorted, map keys as text)."""
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if hasattr(value, "_asdict"):  # a user type or named tuple
        return {str(key): _jsonable(item) for key, item in value._asdict().items()}
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, set | frozenset):
        return sorted((_jsonable(item) for item in value), key=str)
    if isinstance(value, Iterable):  # lists, tuples, vectors and the driver's SortedSet (already sorted)
        return [_jsonable(item) for item in value]
    return value
