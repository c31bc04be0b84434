"""Data sources: what a user sends to register one, what is stored, and what is shown.

A source names a system Cirrus reads from (a database, an S3 prefix, a stream) and how to reach it.
Its secret fields (a database password, a MongoDB connection string, a Kafka SASL password) live in
Secrets Manager, one secret per source; the table and every response hold only the rest, with the
names of the fields kept secret (docs/data.md, "Storage" and "Secrets").

The request body takes `connection` and `options` as plain objects so that the service answers an
unknown type with `unknown_source_type` and parameters that do not fit their type with
`invalid_connection` (details name the fields). No message here quotes the input: a password typed
into the wrong field would otherwise reach the response and the logs.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Final, Literal
from urllib.parse import quote, quote_plus, unquote, urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from cirrus_core.data.http import DATA_NAME_PATTERN
from cirrus_core.errors import InvalidConnection, UnknownSourceType

if TYPE_CHECKING:
    from collections.abc import Iterable

# The validation context's key for the buckets an s3 source may read.
ALLOWED_BUCKETS: Final = "allowed_buckets"

SourceName = Annotated[str, StringConstraints(pattern=DATA_NAME_PATTERN)]

MAX_FIELDS: Final = 32
MAX_SECRET_LENGTH: Final = 4096
MAX_STREAM_COLUMNS: Final = 500
# What replaces a secret value found in a driver's message.
REDACTED: Final = "***"

_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_KEY_SEGMENT = re.compile(r"^[A-Za-z0-9!_.*'()=+,;:@ -]{1,255}$")
_ARROW_TYPE = re.compile(
    r"^(bool|u?int(8|16|32|64)|halffloat|float|double|string|large_string|binary|large_binary"
    r"|date32\[day\]|date64\[ms\]|time64\[(us|ns)\]"
    r"|timestamp\[(s|ms|us|ns)(, tz=[A-Za-z0-9_+/:-]{1,64})?\]"
    r"|decimal128\([1-9][0-9]?, [0-9][0-9]?\))$"
)


class SourceType(StrEnum):
    POSTGRESQL = "postgresql"
    MYSQL = "mysql"
    MONGODB = "mongodb"
    CASSANDRA = "cassandra"
    S3 = "s3"
    KINESIS = "kinesis"
    KAFKA = "kafka"


SOURCE_TYPES: Final = tuple(kind.value for kind in SourceType)


# -- field types --------------------------------------------------------------------------------------


def _host(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        labels = value.removesuffix(".").split(".")
        if len(value) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
            raise ValueError("must be a host name or an IP address") from None
    return value


def _bootstrap_server(value: str) -> str:
    host, colon, port = value.rpartition(":")
    if not colon or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError("must be host:port with a port from 1 to 65535")
    _host(host.removeprefix("[").removesuffix("]") if host.startswith("[") else host)
    return value


def _key_prefix(value: str) -> str:
    if not value:
        return value
    if value.startswith("/"):
        raise ValueError("must not start with '/'")
    for segment in value.removesuffix("/").split("/"):
        if segment in ("", ".", ".."):
            raise ValueError("may not contain empty, '.' or '..' segments")
        if not _KEY_SEGMENT.fullmatch(segment):
            raise ValueError("contains characters outside the accepted set")
    return value


Host = Annotated[str, StringConstraints(min_length=1, max_length=253), AfterValidator(_host)]
Port = Annotated[int, Field(ge=1, le=65535, strict=True)]
# Database, user and keyspace names: any printable text the database accepts, within reason.
DbName = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]{1,128}$")]
SecretText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_SECRET_LENGTH)]
Seconds = Annotated[int, Field(ge=1, le=900, strict=True)]
ChunkRows = Annotated[int, Field(ge=100, le=1_000_000, strict=True)]
SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
BootstrapServer = Annotated[
    str, StringConstraints(min_length=3, max_length=260), AfterValidator(_bootstrap_server)
]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request, by the field it concerns (`connection.port`)."""

    field: str
    message: str


class _Fields(BaseModel):
    """A type's connection parameters or options; `SECRET_FIELDS` go to Secrets Manager."""

    # Built on first use: only the function that creates sources validates them.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    SECRET_FIELDS: ClassVar[frozenset[str]] = frozenset()

    def problems(self) -> list[Problem]:
        """What is wrong across fields, once each field is valid on its own."""
        return []


def _both_or_neither(model: _Fields, first: str, second: str) -> list[Problem]:
    given = {name for name in (first, second) if getattr(model, name) is not None}
    if len(given) == 1:
        missing = second if first in given else first
        return [Problem(f"connection.{missing}", f"{first} and {second} go together: give both or neither")]
    return []


