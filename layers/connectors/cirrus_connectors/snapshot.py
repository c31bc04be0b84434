"""The Parquet snapshot writer: record batches in, a dataset version's files and metadata out.

`write_snapshot` streams: it holds one incoming batch and the Parquet writer's current row group,
never the whole dataset.

Files: `part-00000.parquet`, `part-00001.parquet` ... (zstd), each of at most `part_rows` rows; every
incoming batch is one row group, split where a part ends. Each file's SHA-256 and size are taken
from the written file, and `content_hash` is `cirrus_core.data.datasets.content_hash_of` over those
digests in order (docs/data.md, "A dataset version"): it names the exact bytes written.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cirrus_connectors.base import ExtractionRefused
from cirrus_core.data.datasets import content_hash_of

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

COMPRESSION: Final = "zstd"
_READ_CHUNK: Final = 1 << 20


class SnapshotRefused(ExtractionRefused):
    """The batches cannot make one dataset version (no schema, a schema that changes, a bad column)."""


class SnapshotFile(NamedTuple):
    """One written part."""

    path: Path
    rows: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class SnapshotFiles:
    """What a dataset version records about its rows (docs/data.md, "A dataset version")."""

    files: list[SnapshotFile]
    schema: list[dict[str, Any]]
    row_count: int
    content_hash: str
    max_watermark: Any = None


def schema_fields(schema: pa.Schema) -> list[dict[str, Any]]:
    """The schema as [{name, type, nullable}] with Arrow's type names."""
    return [{"name": field.name, "type": str(field.type), "nullable": field.nullable} for field in schema]


def write_snapshot(
    batches: Iterable[pa.RecordBatch],
    directory: Path,
    *,
    part_rows: int,
    watermark_column: str | None = None,
) -> SnapshotFiles:
    """Write the batches as Parquet parts in `directory` (created if missing, holding no parts yet).

    Refuses (SnapshotRefused) batches whose schema differs from the first one's, no batch at all
    (the schema would be unknown), and a watermark column the schema does not have. Zero rows make
    one empty part that carries the schema.
    """
    if part_rows < 1:
        raise SnapshotRefused("part_rows must be at least 1")
    directory.mkdir(parents=True, exist_ok=True)
    if any(directory.glob("part-*.parquet")):
        raise SnapshotRefused(f"{directory} already holds parts: a snapshot is written to an empty directory")
    writer: _Writer | None = None
    try:
        for batch in batches:
            if writer is None:
                writer = _Writer(batch.schema, directory, part_rows, watermark_column)
            writer.add(batch)
        if writer is None:
            raise SnapshotRefused(
                "no record batch arrived: a snapshot needs at least an empty batch's schema"
            )
        return writer.finish()
    finally:
        if writer is not None:
            writer.abort()


class _Writer:
    """The parts and the watermark of one snapshot being written."""

    def __init__(
        self, schema: pa.Schema, directory: Path, part_rows: int, watermark_column: str | None
    ) -> None:
        if watermark_column is not None and schema.get_field_index(watermark_column) < 0:
            raise SnapshotRefused(f"the watermark column {watermark_column!r} is not in the rows' schema")
        self.schema = schema
        self.directory = directory
        self.part_rows = part_rows
        self.watermark_column = watermark_column
        self.max_watermark: Any = None
        self.row_count = 0
        self.files: list[SnapshotFile] = []
        self._part: pq.ParquetWriter | None = None
        self._part_path: Path | None = None
        self._part_count = 0

    def add(self, batch: pa.RecordBatch) -> None:
        if not batch.schema.equals(self.schema):
            raise SnapshotRefused(
                "a batch's schema differs from the first batch's: "
                f"expected {schema_fields(self.schema)}, got {schema_fields(batch.schema)}"
            )
        if batch.num_rows == 0:
            return
        self.row_count += batch.num_rows
        self._watermark(batch)
        offset = 0
        while offset < batch.num_rows:
            part = self._part
            if part is None or self._part_count == self.part_rows:
                part = self._roll()
            take = min(self.part_rows - self._part_count, batch.num_rows - offset)
            part.write_batch(batch.slice(offset, take), row_group_size=take)
            self._part_count += take
            offset += take

    def finish(self) -> SnapshotFiles:
        if self._part is None:
            self._roll()  # zero rows: one empty part with the schema
        self._close_part()
        return SnapshotFiles(
            files=list(self.files),
            schema=schema_fields(self.schema),
            row_count=self.row_count,
            content_hash=content_hash_of([part.sha256 for part in self.files]),
            max_watermark=self.max_watermark,
        )

    def abort(self) -> None:
        """Close whatever is still open (after finish, nothing is)."""
        if self._part is not None:
            self._part.close()
            self._part = None

    def _roll(self) -> pq.ParquetWriter:
        """Close the current part and open the next."""
        self._close_part()
        self._part_path = self.directory / f"part-{len(self.files):05d}.parquet"
        self._part = pq.ParquetWriter(self._part_path, self.schema, compression=COMPRESSION)
        self._part_count = 0
        return self._part

    def _close_part(self) -> None:
        if self._part is None or self._part_path is None:
            return
        self._part.close()
        self._part = None
        digest = hashlib.sha256()
        with self._part_path.open("rb") as written:
            while chunk := written.read(_READ_CHUNK):
                digest.update(chunk)
        self.files.append(
            SnapshotFile(
                self._part_path, self._part_count, self._part_path.stat().st_size, digest.hexdigest()
            )
        )

    def _watermark(self, batch: pa.RecordBatch) -> None:
        if self.watermark_column is None:
            return
        highest = pc.max(batch.column(self.watermark_column)).as_py()
        if highest is not None and (self.max_watermark is None or highest > self.max_watermark):
            self.max_watermark = highest
