"""Point-in-time training sets: what is asked, what is recorded, and the checks made before a build.

A training set joins labels (a ready dataset version with an entity column per group and a label
time) with feature group versions, each label row getting the values known at its time
(`cirrus_frames.point_in_time`). The result is a new version, of kind `training_set`, of the dataset
the request names; its lineage names the label dataset version (`inputs`), every group version and
the features taken from it (`feature_groups`), and the training set (`training_set`).

Everything a build needs is resolved when the training set is created: the label dataset's version,
each group's version (the latest unless named) and features (all of that version's unless named), so
the build reads exactly what was checked, and a refusal (an unknown group, dataset or feature, a
label column missing or of a type that cannot be compared, output columns that clash) writes nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Final, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from cirrus_core.data.datasets import DataName, DatasetInput, FeatureGroupInput
from cirrus_core.data.feature_models import CASTABLE_FAMILIES, DatasetReference, JobId, type_family
from cirrus_core.data.features import FeatureName, GroupName, VersionNumber
from cirrus_core.errors import FeatureNotInGroup, InvalidTrainingSetRequest
from cirrus_core.registry.models import Comment

if TYPE_CHECKING:
    from collections.abc import Sequence

    from cirrus_core.data.datasets import Column
    from cirrus_core.data.features import FeatureGroupVersion

MAX_GROUPS: Final = 20
MAX_AGE_LIMIT: Final = timedelta(days=3650)
# The build's own columns in the label frame; a label column may not start with it.
RESERVED_PREFIX: Final = "__cirrus_"

ColumnName = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$")]
Prefix = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LabelSpec(_Strict):
    """The labels: a dataset version and its label time column."""

    dataset: DatasetReference = Field(
        description="dataset:<name>@<version>, or dataset:<name> for its latest ready version."
    )
    label_time: ColumnName = Field(
        description="The column holding when each label was observed (a timestamp, a date or an ISO "
        "8601 string; without an offset it is read as UTC)."
    )


class TrainingSetGroupRequest(_Strict):
    """One feature group to join: its version, the features taken, how old a row may be, a prefix."""

    group: GroupName
    version: VersionNumber | None = Field(default=None, description="Default: the latest version.")
    features: Annotated[list[FeatureName], Field(min_length=1, max_length=500)] | None = Field(
        default=None, description="Default: every feature of the version."
    )
    max_age: timedelta | None = Field(
        default=None,
        description="Use a row only if the label time minus its event time is at most this "
        "(ISO 8601 duration such as P7D, or seconds).",
    )
    prefix: Prefix | None = Field(default=None, description="Prepended to each feature's column name.")
    entity_column: ColumnName | None = Field(
        default=None, description="The label column holding the group's entity key (default: the key's name)."
    )

    @model_validator(mode="after")
    def _sane(self) -> Self:
        if self.features is not None and len(set(self.features)) != len(self.features):
            raise ValueError("features lists a feature more than once")
        if self.max_age is not None and not timedelta(0) <= self.max_age <= MAX_AGE_LIMIT:
            raise ValueError(f"max_age must be between 0 and {MAX_AGE_LIMIT.days} days")
        return self


class CreateTrainingSetRequest(_Strict):
    """Build a training set as the next version of `dataset` (a dataset of kind training_set)."""

    dataset: DataName = Field(description="The dataset the training set becomes a version of.")
    description: Comment = ""
    labels: LabelSpec
    feature_groups: Annotated[list[TrainingSetGroupRequest], Field(min_length=1, max_length=MAX_GROUPS)]


class TrainingSetStatus(StrEnum):
    BUILDING = "building"
    READY = "ready"
    FAILED = "failed"


class TrainingSetLabels(BaseModel):
    dataset: DataName
    version: VersionNumber
    label_time: str


class TrainingSetGroup(BaseModel):
    """A group as resolved at creation: the version, the features, and the columns the join uses."""

    group: GroupName
    version: VersionNumber
    features: list[str]
    max_age: timedelta | None = None
    prefix: str | None = None
    entity_column: str = Field(description="The label column matched with the group's entity key.")

    def output_columns(self) -> list[str]:
        return [f"{self.prefix or ''}{feature}" for feature in self.features]


class TrainingSet(BaseModel):
    """A training set: what it joins, and the dataset version it became (once the build allocates it)."""

    training_set_id: JobId
    dataset: DataName
    description: str = ""
    status: TrainingSetStatus
    labels: TrainingSetLabels
    feature_groups: list[TrainingSetGroup]
    dataset_version: VersionNumber | None = Field(
        default=None, description="The version of `dataset` holding the rows."
    )
    row_count: int | None = Field(default=None, ge=0)
    content_hash: str | None = None
    created_at: datetime
    created_by: str
    execution_arn: str
    finished_at: datetime | None = None
    failure: str | None = Field(default=None, max_length=2048)
    links: dict[str, str] = Field(default_factory=dict)

    @property
    def reference(self) -> str | None:
        """`dataset:<name>@<version>` once a version holds the rows."""
        return None if self.dataset_version is None else f"dataset:{self.dataset}@{self.dataset_version}"

    def lineage_inputs(self) -> list[DatasetInput]:
        return [DatasetInput(dataset=self.labels.dataset, version=self.labels.version)]

    def lineage_groups(self) -> list[FeatureGroupInput]:
        return [
            FeatureGroupInput(group=group.group, version=group.version, features=list(group.features))
            for group in self.feature_groups
        ]


def resolve_group(request: TrainingSetGroupRequest, version: FeatureGroupVersion) -> TrainingSetGroup:
    """The group as the build will join it; FeatureNotInGroup names features the version lacks."""
    definition = version.definition
    features = (
        list(request.features) if request.features is not None else [f.name for f in definition.features]
    )
    unknown = [name for name in features if definition.feature(name) is None]
    if unknown:
        raise FeatureNotInGroup(
            f"Feature group '{definition.name}' version {version.version} has no feature "
            + ", ".join(repr(name) for name in unknown)
            + ".",
            [{"group": definition.name, "version": version.version, "feature": name} for name in unknown],
        )
    return TrainingSetGroup(
        group=definition.name,
        version=version.version,
        features=features,
        max_age=request.max_age,
        prefix=request.prefix,
        entity_column=request.entity_column or definition.entity_key.name,
    )


def check_labels(
    label_time: str,
    label_columns: Sequence[Column],
    groups: Sequence[tuple[TrainingSetGroup, FeatureGroupVersion]],
) -> None:
    """Refuse (InvalidTrainingSetRequest, every problem in the details) labels the build cannot join.

    The label time must be a timestamp, date or string column; each group's entity column must be
    present and of a type that casts to the group's key; the result's columns (the labels', then
    each group's prefixed features) must be unique.
    """
    by_name = {column.name: column for column in label_columns}
    problems: list[dict[str, str]] = []

    def column_problem(column: str, role: str, accepted: frozenset[str]) -> None:
        found = by_name.get(column)
        if found is None:
            problems.append(
                {"column": column, "problem": "missing", "message": f"no {role} column '{column}'"}
            )
        elif type_family(found.type) not in accepted - {"null"}:
            problems.append(
                {
                    "column": column,
                    "problem": "type_not_castable",
                    "got": found.type,
                    "message": f"the {role} column '{column}' is {found.type}",
                }
            )

    reserved = [name for name in by_name if name.startswith(RESERVED_PREFIX)]
    problems.extend(
        {"column": name, "problem": "reserved_name", "message": f"label column '{name}' uses a reserved name"}
        for name in reserved
    )
    column_problem(label_time, "label time", CASTABLE_FAMILIES["timestamp"])
    for group, version in groups:
        key = version.definition.entity_key
        column_problem(group.entity_column, f"'{group.group}' entity", CASTABLE_FAMILIES[key.type.value])
    seen = set(by_name)
    for group, _ in groups:
        for name in group.output_columns():
            if name in seen:
                problems.append(
                    {
                        "column": name,
                        "problem": "column_clash",
                        "message": f"column '{name}' of group '{group.group}' clashes with another column; "
                        "give the group a prefix",
                    }
                )
            seen.add(name)
    if problems:
        raise InvalidTrainingSetRequest(
            "The labels cannot be joined as asked: " + "; ".join(p["message"] for p in problems) + ".",
            list(problems),
        )