# -- connection parameters per type ---------------------------------------------------------------------


class SqlConnection(_Fields):
    """PostgreSQL or MySQL: `sslmode` takes libpq's names (the MySQL connector maps them)."""

    SECRET_FIELDS = frozenset({"password"})

    host: Host
    port: Port
    database: DbName
    user: DbName
    password: SecretText
    sslmode: SslMode | None = None
    connect_timeout_s: Annotated[int, Field(ge=1, le=60, strict=True)] | None = None


class MongoConnection(_Fields):
    """MongoDB: a connection string (secret: it usually carries credentials), or host and port."""

    SECRET_FIELDS = frozenset({"uri", "password"})

    uri: SecretText | None = None
    host: Host | None = None
    port: Port | None = None
    user: DbName | None = None
    password: SecretText | None = None
    auth_source: DbName | None = None
    tls: bool | None = Field(default=None, description="host form: whether to connect over TLS.")
    database: DbName

    def problems(self) -> list[Problem]:
        if self.uri is not None:
            found: list[Problem] = []
            if not self.uri.startswith(("mongodb://", "mongodb+srv://")):
                found.append(Problem("connection.uri", "must start with mongodb:// or mongodb+srv://"))
            for name in ("host", "port", "user", "password", "auth_source", "tls"):
                if getattr(self, name) is not None:
                    found.append(Problem(f"connection.{name}", "give either uri or host and port, not both"))
            return found
        found = [
            Problem(f"connection.{name}", "required unless uri is given")
            for name in ("host", "port")
            if getattr(self, name) is None
        ]
        if self.password is not None and self.user is None:
            found.append(Problem("connection.user", "a password needs a user"))
        return found


class CassandraConnection(_Fields):
    SECRET_FIELDS = frozenset({"password"})

    contact_points: Annotated[list[Host], Field(min_length=1, max_length=16)]
    port: Port
    keyspace: Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,47}$")]
    local_dc: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")] | None = None
    user: DbName | None = None
    password: SecretText | None = None
    tls: bool | None = Field(default=None, description="Whether to connect over TLS.")

    def problems(self) -> list[Problem]:
        return _both_or_neither(self, "user", "password")


class S3Connection(_Fields):
    """Objects under a prefix of a bucket the platform may read (checked against the allowed buckets)."""

    bucket: Annotated[str, StringConstraints(pattern=_BUCKET.pattern)]
    prefix: Annotated[str, StringConstraints(max_length=1024), AfterValidator(_key_prefix)] = ""
    format: Literal["csv", "parquet", "jsonl"]
    region: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$")] | None = None

    @field_validator("bucket")
    @classmethod
    def _allowed(cls, value: str, info: ValidationInfo) -> str:
        allowed = (info.context or {}).get(ALLOWED_BUCKETS)
        if allowed is not None and value not in allowed:
            raise ValueError(
                "is not the data bucket, the artifact bucket nor on the artifact bucket allowlist"
            )
        return value


class KinesisConnection(_Fields):
    stream_arn: Annotated[
        str,
        StringConstraints(
            pattern=r"^arn:aws[a-z-]*:kinesis:[a-z0-9-]+:[0-9]{12}:stream/[A-Za-z0-9_.-]{1,128}$"
        ),
    ]


class KafkaConnection(_Fields):
    """A Kafka topic; SASL_SSL takes a mechanism, a username and a password, the others none."""

    SECRET_FIELDS = frozenset({"password"})

    bootstrap_servers: Annotated[list[BootstrapServer], Field(min_length=1, max_length=20)]
    topic: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,249}$")]
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_SSL"]
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    username: Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]{1,256}$")] | None = None
    password: SecretText | None = None

    def problems(self) -> list[Problem]:
        sasl = ("sasl_mechanism", "username", "password")
        if self.security_protocol == "SASL_SSL":
            return [
                Problem(f"connection.{name}", "required with security_protocol SASL_SSL")
                for name in sasl
                if getattr(self, name) is None
            ]
        return [
            Problem(f"connection.{name}", "only with security_protocol SASL_SSL")
            for name in sasl
            if getattr(self, name) is not None
        ]


# -- options per type -----------------------------------------------------------------------------------


class SqlOptions(_Fields):
    chunk_rows: ChunkRows | None = Field(default=None, description="Rows per fetch and per batch.")
    statement_timeout_s: Seconds | None = Field(default=None, description="Server-side query timeout.")


class MongoOptions(_Fields):
    chunk_rows: ChunkRows | None = None
    max_time_s: Seconds | None = Field(default=None, description="maxTimeMS of each find, in seconds.")


