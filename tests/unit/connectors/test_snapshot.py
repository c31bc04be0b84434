"""The Parquet snapshot writer: parts that roll at part_rows, per-file checksums, the schema with Arrow's
type names, a content hash over the parts' digests in order (docs/data.md), the highest watermark,
and refusals of batches that cannot make one dataset version."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cirrus_connectors.base import ExtractionRefused
from cirrus_connectors.snapshot import SnapshotRefused, write_snapshot
from cirrus_core.data.datasets import content_hash_of

SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("name", pa.string()),
        ("amount", pa.decimal128(10, 2)),
        ("at", pa.timestamp("us", tz="UTC")),
        ("ok", pa.bool_()),
    ]
)
START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def rows(first: int, count: int) -> pa.RecordBatch:
    """`count` rows from id `first`: every 7th name is null, amount = id cents, `at` = START + id minutes."""
    ids = np.arange(first, first + count, dtype=np.int64)
    start_us = int(START.timestamp() * 1_000_000)
    return pa.record_batch(
        [
            pa.array(ids),
            pa.array([None if i % 7 == 0 else f"name {i}" for i in ids.tolist()], pa.string()),
            pa.array([f"{i // 100}.{i % 100:02d}" for i in ids.tolist()]).cast(pa.decimal128(10, 2)),
            pa.array(start_us + ids * 60_000_000).cast(pa.timestamp("us", tz="UTC")),
            pa.array(ids % 2 == 0),
        ],
        schema=SCHEMA,
    )


def chunked(total: int, sizes: list[int]) -> Iterator[pa.RecordBatch]:
    """`total` rows cut into batches of the given sizes, cycling through them."""
    first, index = 0, 0
    while first < total:
        size = min(sizes[index % len(sizes)], total - first)
        yield rows(first, size)
        first, index = first + size, index + 1


def read_back(directory: Path) -> pa.Table:
    return pa.concat_tables(pq.read_table(path) for path in sorted(directory.glob("part-*.parquet")))


def test_parts_roll_at_part_rows_and_hold_the_rows_in_order(tmp_path: Path) -> None:
    written = write_snapshot(chunked(25, [4]), tmp_path, part_rows=10)

    assert [(file.path.name, file.rows) for file in written.files] == [
        ("part-00000.parquet", 10),
        ("part-00001.parquet", 10),
        ("part-00002.parquet", 5),
    ]
    assert written.row_count == 25
    assert read_back(tmp_path).equals(pa.Table.from_batches([rows(0, 25)]))


def test_each_batch_is_a_row_group_split_where_a_part_ends(tmp_path: Path) -> None:
    written = write_snapshot(chunked(25, [4]), tmp_path, part_rows=10)

    groups = [
        [
            pq.ParquetFile(file.path).metadata.row_group(i).num_rows
            for i in range(pq.ParquetFile(file.path).num_row_groups)
        ]
        for file in written.files
    ]
    assert groups == [[4, 4, 2], [2, 4, 4], [4, 1]]


def test_the_parts_are_zstd_compressed(tmp_path: Path) -> None:
    written = write_snapshot(chunked(10, [10]), tmp_path, part_rows=10)

    metadata = pq.ParquetFile(written.files[0].path).metadata
    assert {metadata.row_group(0).column(i).compression for i in range(metadata.num_columns)} == {"ZSTD"}


def test_each_file_records_its_size_and_sha256(tmp_path: Path) -> None:
    written = write_snapshot(chunked(25, [7]), tmp_path, part_rows=10)

    for file in written.files:
        content = file.path.read_bytes()
        assert file.bytes == len(content)
        assert file.sha256 == hashlib.sha256(content).hexdigest()


def test_the_schema_is_listed_with_arrows_type_names(tmp_path: Path) -> None:
    written = write_snapshot(chunked(3, [3]), tmp_path, part_rows=10)

    assert written.schema == [
        {"name": "id", "type": "int64", "nullable": True},
        {"name": "name", "type": "string", "nullable": True},
        {"name": "amount", "type": "decimal128(10, 2)", "nullable": True},
        {"name": "at", "type": "timestamp[us, tz=UTC]", "nullable": True},
        {"name": "ok", "type": "bool", "nullable": True},
    ]


def test_the_content_hash_is_content_hash_of_the_parts_digests_in_order(tmp_path: Path) -> None:
    written = write_snapshot(chunked(2500, [300]), tmp_path, part_rows=1000)

    on_disk = [hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(tmp_path.glob("part-*"))]
    assert len(on_disk) == 3
    assert written.content_hash == content_hash_of(on_disk)
    assert written.content_hash != content_hash_of(on_disk[::-1])


def test_the_content_hash_is_stable_across_two_writes_of_the_same_rows(tmp_path: Path) -> None:
    first = write_snapshot(chunked(2500, [300]), tmp_path / "a", part_rows=1000)
    again = write_snapshot(chunked(2500, [300]), tmp_path / "b", part_rows=1000)

    assert first.content_hash.startswith("sha256:")
    assert first.content_hash == again.content_hash
    assert [file.sha256 for file in first.files] == [file.sha256 for file in again.files]


def test_the_content_hash_changes_when_one_value_changes(tmp_path: Path) -> None:
    original = write_snapshot(chunked(1000, [300]), tmp_path / "a", part_rows=500)
    batch = rows(0, 1000)
    names = batch.column("name").to_pylist()
    names[555] = "changed"
    changed = batch.set_column(1, "name", pa.array(names))

    edited = write_snapshot([changed], tmp_path / "b", part_rows=500)

    assert edited.content_hash != original.content_hash


def test_the_content_hash_changes_when_a_value_becomes_null(tmp_path: Path) -> None:
    original = write_snapshot([rows(0, 10)], tmp_path / "a", part_rows=500)
    batch = rows(0, 10)
    ok = batch.column("ok").to_pylist()
    ok[3] = None
    nulled = batch.set_column(4, "ok", pa.array(ok))

    assert write_snapshot([nulled], tmp_path / "b", part_rows=500).content_hash != original.content_hash


def test_the_highest_watermark_is_recorded(tmp_path: Path) -> None:
    batches = [rows(10, 5), rows(0, 5), rows(3, 2)]

    written = write_snapshot(batches, tmp_path, part_rows=100, watermark_column="at")

    assert written.max_watermark == START + dt.timedelta(minutes=14)


def test_nulls_do_not_count_as_the_watermark(tmp_path: Path) -> None:
    batch = pa.record_batch({"seq": pa.array([None, 3, None, 2], pa.int64())})

    assert write_snapshot([batch], tmp_path, part_rows=10, watermark_column="seq").max_watermark == 3


def test_without_a_watermark_column_none_is_recorded(tmp_path: Path) -> None:
    assert write_snapshot([rows(0, 5)], tmp_path, part_rows=10).max_watermark is None


def test_zero_rows_make_one_empty_part_with_the_schema(tmp_path: Path) -> None:
    written = write_snapshot([rows(0, 0)], tmp_path, part_rows=10, watermark_column="id")

    assert written.row_count == 0
    assert [(file.path.name, file.rows) for file in written.files] == [("part-00000.parquet", 0)]
    assert pq.read_table(written.files[0].path).schema.equals(SCHEMA)
    assert written.max_watermark is None
    assert written.content_hash == content_hash_of(
        [hashlib.sha256(written.files[0].path.read_bytes()).hexdigest()]
    )


def test_empty_batches_among_others_are_skipped(tmp_path: Path) -> None:
    written = write_snapshot([rows(0, 0), rows(0, 3), rows(3, 0)], tmp_path / "a", part_rows=10)

    assert written.content_hash == write_snapshot([rows(0, 3)], tmp_path / "b", part_rows=10).content_hash
    assert [file.rows for file in written.files] == [3]


def test_a_batch_with_another_schema_is_refused(tmp_path: Path) -> None:
    other = pa.record_batch({"id": pa.array(["not a number"])})

    with pytest.raises(SnapshotRefused, match="schema differs") as refused:
        write_snapshot([rows(0, 3), other], tmp_path, part_rows=10)

    assert "'type': 'int64'" in str(refused.value)
    assert "'type': 'string'" in str(refused.value)
    assert isinstance(refused.value, ExtractionRefused)


def test_no_batch_at_all_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SnapshotRefused, match="no record batch"):
        write_snapshot([], tmp_path, part_rows=10)


def test_a_watermark_column_missing_from_the_schema_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SnapshotRefused, match="'updated_at'"):
        write_snapshot([rows(0, 3)], tmp_path, part_rows=10, watermark_column="updated_at")


def test_a_directory_that_already_holds_parts_is_refused(tmp_path: Path) -> None:
    write_snapshot([rows(0, 3)], tmp_path, part_rows=10)

    with pytest.raises(SnapshotRefused, match="already holds parts"):
        write_snapshot([rows(0, 3)], tmp_path, part_rows=10)


def test_part_rows_below_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SnapshotRefused, match="part_rows"):
        write_snapshot([rows(0, 3)], tmp_path, part_rows=0)
