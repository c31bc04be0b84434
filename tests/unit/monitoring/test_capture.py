"""Data capture: turning one captured request body into feature rows, the hour folders a window
overlaps, and reading a window of an endpoint's capture from S3 (the SageMaker layout:
`capture/<endpoint>/<variant>/yyyy/mm/dd/hh/<file>.jsonl`)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cirrus_core.monitoring.capture import CaptureReader, hour_prefixes, parse_inference_time, request_rows
from tests.unit.monitoring.support import CAPTURE_BUCKET, ENDPOINT, base64_record, capture_record, put_capture

COLUMNS = ("amount", "age", "channel")
START = datetime(2024, 6, 1, 10, 0, tzinfo=UTC)
END = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def captured(data: str, content_type: str = "application/json", encoding: str = "JSON") -> dict[str, Any]:
    return {"observedContentType": content_type, "mode": "INPUT", "data": data, "encoding": encoding}


# -- one request body ----------------------------------------------------------------------------------


def test_json_instances_of_records_are_rows() -> None:
    body = json.dumps({"instances": [{"amount": 12.5, "age": 31, "channel": "web"}, {"amount": 80.0}]})

    assert request_rows(captured(body), COLUMNS) == [
        {"amount": 12.5, "age": 31, "channel": "web"},
        {"amount": 80.0},
    ]


def test_json_instances_of_lists_are_rows_in_the_baselines_column_order() -> None:
    body = json.dumps({"instances": [[12.5, 31, "web"], [80.0, 45, "pos"]]})

    assert request_rows(captured(body), COLUMNS) == [
        {"amount": 12.5, "age": 31, "channel": "web"},
        {"amount": 80.0, "age": 45, "channel": "pos"},
    ]


def test_a_json_list_of_records_is_rows() -> None:
    body = json.dumps([{"amount": 1.0, "channel": "app"}, {"amount": 2.0, "channel": "web"}])

    assert request_rows(captured(body), COLUMNS) == [
        {"amount": 1.0, "channel": "app"},
        {"amount": 2.0, "channel": "web"},
    ]


def test_a_json_list_of_rows_follows_the_column_order() -> None:
    assert request_rows(captured("[[1.5, 20, null]]"), COLUMNS) == [
        {"amount": 1.5, "age": 20, "channel": None}
    ]


def test_a_single_json_object_is_one_row() -> None:
    body = json.dumps({"amount": 7.0, "age": 50, "channel": "pos"})

    assert request_rows(captured(body, "application/json; charset=utf-8"), COLUMNS) == [
        {"amount": 7.0, "age": 50, "channel": "pos"}
    ]


def test_csv_with_a_header_is_read_by_name_whatever_the_order() -> None:
    body = "channel, age ,amount\nweb,31,12.5\npos,,80\n"

    assert request_rows(captured(body, "text/csv", "CSV"), COLUMNS) == [
        {"channel": "web", "age": 31.0, "amount": 12.5},
        {"channel": "pos", "age": None, "amount": 80.0},
    ]


def test_csv_without_a_header_is_in_the_baselines_column_order() -> None:
    body = "12.5,31,web\n80,45,pos\n"

    assert request_rows(captured(body, "text/csv", "CSV"), COLUMNS) == [
        {"amount": 12.5, "age": 31.0, "channel": "web"},
        {"amount": 80.0, "age": 45.0, "channel": "pos"},
    ]


def test_a_body_without_a_content_type_that_is_not_json_is_read_as_csv() -> None:
    assert request_rows(captured("12.5,31,web", ""), COLUMNS) == [
        {"amount": 12.5, "age": 31.0, "channel": "web"}
    ]


def test_a_base64_encoded_body_is_decoded_first() -> None:
    body = base64.b64encode(b'{"instances": [[1.0, 2.0, "app"]]}').decode()

    assert request_rows(captured(body, encoding="BASE64"), COLUMNS) == [
        {"amount": 1.0, "age": 2.0, "channel": "app"}
    ]


def test_a_base64_encoded_csv_body_is_decoded_first() -> None:
    body = base64.b64encode(b"1,2,app\n").decode()

    assert request_rows(captured(body, "text/csv", "BASE64"), COLUMNS) == [
        {"amount": 1.0, "age": 2.0, "channel": "app"}
    ]


def test_an_empty_csv_body_has_no_rows() -> None:
    assert request_rows(captured("", "text/csv", "CSV"), COLUMNS) == []


@pytest.mark.parametrize(
    ("record", "message"),
    [
        pytest.param(captured("{not json"), "Expecting property name", id="broken-json"),
        pytest.param(captured("42"), "neither a record nor a row", id="a-number"),
        pytest.param(captured('"a string"'), "neither a record nor a row", id="a-string"),
        pytest.param(captured("[1.0, 2.0, 3.0]"), "neither a record nor a row", id="a-flat-list"),
        pytest.param(
            captured('{"instances": [[1.0, 2.0]]}'), "neither a record nor a row", id="row-too-short"
        ),
        pytest.param(captured("1,2\n", "text/csv", "CSV"), "different number of cells", id="csv-too-narrow"),
        pytest.param(
            captured("1,2,web,x\n", "text/csv", "CSV"), "different number of cells", id="csv-too-wide"
        ),
        pytest.param(
            captured("!!not base64!!", encoding="BASE64"), "base64|padding|Incorrect", id="not-base64"
        ),
        pytest.param(
            captured(base64.b64encode(b"\xff\xfe").decode(), encoding="BASE64"), "utf-8", id="not-utf8"
        ),
        pytest.param({"observedContentType": "application/json", "mode": "INPUT"}, "no data", id="no-data"),
        pytest.param({"observedContentType": "text/csv", "data": None}, "no data", id="null-data"),
    ],
)
def test_a_body_that_is_no_rows_of_the_baseline_raises_value_error(
    record: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        request_rows(record, COLUMNS)


# -- times and folders -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2024-06-01T10:15:30Z", datetime(2024, 6, 1, 10, 15, 30, tzinfo=UTC)),
        ("2024-06-01T10:15:30.250Z", datetime(2024, 6, 1, 10, 15, 30, 250_000, tzinfo=UTC)),
        ("2024-06-01 10:15:30", None),
        ("", None),
    ],
)
def test_inference_times_are_read_in_sagemakers_formats(text: str, moment: datetime | None) -> None:
    assert parse_inference_time(text) == moment


def test_a_window_across_midnight_reads_the_hour_folders_of_both_days() -> None:
    start = datetime(2024, 6, 30, 22, 30, tzinfo=UTC)
    end = datetime(2024, 7, 1, 1, 0, tzinfo=UTC)

    assert hour_prefixes("capture/ep/AllTraffic/", start, end) == [
        "capture/ep/AllTraffic/2024/06/30/22/",
        "capture/ep/AllTraffic/2024/06/30/23/",
        "capture/ep/AllTraffic/2024/07/01/00/",
    ]


def test_a_window_across_the_new_year_reads_both_years_folders() -> None:
    start = datetime(2024, 12, 31, 23, 55, tzinfo=UTC)
    end = datetime(2025, 1, 1, 0, 5, tzinfo=UTC)

    assert hour_prefixes("p/", start, end) == ["p/2024/12/31/23/", "p/2025/01/01/00/"]


def test_the_folders_are_utc_hours_whatever_the_windows_time_zone() -> None:
    paris = timezone(timedelta(hours=2))
    start = datetime(2024, 6, 2, 0, 30, tzinfo=paris)

    assert hour_prefixes("p/", start, start + timedelta(minutes=20)) == ["p/2024/06/01/22/"]


def test_a_window_ending_on_the_hour_does_not_read_the_next_hours_folder() -> None:
    assert hour_prefixes("p/", START, END) == ["p/2024/06/01/10/", "p/2024/06/01/11/"]


# -- reading a window from S3 ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def _capture_bucket() -> Iterator[Any]:
    """One moto S3 for the module's window tests (each test empties the bucket after itself)."""
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=CAPTURE_BUCKET)
        yield client