class CassandraOptions(_Fields):
    chunk_rows: ChunkRows | None = Field(default=None, description="The fetch size (rows per page).")
    request_timeout_s: Seconds | None = None
    consistency: Literal["ONE", "LOCAL_ONE", "QUORUM", "LOCAL_QUORUM", "ALL"] | None = None
    allow_filtering: bool | None = Field(
        default=None, description="Let incremental reads filter on a column that is not a key."
    )


class S3Options(_Fields):
    chunk_rows: ChunkRows | None = None
    csv_delimiter: Annotated[str, StringConstraints(min_length=1, max_length=1)] | None = None
    csv_header: bool | None = Field(default=None, description="Whether the first CSV line names columns.")


class StreamColumn(BaseModel):
    """One column of a stream's records; `type` is Arrow's name for it (`int64`, `string`, ...)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
    type: Annotated[str, StringConstraints(pattern=_ARROW_TYPE.pattern)]
    nullable: bool = True


class StreamOptions(_Fields):
    """Kinesis and Kafka: the records' schema, and where a new consumer starts reading."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True, serialize_by_alias=True)

    columns: Annotated[list[StreamColumn], Field(min_length=1, max_length=MAX_STREAM_COLUMNS)] | None = Field(
        default=None, alias="schema", description="The records' columns, in order."
    )
    starting_position: Literal["TRIM_HORIZON", "LATEST"] | None = None

    def problems(self) -> list[Problem]:
        names = [column.name for column in self.columns or []]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            return [Problem("options.schema", f"columns named more than once: {', '.join(duplicates)}")]
        return []


CONNECTION_MODELS: Final[dict[SourceType, type[_Fields]]] = {
    SourceType.POSTGRESQL: SqlConnection,
    SourceType.MYSQL: SqlConnection,
    SourceType.MONGODB: MongoConnection,
    SourceType.CASSANDRA: CassandraConnection,
    SourceType.S3: S3Connection,
    SourceType.KINESIS: KinesisConnection,
    SourceType.KAFKA: KafkaConnection,
}
OPTION_MODELS: Final[dict[SourceType, type[_Fields]]] = {
    SourceType.POSTGRESQL: SqlOptions,
    SourceType.MYSQL: SqlOptions,
    SourceType.MONGODB: MongoOptions,
    SourceType.CASSANDRA: CassandraOptions,
    SourceType.S3: S3Options,
    SourceType.KINESIS: StreamOptions,
    SourceType.KAFKA: StreamOptions,
}
# Every field any type keeps secret: their values are kept out of messages whatever the type.
ALL_SECRET_FIELDS: Final = frozenset(
    name for model in CONNECTION_MODELS.values() for name in model.SECRET_FIELDS
)


# -- the API's bodies ---------------------------------------------------------------------------------------


class CreateSourceRequest(BaseModel):
    """The body of POST /data/sources."""

    model_config = ConfigDict(extra="forbid")

    name: SourceName
    type: str = Field(max_length=32, description=f"One of: {', '.join(SOURCE_TYPES)}.")
    connection: dict[str, JsonValue] = Field(
        max_length=MAX_FIELDS,
        description=(
            "postgresql, mysql `{host, port, database, user, password, sslmode?, connect_timeout_s?}`; "
            "mongodb `{uri, database}` or `{host, port, user?, password?, auth_source?, tls?, database}`; "
            "cassandra `{contact_points, port, keyspace, local_dc?, user?, password?, tls?}`; "
            "s3 `{bucket, prefix?, format: csv|parquet|jsonl, region?}`; kinesis `{stream_arn}`; "
            "kafka `{bootstrap_servers, topic, security_protocol: PLAINTEXT|SSL|SASL_SSL, "
            "sasl_mechanism?, username?, password?}`. password and uri are kept in Secrets Manager "
            "and never shown again."
        ),
    )
    options: dict[str, JsonValue] = Field(
        default_factory=dict,
        max_length=MAX_FIELDS,
        description=(
            "postgresql, mysql `{chunk_rows?, statement_timeout_s?}`; mongodb `{chunk_rows?, "
            "max_time_s?}`; cassandra `{chunk_rows?, request_timeout_s?, consistency?, "
            "allow_filtering?}`; s3 `{chunk_rows?, csv_delimiter?, csv_header?}`; kinesis, kafka "
            "`{schema?: [{name, type, nullable}], starting_position?: TRIM_HORIZON|LATEST}`."
        ),
    )
    description: str = Field(default="", max_length=512)


class SourceView(BaseModel):
    """A source as the API shows it: never a secret value."""

    name: str
    type: SourceType
    description: str = ""
    connection: dict[str, JsonValue] = Field(description="The connection parameters but the secret ones.")
    options: dict[str, JsonValue] = Field(default_factory=dict)
    secret_fields: list[str] = Field(
        default_factory=list, description="The parameters kept in Secrets Manager (never shown)."
    )
    secret_version: str | None = Field(default=None, description="Secrets Manager version of its secret.")
    created_at: datetime
    created_by: str


