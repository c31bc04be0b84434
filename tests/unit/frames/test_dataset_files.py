"""Dataset parts through DuckDB: the schema a version records is the schema pyarrow reads back."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from moto import mock_aws

from cirrus_core.data.datasets import content_hash_of
from cirrus_frames.dataset_files import describe_parquet, file_sha256, upload_parts, write_parquet
from tests.support.aws import DATA_BUCKET, create_resources

COLUMNS = (
    "1::BIGINT AS a, 2.5::DOUBLE AS b, 'x' AS c, true AS d, DATE '2020-01-01' AS e, "
    "TIMESTAMP '2020-01-01 00:00:00' AS f, TIMESTAMPTZ '2020-01-01 00:00:00+00' AS g, "
    "1.23::DECIMAL(10,2) AS h, 1::INTEGER AS k, 'a'::BLOB AS l, 1::SMALLINT AS m, 1::FLOAT AS o, "
    "TIME '01:02:03' AS r"
)


def test_recorded_types_are_the_types_pyarrow_reads(tmp_path: Path) -> None:
    connection = duckdb.connect()
    path = tmp_path / "part-00000.parquet"
    write_parquet(connection, f"SELECT {COLUMNS}", path, row_group_rows=1000)

    columns, rows = describe_parquet(connection, [path])

    read = pq.read_schema(path)
    assert rows == 1
    assert [(c.name, c.type) for c in columns] == [(f.name, str(f.type)) for f in read]


def test_parts_are_uploaded_with_their_digests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    connection = duckdb.connect()
    paths = [tmp_path / "p0.parquet", tmp_path / "p1.parquet"]
    write_parquet(connection, "SELECT range AS id FROM range(10)", paths[0], row_group_rows=4)
    write_parquet(connection, "SELECT range AS id FROM range(10, 15)", paths[1], row_group_rows=4)
    with mock_aws():
        s3 = create_resources().s3

        files = upload_parts(s3, DATA_BUCKET, "orders", 3, paths, [10, 5])

        assert [f.key for f in files] == [
            "datasets/orders/v3/part-00000.parquet",
            "datasets/orders/v3/part-00001.parquet",
        ]
        body = s3.get_object(Bucket=DATA_BUCKET, Key=files[1].key)["Body"].read()
    assert body == paths[1].read_bytes()
    assert [f.sha256 for f in files] == [file_sha256(p) for p in paths]
    assert content_hash_of([f.sha256 for f in files]) != content_hash_of([f.sha256 for f in files[::-1]])
