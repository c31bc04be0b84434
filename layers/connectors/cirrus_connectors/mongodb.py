"""MongoDB connector (pymongo): a collection read in `_id` order, one bounded page per query.

Connection: `uri` (in the secret: it may carry credentials) or `host`, `port`, `user` (connection) with
`password` (secret); `database` names the database (or the URI's default database); optional
`auth_source` and `tls`. The request names the collection in `table`, with an optional `filter` and
`projection`.

Reading. Each page is its own query, `find(filter, projection).sort("_id").limit(chunk)`, and the next
one asks for `_id > the last _id seen`: no server cursor lives across pages, so a read that lasts
longer than a cursor's idle timeout still finishes, and a page can be asked for again from the last
`_id`. This assumes one `_id` type per collection (MongoDB compares `$gt` within a type). An
incremental read adds `{<watermark_column>: {"$gt": after_watermark}}` to the user's filter with
`$and`; `after_watermark` comes as the schema stored it (a `datetime`, a `Decimal` turned back into
`Decimal128`; an `_id` watermark's text turned back into an `ObjectId`). The source option
`max_time_s` bounds each page's query on the server (maxTimeMS).
Server-side JavaScript (`$where`, `$function`, `$accumulator`) is refused anywhere in the filter or
projection: a source's readers must not run code on the database server.

Schema. Documents carry no schema: it is inferred from the first page, and later pages are
conformed to it.
- `ObjectId`, `str`, `UUID` -> string; `bool` -> bool; `int` -> int64; `float` -> double;
  `datetime` -> timestamp[us, tz=UTC] (naive values are UTC, as BSON stores them); `bytes` -> binary;
  `Decimal128` -> decimal128(38, s), s the largest scale in the first page.
- Nested documents, arrays and any other BSON value -> string holding their (relaxed extended) JSON.
- A field with ints and floats -> double; with any other mix of types, or only nulls -> string.
- Fields named in an inclusion projection are in the schema even when the first page lacks them.
Later pages: a missing field is null. A string column takes any value (as its text, like nested
values); an int goes into a double column when the double holds it exactly, and into a decimal one;
any other value of another type, or a field the schema does not have, refuses the extraction
(`ExtractionRefused` naming the field and the document's `_id`): a dataset version never silently
drops or rewrites data. Name the fields with an inclusion projection to fix the schema up front.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

import pyarrow as pa
from bson import ObjectId, json_util
from bson.decimal128 import Decimal128

from cirrus_connectors.base import ConnectionFailed, ExtractionRefused, ExtractRequest, SourceConfig

DEFAULT_PORT: Final = 27017
# Long enough for a cold replica set election, short enough for an interactive connection test.
SERVER_SELECTION_TIMEOUT_MS: Final = 10_000
CONNECT_TIMEOUT_MS: Final = 10_000
JAVASCRIPT_OPERATORS: Final = frozenset({"$where", "$function", "$accumulator"})
DECIMAL_PRECISION: Final = 38
# Doubles hold every integer up to 2**53 exactly.
EXACT_DOUBLE_INTEGER: Final = 2**53

ClientFactory = Callable[..., Any]
"""Builds a client with pymongo.MongoClient's signature (mongomock.MongoClient in tests)."""


def open(source: SourceConfig, *, client_factory: ClientFactory | None = None) -> MongoConnector:
    """A connector for a MongoDB source; the client connects on first use."""
    return MongoConnector(source, client_factory=client_factory)


