"""Datasets and their versions: what a version records (docs/data.md, "A dataset version").

A dataset is a named series of immutable versions 1, 2, 3 ... Each version is produced by one
producer (a snapshot of a source, a transformation, a stream compaction or a training set), lies in
the data bucket as Parquet parts, and carries its schema, row count, content hash and lineage.
A version is allocated `building` when its job starts, so numbers never skip, and ends `ready` or
`failed`; only ready versions are read.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Final

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, JsonValue, StringConstraints

from cirrus_core.data.http import DATA_NAME_PATTERN, MAX_VERSION
from cirrus_core.errors import InvalidDatasetReference

DataName = Annotated[str, StringConstraints(pattern=DATA_NAME_PATTERN)]
ContentHash = Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")]
VersionNumber = Annotated[int, Field(ge=1, le=MAX_VERSION)]

_REFERENCE = re.compile(
    r"^(?:dataset:)?(?P<name>[a-z0-9][a-z0-9_-]{0,62})(?:@(?P<version>[1-9][0-9]{0,9}))?$"
)
DATASET_REFERENCE_PATTERN: Final = _REFERENCE.pattern


class DatasetKind(StrEnum):
    SNAPSHOT = "snapshot"
    TRANSFORMATION = "transformation"
    STREAM = "stream"
    TRAINING_SET = "training_set"


class VersionStatus(StrEnum):
    BUILDING = "building"
    READY = "ready"
    FAILED = "failed"


class Column(BaseModel):
    """One column of a version's schema; `type` is Arrow's name for it (`int64`, `string`, ...)."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(max_length=256)
    type: str = Field(max_length=256)
    nullable: bool = True


class DataFile(BaseModel):
    """One Parquet part of a version, in the data bucket."""

    model_config = ConfigDict(frozen=True)

    key: str = Field(max_length=1024)
    rows: int = Field(ge=0)
    bytes: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class DatasetInput(BaseModel):
    """A dataset version another version was made from."""

    model_config = ConfigDict(frozen=True)

    dataset: DataName
    version: VersionNumber


class FeatureGroupInput(BaseModel):
    """A feature group version a training set joined."""

    model_config = ConfigDict(frozen=True)

    group: DataName
    version: VersionNumber
    features: list[str] = Field(default_factory=list)


class Watermark(BaseModel):
    """The greatest value of the incremental column a snapshot read."""

    model_config = ConfigDict(frozen=True)

    column: str = Field(max_length=256)
    value: JsonValue = None


class DatasetLineage(BaseModel):
    """Where a version came from: its source and query, or its inputs and the code that made it."""

    model_config = ConfigDict(frozen=True)

    source: DataName | None = None
    source_type: str | None = None
    query: str | None = Field(default=None, max_length=20_000)
    watermark: Watermark | None = None
    inputs: list[DatasetInput] = Field(default_factory=list)
    transformation: DataName | None = None
    code_hash: str | None = Field(default=None, max_length=80)
    parameters: dict[str, JsonValue] = Field(default_factory=dict)
    feature_groups: list[FeatureGroupInput] = Field(default_factory=list)
    training_set: str | None = Field(default=None, max_length=64)


# OpenAPI names a model's component by its class: the registry's model lineage is `Lineage` already.
Lineage = DatasetLineage


class DatasetVersion(BaseModel):
    """One version of a dataset, as stored and as shown."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    dataset: DataName
    version: VersionNumber
    kind: DatasetKind
    status: VersionStatus
    columns: list[Column] = Field(
        default_factory=list,
        validation_alias=AliasChoices("schema", "columns"),
        serialization_alias="schema",
        description="The version's columns (empty until it is ready).",
    )
    row_count: int | None = Field(default=None, ge=0)
    content_hash: ContentHash | None = None
    location: str = Field(description="s3://<data bucket>/datasets/<name>/v<version>/")
    files: list[DataFile] = Field(default_factory=list)
    lineage: Lineage = Field(default_factory=Lineage)
    description: str = Field(default="", max_length=1024)
    created_at: datetime
    created_by: str
    completed_at: datetime | None = None
    failure: str | None = Field(default=None, max_length=2048)

    @property
    def reference(self) -> str:
        """`dataset:<name>@<version>`: how pipelines and lineage name this version."""
        return f"dataset:{self.dataset}@{self.version}"


class Dataset(BaseModel):
    """A dataset: its name, what produces it, and its latest version number."""

    model_config = ConfigDict(frozen=True)

    name: DataName
    kind: DatasetKind
    description: str = Field(default="", max_length=1024)
    source: DataName | None = None
    latest_version: int = Field(ge=0)
    created_at: datetime
    created_by: str


class DatasetReference(BaseModel):
    """A parsed `dataset:<name>[@<version>]` (no version: the latest ready one)."""

    model_config = ConfigDict(frozen=True)

    name: DataName
    version: VersionNumber | None = None


def parse_dataset_reference(text: str) -> DatasetReference:
    """Parse `dataset:<name>`, `dataset:<name>@<version>` or `<name>@<version>` (else a 422)."""
    match = _REFERENCE.match(text.strip())
    if match is None or (not text.startswith("dataset:") and match["version"] is None):
        raise InvalidDatasetReference(
            f"{text[:200]!r} is not a dataset reference: write dataset:<name> or dataset:<name>@<version>.",
            [{"field": "dataset", "value": text[:200]}],
        )
    version = int(match["version"]) if match["version"] else None
    if version is not None and version > MAX_VERSION:
        raise InvalidDatasetReference(f"version {version} is out of range", [{"field": "dataset"}])
    return DatasetReference(name=match["name"], version=version)


def version_location(bucket: str, dataset: str, version: int) -> str:
    """Where a version's parts lie: `s3://<bucket>/datasets/<name>/v<version>/`."""
    return f"s3://{bucket}/{version_prefix(dataset, version)}"


def version_prefix(dataset: str, version: int) -> str:
    """The key prefix of a version's parts: `datasets/<name>/v<version>/`."""
    return f"datasets/{dataset}/v{version}/"


def content_hash_of(part_hashes: list[str]) -> str:
    """A version's content hash: SHA-256 over its parts' SHA-256 digests (hex), in order, one per line.

    It names the exact bytes stored (each part's own digest verifies that part), it is computed the
    same way by every producer whatever library wrote the Parquet, and an incremental version that
    reuses earlier parts gets it without reading them again.
    """
    return "sha256:" + hashlib.sha256("\n".join(part_hashes).encode()).hexdigest()
