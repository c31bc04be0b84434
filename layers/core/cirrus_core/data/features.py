"""Feature group definitions, their versions, and the rules that decide what a change makes.

A feature group is a table of typed features about one kind of entity: each row is keyed by the
entity key and stamped with the event time at which its values held. Its definition is versioned;
`plan_change` decides what submitting a definition does, `compatible_reader` whether data built at
one version reads with another's schema, and `validate_records` whether a batch of records fits a
version (for streaming puts). Everything here is pure: no storage, no clock, no AWS.

Version numbers
---------------
Versions are integers 1, 2, 3 ... under the group's name, as model versions are under a model's:
the latest is the greatest, a lineage edge or an API path names one integer, and numbers never
skip. Compatibility is recorded beside the number rather than inside it: a version carries
`breaking` (it was accepted only because a new version was explicitly requested) and
`compatible_since`, the first version of its compatible line (itself when it broke, its parent's
`compatible_since` otherwise). Versions sharing `compatible_since` are interchangeable for their
consumers. A `major.minor` pair would say the same thing, but every client would have a second
numbering to parse, order and store, and the registry's API and lineage know only integers.

What is breaking
----------------
A change is compatible when every consumer keeps working: readers of the old schema, models trained
on data written under it, training sets built at it. So these are breaking:
- `removed`: a feature goes away; a model trained on it would be served nothing.
- `type_changed` (a vector's dimension included): old values no longer read as the new type.
- `nullability_tightened`: rows written before may hold the nulls the new schema forbids.
- `nullability_loosened`: consumers of the old schema were promised the feature is never null.
- `entity_key_changed`, `event_time_changed`: every row's identity or time would mean something else.
- `non_nullable_added` to a group that has data: the rows already written have no value for it.
These are compatible, and make the next version of the same line: a nullable feature added (old
rows read it as null, old readers ignore it), a non-nullable one added while the group holds no
data, descriptions, the owner, tags, and the order of the features.

An identical submission changes nothing and answers with the current version, so retries are safe.
Asking for a new version lets a breaking change through as a new line; it never turns a compatible
change into a breaking one, nor an identical submission into a new version.
"""

from __future__ import annotations

import math
import numbers
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StrictBool,
    StringConstraints,
    model_validator,
)

from cirrus_core.errors import BreakingFeatureChange, FeatureGroupNameMismatch, InvalidFeatureRecords
from cirrus_core.registry.models import Comment, ShortText, TagKey, TagValue

# Column names start with a letter: names starting with `_` stay free for the store's own columns.
FEATURE_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
# Group names appear in API paths, S3 prefixes, DynamoDB keys and Glue/Athena table names.
GROUP_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
MAX_FEATURES = 500
MAX_TAGS = 50
MAX_VERSION = 1_000_000_000
# An embedding of this many float64 values still fits a DynamoDB item (400 KB) with room to spare.
MAX_VECTOR_DIMENSION = 4096
# DynamoDB's limit on a partition key value, in UTF-8 bytes; the online store keys rows by entity.
MAX_ENTITY_KEY_BYTES = 2048
# How many record problems an `InvalidFeatureRecords` refusal lists; its message gives the total.
MAX_REPORTED_PROBLEMS = 100
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

FeatureName = Annotated[str, StringConstraints(pattern=FEATURE_NAME_PATTERN, max_length=64)]
GroupName = Annotated[str, StringConstraints(pattern=GROUP_NAME_PATTERN, max_length=63)]
VersionNumber = Annotated[int, Field(ge=1, le=MAX_VERSION)]


class FeatureType(StrEnum):
    """The value types a feature can hold; `vector` is a fixed-length list of float64 (an embedding)."""

    INT64 = "int64"
    FLOAT64 = "float64"
    STRING = "string"
    BOOL = "bool"
    TIMESTAMP = "timestamp"
    VECTOR = "vector"


