"""The S3 connector: CSV, Parquet and JSON Lines objects under a prefix, against moto."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any, Final

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from moto import mock_aws

from cirrus_connectors import s3files
from cirrus_connectors.base import ConnectionFailed, ExtractionRefused, ExtractRequest, SourceConfig

BUCKET = "cirrus-source-files"
REGION: Final = "eu-west-1"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield client


def source(file_format: str = "csv", prefix: str = "exports/", **secret: str) -> SourceConfig:
    return SourceConfig(
        name="exports",
        type="s3",
        connection={"bucket": BUCKET, "prefix": prefix, "format": file_format, "region": REGION},
        secret=secret,
    )


def put(s3: Any, key: str, body: bytes) -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)


def csv_body(rows: range, header: str = "id,name") -> bytes:
    return (header + "\n" + "".join(f"{i},name-{i}\n" for i in rows)).encode()


def parquet_body(table: pa.Table, row_group_size: int = 4) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=row_group_size)
    return buffer.getvalue()


def jsonl_body(rows: range) -> bytes:
    return "".join(json.dumps({"id": i, "name": f"name-{i}"}) + "\n" for i in rows).encode()


def extract(s3: Any, src: SourceConfig, **request: Any) -> list[pa.RecordBatch]:
    return list(s3files.open(src, client=s3).extract(ExtractRequest(**request)))


def ids(batches: list[pa.RecordBatch]) -> list[int]:
    return [row["id"] for batch in batches for row in batch.to_pylist()]


# ------------------------------------------------------------------------------------------ formats


def test_csv_objects_are_read_in_key_order_in_bounded_batches(s3: Any) -> None:
    put(s3, "exports/part-2.csv", csv_body(range(10, 20)))
    put(s3, "exports/part-1.csv", csv_body(range(0, 10)))
    put(s3, "exports/part-3.csv", csv_body(range(20, 23)))

    batches = extract(s3, source(), chunk_rows=4)

    assert all(batch.num_rows <= 4 for batch in batches)
    assert ids(batches) == list(range(23))
    assert batches[0].schema == pa.schema([("id", pa.int64()), ("name", pa.string())])


def test_parquet_objects_are_read_batch_by_batch(s3: Any) -> None:
    for part, rows in enumerate((range(0, 9), range(9, 20))):
        table = pa.table({"id": pa.array(list(rows), pa.int64()), "score": [i / 2 for i in rows]})
        put(s3, f"exports/part-{part}.parquet", parquet_body(table))

    batches = extract(s3, source("parquet"), chunk_rows=3)

    assert all(batch.num_rows <= 3 for batch in batches)
    assert ids(batches) == list(range(20))
    assert batches[-1].to_pylist()[-1] == {"id": 19, "score": 9.5}


def test_json_lines_objects_are_read_in_chunks_of_lines(s3: Any) -> None:
    put(s3, "exports/a.jsonl", jsonl_body(range(0, 7)) + b"\n\n")
    put(s3, "exports/b.jsonl", jsonl_body(range(7, 12)))

    batches = extract(s3, source("jsonl"), chunk_rows=3)

    assert [batch.num_rows for batch in batches] == [3, 3, 1, 3, 2]
    assert ids(batches) == list(range(12))
    assert batches[0].schema == pa.schema([("id", pa.int64()), ("name", pa.string())])


def test_a_csv_larger_than_a_block_streams_in_bounded_batches(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3files, "CSV_BLOCK_BYTES", 256)
    put(s3, "exports/big.csv", csv_body(range(500)))

    batches = extract(s3, source(), chunk_rows=50)

    assert len(batches) > 10
    assert all(batch.num_rows <= 50 for batch in batches)
    assert ids(batches) == list(range(500))


def test_the_csv_delimiter_and_header_options_are_honoured(s3: Any) -> None:
    put(s3, "exports/a.csv", b"1;one\n2;two\n")
    headerless = SourceConfig(
        name="exports",
        type="s3",
        connection={"bucket": BUCKET, "prefix": "exports/", "format": "csv"},
        options={"csv_delimiter": ";", "csv_header": False},
    )

    (batch,) = extract(s3, headerless)

    assert batch.to_pylist() == [{"f0": 1, "f1": "one"}, {"f0": 2, "f1": "two"}]


def test_markers_hidden_and_empty_objects_are_skipped(s3: Any) -> None:
    put(s3, "exports/", b"")
    put(s3, "exports/_SUCCESS", b"")
    put(s3, "exports/.part-1.csv.crc", b"garbage")
    put(s3, "exports/empty.csv", b"")
    put(s3, "exports/part-1.csv", csv_body(range(3)))

    assert ids(extract(s3, source())) == [0, 1, 2]


def test_the_request_may_narrow_the_prefix_and_override_the_format(s3: Any) -> None:
    put(s3, "exports/2024/a.jsonl", jsonl_body(range(2)))
    put(s3, "exports/2025/a.jsonl", jsonl_body(range(5, 7)))

    batches = extract(s3, source("csv"), prefix=f"s3://{BUCKET}/exports/2025/", format="jsonl")

    assert ids(batches) == [5, 6]


# ------------------------------------------------------------------------------------------ schemas


def test_later_objects_are_put_in_the_first_objects_column_order_and_types(s3: Any) -> None:
    first = pa.table({"id": pa.array([1], pa.int64()), "name": ["a"]})
    second = pa.table({"name": ["b"], "id": pa.array([2], pa.int32())})
    put(s3, "exports/1.parquet", parquet_body(first))
    put(s3, "exports/2.parquet", parquet_body(second))

    batches = extract(s3, source("parquet"))

    assert {batch.schema for batch in batches} == {first.schema}
    assert [row for batch in batches for row in batch.to_pylist()] == [
        {"id": 1, "name": "a"},
        {"id": 2, "name": "b"},
    ]


def test_a_csv_object_with_other_columns_is_refused_with_its_key(s3: Any) -> None:
    put(s3, "exports/1.csv", csv_body(range(2)))
    put(s3, "exports/2.csv", csv_body(range(2), header="id,title"))

    with pytest.raises(ExtractionRefused, match=r"exports/2.csv: .*missing \['name'\], extra \['title'\]"):
        extract(s3, source())


def test_a_parquet_object_whose_values_do_not_cast_is_refused_with_its_key(s3: Any) -> None:
    put(s3, "exports/1.parquet", parquet_body(pa.table({"id": pa.array([1], pa.int64())})))
    put(s3, "exports/2.parquet", parquet_body(pa.table({"id": ["not a number"]})))

    with pytest.raises(ExtractionRefused, match=r"exports/2\.parquet: does not fit the dataset's schema"):
        extract(s3, source("parquet"))


def test_a_csv_value_that_does_not_parse_as_the_schemas_type_is_refused_with_its_key(s3: Any) -> None:
    put(s3, "exports/1.csv", csv_body(range(2)))
    put(s3, "exports/2.csv", b"id,name\nseven,x\n")

    with pytest.raises(ExtractionRefused, match=r"exports/2\.csv: does not fit"):
        extract(s3, source())


def test_a_json_line_with_an_unknown_field_is_refused_with_its_key(s3: Any) -> None:
    put(s3, "exports/1.jsonl", jsonl_body(range(2)))
    put(s3, "exports/2.jsonl", b'{"id": 3, "name": "c", "extra": true}\n')

    with pytest.raises(ExtractionRefused, match=r"exports/2\.jsonl: does not fit"):
        extract(s3, source("jsonl"))


# ------------------------------------------------------------------------------------------ refusals


def test_an_empty_prefix_is_a_clear_refusal(s3: Any) -> None:
    put(s3, "elsewhere/a.csv", csv_body(range(2)))

    with pytest.raises(ExtractionRefused, match=f"no objects to read under s3://{BUCKET}/exports/"):
        s3files.open(source(), client=s3).extract(ExtractRequest())


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (ExtractRequest(prefix="s3://another-bucket/exports/"), "inside the source's bucket"),
        (ExtractRequest(prefix="private/"), "inside the source's prefix"),
        (ExtractRequest(format="xlsx"), "format must be one of csv, jsonl, parquet"),
        (ExtractRequest(table="orders"), "give `prefix` and `format`"),
        (ExtractRequest(watermark_column="modified"), "no incremental reads"),
        (ExtractRequest(chunk_rows=0), "chunk_rows"),
    ],
)
def test_requests_outside_the_source_are_refused(s3: Any, request_: ExtractRequest, message: str) -> None:
    put(s3, "exports/a.csv", csv_body(range(1)))

    with pytest.raises(ExtractionRefused, match=message):
        s3files.open(source(), client=s3).extract(request_)


def test_a_source_without_a_bucket_is_refused(s3: Any) -> None:
    with pytest.raises(ExtractionRefused, match="`bucket`"):
        s3files.open(SourceConfig(name="x", type="s3", connection={}), client=s3)


# ------------------------------------------------------------------------------------------ connection


def test_the_connection_test_lists_the_prefix_and_reports_milliseconds(s3: Any) -> None:
    latency = s3files.open(source(), client=s3).test()

    assert isinstance(latency, float)
    assert latency >= 0.0


def test_a_missing_bucket_is_a_connection_failure(s3: Any) -> None:
    missing = SourceConfig(name="x", type="s3", connection={"bucket": "no-such-bucket-here"})

    with pytest.raises(ConnectionFailed, match="S3 refused the listing") as failure:
        s3files.open(missing, client=s3).test()

    assert failure.value.driver_error is not None
    assert "NoSuchBucket" in failure.value.driver_error


def test_the_default_client_uses_the_region_and_the_secrets_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    monkeypatch.setattr(boto3, "client", lambda *args, **kwargs: calls.append((args, kwargs)))

    s3files.s3_client(source(aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="wJalr/EXAMPLEKEY"))
    s3files.s3_client(source())

    assert calls == [
        (
            ("s3",),
            {
                "region_name": REGION,
                "aws_access_key_id": "AKIAEXAMPLE",
                "aws_secret_access_key": "wJalr/EXAMPLEKEY",
            },
        ),
        (("s3",), {"region_name": REGION}),
    ]
