"""The feature store's API and job documents: what is sent, stored and shown (docs/data.md).

Feature group definitions and their versioning rules live in `cirrus_core.data.features`; training
sets in `cirrus_core.data.training_sets`. This module holds the rest: a group's summary, a definition
submitted with `new_version`, ingestion and materialisation jobs, streaming puts, online reads, the
feature state machine's input, and whether a dataset's columns fit a group version (checked on the
dataset version's recorded schema before a job starts, and again on the Parquet it reads).

Keys (docs/data.md, "Storage"): the offline store is `features/<group>/offline/v<version>/<ingestion
id>/part-00000.parquet`, streaming puts wait in `features/<group>/staging/<yyyy-mm-dd>/<id>.jsonl`,
an online row is keyed `<group>#<entity key>`. Job and staging ids are 32 hex digits that begin
with the creation time in milliseconds, so listing them by key lists them in the order they were
written: the offline store breaks ties between rows of one entity and one event time by it (the
later write wins), as the online store's condition does.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StrictBool, StringConstraints, ValidationError

from cirrus_core.data.datasets import DATASET_REFERENCE_PATTERN, DataFile
from cirrus_core.data.features import (
    ChangeKind,
    FeatureGroupDefinition,
    FeatureGroupVersion,
    FeatureType,
    GroupName,
    VersionNumber,
)
from cirrus_core.errors import FeatureJobStepError, IncompatibleFeatureData

if TYPE_CHECKING:
    from collections.abc import Sequence

    from cirrus_core.data.datasets import Column

# Records per streaming put: each becomes one conditional write to the online table.
MAX_RECORDS_PER_PUT: Final = 500
MAX_FAILURE_LENGTH: Final = 2048
JOB_ID_PATTERN: Final = r"^[0-9a-f]{32}$"
STAGING_VERSION_COLUMN: Final = "_group_version"

DatasetReference = Annotated[str, StringConstraints(pattern=DATASET_REFERENCE_PATTERN, max_length=80)]
JobId = Annotated[str, StringConstraints(pattern=JOB_ID_PATTERN)]


def new_job_id(now: datetime) -> str:
    """32 hex digits: the time in milliseconds (12), then 80 random bits; sorts by creation time."""
    millis = int(now.timestamp() * 1000)
    return f"{millis:012x}{secrets.token_hex(10)}"


def iso_utc(moment: datetime) -> str:
    """One spelling per instant (UTC, microseconds): online rows compare event times as strings."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def offline_prefix(group: str, version: int) -> str:
    return f"features/{group}/offline/v{version}/"


def offline_part_key(group: str, version: int, ingestion_id: str) -> str:
    return f"{offline_prefix(group, version)}{ingestion_id}/part-00000.parquet"


def staging_prefix(group: str) -> str:
    return f"features/{group}/staging/"


def staging_key(group: str, now: datetime, put_id: str) -> str:
    return f"{staging_prefix(group)}{now.astimezone(UTC):%Y-%m-%d}/{put_id}.jsonl"


def online_key(group: str, entity: str) -> str:
    """The online table's partition key of an entity of a group."""
    return f"{group}#{entity}"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- groups -------------------------------------------------------------------------------------------


class PutFeatureGroupRequest(FeatureGroupDefinition):
    """A definition, and whether a breaking change may start a new version."""

    new_version: StrictBool = Field(
        default=False,
        description="Accept a breaking change (a removed feature, a changed type) as a new version.",
    )

    def definition(self) -> FeatureGroupDefinition:
        return FeatureGroupDefinition.model_validate(self.model_dump(exclude={"new_version"}))


class FeatureGroupSummary(BaseModel):
    """A feature group as listed: its latest version and who made it and when."""

    name: GroupName
    latest_version: VersionNumber
    owner: str
    description: str = ""
    entity_key: str
    event_time: str
    feature_count: int = Field(ge=1)
    has_data: bool = Field(default=False, description="Whether any row was ever ingested or put.")
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str


class FeatureGroupView(FeatureGroupSummary):
    """A feature group with its latest version's definition."""

    latest: FeatureGroupVersion


class FeatureGroupPage(BaseModel):
    items: list[FeatureGroupSummary]
    next_token: str | None = None


class FeatureGroupVersionResult(FeatureGroupVersion):
    """What a PUT made: `change` says whether it created the group, a version (additive or
    breaking), or nothing (unchanged: the current version)."""

    change: ChangeKind


# -- jobs ---------------------------------------------------------------------------------------------


class FeatureJobStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class FeatureJobType(StrEnum):
    INGESTION = "ingestion"
    MATERIALIZATION = "materialization"
    TRAINING_SET = "training_set"


