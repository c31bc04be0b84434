"""A run's data source: where it is, whether the platform may read it, and which version it is.

`parameters.data_source` takes five forms (docs/data.md, "Lineage"):

- `s3://bucket/key` or `s3://bucket/prefix/`: the CSV object, or every object under the prefix, in
  the artifact bucket or a bucket on the allowlist. Its version: the object's VersionId on a
  versioned bucket, else its ETag; for a prefix, a SHA-256 over its keys and ETags.
- `dataset:<name>`: the dataset's latest ready version; `dataset:<name>@<version>`: that version,
  if it is ready. Its version: `dataset:<name>@<version>`, as for the next two.
- `training-set:<id>`: the dataset version the training set wrote.
- a data source's name (`production_db`): the latest ready snapshot of that source.

A source's name reads the dataset named like the source when it is a snapshot of it, else the one
snapshot dataset whose `source` it is; several such datasets, or none, are refused with what to write
instead. A dataset version is read as its Parquet parts exactly as its `files` list them (never by
listing its prefix): the run records the version's location as its URI, the preprocessing step's
channel is the prefix holding those parts, and the step's `parameters.json` names them
(`_source_files`, relative to the channel). Every refusal is `DataSourceUnavailable`, raised before
anything of the run is written.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar

from botocore.exceptions import ClientError

from cirrus_core.data.dataset_store import DatasetStore
from cirrus_core.data.datasets import DatasetKind
from cirrus_core.data.http import DATA_NAME_PATTERN, JOB_ID_PATTERN
from cirrus_core.errors import CirrusError, DataSourceUnavailable, UnprocessableEntity
from cirrus_core.registry.artifacts import check_s3_uri

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

    from cirrus_core.data.datasets import Dataset as CatalogDataset
    from cirrus_core.data.datasets import DatasetVersion

# A prefix of more objects than this is refused: its version would take too long to compute.
MAX_PREFIX_OBJECTS = 100_000
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})

DATASET_SCHEME: Final = "dataset:"
TRAINING_SET_SCHEME: Final = "training-set:"
_SOURCE_NAME = re.compile(DATA_NAME_PATTERN)
_TRAINING_SET_ID = re.compile(JOB_ID_PATTERN)
_DATASET_KEY_ROOT: Final = "datasets/"
# How many candidate datasets a refusal names.
_MAX_NAMED_CANDIDATES: Final = 20
# Datasets are listed a page at a time to find a source's snapshots, up to this many pages.
_DATASET_PAGE: Final = 100
_MAX_DATASET_PAGES: Final = 100
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Dataset:
    """A resolved data source: what the run records, and what its preprocessing step reads.

    `uri` is the object, the prefix (ends with `/`) or the dataset version's location; `version`
    pins the bytes (an object version, a digest, or `dataset:<name>@<version>`). A dataset version
    also has `files`, its parts relative to `channel_uri` (the prefix the source channel downloads),
    and its content hash.
    """

    uri: str
    version: str
    is_prefix: bool
    channel_uri: str = ""
    files: tuple[str, ...] = ()
    content_hash: str | None = None

    @property
    def channel(self) -> str:
        """The S3 prefix or object the preprocessing step's source channel reads."""
        return self.channel_uri or self.uri

    @property
    def cache_identity(self) -> str:
        """What the step cache keys a source-reading step on: the version, and the content it names."""
        return f"{self.version}|{self.content_hash}" if self.content_hash else self.version


@dataclass(frozen=True, slots=True)
class TrainingSetEntry:
    """What resolving `training-set:<id>` needs of a training set: its status and the version it wrote."""

    training_set_id: str
    status: str
    ready: bool
    dataset: str
    version: int | None


class DataCatalog(Protocol):
    """What resolving a named data source needs of the data module's table (read only)."""

    def resolve(self, reference: str) -> DatasetVersion:
        """The ready version `dataset:<name>[@<version>]` names, or the data module's 404/409/422."""
        ...

    def dataset(self, name: str) -> CatalogDataset | None: ...

    def snapshot_datasets_of(self, source: str) -> list[str]:
        """The names of the snapshot datasets made from `source`, in name order."""
        ...

    def source_exists(self, name: str) -> bool: ...

    def training_set(self, training_set_id: str) -> TrainingSetEntry | None: ...


def prefix_version(entries: list[tuple[str, str]], prefix: str) -> str:
    """`sha256:<hex>` over the sorted (key relative to the prefix, ETag) pairs of a prefix."""
    digest = hashlib.sha256()
    for key, etag in sorted(entries):
        digest.update(f"{key.removeprefix(prefix)}\0{etag.strip(chr(34))}\n".encode())
    return f"sha256:{digest.hexdigest()}"