class EntityKeyType(StrEnum):
    """The types an entity key can have: those a DynamoDB partition key stores exactly."""

    INT64 = "int64"
    STRING = "string"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class FeatureDefinition(_Strict):
    """One typed feature of a group."""

    name: FeatureName
    type: FeatureType
    dimension: Annotated[int, Field(ge=1, le=MAX_VECTOR_DIMENSION, strict=True)] | None = Field(
        default=None, description="The length of every value; required for vector features only."
    )
    description: Comment = ""
    nullable: StrictBool = True

    @model_validator(mode="after")
    def _dimension_only_for_vectors(self) -> Self:
        if self.type is FeatureType.VECTOR and self.dimension is None:
            raise ValueError(f"feature '{self.name}' is a vector and needs a dimension")
        if self.type is not FeatureType.VECTOR and self.dimension is not None:
            raise ValueError(f"feature '{self.name}' is not a vector and takes no dimension")
        return self

    @property
    def type_label(self) -> str:
        """The type as one string, a vector's dimension included: `float64`, `vector[384]`."""
        if self.type is FeatureType.VECTOR:
            return f"vector[{self.dimension}]"
        return self.type.value


class EntityKey(_Strict):
    """The column that identifies the entity a row describes (a customer id, a card number)."""

    name: FeatureName
    type: EntityKeyType


class FeatureGroupDefinition(_Strict):
    """What a client submits to create a feature group or store a new version of its definition."""

    name: GroupName
    entity_key: EntityKey
    event_time: FeatureName = Field(
        description="The column holding when each row's values held (a timezone-aware timestamp)."
    )
    features: Annotated[list[FeatureDefinition], Field(min_length=1, max_length=MAX_FEATURES)]
    owner: ShortText
    description: Comment = ""
    tags: Annotated[dict[TagKey, TagValue], Field(max_length=MAX_TAGS)] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _distinct_columns(self) -> Self:
        problems: list[str] = []
        if self.entity_key.name == self.event_time:
            problems.append(f"the entity key and the event time are both '{self.event_time}'")
        seen: set[str] = set()
        duplicates: list[str] = []
        for feature in self.features:
            if feature.name in seen and feature.name not in duplicates:
                duplicates.append(feature.name)
            seen.add(feature.name)
        if duplicates:
            problems.append(f"features named more than once: {', '.join(duplicates)}")
        for column, role in ((self.entity_key.name, "entity key"), (self.event_time, "event time")):
            if column in seen:
                problems.append(f"feature '{column}' has the name of the {role} column")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def feature(self, name: str) -> FeatureDefinition | None:
        """The feature of that name, or None."""
        return next((feature for feature in self.features if feature.name == name), None)

    @property
    def columns(self) -> list[str]:
        """Every column of a row, in order: the entity key, the event time, then the features."""
        return [self.entity_key.name, self.event_time, *(feature.name for feature in self.features)]


class ChangeType(StrEnum):
    """One difference between two definitions of a group."""

    # Breaking.
    REMOVED = "removed"
    TYPE_CHANGED = "type_changed"
    NULLABILITY_TIGHTENED = "nullability_tightened"
    NULLABILITY_LOOSENED = "nullability_loosened"
    ENTITY_KEY_CHANGED = "entity_key_changed"
    EVENT_TIME_CHANGED = "event_time_changed"
    NON_NULLABLE_ADDED = "non_nullable_added"
    # Compatible.
    ADDED = "added"
    FEATURE_DESCRIPTION_CHANGED = "feature_description_changed"
    FEATURES_REORDERED = "features_reordered"
    DESCRIPTION_CHANGED = "description_changed"
    OWNER_CHANGED = "owner_changed"
    TAGS_CHANGED = "tags_changed"


BREAKING_CHANGES = frozenset(
    {
        ChangeType.REMOVED,
        ChangeType.TYPE_CHANGED,
        ChangeType.NULLABILITY_TIGHTENED,
        ChangeType.NULLABILITY_LOOSENED,
        ChangeType.ENTITY_KEY_CHANGED,
        ChangeType.EVENT_TIME_CHANGED,
        ChangeType.NON_NULLABLE_ADDED,
    }
)


class SchemaChange(BaseModel):
    """A difference: the column it concerns (None for the group's own attributes), `from` and `to`.

    `from`/`to` are type labels for types and removals/additions, the `nullable` flag for
    nullability, `{name, type}` for the entity key, the column name for the event time, and the
    old and new values for descriptions, owner, tags and the feature order.
    """

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    feature: str | None = None
    change: ChangeType
    from_: JsonValue = Field(default=None, alias="from")
    to: JsonValue = None

    @property
    def breaking(self) -> bool:
        return self.change in BREAKING_CHANGES


