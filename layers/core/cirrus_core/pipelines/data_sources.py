"""A run's data source: where it is, whether the platform may read it, and which version it is.

For now a data source is an `s3://` URI of a CSV object or of a prefix, inside the artifact bucket
or a bucket on the artifact allowlist. Its version is what pins the bytes a run read: the object's
VersionId on a versioned bucket, else its ETag; for a prefix, a SHA-256 over its keys and ETags.
Named data sources arrive with the data module (issue 10).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from cirrus_core.errors import DataSourceUnavailable, UnprocessableEntity
from cirrus_core.registry.artifacts import check_s3_uri

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# A prefix of more objects than this is refused: its version would take too long to compute.
MAX_PREFIX_OBJECTS = 100_000
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})


@dataclass(frozen=True, slots=True)
class Dataset:
    """A resolved data source: its URI (a prefix ends with `/`) and its version."""

    uri: str
    version: str
    is_prefix: bool


def prefix_version(entries: list[tuple[str, str]], prefix: str) -> str:
    """`sha256:<hex>` over the sorted (key relative to the prefix, ETag) pairs of a prefix."""
    digest = hashlib.sha256()
    for key, etag in sorted(entries):
        digest.update(f"{key.removeprefix(prefix)}\0{etag.strip(chr(34))}\n".encode())
    return f"sha256:{digest.hexdigest()}"


def _missing(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in _MISSING


class DataSources:
    """Resolves data sources against S3 (HeadObject, ListObjectsV2)."""

    def __init__(self, client: S3Client, allowed_buckets: frozenset[str]) -> None:
        self._client = client
        self._allowed = allowed_buckets

    def resolve(self, data_source: str) -> Dataset:
        """The dataset a data source names, or DataSourceUnavailable saying why not."""
        if not data_source.startswith("s3://"):
            if "://" in data_source:
                raise DataSourceUnavailable(
                    "data_source: only s3:// URIs are read.", [{"field": "data_source"}]
                )
            raise DataSourceUnavailable(
                f"data_source {data_source!r} names a data source, and named data sources arrive with "
                "the data module (issue 10); give an s3:// URI of a CSV object or prefix for now.",
                [{"field": "data_source", "value": data_source[:200]}],
            )
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
            raise DataSourceUnavailable(
                f"data_source {data_source} names no object, and no objects are under it.",
                [{"field": "data_source", "value": data_source[:200]}],
            )
        return Dataset(uri=f"s3://{bucket}/{key}", version=prefix_version(entries, key), is_prefix=True)

    def object_etag(self, uri: str) -> str | None:
        """The version or ETag of an object, None when it does not exist."""
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        return self._object_version(bucket, key)

    def prefix_digest(self, uri: str) -> str | None:
        """The version of everything under a prefix, None when it is empty."""
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        entries = self._list(bucket, key)
        return prefix_version(entries, key) if entries else None

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