def client_arguments(source: SourceConfig) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The positional and keyword arguments of the MongoClient for this source."""
    options: dict[str, Any] = {
        "serverSelectionTimeoutMS": SERVER_SELECTION_TIMEOUT_MS,
        "connectTimeoutMS": CONNECT_TIMEOUT_MS,
        "tz_aware": True,
        "appname": "cirrus",
    }
    uri = source.secret.get("uri")
    if uri:
        return (str(uri),), options
    host = source.connection.get("host")
    if not host:
        raise ExtractionRefused("a mongodb source needs `uri` (secret) or `host`")
    options["host"] = str(host)
    options["port"] = int(source.connection.get("port") or DEFAULT_PORT)
    user = source.connection.get("user")
    if user:
        options["username"] = str(user)
        options["password"] = str(source.secret.get("password", ""))
        options["authSource"] = str(
            source.connection.get("auth_source") or source.connection.get("database") or "admin"
        )
    if source.connection.get("tls") is not None:
        options["tls"] = bool(source.connection["tls"])
    return (), options


class MongoConnector:
    """One MongoDB client for one source."""

    def __init__(self, source: SourceConfig, *, client_factory: ClientFactory | None = None) -> None:
        self._source = source
        factory = client_factory or _pymongo_client
        args, kwargs = client_arguments(source)
        self._client = factory(*args, **kwargs)

    def test(self) -> float:
        """Latency of a `ping` command in milliseconds."""
        from pymongo.errors import PyMongoError

        started = time.perf_counter()
        try:
            self._client.admin.command("ping")
        except PyMongoError as error:
            raise connection_failed("MongoDB did not answer a ping", error, self._source) from None
        return (time.perf_counter() - started) * 1000.0

    def extract(self, request: ExtractRequest) -> Iterator[pa.RecordBatch]:
        """The collection's documents in `_id` order, as batches of at most `chunk_rows` rows.

        The request is checked here, before anything is read; the pages are read as they are consumed.
        """
        collection_name, clauses, projection, drop_id = self._plan(request)
        return self._pages(collection_name, clauses, projection, drop_id, request.chunk_rows)

    def close(self) -> None:
        """Close the client's connections."""
        self._client.close()

    def _pages(
        self,
        collection_name: str,
        clauses: list[dict[str, Any]],
        projection: dict[str, Any] | None,
        drop_id: bool,
        chunk_rows: int,
    ) -> Iterator[pa.RecordBatch]:
        from pymongo.errors import PyMongoError

        max_time_s = self._source.options.get("max_time_s")
        try:
            collection = self._database()[collection_name]
            schema: DocumentSchema | None = None
            last_id: Any = None
            while True:
                page_clauses = [*clauses, {"_id": {"$gt": last_id}}] if last_id is not None else clauses
                cursor = (
                    collection.find(_conjunction(page_clauses), projection)
                    .sort("_id", 1)
                    .batch_size(chunk_rows)
                    .limit(chunk_rows)
                )
                if max_time_s:
                    cursor = cursor.max_time_ms(int(max_time_s) * 1000)
                documents = list(cursor)
                if not documents:
                    return
                last_id = documents[-1]["_id"]
                if drop_id:
                    documents = [_without_id(document) for document in documents]
                if schema is None:
                    schema = DocumentSchema.infer(documents, required=_projected_fields(projection))
                yield schema.batch(documents)
                if len(documents) < chunk_rows:
                    return
        except PyMongoError as error:
            message = f"MongoDB refused the read of {collection_name!r}"
            raise connection_failed(message, error, self._source) from None

    def _database(self) -> Any:
        name = self._source.connection.get("database")
        if name:
            return self._client[str(name)]
        from pymongo.errors import ConfigurationError

        try:
            return self._client.get_default_database()
        except ConfigurationError:
            raise ExtractionRefused("the mongodb source names no database (connection `database`)") from None

    @staticmethod
    def _plan(request: ExtractRequest) -> tuple[str, list[dict[str, Any]], dict[str, Any] | None, bool]:
        """The collection, the filter clauses, the projection sent and whether `_id` is dropped after."""
        if request.query is not None:
            raise ExtractionRefused(
                "a mongodb source reads a collection: give `table` and `filter`, not `query`"
            )
        if not request.table:
            raise ExtractionRefused("a mongodb extraction needs the collection's name in `table`")
        if request.chunk_rows < 1:
            raise ExtractionRefused("chunk_rows must be at least 1")
        user_filter = dict(request.filter or {})
        refuse_javascript(user_filter, "filter")
        clauses = [user_filter] if user_filter else []
        if request.watermark_column and request.after_watermark is not None:
            after = _bson_watermark(request.watermark_column, request.after_watermark)
            clauses.append({request.watermark_column: {"$gt": after}})
        projection: dict[str, Any] | None = None
        drop_id = False
        if request.projection:
            projection = dict(request.projection)
            refuse_javascript(projection, "projection")
            # Paging needs `_id`: it is always read, and dropped afterwards when the user excluded it.
            if "_id" in projection and not projection["_id"]:
                drop_id = True
                del projection["_id"]
            if not projection:
                projection = None
        return request.table, clauses, projection, drop_id


