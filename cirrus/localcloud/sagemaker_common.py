"""What the local cloud's SageMaker hooks share: S3 URIs, S3 <-> directory copies, archives, paths.

SageMaker moves data between S3 and a container's `/opt/ml` tree; the hooks do the same between the
emulator's S3 and a job directory under the emulator's work dir. Every copy goes through a boto3
client bound to the emulator, so S3 behaves exactly as it does for any other caller (versioning,
notifications, Object Lock).
"""

from __future__ import annotations

import re
import shutil
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

S3_SCHEME = "s3://"
# SageMaker containers see their files under /opt/ml; the hooks map that root onto a job directory.
CONTAINER_ROOT = "/opt/ml"
# /opt/ml followed by a separator, a quote or the end, so that /opt/mlflow is left alone.
_CONTAINER_ROOT_PATTERN = re.compile(r"/opt/ml(?=/|$|[\s\"'=:,;])")


def utc_now() -> datetime:
    """The current time, timezone-aware, as AWS reports timestamps."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class S3Uri:
    """An `s3://bucket/key` location; `key` may be a prefix (and may be empty)."""

    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> S3Uri:
        """Split an `s3://` URI; raises ValueError for anything else."""
        if not uri.startswith(S3_SCHEME):
            raise ValueError(f"not an s3:// URI: {uri!r}")
        bucket, _, key = uri[len(S3_SCHEME) :].partition("/")
        if not bucket:
            raise ValueError(f"no bucket in {uri!r}")
        return cls(bucket, key)

    def child(self, *parts: str) -> S3Uri:
        """The location `parts` below this one, joined with single slashes."""
        segments = [self.key.strip("/"), *(part.strip("/") for part in parts)]
        return S3Uri(self.bucket, "/".join(segment for segment in segments if segment))

    def __str__(self) -> str:
        return f"{S3_SCHEME}{self.bucket}/{self.key}"


def relative_name(prefix: str, key: str) -> str:
    """Where SageMaker puts the object `key` matched by an S3Prefix `prefix`, relative to the target.

    SageMaker keeps the part of the key after the prefix's last `/`: the prefix `data/train/` puts
    `data/train/a.csv` at `a.csv`, and the single-object "prefix" `data/train.csv` gives `train.csv`.
    """
    return key[prefix.rfind("/") + 1 :]


def safe_join(root: Path, relative: str) -> Path:
    """`root / relative`, refusing names (from S3 keys or archives) that climb out of `root`."""
    target = (root / relative).resolve()
    if not target.is_relative_to(root.resolve()):
        raise ValueError(f"{relative!r} escapes {root}")
    return target


def list_keys(s3: Any, location: S3Uri) -> Iterator[str]:
    """Every object key under the location's prefix, in S3's (lexicographic) order; no folder markers."""
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=location.bucket, Prefix=location.key):
        for item in page.get("Contents", []):
            key = str(item["Key"])
            if not key.endswith("/"):
                yield key


def download_object(s3: Any, location: S3Uri, target: Path) -> Path:
    """Copy one object to `target` (parents created); returns `target`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    body = s3.get_object(Bucket=location.bucket, Key=location.key)["Body"]
    with target.open("wb") as sink:
        shutil.copyfileobj(body, sink)
    return target


def download_prefix(s3: Any, location: S3Uri, target_dir: Path) -> int:
    """Copy every object under an S3Prefix into `target_dir` as SageMaker lays it out; returns the count."""
    target_dir.mkdir(parents=True, exist_ok=True)
    count = 0
    for key in list_keys(s3, location):
        download_object(
            s3, S3Uri(location.bucket, key), safe_join(target_dir, relative_name(location.key, key))
        )
        count += 1
    return count


def upload_directory(s3: Any, source_dir: Path, location: S3Uri) -> int:
    """Copy every file below `source_dir` to the location, keeping relative paths; returns the count."""
    count = 0
    for path in sorted(source_dir.rglob("*")):
        if path.is_file():
            relative = PurePosixPath(path.relative_to(source_dir).as_posix())
            with path.open("rb") as body:
                s3.put_object(Bucket=location.bucket, Key=location.child(str(relative)).key, Body=body)
            count += 1
    return count


def upload_file(s3: Any, path: Path, location: S3Uri) -> None:
    """Copy one file to the location."""
    with path.open("rb") as body:
        s3.put_object(Bucket=location.bucket, Key=location.key, Body=body)


def pack_directory(source_dir: Path, archive: Path) -> Path:
    """Write `source_dir`'s contents (not the directory itself) as a gzipped tar, as SageMaker does."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for child in sorted(source_dir.iterdir()):
            tar.add(child, arcname=child.name)
    return archive


def extract_archive(archive: Path, target_dir: Path) -> Path:
    """Unpack a (possibly compressed) tar into `target_dir`.

    The "data" filter refuses absolute names, `..`, links out of the target and device files, so an
    archive from S3 cannot write outside the job directory.
    """
    target_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:*") as tar:
        tar.extractall(target_dir, filter="data")
    return target_dir


def container_path(job_root: Path, path: str) -> Path:
    """The job-directory equivalent of a container path under /opt/ml; ValueError for any other path."""
    pure = PurePosixPath(path)
    if not pure.is_relative_to(CONTAINER_ROOT):
        raise ValueError(f"{path!r} is not under {CONTAINER_ROOT}")
    return safe_join(job_root, pure.relative_to(CONTAINER_ROOT).as_posix())


def rewrite_container_paths(text: str, job_root: Path) -> str:
    """Replace every `/opt/ml` path in an argument or environment value with the job directory's."""
    root = str(job_root)
    return _CONTAINER_ROOT_PATTERN.sub(lambda _match: root, text)