def _missing(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in _MISSING


def _refusal(message: str, value: str, **details: Any) -> DataSourceUnavailable:
    return DataSourceUnavailable(message, [{"field": "data_source", "value": value[:200], **details}])


class DataSources:
    """Resolves data sources against S3 (HeadObject, ListObjectsV2) and the data module's catalog."""

    def __init__(
        self, client: S3Client, allowed_buckets: frozenset[str], catalog: DataCatalog | None = None
    ) -> None:
        self._client = client
        self._allowed = allowed_buckets
        self._catalog = catalog

    def resolve(self, data_source: str) -> Dataset:
        """The dataset a data source names, or DataSourceUnavailable saying why not."""
        if data_source.startswith("s3://"):
            return self._s3(data_source)
        if data_source.startswith(DATASET_SCHEME):
            return self._version(self._lookup(data_source, lambda catalog: catalog.resolve(data_source)))
        if data_source.startswith(TRAINING_SET_SCHEME):
            return self._training_set(data_source)
        if "://" in data_source:
            raise DataSourceUnavailable(
                "data_source: only s3:// URIs are read (or dataset:, training-set: and source names).",
                [{"field": "data_source"}],
            )
        if _SOURCE_NAME.fullmatch(data_source):
            return self._named_source(data_source)
        raise _refusal(
            f"data_source {data_source[:200]!r} is neither an s3:// URI, a dataset:<name>[@<version>], "
            "a training-set:<id> nor a data source's name.",
            data_source,
        )

    def object_etag(self, uri: str) -> str | None:
        """The version or ETag of an object, None when it does not exist."""
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        return self._object_version(bucket, key)

    def prefix_digest(self, uri: str) -> str | None:
        """The version of everything under a prefix, None when it is empty."""
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        entries = self._list(bucket, key)
        return prefix_version(entries, key) if entries else None

    # -- the data module's datasets -----------------------------------------------------------------

    def _catalog_for(self, data_source: str) -> DataCatalog:
        if self._catalog is None:
            raise _refusal(
                f"data_source {data_source[:200]!r} names the data module's data, and the data module "
                "is not configured for pipelines here (no data table): give an s3:// URI.",
                data_source,
            )
        return self._catalog

    def _lookup(self, data_source: str, read: Callable[[DataCatalog], T]) -> T:
        """`read` on the catalog, the data module's refusals (404, 409, 422) as DataSourceUnavailable."""
        catalog = self._catalog_for(data_source)
        try:
            return read(catalog)
        except CirrusError as error:
            if isinstance(error, DataSourceUnavailable):
                raise
            details = [{"field": "data_source", "value": data_source[:200], "error": error.code}]
            raise DataSourceUnavailable(error.message, details + list(error.details)) from error
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "error")
            raise _refusal(
                f"The data module's table cannot be read ({code}).", data_source, error=code
            ) from error

    def _training_set(self, data_source: str) -> Dataset:
        training_set_id = data_source.removeprefix(TRAINING_SET_SCHEME)
        if not _TRAINING_SET_ID.fullmatch(training_set_id):
            raise _refusal(f"{data_source[:200]!r} is not training-set:<id>.", data_source)
        entry = self._lookup(data_source, lambda catalog: catalog.training_set(training_set_id))
        if entry is None:
            raise _refusal(f"There is no training set {training_set_id}.", data_source)
        if not entry.ready or entry.version is None:
            raise _refusal(
                f"Training set {training_set_id} is {entry.status}, not ready: wait for it to finish.",
                data_source,
                status=entry.status,
            )
        reference = f"{DATASET_SCHEME}{entry.dataset}@{entry.version}"
        version = self._lookup(data_source, lambda catalog: catalog.resolve(reference))
        if version.kind is not DatasetKind.TRAINING_SET:
            raise _refusal(
                f"Training set {training_set_id} names {reference}, which is not a training set.",
                data_source,
                dataset=reference,
            )
        return self._version(version)

    def _named_source(self, name: str) -> Dataset:
        """The latest ready snapshot of the source `name`."""
        own = self._lookup(name, lambda catalog: catalog.dataset(name))
        if own is not None and own.kind is DatasetKind.SNAPSHOT and own.source == name:
            return self._version(
                self._lookup(name, lambda catalog: catalog.resolve(f"{DATASET_SCHEME}{name}"))
            )
        candidates = self._lookup(name, lambda catalog: catalog.snapshot_datasets_of(name))
        if len(candidates) == 1:
            only = candidates[0]
            return self._version(
                self._lookup(name, lambda catalog: catalog.resolve(f"{DATASET_SCHEME}{only}"))
            )
        if candidates:
            named = ", ".join(
                f"{DATASET_SCHEME}{candidate}" for candidate in candidates[:_MAX_NAMED_CANDIDATES]
            )
            raise _refusal(
                f"Source {name} has {len(candidates)} snapshot datasets; write which one to read: {named}.",
                name,
                candidates=candidates[:_MAX_NAMED_CANDIDATES],
            )
        if own is not None:
            raise _refusal(
                f"{name} is a dataset ({own.kind.value}), not a data source: write {DATASET_SCHEME}{name}.",
                name,
            )
        if self._lookup(name, lambda catalog: catalog.source_exists(name)):
            raise _refusal(
                f"Source {name} has no snapshot yet: run `cirrus data snapshot {name} --source {name} ...` "
                "first, then train on it.",
                name,
            )
        raise _refusal(f"data_source {name} names no data source and no dataset.", name)

    def _version(self, version: DatasetVersion) -> Dataset:
        """A ready dataset version as the run reads it: exactly its parts, from the prefix holding them."""
        reference = version.reference
        if not version.files:
            raise _refusal(f"{reference} holds no data parts.", reference)
        bucket, _, location_key = version.location.removeprefix("s3://").partition("/")
        dataset_root = f"{_DATASET_KEY_ROOT}{version.dataset}/"
        if not bucket or not location_key.startswith(dataset_root):
            raise _refusal(f"{reference} lies outside the data bucket's datasets/.", reference)
        keys = [part.key for part in version.files]
        if all(key.startswith(location_key) for key in keys):
            # The usual case: the version's own prefix holds its parts.
            channel_key = location_key
        elif all(key.startswith(dataset_root) for key in keys):
            # An incremental version may keep earlier versions' parts where they lie.
            channel_key = dataset_root
        else:
            raise _refusal(f"{reference} names parts outside its dataset's prefix.", reference)
        return Dataset(
            uri=version.location,
            version=reference,
            is_prefix=True,
            channel_uri=f"s3://{bucket}/{channel_key}",
            files=tuple(key.removeprefix(channel_key) for key in keys),
            content_hash=version.content_hash,
        )

    # -- S3 -------------------------------------------------------------------------------------------

    def _s3(self, data_source: str) -> Dataset:
        try:
            bucket, key = check_s3_uri(data_source, self._allowed, field="data_source", prefix_allowed=True)
        except UnprocessableEntity as error:
            raise DataSourceUnavailable(error.message, error.details) from error
        if not key.endswith("/"):
            version = self._object_version(bucket, key)
            if version is not None:
                return Dataset(uri=data_source, version=version, is_prefix=False)
            key += "/"
        entries = self._list(bucket, key)
        if not entries:
            raise _refusal(
                f"data_source {data_source} names no object, and no objects are under it.", data_source
            )
        return Dataset(uri=f"s3://{bucket}/{key}", version=prefix_version(entries, key), is_prefix=True)

    def _object_version(self, bucket: str, key: str) -> str | None:
        try:
            head = self._client.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if _missing(error):
                return None
            raise self._unreadable(bucket, key, error) from error
        version = head.get("VersionId")
        if version and version != "null":
            return str(version)
        return str(head["ETag"]).strip('"')

    def _list(self, bucket: str, prefix: str) -> list[tuple[str, str]]:
        entries: list[tuple[str, str]] = []
        paginator = self._client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    if item["Key"].endswith("/"):
                        continue  # a console "folder" marker holds no data
                    entries.append((item["Key"], item["ETag"]))
                if len(entries) > MAX_PREFIX_OBJECTS:
                    raise DataSourceUnavailable(
                        f"s3://{bucket}/{prefix} holds more than {MAX_PREFIX_OBJECTS} objects.",
                        [{"field": "data_source"}],
                    )
        except ClientError as error:
            raise self._unreadable(bucket, prefix, error) from error
        return entries

    @staticmethod
    def _unreadable(bucket: str, key: str, error: ClientError) -> DataSourceUnavailable:
        code = error.response.get("Error", {}).get("Code", "error")
        return DataSourceUnavailable(
            f"s3://{bucket}/{key} cannot be read ({code}).", [{"field": "data_source", "error": code}]
        )