def refuse_javascript(value: Any, where: str) -> None:
    """Refuse `$where`, `$function` and `$accumulator` at any depth of a filter or projection."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key in JAVASCRIPT_OPERATORS:
                raise ExtractionRefused(
                    f"{key} runs JavaScript on the server and is not allowed in the {where}"
                )
            refuse_javascript(item, where)
    elif isinstance(value, list | tuple):
        for item in value:
            refuse_javascript(item, where)


def connection_failed(message: str, error: BaseException, source: SourceConfig) -> ConnectionFailed:
    """ConnectionFailed with the driver's text, every secret value (and a URI's password) taken out."""
    from cirrus_core.data.sources import scrub

    text = scrub(str(error).strip(), source.secret.values())
    return ConnectionFailed(f"{message}: {text}" if text else message, driver_error=text or None)


def _pymongo_client(*args: Any, **kwargs: Any) -> Any:
    import pymongo

    return pymongo.MongoClient(*args, **kwargs)


def _bson_watermark(column: str, value: Any) -> Any:
    """The watermark as MongoDB compares it: the snapshot runner gives back what the schema stored
    (a Decimal for a Decimal128 column, text for an ObjectId `_id`), and `$gt` only matches its own type."""
    if isinstance(value, Decimal):
        return Decimal128(value)
    if column == "_id" and isinstance(value, str) and ObjectId.is_valid(value):
        return ObjectId(value)
    return value


def _conjunction(clauses: list[dict[str, Any]]) -> dict[str, Any]:
    if not clauses:
        return {}
    if len(clauses) == 1:
        return clauses[0]
    return {"$and": clauses}


def _without_id(document: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key != "_id"}


def _projected_fields(projection: Mapping[str, Any] | None) -> list[str]:
    """Top-level fields an inclusion projection names (an exclusion projection names none)."""
    if not projection:
        return []
    included = [name.split(".", 1)[0] for name, flag in projection.items() if name != "_id" and flag]
    return list(dict.fromkeys(included))


# ------------------------------------------------------------------------------------------ schema

_ARROW_TYPES: Final[Mapping[str, Any]] = {
    "string": pa.string(),
    "int64": pa.int64(),
    "double": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "binary": pa.binary(),
}


def _kind(value: Any) -> str | None:
    """The column kind a single value asks for; None for null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "double"
    if isinstance(value, datetime):
        return "timestamp"
    if isinstance(value, bytes):
        return "binary"
    if isinstance(value, Decimal128):
        return "decimal"
    return "string"


def _decimal_shape(value: Decimal128) -> tuple[int, int] | None:
    """(integer digits, scale) of a finite decimal, or None for NaN and infinities."""
    number = value.to_decimal()
    if not number.is_finite():
        return None
    exponent = number.as_tuple().exponent
    scale = max(0, -int(exponent))
    integer_digits = max(1, number.adjusted() + 1)
    return integer_digits, scale


@dataclass(frozen=True)
class Column:
    """One field of the inferred schema."""

    name: str
    kind: str
    scale: int = 0

    @property
    def arrow_type(self) -> Any:
        if self.kind == "decimal":
            return pa.decimal128(DECIMAL_PRECISION, self.scale)
        return _ARROW_TYPES[self.kind]