class StartIngestionRequest(_Strict):
    """Ingest a ready dataset version into a group version's offline store."""

    dataset: DatasetReference = Field(
        description="dataset:<name>@<version>, or dataset:<name> for its latest ready version."
    )
    version: VersionNumber | None = Field(
        default=None, description="The group version the rows are written at (default: the latest)."
    )


class IngestionJob(BaseModel):
    """One ingestion of a dataset version into the offline store."""

    ingestion_id: JobId
    group: GroupName
    version: VersionNumber
    dataset: str
    dataset_version: VersionNumber
    status: FeatureJobStatus
    started_at: datetime
    started_by: str
    execution_arn: str
    finished_at: datetime | None = None
    rows: int | None = Field(default=None, ge=0)
    files: list[DataFile] = Field(default_factory=list)
    failure: str | None = Field(default=None, max_length=MAX_FAILURE_LENGTH)
    problems: list[dict[str, JsonValue]] = Field(
        default_factory=list, description="Why the data did not fit, column by column (no values)."
    )
    links: dict[str, str] = Field(default_factory=dict)


class StartMaterializationRequest(_Strict):
    """Copy the latest row of every entity from the offline store to the online store."""

    version: VersionNumber | None = Field(
        default=None, description="The group version whose schema rows are read at (default: the latest)."
    )


class MaterializationJob(BaseModel):
    """One materialisation: entities found, rows written, rows skipped as older than the stored ones."""

    materialization_id: JobId
    group: GroupName
    version: VersionNumber
    status: FeatureJobStatus
    started_at: datetime
    started_by: str
    execution_arn: str
    finished_at: datetime | None = None
    entities: int | None = Field(default=None, ge=0)
    written: int | None = Field(default=None, ge=0)
    skipped: int | None = Field(
        default=None, ge=0, description="Rows not written because the online row is newer."
    )
    failure: str | None = Field(default=None, max_length=MAX_FAILURE_LENGTH)


# -- streaming puts and online reads --------------------------------------------------------------------


class PutRecordsRequest(_Strict):
    """Records of one group version: each needs the entity key and the event time (with an offset)."""

    records: Annotated[list[JsonValue], Field(min_length=1, max_length=MAX_RECORDS_PER_PUT)]
    version: VersionNumber | None = Field(
        default=None, description="The group version (default: the latest)."
    )


class PutRecordsResult(BaseModel):
    group: GroupName
    version: VersionNumber
    records: int = Field(ge=0, description="Records accepted (all of them, or none).")
    written: int = Field(ge=0, description="Online rows written.")
    skipped: int = Field(ge=0, description="Records older than the entity's online row (kept offline only).")
    staging_key: str = Field(description="Where the records wait for the offline store.")


class OnlineFeatures(BaseModel):
    """An entity's latest feature values."""

    group: GroupName
    entity: str
    version: VersionNumber = Field(description="The group version the row was written at.")
    event_time: datetime
    written_at: datetime
    features: dict[str, JsonValue]


# -- the feature state machine ------------------------------------------------------------------------


class FeatureJobInput(BaseModel):
    """The execution input: which job (its type and id, and its group for group jobs) and who asked."""

    type: FeatureJobType
    job_id: JobId
    group: GroupName | None = None
    actor: str


class FeatureStepEvent(BaseModel):
    """What the state machine passes each step: the input, the execution's name and start, the error."""

    input: FeatureJobInput
    execution_name: str
    execution_start: datetime
    error: dict[str, Any] | None = None


def read_step_event(document: Any) -> FeatureStepEvent:
    try:
        return FeatureStepEvent.model_validate(document)
    except ValidationError as error:
        raise FeatureJobStepError(
            f"The feature job's step input is invalid: {error.errors(include_url=False)}"
        ) from error


# -- does a dataset fit a group version ---------------------------------------------------------------


class DataProblemKind(StrEnum):
    MISSING = "missing"
    TYPE_NOT_CASTABLE = "type_not_castable"
    UNCASTABLE_VALUES = "uncastable_values"
    NULL_NOT_ALLOWED = "null_not_allowed"
    NOT_WHOLE = "not_whole"
    NOT_FINITE = "not_finite"
    WRONG_DIMENSION = "wrong_dimension"
    INVALID_KEY = "invalid_key"


class DataProblem(BaseModel):
    """Why a column does not fit; `rows` counts the offending rows (values are never shown)."""

    column: str
    problem: DataProblemKind
    expected: str
    got: str | None = None
    rows: int | None = None
    message: str