class DynamoDataCatalog:
    """The data module's datasets, sources and training sets, read from its table."""

    def __init__(self, client: DynamoDBClient, table_name: str, bucket: str) -> None:
        self._client = client
        self._table = table_name
        self._store = DatasetStore(client, table_name, bucket)

    def resolve(self, reference: str) -> DatasetVersion:
        return self._store.resolve(reference)

    def dataset(self, name: str) -> CatalogDataset | None:
        return self._store.dataset(name)

    def snapshot_datasets_of(self, source: str) -> list[str]:
        found: list[str] = []
        after: str | None = None
        for _ in range(_MAX_DATASET_PAGES):
            page, after = self._store.datasets(limit=_DATASET_PAGE, after=after)
            found += [
                item.name for item in page if item.kind is DatasetKind.SNAPSHOT and item.source == source
            ]
            if after is None:
                break
        return sorted(found)

    def source_exists(self, name: str) -> bool:
        # Only the key is read: a source's item holds its connection parameters, which this has no use for.
        item = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": f"SOURCE#{name}"}, "sk": {"S": "META"}},
            ProjectionExpression="pk",
            ConsistentRead=True,
        ).get("Item")
        return bool(item)

    def training_set(self, training_set_id: str) -> TrainingSetEntry | None:
        # The feature store's models are imported only by the runs that name a training set.
        from cirrus_core.data.feature_group_store import FeatureGroupStore
        from cirrus_core.data.training_sets import TrainingSetStatus

        found = FeatureGroupStore(self._client, self._table).training_set(training_set_id)
        if found is None:
            return None
        return TrainingSetEntry(
            training_set_id=found.training_set_id,
            status=found.status.value,
            ready=found.status is TrainingSetStatus.READY,
            dataset=found.dataset,
            version=found.dataset_version,
        )