@dataclass(frozen=True)
class DocumentSchema:
    """The schema of a collection's read: inferred from the first page, imposed on later ones."""

    columns: tuple[Column, ...]
    inferred_from: int

    @classmethod
    def infer(
        cls, documents: list[Mapping[str, Any]], *, required: list[str] | None = None
    ) -> DocumentSchema:
        """The schema of the first page (module docstring, "Schema")."""
        # `_id` first, as MongoDB returns it, then the fields in the order they first appear.
        names: dict[str, None] = {"_id": None} if any("_id" in document for document in documents) else {}
        for document in documents:
            names.update(dict.fromkeys(document))
        names.update(dict.fromkeys(required or []))
        columns = tuple(_infer_column(name, [document.get(name) for document in documents]) for name in names)
        return cls(columns=columns, inferred_from=len(documents))

    @property
    def arrow_schema(self) -> Any:
        return pa.schema([pa.field(column.name, column.arrow_type, nullable=True) for column in self.columns])

    def batch(self, documents: list[Mapping[str, Any]]) -> Any:
        """The documents as one record batch of this schema, or ExtractionRefused."""
        known = {column.name for column in self.columns}
        for document in documents:
            unknown = [name for name in document if name not in known]
            if unknown:
                raise ExtractionRefused(
                    f"field {unknown[0]!r} of document _id={document.get('_id')!s} is not in the schema "
                    f"inferred from the first {self.inferred_from} documents; name the fields to read "
                    "with an inclusion projection"
                )
        arrays = [
            pa.array(
                [_conform(column, document.get(column.name), document) for document in documents],
                type=column.arrow_type,
            )
            for column in self.columns
        ]
        return pa.RecordBatch.from_arrays(arrays, schema=self.arrow_schema)


def _infer_column(name: str, values: list[Any]) -> Column:
    kinds = {kind for kind in map(_kind, values) if kind is not None}
    if kinds == {"int64", "double"}:
        return Column(name, "double")
    if len(kinds) != 1:
        return Column(name, "string")
    kind = kinds.pop()
    if kind != "decimal":
        return Column(name, kind)
    shapes = [_decimal_shape(value) for value in values if value is not None]
    finite = [shape for shape in shapes if shape is not None]
    if len(finite) != len(shapes):
        return Column(name, "string")
    scale = max(shape[1] for shape in finite)
    if max(shape[0] for shape in finite) + scale > DECIMAL_PRECISION:
        return Column(name, "string")
    return Column(name, "decimal", scale)


def _conform(column: Column, value: Any, document: Mapping[str, Any]) -> Any:
    """The value as the column stores it, or ExtractionRefused when it does not fit."""
    kind = _kind(value)
    if kind is None:
        return None
    if column.kind == "string":
        return _text(value)
    if kind == column.kind:
        if kind == "timestamp":
            return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        if kind == "decimal":
            shape = _decimal_shape(value)
            if (
                shape is not None
                and shape[1] <= column.scale
                and shape[0] + column.scale <= DECIMAL_PRECISION
            ):
                return value.to_decimal()
        else:
            return value
    elif column.kind == "double" and kind == "int64" and abs(value) <= EXACT_DOUBLE_INTEGER:
        return float(value)
    elif (
        column.kind == "decimal"
        and kind == "int64"
        and len(str(abs(value))) + column.scale <= DECIMAL_PRECISION
    ):
        return Decimal(value)
    described = f"{kind} value" if kind != column.kind else "value that does not fit"
    raise ExtractionRefused(
        f"field {column.name!r} of document _id={document.get('_id')!s}: a {described} where the schema "
        f"inferred from the first documents has {column.arrow_type}; name the fields with a projection "
        "or filter the documents"
    )


def _text(value: Any) -> str:
    """A value as a string column stores it: strings as they are, ids as text, the rest as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, ObjectId | uuid.UUID):
        return str(value)
    return json_util.dumps(value)
