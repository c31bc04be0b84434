"""Stream micro-batches: records checked against the stream's schema, one Parquet object per invocation,
rejected records reported back to the event source mapping (Kinesis and Kafka consumers)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pyarrow as pa
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from cirrus_connectors import streaming
from cirrus_connectors.streaming import RecordRejected, StreamConfigurationError, parse_schema
from cirrus_core.data.settings import get_data_settings
from tests.support.aws import DATA_BUCKET
from tests.unit.connectors.stream_support import (
    ARRIVAL,
    SCHEMA,
    SOURCE,
    click,
    consume,
    kafka_event,
    kinesis_event,
    sample,
    stream_objects,
)


def _kinesis_failure(event: dict[str, Any], index: int) -> dict[str, Any]:
    return {"itemIdentifier": event["Records"][index]["kinesis"]["sequenceNumber"]}


def _kafka_failure(event: dict[str, Any], index: int) -> dict[str, Any]:
    return {"itemIdentifier": {"partition": "clicks-0", "offset": 100 + index}}


Builder = Callable[..., dict[str, Any]]
CONSUMERS = [
    pytest.param("consume_kinesis", kinesis_event, _kinesis_failure, id="kinesis"),
    pytest.param("consume_kafka", kafka_event, _kafka_failure, id="kafka"),
]


@pytest.fixture(autouse=True)
def _stream_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("DATA_STREAM_SOURCE", SOURCE)
    monkeypatch.setenv("DATA_STREAM_SCHEMA", json.dumps(SCHEMA))
    streaming.micro_batch_writer.cache_clear()
    get_data_settings.cache_clear()
    yield
    streaming.micro_batch_writer.cache_clear()
    get_data_settings.cache_clear()


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=DATA_BUCKET)
        yield client


def rows_of(objects: dict[str, pa.Table]) -> list[dict[str, Any]]:
    return [row for table in objects.values() for row in table.to_pylist()]


def stored(record: dict[str, Any]) -> dict[str, Any]:
    """A click as the Parquet object holds it."""
    return {**record, "at": datetime.fromisoformat(record["at"]).astimezone(UTC)}


# ------------------------------------------------------------------------------------------ consumers


@pytest.mark.parametrize(("module", "build", "failure"), CONSUMERS)
def test_a_valid_batch_is_one_parquet_object_with_exactly_its_rows(
    s3: Any, module: str, build: Builder, failure: Any
) -> None:
    records = [click("u-1", 10), click("u-2", 20), click("u-3", 30)]

    response = consume(module, build(*records))

    assert response == {"batchItemFailures": []}
    objects = stream_objects(s3, DATA_BUCKET)
    (key,) = objects
    assert key.startswith(f"streams/{SOURCE}/dt=2024-05-01/hour=12/")
    assert key.endswith(".parquet")
    assert objects[key].schema == parse_schema(SCHEMA).arrow_schema
    assert rows_of(objects) == [stored(record) for record in records]


@pytest.mark.parametrize(("module", "build", "failure"), CONSUMERS)
def test_a_mixed_batch_reports_only_the_bad_records_and_writes_the_good_ones(
    s3: Any, module: str, build: Builder, failure: Any
) -> None:
    event = build(
        click("u-1"),
        b"not json at all",
        ["a", "JSON", "array"],
        click("u-4"),
        {"page": "/no-user"},
        {**click("u-6"), "duration_ms": "long"},
    )

    response = consume(module, event)

    assert response == {"batchItemFailures": [failure(event, index) for index in (1, 2, 4, 5)]}
    assert rows_of(stream_objects(s3, DATA_BUCKET)) == [stored(click("u-1")), stored(click("u-4"))]


@pytest.mark.parametrize(("module", "build", "failure"), CONSUMERS)
def test_an_all_bad_batch_writes_nothing_and_reports_every_record(
    s3: Any, module: str, build: Builder, failure: Any
) -> None:
    event = build(b"\xff\xfe", {"user_id": 7}, "just a string")

    response = consume(module, event)

    assert response == {"batchItemFailures": [failure(event, index) for index in range(3)]}
    assert stream_objects(s3, DATA_BUCKET) == {}


@pytest.mark.parametrize(("module", "build", "failure"), CONSUMERS)
def test_an_empty_batch_writes_nothing(s3: Any, module: str, build: Builder, failure: Any) -> None:
    assert consume(module, build()) == {"batchItemFailures": []}
    assert stream_objects(s3, DATA_BUCKET) == {}


@pytest.mark.parametrize(("module", "build", "failure"), CONSUMERS)
def test_a_failed_write_fails_the_whole_batch(s3: Any, module: str, build: Builder, failure: Any) -> None:
    s3.delete_bucket(Bucket=DATA_BUCKET)

    with pytest.raises(ClientError, match="NoSuchBucket"):
        consume(module, build(click("u-1"), b"bad"))


@pytest.mark.parametrize(("module", "build", "failure"), CONSUMERS)
def test_records_are_partitioned_by_their_arrival_hour(
    s3: Any, module: str, build: Builder, failure: Any
) -> None:
    arrivals = [ARRIVAL, ARRIVAL + timedelta(minutes=45), ARRIVAL + timedelta(minutes=10)]

    consume(module, build(click("u-1"), click("u-2"), click("u-3"), arrivals=arrivals))

    objects = stream_objects(s3, DATA_BUCKET)
    by_hour = {
        key.split("/")[3]: [row["user_id"] for row in table.to_pylist()] for key, table in objects.items()
    }
    assert by_hour == {"hour=12": ["u-1", "u-3"], "hour=13": ["u-2"]}


@pytest.mark.parametrize(("module", "build", "failure"), CONSUMERS)
def test_a_redelivered_batch_overwrites_its_object(
    s3: Any, module: str, build: Builder, failure: Any
) -> None:
    event = build(click("u-1"), click("u-2"))

    consume(module, event)
    consume(module, event)
    consume(module, build(click("u-1")))

    objects = stream_objects(s3, DATA_BUCKET)
    assert sorted(table.num_rows for table in objects.values()) == [1, 2]


@pytest.mark.parametrize(("module", "build", "failure"), CONSUMERS)
def test_a_bad_schema_fails_the_invocation_instead_of_rejecting_records(
    s3: Any, monkeypatch: pytest.MonkeyPatch, module: str, build: Builder, failure: Any
) -> None:
    monkeypatch.setenv("DATA_STREAM_SCHEMA", '[{"name": "x", "type": "varchar"}]')

    with pytest.raises(StreamConfigurationError, match="not a supported Arrow type name"):
        consume(module, build(click()))

    assert stream_objects(s3, DATA_BUCKET) == {}


@pytest.mark.parametrize(
    ("module", "sample_name"), [("consume_kinesis", "kinesis"), ("consume_kafka", "kafka")]
)
def test_the_documented_sample_events_are_consumed(s3: Any, module: str, sample_name: str) -> None:
    response = consume(module, sample(sample_name))

    assert response == {"batchItemFailures": []}
    objects = stream_objects(s3, DATA_BUCKET)
    assert [key.rsplit("/", 1)[0] for key in objects] == [f"streams/{SOURCE}/dt=2018-12-17/hour=22"]
    assert [row["user_id"] for row in rows_of(objects)] == ["u-1001", "u-1002"]


def test_a_kafka_record_without_a_timestamp_is_partitioned_by_its_reception(s3: Any) -> None:
    event = kafka_event(click("u-1"))
    event["records"]["clicks-0"][0].update(timestamp=-1, timestampType="NO_TIMESTAMP_TYPE")
    before = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)

    assert consume("consume_kafka", event) == {"batchItemFailures": []}

    (key,) = stream_objects(s3, DATA_BUCKET)
    written = datetime.strptime("/".join(key.split("/")[2:4]), "dt=%Y-%m-%d/hour=%H").replace(tzinfo=UTC)
    assert before <= written <= datetime.now(UTC)


# ------------------------------------------------------------------------------------------ schema


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{not json", "not JSON"),
        ("[]", "list of 1 to 500 columns"),
        ('[{"name": "a", "type": "string", "comment": "x"}]', r"must be \{name, type, nullable\?\}"),
        ('[{"name": "1a", "type": "string"}]', "name must match"),
        ('[{"name": "a", "type": "string", "nullable": "yes"}]', "nullable must be true or false"),
        ('[{"name": "a", "type": "varchar"}]', "'varchar' is not a supported Arrow type name"),
        ('[{"name": "a", "type": "timestamp[us, tz=Mars/Olympus]"}]', "unknown time zone"),
        ('[{"name": "a", "type": "decimal128(5, 7)"}]', "scale exceeds the precision"),
        ('[{"name": "a", "type": "int64"}, {"name": "a", "type": "string"}]', "named more than once: a"),
    ],
)
def test_a_schema_that_cannot_be_used_is_refused(raw: str, message: str) -> None:
    with pytest.raises(StreamConfigurationError, match=message):
        parse_schema(raw)


def test_a_source_name_that_cannot_name_a_prefix_is_refused() -> None:
    with pytest.raises(StreamConfigurationError, match="source name"):
        streaming.MicroBatchWriter("../other", parse_schema(SCHEMA), store=None)  # type: ignore[arg-type]


def test_objects_are_keyed_by_source_day_and_hour_of_arrival() -> None:
    name = uuid.UUID(int=7)
    arrival = datetime(2024, 1, 2, 3, 4, tzinfo=UTC) + timedelta(hours=1)

    assert streaming.partition_key("clicks", arrival, name) == (
        f"streams/clicks/dt=2024-01-02/hour=04/{name}.parquet"
    )


def one_column(type_name: str, nullable: bool = True) -> streaming.StreamSchema:
    return parse_schema([{"name": "v", "type": type_name, "nullable": nullable}])


@pytest.mark.parametrize(
    ("type_name", "value", "expected"),
    [
        ("bool", True, True),
        ("int8", -128, -128),
        ("uint16", 65535, 65535),
        ("int64", 2**62, 2**62),
        ("halffloat", 1.5, 1.5),
        ("float", 3, 3.0),
        ("double", -0.25, -0.25),
        ("string", "text", "text"),
        ("large_string", "", ""),
        ("binary", "AAEC", b"\x00\x01\x02"),
        ("date32[day]", "2024-02-29", date(2024, 2, 29)),
        ("date64[ms]", "2024-02-29", date(2024, 2, 29)),
        ("time64[us]", "13:45:01.250000", time(13, 45, 1, 250000)),
        (
            "timestamp[ms, tz=UTC]",
            "2024-05-01T12:00:00.123+02:00",
            datetime(2024, 5, 1, 10, 0, 0, 123000, UTC),
        ),
        ("timestamp[us]", "2024-05-01T12:00:00", datetime(2024, 5, 1, 12, 0)),
        ("timestamp[s]", "2024-05-01T12:00:00Z", datetime(2024, 5, 1, 12, 0)),
        ("decimal128(5, 2)", "123.45", Decimal("123.45")),
        ("decimal128(5, 2)", 7, Decimal("7")),
        ("decimal128(5, 2)", 0.5, Decimal("0.5")),
    ],
)
def test_values_of_each_type_become_their_column(type_name: str, value: Any, expected: Any) -> None:
    schema = one_column(type_name)

    row = schema.row({"v": value})

    assert row == {"v": expected}
    assert pa.Table.from_pylist([row], schema=schema.arrow_schema).column("v").to_pylist() == [
        expected.replace(tzinfo=None)
        if isinstance(expected, datetime) and "tz=" not in type_name
        else expected
    ]


@pytest.mark.parametrize(
    ("type_name", "value"),
    [
        ("bool", 1),
        ("int8", 128),
        ("uint8", -1),
        ("int64", True),
        ("int64", 1.0),
        ("int64", "12"),
        ("halffloat", 1e6),
        ("float", 1e39),
        ("double", "1.5"),
        ("string", 5),
        ("binary", "not base64!"),
        ("date32[day]", "2024-13-01"),
        ("date32[day]", "20240101"),
        ("time64[us]", "25:00:00"),
        ("time64[us]", "12:00:00+01:00"),
        ("timestamp[us, tz=UTC]", "2024-05-01T12:00:00"),
        ("timestamp[us, tz=UTC]", 1714564800),
        ("timestamp[s, tz=UTC]", "2024-05-01T12:00:00.5Z"),
        ("timestamp[ns, tz=UTC]", "3000-01-01T00:00:00Z"),
        ("decimal128(5, 2)", "1.234"),
        ("decimal128(5, 2)", "1234.5"),
        ("decimal128(5, 2)", "NaN"),
        ("decimal128(5, 2)", "abc"),
    ],
)
def test_values_that_do_not_fit_their_column_reject_the_record_without_quoting_it(
    type_name: str, value: Any
) -> None:
    with pytest.raises(RecordRejected) as rejection:
        one_column(type_name).row({"v": value})

    assert str(rejection.value) == f"v: expected {type_name}"


def test_missing_and_null_fields_are_null_unless_required() -> None:
    schema = parse_schema(
        [{"name": "a", "type": "int64"}, {"name": "b", "type": "string", "nullable": False}]
    )

    assert schema.row({"b": "x"}) == {"a": None, "b": "x"}
    assert schema.row({"a": None, "b": "x"}) == {"a": None, "b": "x"}
    with pytest.raises(RecordRejected, match=r"^b: required$"):
        schema.row({"a": 1, "b": None})


def test_fields_the_schema_does_not_declare_are_not_stored() -> None:
    assert one_column("int64").row({"v": 1, "extra": {"nested": True}}) == {"v": 1}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"\xff", "not UTF-8 JSON"),
        (b"{", "not UTF-8 JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b"[" * 100_000, "nests too deeply"),
    ],
)
def test_payloads_that_are_not_json_objects_are_rejected(payload: bytes, message: str) -> None:
    writer = streaming.MicroBatchWriter(SOURCE, parse_schema(SCHEMA), store=None)  # type: ignore[arg-type]

    with pytest.raises(RecordRejected, match=message):
        writer.accept("id-1", payload, ARRIVAL)