class ColumnRole(BaseModel):
    """A column a group version's rows have: its type label, whether it may be null, its length."""

    model_config = ConfigDict(frozen=True)

    name: str
    type: str
    nullable: bool
    dimension: int | None = None


def column_roles(definition: FeatureGroupDefinition) -> list[ColumnRole]:
    """The entity key, the event time, then every feature, as `ColumnRole`s."""
    return [
        ColumnRole(name=definition.entity_key.name, type=definition.entity_key.type.value, nullable=False),
        ColumnRole(name=definition.event_time, type=FeatureType.TIMESTAMP.value, nullable=False),
        *(
            ColumnRole(
                name=feature.name,
                type=feature.type.value,
                nullable=feature.nullable,
                dimension=feature.dimension,
            )
            for feature in definition.features
        ),
    ]


# Arrow type names (as dataset versions record them; the frames layer's DuckDB names for nested
# types too) by family.
_FAMILIES: Final = (
    # First: DuckDB spells a list of decimals `decimal(2,1)[]`.
    ("list", re.compile(r"^((large_)?list<|fixed_size_list<|.+\[\d*\]$)")),
    ("bool", re.compile(r"^bool(ean)?$")),
    ("integer", re.compile(r"^u?int(8|16|32|64)$")),
    ("floating", re.compile(r"^(halffloat|float|double|float(16|32|64))$")),
    ("decimal", re.compile(r"^decimal(128|256)?\(")),
    ("string", re.compile(r"^(large_)?(string|utf8)$")),
    ("timestamp", re.compile(r"^(timestamp\[|date(32|64)\[)")),
    ("null", re.compile(r"^(null|na)$")),
)
# Which families a column of each target type may be cast from; values are checked row by row too.
CASTABLE_FAMILIES: Final[dict[str, frozenset[str]]] = {
    FeatureType.INT64.value: frozenset({"integer", "decimal", "floating", "string", "null"}),
    FeatureType.FLOAT64.value: frozenset({"integer", "decimal", "floating", "string", "null"}),
    FeatureType.STRING.value: frozenset({"integer", "decimal", "floating", "string", "bool", "null"}),
    FeatureType.BOOL.value: frozenset({"bool", "string", "null"}),
    FeatureType.TIMESTAMP.value: frozenset({"timestamp", "string", "null"}),
    FeatureType.VECTOR.value: frozenset({"list", "null"}),
}


def type_family(arrow_type: str) -> str:
    """`integer`, `floating`, `decimal`, `string`, `bool`, `timestamp`, `list`, `null` or `other`."""
    name = arrow_type.strip().lower()
    return next((family for family, pattern in _FAMILIES if pattern.match(name)), "other")


def schema_problems(definition: FeatureGroupDefinition, columns: Sequence[Column]) -> list[DataProblem]:
    """What in a dataset's schema keeps it from fitting the version: missing or uncastable columns.

    The entity key, the event time and every non-nullable feature must be present; a nullable
    feature may be absent (its rows hold null). A present column's type must cast to the feature's
    (an int64 from integers, decimals, floats or strings; a timestamp from timestamps, dates or
    strings; a vector from lists ...); whether its values do is checked on the data.
    """
    by_name = {column.name: column for column in columns}
    problems: list[DataProblem] = []
    for role in column_roles(definition):
        label = role.type if role.dimension is None else f"vector[{role.dimension}]"
        column = by_name.get(role.name)
        if column is None:
            if not role.nullable:
                problems.append(
                    DataProblem(
                        column=role.name,
                        problem=DataProblemKind.MISSING,
                        expected=label,
                        message=f"the dataset has no column '{role.name}'",
                    )
                )
            continue
        if type_family(column.type) not in CASTABLE_FAMILIES[role.type]:
            problems.append(
                DataProblem(
                    column=role.name,
                    problem=DataProblemKind.TYPE_NOT_CASTABLE,
                    expected=label,
                    got=column.type,
                    message=f"column '{role.name}' is {column.type}, which does not cast to {label}",
                )
            )
    return problems


def check_dataset_fits(
    definition: FeatureGroupDefinition, version: int, columns: Sequence[Column], what: str
) -> None:
    """Refuse with IncompatibleFeatureData when `columns` cannot be ingested at the group version."""
    problems = schema_problems(definition, columns)
    if problems:
        raise IncompatibleFeatureData(
            f"{what} does not fit feature group '{definition.name}' version {version}: "
            + "; ".join(problem.message for problem in problems)
            + ".",
            [problem.model_dump(mode="json") for problem in problems],
        )