@pytest.fixture
def s3(_capture_bucket: Any) -> Iterator[Any]:
    yield _capture_bucket
    listed = _capture_bucket.list_objects_v2(Bucket=CAPTURE_BUCKET).get("Contents", [])
    for item in listed:
        _capture_bucket.delete_object(Bucket=CAPTURE_BUCKET, Key=item["Key"])


def reader(s3: Any) -> CaptureReader:
    return CaptureReader(s3, CAPTURE_BUCKET, concurrency=4)


def one_row(amount: float) -> str:
    return json.dumps({"instances": [{"amount": amount, "age": 30, "channel": "web"}]})


def amounts(rows: list[dict[str, Any]]) -> list[float]:
    return sorted(row["amount"] for row in rows)


def test_a_window_reads_the_requests_captured_from_its_start_up_to_its_end(s3: Any) -> None:
    start, end = START + timedelta(minutes=30), END - timedelta(minutes=30)
    put_capture(
        s3,
        [
            capture_record(start - timedelta(milliseconds=1), one_row(1)),
            capture_record(start, one_row(2)),
            capture_record(start + timedelta(minutes=29, seconds=59), one_row(3)),
        ],
    )
    put_capture(
        s3,
        [
            capture_record(end - timedelta(minutes=30), one_row(4)),
            capture_record(end - timedelta(milliseconds=1), one_row(5)),
            capture_record(end, one_row(6)),
        ],
    )

    window = reader(s3).read_window(ENDPOINT, start, end, COLUMNS, max_rows=100)

    assert amounts(window.rows) == [2, 3, 4, 5]
    assert (window.requests, window.unreadable_requests, window.truncated) == (4, 0, False)


