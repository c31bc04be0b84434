"""Dataset versions as local Parquet files for DuckDB: fetched from the data bucket, written, described
and uploaded back (docs/data.md, "Storage").

DuckDB reads and writes Parquet itself, so the frames layer needs no pyarrow; it reads from local
files (a Lambda's ephemeral storage) rather than through an S3 extension, which would be downloaded
at run time.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any, Final

from cirrus_core.data.datasets import Column, DataFile, version_prefix

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    import duckdb
    from mypy_boto3_s3 import S3Client

    from cirrus_core.data.datasets import DatasetVersion

PART_NAME: Final = "part-{index:05d}.parquet"
_CHUNK = 1024 * 1024

# DuckDB's type names -> Arrow's, as a Parquet file written by DuckDB reads in pyarrow.
_ARROW_NAMES: Final[dict[str, str]] = {
    "BOOLEAN": "bool",
    "TINYINT": "int8",
    "SMALLINT": "int16",
    "INTEGER": "int32",
    "BIGINT": "int64",
    "UTINYINT": "uint8",
    "USMALLINT": "uint16",
    "UINTEGER": "uint32",
    "UBIGINT": "uint64",
    "FLOAT": "float",
    "DOUBLE": "double",
    "VARCHAR": "string",
    "BLOB": "binary",
    "DATE": "date32[day]",
    "TIME": "time64[us]",
    "TIMESTAMP": "timestamp[us]",
    "TIMESTAMP_NS": "timestamp[ns]",
    "TIMESTAMP_MS": "timestamp[ms]",
    "TIMESTAMP_S": "timestamp[s]",
    "TIMESTAMP WITH TIME ZONE": "timestamp[us, tz=UTC]",
    "UUID": "string",
    "JSON": "string",
}
_DECIMAL = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$")


def arrow_type_name(duckdb_type: str) -> str:
    """Arrow's name for a DuckDB column type; nested types keep DuckDB's spelling, lower-cased."""
    if duckdb_type in _ARROW_NAMES:
        return _ARROW_NAMES[duckdb_type]
    decimal = _DECIMAL.match(duckdb_type)
    if decimal:
        return f"decimal128({decimal[1]}, {decimal[2]})"
    return duckdb_type.lower()


def fetch_version(s3: S3Client, bucket: str, version: DatasetVersion, directory: Path) -> list[Path]:
    """Download a ready version's parts into `directory` (one sub-folder per version), in order."""
    target = directory / f"{version.dataset}-v{version.version}"
    target.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, part in enumerate(version.files):
        path = target / PART_NAME.format(index=index)
        s3.download_file(bucket, part.key, str(path))
        paths.append(path)
    return paths


def parquet_scan(paths: Sequence[Path]) -> str:
    """A DuckDB table expression reading these Parquet files in order (paths are quoted)."""
    quoted = ", ".join("'" + str(path).replace("'", "''") + "'" for path in paths)
    return f"read_parquet([{quoted}])"


def write_parquet(
    connection: duckdb.DuckDBPyConnection, query: str, path: Path, *, row_group_rows: int
) -> None:
    """Write a query's rows, in its order, as one zstd Parquet file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    target = str(path).replace("'", "''")
    options = f"FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {int(row_group_rows)}"
    connection.execute(f"COPY ({query}) TO '{target}' ({options})")


def describe_parquet(
    connection: duckdb.DuckDBPyConnection, paths: Sequence[Path]
) -> tuple[list[Column], int]:
    """The columns (Arrow type names) and row count of Parquet files read together."""
    scan = parquet_scan(paths)
    described: list[tuple[Any, ...]] = connection.execute(
        f"DESCRIBE SELECT * FROM {scan}"  # noqa: S608  # nosec B608 - the scan quotes its paths
    ).fetchall()
    columns = [
        Column(name=row[0], type=arrow_type_name(row[1]), nullable=row[2] != "NO") for row in described
    ]
    counted = connection.execute(
        f"SELECT count(*) FROM {scan}"  # noqa: S608  # nosec B608 - the scan quotes its paths
    ).fetchone()
    return columns, int(counted[0]) if counted else 0


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def upload_parts(
    s3: S3Client, bucket: str, dataset: str, version: int, paths: Sequence[Path], rows: Sequence[int]
) -> list[DataFile]:
    """Upload local parts as `datasets/<name>/v<version>/part-<nnnnn>.parquet`, with their digests."""
    prefix = version_prefix(dataset, version)
    files = []
    for index, (path, count) in enumerate(zip(paths, rows, strict=True)):
        key = prefix + PART_NAME.format(index=index)
        s3.upload_file(str(path), bucket, key)
        files.append(DataFile(key=key, rows=count, bytes=path.stat().st_size, sha256=file_sha256(path)))
    return files