class SourceRecord(SourceView):
    """What the data table stores of a source: the view plus its secret's ARN."""

    secret_arn: str | None = None

    def view(self) -> SourceView:
        return SourceView.model_validate(self.model_dump(exclude={"secret_arn"}))


class SourcePage(BaseModel):
    items: list[SourceView]
    next_token: str | None = None


class SourceTestError(BaseModel):
    code: Literal["connection_failed"] = "connection_failed"
    message: str = Field(description="The driver's message, with every secret value removed.")


class SourceTestResult(BaseModel):
    """The answer of POST /data/sources/{name}/test: `latency_ms` when ok, `error` when not."""

    name: str
    type: SourceType
    ok: bool
    latency_ms: float | None = None
    error: SourceTestError | None = None


# -- validation -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceDefinition:
    """A validated request: the non-secret connection fields and the secret ones apart."""

    name: str
    type: SourceType
    description: str
    connection: dict[str, Any]
    options: dict[str, Any]
    secret: dict[str, str] = field(repr=False)


class SourceUnreachable(Exception):
    """A source's connector could not connect or run its trivial request; `message` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_source(request: CreateSourceRequest, *, allowed_buckets: frozenset[str]) -> SourceDefinition:
    """Validate a request's type, connection and options; refuse with every problem found."""
    try:
        kind = SourceType(request.type)
    except ValueError:
        raise UnknownSourceType(
            f"Unknown source type; the types are: {', '.join(SOURCE_TYPES)}.",
            [{"field": "type", "allowed": list(SOURCE_TYPES)}],
        ) from None
    context = {ALLOWED_BUCKETS: allowed_buckets}
    connection, problems = _validated(CONNECTION_MODELS[kind], request.connection, "connection", context)
    options, option_problems = _validated(OPTION_MODELS[kind], request.options, "options", context)
    problems.extend(option_problems)
    csv_only = isinstance(options, S3Options) and (
        options.csv_delimiter is not None or options.csv_header is not None
    )
    if csv_only and isinstance(connection, S3Connection) and connection.format != "csv":
        problems.append(Problem("options", "csv_delimiter and csv_header apply to the csv format only"))
    if problems or connection is None or options is None:
        # Defensively, as no message is meant to quote the input: whatever a secret field held.
        given = [value for key, value in request.connection.items() if key in ALL_SECRET_FIELDS]
        details = [{"field": p.field, "message": scrub(p.message, given)} for p in problems]
        raise InvalidConnection(
            f"Bad connection parameters for a source of type {kind.value}: "
            + "; ".join(f"{detail['field']} {detail['message']}" for detail in details)
            + ".",
            details,
        )
    stored = connection.model_dump(mode="json", exclude_none=True)
    return SourceDefinition(
        name=request.name,
        type=kind,
        description=request.description,
        connection={key: value for key, value in stored.items() if key not in connection.SECRET_FIELDS},
        options=options.model_dump(mode="json", exclude_none=True, by_alias=True),
        secret={key: str(value) for key, value in stored.items() if key in connection.SECRET_FIELDS},
    )


def _validated(
    model: type[_Fields], document: dict[str, Any], prefix: str, context: dict[str, Any]
) -> tuple[_Fields | None, list[Problem]]:
    try:
        validated = model.model_validate(document, context=context)
    except ValidationError as error:
        # The messages and locations only: a ValidationError's own text quotes the input.
        return None, [
            Problem(
                ".".join([prefix, *(str(part) for part in item["loc"])]),
                item["msg"].removeprefix("Value error, "),
            )
            for item in error.errors(include_input=False, include_url=False, include_context=False)
        ]
    return validated, validated.problems()


def scrub(text: str, secrets: Iterable[object]) -> str:
    """`text` with every secret value (and its URL-encoded forms) replaced by `***`.

    Values that are not text are skipped. A connection string also has its password part removed on
    its own, as drivers print a URI's host without its credentials but may print the password alone.
    """
    plain: set[str] = set()
    for value in secrets:
        if not isinstance(value, str) or not value:
            continue
        plain.add(value)
        if "://" in value:
            try:
                password = urlsplit(value).password
            except ValueError:
                password = None
            if password:
                plain.update({password, unquote(password)})
    variants = {form for value in plain for form in (value, quote(value, safe=""), quote_plus(value))}
    for variant in sorted(variants, key=len, reverse=True):
        text = text.replace(variant, REDACTED)
    return text