class ChangeKind(StrEnum):
    """What submitting a definition does."""

    CREATED = "created"
    UNCHANGED = "unchanged"
    ADDITIVE = "additive"
    BREAKING = "breaking"


class FeatureGroupVersion(BaseModel):
    """One stored version of a group's definition. See the module's docstring for the numbering."""

    definition: FeatureGroupDefinition
    version: VersionNumber
    parent_version: VersionNumber | None = None
    breaking: bool = False
    compatible_since: VersionNumber
    changes: list[SchemaChange] = Field(
        default_factory=list, description="What changed from the parent version."
    )
    created_at: datetime
    created_by: str

    @model_validator(mode="after")
    def _consistent_numbers(self) -> Self:
        if self.compatible_since > self.version:
            raise ValueError("compatible_since cannot be later than the version")
        if self.parent_version is not None and self.parent_version >= self.version:
            raise ValueError("parent_version must be earlier than the version")
        if self.breaking and self.compatible_since != self.version:
            raise ValueError("a breaking version starts its own line: compatible_since is itself")
        return self

    @property
    def name(self) -> str:
        """The group's name."""
        return self.definition.name


class ChangePlan(BaseModel):
    """What a submitted definition makes; `version` is the version it results in.

    For `unchanged` that is the current version, which the caller answers with; otherwise
    `new_version` builds the version to store.
    """

    kind: ChangeKind
    group: str
    version: int
    parent_version: int | None = None
    breaking: bool = False
    compatible_since: int
    changes: list[SchemaChange] = Field(default_factory=list)
    definition: FeatureGroupDefinition

    @property
    def creates_version(self) -> bool:
        return self.kind is not ChangeKind.UNCHANGED

    def new_version(self, *, created_at: datetime, created_by: str) -> FeatureGroupVersion:
        """The version to store. An unchanged plan has none: answer with the current version."""
        if not self.creates_version:
            raise ValueError(f"feature group '{self.group}' is unchanged: there is no new version")
        return FeatureGroupVersion(
            definition=self.definition,
            version=self.version,
            parent_version=self.parent_version,
            breaking=self.breaking,
            compatible_since=self.compatible_since,
            changes=self.changes,
            created_at=created_at,
            created_by=created_by,
        )


# -- versioning rules -------------------------------------------------------------------------------


def plan_change(
    current: FeatureGroupVersion | None,
    proposed: FeatureGroupDefinition,
    *,
    new_version_requested: bool,
    group_has_data: bool = True,
) -> ChangePlan:
    """Decide what submitting `proposed` does to a group whose latest version is `current`.

    Raises `BreakingFeatureChange` listing every breaking difference unless `new_version_requested`,
    and `FeatureGroupNameMismatch` if `proposed` names another group. `group_has_data` says whether
    any row has been written at any version: adding a non-nullable feature breaks only then. It
    defaults to True, the safe answer when the caller does not know.
    """
    if current is None:
        return ChangePlan(
            kind=ChangeKind.CREATED, group=proposed.name, version=1, compatible_since=1, definition=proposed
        )
    group = current.definition.name
    if proposed.name != group:
        raise FeatureGroupNameMismatch(
            f"The definition names feature group '{proposed.name}', not '{group}'.",
            [{"field": "name", "expected": group, "got": proposed.name}],
        )
    changes = definition_changes(current.definition, proposed, group_has_data=group_has_data)
    if not changes:
        return ChangePlan(
            kind=ChangeKind.UNCHANGED,
            group=group,
            version=current.version,
            parent_version=current.parent_version,
            breaking=current.breaking,
            compatible_since=current.compatible_since,
            definition=current.definition,
        )
    breaking = [change for change in changes if change.breaking]
    if breaking and not new_version_requested:
        raise BreakingFeatureChange(
            f"This change to feature group '{group}' would break its readers "
            f"({_summary(breaking)}); submit it as a new version to start a new line.",
            [change.model_dump(mode="json") for change in breaking],
        )
    number = current.version + 1
    return ChangePlan(
        kind=ChangeKind.BREAKING if breaking else ChangeKind.ADDITIVE,
        group=group,
        version=number,
        parent_version=current.version,
        breaking=bool(breaking),
        compatible_since=number if breaking else current.compatible_since,
        changes=changes,
        definition=proposed,
    )