def test_every_variant_of_the_endpoint_is_read_and_no_other_endpoint(s3: Any) -> None:
    moment = START + timedelta(minutes=10)
    put_capture(s3, [capture_record(moment, one_row(1))], variant="AllTraffic")
    put_capture(s3, [capture_record(moment, one_row(2))], variant="Shadow")
    put_capture(s3, [capture_record(moment, one_row(3))], endpoint=f"{ENDPOINT}-canary")

    window = reader(s3).read_window(ENDPOINT, START, END, COLUMNS, max_rows=100)

    assert amounts(window.rows) == [1, 2]


def test_csv_json_and_base64_requests_are_all_read(s3: Any) -> None:
    moment = START + timedelta(minutes=5)
    put_capture(
        s3,
        [
            capture_record(moment, "10,30,web\n11,31,app", content_type="text/csv"),
            capture_record(moment, one_row(12)),
            base64_record(moment, json.dumps([[13, 33, "pos"]])),
        ],
    )

    window = reader(s3).read_window(ENDPOINT, START, END, COLUMNS, max_rows=100)

    assert amounts(window.rows) == [10, 11, 12, 13]
    assert window.requests == 3


def test_unreadable_requests_are_counted_and_skipped_never_fatal(s3: Any) -> None:
    moment = START + timedelta(minutes=5)
    no_input = capture_record(moment, one_row(0))
    del no_input["captureData"]["endpointInput"]
    key = put_capture(
        s3, [capture_record(moment, one_row(1)), capture_record(moment, "{broken"), no_input], name="mixed"
    )
    # A torn line (a partial write) and a line that is not a record are not requests at all.
    body = s3.get_object(Bucket=CAPTURE_BUCKET, Key=key)["Body"].read().decode()
    s3.put_object(Bucket=CAPTURE_BUCKET, Key=key, Body=(body + '{"captureData": \n[1, 2]\n\n').encode())

    window = reader(s3).read_window(ENDPOINT, START, END, COLUMNS, max_rows=100)

    assert amounts(window.rows) == [1]
    assert (window.requests, window.unreadable_requests) == (3, 2)


def test_a_record_without_an_inference_time_is_not_in_any_window(s3: Any) -> None:
    record = capture_record(START + timedelta(minutes=1), one_row(1))
    record["eventMetadata"]["inferenceTime"] = "yesterday"
    put_capture(s3, [capture_record(START + timedelta(minutes=1), one_row(2))], name="good")
    put_capture(s3, [capture_record(START + timedelta(minutes=1), one_row(2)), record], name="mixed")

    window = reader(s3).read_window(ENDPOINT, START, END, COLUMNS, max_rows=100)

    assert window.requests == 2


def test_a_window_with_more_rows_than_allowed_keeps_the_newest_and_says_it_was_truncated(s3: Any) -> None:
    records = [
        capture_record(
            START + timedelta(minutes=minute),
            json.dumps({"instances": [[minute, 30, "web"], [minute + 0.5, 30, "web"]]}),
        )
        for minute in range(0, 100, 10)
    ]
    put_capture(s3, records[:6])
    put_capture(s3, records[6:])

    window = reader(s3).read_window(ENDPOINT, START, END, COLUMNS, max_rows=5)

    assert amounts(window.rows) == [80, 80.5, 90, 90.5]
    assert window.truncated is True


def test_a_window_with_exactly_as_many_rows_as_allowed_is_not_truncated(s3: Any) -> None:
    put_capture(s3, [capture_record(START + timedelta(minutes=m), one_row(m)) for m in range(3)])

    window = reader(s3).read_window(ENDPOINT, START, END, COLUMNS, max_rows=3)

    assert (len(window.rows), window.truncated) == (3, False)


def test_a_window_of_an_endpoint_that_captured_nothing_is_empty(s3: Any) -> None:
    window = reader(s3).read_window(ENDPOINT, START, END, COLUMNS, max_rows=100)

    assert (window.rows, window.requests, window.unreadable_requests, window.truncated) == ([], 0, 0, False)
