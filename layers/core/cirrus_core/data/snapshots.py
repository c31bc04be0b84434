"""Snapshot requests and jobs: `POST /data/datasets/{name}/snapshots` and what it starts.

A snapshot reads rows from a source into a new version of a dataset. What may be asked depends on
the source's type:

| source type | fields |
|---|---|
| postgresql, mysql (SQL), cassandra (CQL) | exactly one of `table` or `query` |
| mongodb | `table` (the collection), optional `filter` and `projection` |
| s3 | `prefix` (an `s3://` prefix), optional `format` (csv, parquet, jsonl) |
| kinesis, kafka | none: streams become datasets through their consumers, not snapshots |

`incremental: {watermark_column}` (databases only) reads the rows whose column is greater than the
greatest value the previous ready version read, and the new version holds the previous version's
parts plus the new one(s). Every check here happens before anything is written.
"""

from __future__ import annotations

import base64
import json
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Final, Self

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StringConstraints, model_validator

from cirrus_core.data.datasets import DataName, VersionNumber
from cirrus_core.data.http import JOB_ID_PATTERN
from cirrus_core.errors import InvalidIncremental, InvalidSnapshotRequest

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

# A column name as the connectors quote it: letters, digits and underscores.
COLUMN_PATTERN: Final = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
# A table, `schema.table` or `database.schema.table`; the connector quotes each part.
TABLE_PATTERN: Final = r"^[A-Za-z_][A-Za-z0-9_$-]{0,127}(\.[A-Za-z_][A-Za-z0-9_$-]{0,127}){0,2}$"
S3_PREFIX_PATTERN: Final = r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^\x00-\x1f]*)?$"
MAX_QUERY_LENGTH: Final = 20_000
MAX_DOCUMENT_CHARS: Final = 16_384

SQL_TYPES: Final = frozenset({"postgresql", "mysql"})
STREAM_TYPES: Final = frozenset({"kinesis", "kafka"})
INCREMENTAL_TYPES: Final = frozenset({"postgresql", "mysql", "mongodb", "cassandra"})
# Which request fields each type of source takes, and which of them at least one must be given.
_ALLOWED: Final[dict[str, frozenset[str]]] = {
    "postgresql": frozenset({"table", "query"}),
    "mysql": frozenset({"table", "query"}),
    "cassandra": frozenset({"table", "query"}),
    "mongodb": frozenset({"table", "filter", "projection"}),
    "s3": frozenset({"prefix", "format"}),
}
_EXTRACTION_FIELDS: Final = ("table", "query", "filter", "projection", "prefix", "format")

ColumnName = Annotated[str, StringConstraints(pattern=COLUMN_PATTERN)]


class FileFormat(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"
    JSONL = "jsonl"


class Incremental(BaseModel):
    """Read only the rows whose `watermark_column` is greater than the previous version's greatest."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    watermark_column: ColumnName = Field(
        description="A column that only grows (an id, an updated_at timestamp): letters, digits, `_`."
    )


class CreateSnapshotRequest(BaseModel):
    """The body of `POST /data/datasets/{name}/snapshots`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: DataName = Field(description="The data source to read.")
    table: str | None = Field(
        default=None,
        max_length=386,
        pattern=TABLE_PATTERN,
        description="SQL or CQL: a table (`schema.table` allowed); mongodb: the collection.",
    )
    query: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_QUERY_LENGTH,
        description="postgresql, mysql: a SQL SELECT; cassandra: a CQL SELECT.",
    )
    filter: dict[str, JsonValue] | None = Field(default=None, description="mongodb: a query filter document.")
    projection: dict[str, JsonValue] | None = Field(
        default=None, description="mongodb: the fields to return."
    )
    prefix: str | None = Field(
        default=None,
        max_length=1024,
        pattern=S3_PREFIX_PATTERN,
        description="s3: the `s3://bucket/prefix/` whose objects are read.",
    )
    format: FileFormat | None = Field(default=None, description="s3: the objects' format.")
    incremental: Incremental | None = Field(
        default=None, description="Only the rows added since the previous ready version (databases)."
    )
    description: str = Field(default="", max_length=1024, description="Shown on the dataset version.")

    @model_validator(mode="after")
    def _documents_are_bounded(self) -> Self:
        for name in ("filter", "projection"):
            document = getattr(self, name)
            if document is not None and len(json.dumps(document)) > MAX_DOCUMENT_CHARS:
                raise ValueError(f"{name} is longer than {MAX_DOCUMENT_CHARS} characters as JSON")
        return self

    def given_fields(self) -> list[str]:
        """The extraction fields this request sets, in a fixed order."""
        return [name for name in _EXTRACTION_FIELDS if getattr(self, name) is not None]

    def extraction(self) -> dict[str, JsonValue]:
        """What is read, as lineage records it: the extraction fields given, by name."""
        values: dict[str, JsonValue] = {}
        for name in self.given_fields():
            value = getattr(self, name)
            values[name] = value.value if isinstance(value, FileFormat) else value
        return values

    def lineage_text(self) -> str:
        """A readable line saying what was read: the query, the table, the collection and filter, or
        the prefix."""
        if self.query is not None:
            return self.query
        if self.prefix is not None:
            return f"{self.prefix} ({self.format.value})" if self.format else self.prefix
        text = self.table or ""
        if self.filter is not None:
            text += " " + json.dumps(self.filter, sort_keys=True, separators=(",", ":"))
        if self.projection is not None:
            text += " " + json.dumps(self.projection, sort_keys=True, separators=(",", ":"))
        return text