def definition_changes(
    old: FeatureGroupDefinition, new: FeatureGroupDefinition, *, group_has_data: bool = True
) -> list[SchemaChange]:
    """Every difference from `old` to `new`, in a stable order; empty when they are identical.

    Group-level columns first, then each of `old`'s features in its order, then the features `new`
    adds in its order, then the order and the group's own attributes.
    """
    changes: list[SchemaChange] = []
    if old.entity_key != new.entity_key:
        changes.append(
            SchemaChange(
                feature=old.entity_key.name,
                change=ChangeType.ENTITY_KEY_CHANGED,
                from_=old.entity_key.model_dump(mode="json"),
                to=new.entity_key.model_dump(mode="json"),
            )
        )
    if old.event_time != new.event_time:
        changes.append(
            SchemaChange(
                feature=old.event_time,
                change=ChangeType.EVENT_TIME_CHANGED,
                from_=old.event_time,
                to=new.event_time,
            )
        )
    for before in old.features:
        after = new.feature(before.name)
        changes.extend(_feature_changes(before, after))
    for after in new.features:
        if old.feature(after.name) is None:
            tight = not after.nullable and group_has_data
            changes.append(
                SchemaChange(
                    feature=after.name,
                    change=ChangeType.NON_NULLABLE_ADDED if tight else ChangeType.ADDED,
                    to=after.type_label,
                )
            )
    kept_before = [feature.name for feature in old.features if new.feature(feature.name) is not None]
    kept_after = [feature.name for feature in new.features if old.feature(feature.name) is not None]
    if kept_before != kept_after:
        changes.append(SchemaChange(change=ChangeType.FEATURES_REORDERED, from_=kept_before, to=kept_after))
    if old.description != new.description:
        changes.append(
            SchemaChange(change=ChangeType.DESCRIPTION_CHANGED, from_=old.description, to=new.description)
        )
    if old.owner != new.owner:
        changes.append(SchemaChange(change=ChangeType.OWNER_CHANGED, from_=old.owner, to=new.owner))
    if old.tags != new.tags:
        changes.append(SchemaChange(change=ChangeType.TAGS_CHANGED, from_=dict(old.tags), to=dict(new.tags)))
    return changes


def _feature_changes(before: FeatureDefinition, after: FeatureDefinition | None) -> list[SchemaChange]:
    name = before.name
    if after is None:
        return [SchemaChange(feature=name, change=ChangeType.REMOVED, from_=before.type_label)]
    changes: list[SchemaChange] = []
    if before.type_label != after.type_label:
        changes.append(
            SchemaChange(
                feature=name, change=ChangeType.TYPE_CHANGED, from_=before.type_label, to=after.type_label
            )
        )
    if before.nullable != after.nullable:
        change = ChangeType.NULLABILITY_LOOSENED if after.nullable else ChangeType.NULLABILITY_TIGHTENED
        changes.append(SchemaChange(feature=name, change=change, from_=before.nullable, to=after.nullable))
    if before.description != after.description:
        changes.append(
            SchemaChange(
                feature=name,
                change=ChangeType.FEATURE_DESCRIPTION_CHANGED,
                from_=before.description,
                to=after.description,
            )
        )
    return changes


def _summary(changes: list[SchemaChange]) -> str:
    return ", ".join(
        f"{change.change.value} {change.feature}" if change.feature else change.change.value
        for change in changes
    )