def check_fits_source(request: CreateSnapshotRequest, source_type: str) -> None:
    """Refuse (422) a request whose fields do not fit a source of `source_type`."""
    if source_type in STREAM_TYPES:
        raise InvalidSnapshotRequest(
            f"{source_type} sources are streams: their consumers write dataset versions, not snapshots.",
            [{"field": "source", "source_type": source_type}],
        )
    allowed = _ALLOWED.get(source_type)
    if allowed is None:
        raise InvalidSnapshotRequest(
            f"Sources of type {source_type} cannot be snapshotted.",
            [{"field": "source", "source_type": source_type}],
        )
    given = request.given_fields()
    misfits = [name for name in given if name not in allowed]
    if misfits:
        takes = ", ".join(sorted(allowed))
        raise InvalidSnapshotRequest(
            f"A {source_type} source takes {takes}; not {', '.join(misfits)}.",
            [{"field": name, "source_type": source_type, "allowed": sorted(allowed)} for name in misfits],
        )
    _check_required(request, source_type)
    if request.incremental is not None and source_type not in INCREMENTAL_TYPES:
        raise InvalidIncremental(
            f"{source_type} sources are snapshotted in full: incremental needs a database source.",
            [{"field": "incremental", "source_type": source_type}],
        )


def _check_required(request: CreateSnapshotRequest, source_type: str) -> None:
    if source_type in SQL_TYPES or source_type == "cassandra":
        if (request.table is None) == (request.query is None):
            language = "CQL" if source_type == "cassandra" else "SQL"
            raise InvalidSnapshotRequest(
                f"Give exactly one of table or query (a {language} SELECT).",
                [{"field": "table"}, {"field": "query"}],
            )
    elif source_type == "mongodb" and request.table is None:
        raise InvalidSnapshotRequest("Give table: the collection to read.", [{"field": "table"}])
    elif source_type == "s3" and request.prefix is None:
        raise InvalidSnapshotRequest(
            "Give prefix: the s3:// prefix whose objects are read.", [{"field": "prefix"}]
        )


def check_incremental_column(column: str, columns: Iterable[str], dataset: str, version: int) -> None:
    """Refuse (422) an incremental column that the version being extended does not have."""
    names = list(columns)
    if names and column not in names:
        raise InvalidIncremental(
            f"Version {version} of dataset {dataset} has no column {column!r}.",
            [{"field": "incremental.watermark_column", "value": column, "columns": names[:100]}],
        )


# -- jobs -------------------------------------------------------------------------------------------


class SnapshotJobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (SnapshotJobStatus.SUCCEEDED, SnapshotJobStatus.FAILED)


class SnapshotJob(BaseModel):
    """A snapshot job: the request, the version it fills, and how far it got."""

    model_config = ConfigDict(frozen=True)

    job_id: str = Field(pattern=JOB_ID_PATTERN)
    dataset: DataName
    version: VersionNumber
    status: SnapshotJobStatus
    request: CreateSnapshotRequest
    source_type: str = Field(max_length=32)
    base_version: int | None = Field(
        default=None, ge=1, description="incremental: the ready version whose parts the new version keeps."
    )
    after_watermark: JsonValue = Field(
        default=None, description="incremental: rows with a watermark greater than this are read."
    )
    execution_arn: str = Field(max_length=2048)
    row_count: int | None = Field(default=None, ge=0, description="The version's rows, once it is ready.")
    error: str | None = Field(default=None, max_length=2048, description="Why the job failed (no secret).")
    created_by: str
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None = None

    @property
    def reference(self) -> str:
        return f"dataset:{self.dataset}@{self.version}"


class SnapshotStepInput(BaseModel):
    """The snapshot state machine's execution input, as each step gets it."""

    model_config = ConfigDict(frozen=True)

    job_id: str = Field(pattern=JOB_ID_PATTERN)
    dataset: DataName
    version: VersionNumber


class SnapshotStepEvent(BaseModel):
    """What a step's Lambda payload holds: the execution input, and the caught error for the failure step."""

    input: SnapshotStepInput
    error: dict[str, Any] | None = None


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN Step Functions gives the execution `name` of a standard state machine."""
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"


# -- watermarks -------------------------------------------------------------------------------------


def json_value(value: Any) -> JsonValue:
    """A value read from a source or a part as JSON: ISO 8601 times, decimals as strings, bytes in base64.

    Watermarks are stored so in lineage, and samples are shown so.
    """
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(item) for item in value]
    return str(value)


def watermark_from_json(value: JsonValue, arrow_type: str | None) -> Any:
    """The stored watermark as the connector compares it: a datetime for a timestamp column, and so on."""
    if not isinstance(value, str) or arrow_type is None:
        return value
    if arrow_type.startswith("timestamp"):
        return datetime.fromisoformat(value)
    if arrow_type.startswith("date"):
        return date.fromisoformat(value)
    if arrow_type.startswith("decimal"):
        return Decimal(value)
    return value


def same_extraction(first: Mapping[str, Any], second: Mapping[str, Any]) -> bool:
    """Whether two lineages read the same thing (the same table, query, filter, prefix ...)."""
    return {k: first.get(k) for k in _EXTRACTION_FIELDS} == {k: second.get(k) for k in _EXTRACTION_FIELDS}