def compatible_reader(version_a: FeatureGroupVersion, version_b: FeatureGroupVersion) -> bool:
    """Whether data built at `version_a` (a training set, a snapshot) reads with `version_b`'s schema.

    The reader projects onto its own columns: features only `a` has are ignored, features only `b`
    has read as null and so must be nullable in `b`. Shared features need the same type (a vector's
    dimension included: no widening, int64 to float64 loses precision beyond 2**53), and `b` may call
    a feature non-nullable only if `a` did too. The entity key and the event time must be the same
    columns. The direction matters: removing a feature breaks consumers, yet the data written before
    the removal still reads with the new schema.
    """
    a, b = version_a.definition, version_b.definition
    if a.name != b.name or a.entity_key != b.entity_key or a.event_time != b.event_time:
        return False
    for wanted in b.features:
        held = a.feature(wanted.name)
        if held is None:
            if not wanted.nullable:
                return False
            continue
        if held.type_label != wanted.type_label:
            return False
        if held.nullable and not wanted.nullable:
            return False
    return True


# -- records ----------------------------------------------------------------------------------------


class RecordProblemKind(StrEnum):
    NOT_AN_OBJECT = "not_an_object"
    UNKNOWN_COLUMN = "unknown_column"
    MISSING = "missing"
    NULL_NOT_ALLOWED = "null_not_allowed"
    WRONG_TYPE = "wrong_type"
    OUT_OF_RANGE = "out_of_range"
    NOT_FINITE = "not_finite"
    NAIVE_TIMESTAMP = "naive_timestamp"
    WRONG_DIMENSION = "wrong_dimension"
    EMPTY_KEY = "empty_key"
    KEY_TOO_LONG = "key_too_long"


class RecordProblem(BaseModel):
    """Why one record (by its index in the batch) does not fit the schema.

    `got` is the JSON kind of the value given (`string`, `integer`, `boolean` ...), never the value:
    feature values are data under `data_access`, and problems end up in responses and logs.
    """

    record: int
    column: str | None = None
    problem: RecordProblemKind
    expected: str | None = None
    got: str | None = None
    message: str


def validate_records(version: FeatureGroupVersion, records: list[Any]) -> list[RecordProblem]:
    """Every problem of every record against `version`'s schema, in record then column order.

    Records are JSON-decoded objects (or the same built in Python): each needs the entity key and a
    timezone-aware event time; a nullable feature may be absent or null. Values are checked without
    coercion: `true` is not an int64, `1` is not a bool, `"3"` is not a number, `3.0` is not an
    int64; an int is a float64. Timestamps are `datetime`s or ISO 8601 strings, either way with a
    UTC offset. NaN and infinities are refused: JSON cannot carry them and DynamoDB cannot store them.
    """
    definition = version.definition
    problems: list[RecordProblem] = []
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            problems.append(
                RecordProblem(
                    record=index,
                    problem=RecordProblemKind.NOT_AN_OBJECT,
                    got=_json_kind(record),
                    message=f"record {index} is not an object",
                )
            )
            continue
        problems.extend(_record_problems(index, record, definition))
    return problems


def check_records(version: FeatureGroupVersion, records: list[Any]) -> None:
    """Refuse the whole batch with `InvalidFeatureRecords` if any record has a problem."""
    problems = validate_records(version, records)
    if not problems:
        return
    bad = len({problem.record for problem in problems})
    shown = problems[:MAX_REPORTED_PROBLEMS]
    more = f"; the first {len(shown)} are listed" if len(problems) > len(shown) else ""
    raise InvalidFeatureRecords(
        f"{bad} of {len(records)} records do not fit feature group '{version.name}' version "
        f"{version.version}: {len(problems)} problems{more}.",
        [problem.model_dump(mode="json") for problem in shown],
    )


def _record_problems(
    index: int, record: dict[Any, Any], definition: FeatureGroupDefinition
) -> list[RecordProblem]:
    problems: list[RecordProblem] = []

    def problem(column: str, kind: RecordProblemKind, expected: str, value: object, message: str) -> None:
        got = None if kind is RecordProblemKind.MISSING else _json_kind(value)
        problems.append(
            RecordProblem(
                record=index, column=column, problem=kind, expected=expected, got=got, message=message
            )
        )

    required: list[tuple[str, str, bool]] = [
        (definition.entity_key.name, definition.entity_key.type.value, False),
        (definition.event_time, FeatureType.TIMESTAMP.value, False),
        *((feature.name, feature.type_label, feature.nullable) for feature in definition.features),
    ]
    dimensions = {feature.name: feature.dimension for feature in definition.features}
    for column, expected, nullable in required:
        if column not in record:
            if not nullable:
                problem(column, RecordProblemKind.MISSING, expected, None, f"'{column}' is missing")
            continue
        value = record[column]
        if value is None:
            if not nullable:
                problem(
                    column, RecordProblemKind.NULL_NOT_ALLOWED, expected, value, f"'{column}' cannot be null"
                )
            continue
        found = _value_problem(value, expected, dimensions.get(column))
        if found is None and column == definition.entity_key.name:
            found = _key_problem(value)
        if found is not None:
            kind, reason = found
            problem(column, kind, expected, value, f"'{column}' {reason}")
    known = set(definition.columns)
    for column in record:
        if column not in known:
            problems.append(
                RecordProblem(
                    record=index,
                    column=str(column),
                    problem=RecordProblemKind.UNKNOWN_COLUMN,
                    message=f"'{column}' is not a column of feature group '{definition.name}'",
                )
            )
    return problems


def _value_problem(
    value: object, expected: str, dimension: int | None
) -> tuple[RecordProblemKind, str] | None:
    if expected == FeatureType.INT64:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            return RecordProblemKind.WRONG_TYPE, "must be an integer"
        if not _INT64_MIN <= int(value) <= _INT64_MAX:
            return RecordProblemKind.OUT_OF_RANGE, "does not fit a 64-bit integer"
        return None
    if expected == FeatureType.FLOAT64:
        return _number_problem(value, "must be a number")
    if expected == FeatureType.STRING:
        return None if isinstance(value, str) else (RecordProblemKind.WRONG_TYPE, "must be a string")
    if expected == FeatureType.BOOL:
        return None if isinstance(value, bool) else (RecordProblemKind.WRONG_TYPE, "must be true or false")
    if expected == FeatureType.TIMESTAMP:
        return _timestamp_problem(value)
    # A vector: `expected` is its label, `dimension` its length.
    if not isinstance(value, list | tuple):
        return RecordProblemKind.WRONG_TYPE, f"must be a list of {dimension} numbers"
    if len(value) != dimension:
        return RecordProblemKind.WRONG_DIMENSION, f"has {len(value)} values, not {dimension}"
    for position, element in enumerate(value):
        found = _number_problem(element, f"must hold numbers only (element {position} is not)")
        if found is not None:
            kind, reason = found
            if kind is RecordProblemKind.NOT_FINITE:
                reason = f"must hold finite numbers only (element {position} is not)"
            return kind, reason
    return None


def _number_problem(value: object, wrong_type: str) -> tuple[RecordProblemKind, str] | None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return RecordProblemKind.WRONG_TYPE, wrong_type
    try:
        number = float(value)
    except OverflowError:
        return RecordProblemKind.OUT_OF_RANGE, "does not fit a 64-bit float"
    if not math.isfinite(number):
        return RecordProblemKind.NOT_FINITE, "must be finite (not NaN or infinite)"
    return None


def _timestamp_problem(value: object) -> tuple[RecordProblemKind, str] | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return RecordProblemKind.WRONG_TYPE, "must be an ISO 8601 timestamp with a UTC offset"
    if not isinstance(value, datetime):
        # A `date` is no timestamp: it has neither a time nor an offset.
        kind = "a date" if isinstance(value, date) else "not a timestamp"
        return RecordProblemKind.WRONG_TYPE, f"is {kind}: it must be a timestamp with a UTC offset"
    if value.tzinfo is None or value.utcoffset() is None:
        return RecordProblemKind.NAIVE_TIMESTAMP, "must carry a UTC offset (such as Z or +02:00)"
    return None


def _key_problem(value: object) -> tuple[RecordProblemKind, str] | None:
    if isinstance(value, str):
        if not value:
            return RecordProblemKind.EMPTY_KEY, "cannot be empty: it keys the online store"
        if len(value.encode("utf-8")) > MAX_ENTITY_KEY_BYTES:
            return RecordProblemKind.KEY_TOO_LONG, f"is longer than {MAX_ENTITY_KEY_BYTES} bytes (UTF-8)"
    return None


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, numbers.Integral):
        return "integer"
    if isinstance(value, numbers.Real):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, datetime):
        return "datetime"
    return type(value).__name__
