"""Snapshot requests and the rules without AWS: which fields fit which source type, how an incremental
version's content hash is made, how watermarks are stored and read back, and what a failure says."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from cirrus_core.data.snapshot_runner import failure_reason, redact
from cirrus_core.data.snapshots import (
    CreateSnapshotRequest,
    check_fits_source,
    execution_arn,
    json_value,
    same_extraction,
    watermark_from_json,
)
from cirrus_core.errors import InvalidIncremental, InvalidSnapshotRequest


def request(**fields: Any) -> CreateSnapshotRequest:
    return CreateSnapshotRequest.model_validate({"source": "src", **fields})


@pytest.mark.parametrize(
    ("source_type", "fields"),
    [
        ("postgresql", {"table": "public.customers"}),
        ("mysql", {"query": "SELECT * FROM customers"}),
        ("cassandra", {"query": "SELECT * FROM telemetry.events"}),
        ("cassandra", {"table": "events"}),
        ("mongodb", {"table": "orders"}),
        ("mongodb", {"table": "orders", "filter": {"status": "paid"}, "projection": {"_id": 0}}),
        ("s3", {"prefix": "s3://landing-bucket/orders/"}),
        ("s3", {"prefix": "s3://landing-bucket/orders/", "format": "jsonl"}),
        ("postgresql", {"table": "customers", "incremental": {"watermark_column": "updated_at"}}),
        ("mongodb", {"table": "orders", "incremental": {"watermark_column": "updated_at"}}),
    ],
)
def test_requests_that_fit_their_source_type_pass(source_type: str, fields: dict[str, Any]) -> None:
    check_fits_source(request(**fields), source_type)


@pytest.mark.parametrize(
    ("source_type", "fields", "named"),
    [
        ("postgresql", {"table": "t", "projection": {"a": 1}}, ["projection"]),
        ("mysql", {"table": "t", "query": "SELECT 1"}, ["table", "query"]),
        ("mysql", {}, ["table", "query"]),
        ("mongodb", {"table": "t", "query": "db.t.find()"}, ["query"]),
        ("mongodb", {"projection": {"a": 1}}, ["table"]),
        ("s3", {"prefix": "s3://bucket-a/x/", "filter": {"a": 1}}, ["filter"]),
        ("s3", {}, ["prefix"]),
        ("kafka", {"table": "payments"}, ["source"]),
        ("kinesis", {}, ["source"]),
        ("oracle", {"table": "t"}, ["source"]),
    ],
)
def test_requests_that_do_not_fit_name_the_fields(
    source_type: str, fields: dict[str, Any], named: list[str]
) -> None:
    with pytest.raises(InvalidSnapshotRequest) as refused:
        check_fits_source(request(**fields), source_type)

    assert [detail["field"] for detail in refused.value.details] == named


def test_files_are_never_read_incrementally() -> None:
    with pytest.raises(InvalidIncremental):
        check_fits_source(request(prefix="s3://bucket-a/x/", incremental={"watermark_column": "ts"}), "s3")


@pytest.mark.parametrize(
    "fields",
    [
        {"table": "a b"},
        {"table": "x;DROP TABLE y"},
        {"table": "a.b.c.d"},
        {"query": ""},
        {"query": "x" * 20_001},
        {"prefix": "s3://B/x"},
        {"prefix": "https://bucket/x"},
        {"format": "xlsx"},
        {"filter": {"k": "v" * 20_000}},
        {"incremental": {"watermark_column": "a-b"}},
        {"incremental": {"watermark_column": "id", "after": 3}},
        {"description": "d" * 1025},
        {"table": "t", "schedule": "daily"},
    ],
)
def test_malformed_requests_are_refused_by_the_model(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        request(**fields)


def test_the_lineage_line_says_what_was_read() -> None:
    assert request(query="SELECT 1").lineage_text() == "SELECT 1"
    assert request(table="public.t").lineage_text() == "public.t"
    assert request(table="orders", filter={"b": 1, "a": 2}).lineage_text() == 'orders {"a":2,"b":1}'
    assert request(prefix="s3://bucket-a/x/", format="csv").lineage_text() == "s3://bucket-a/x/ (csv)"


def test_extractions_compare_by_what_is_read() -> None:
    first = request(table="t", incremental={"watermark_column": "id"}).extraction()

    assert same_extraction(first, request(table="t").extraction())
    assert not same_extraction(first, request(table="u").extraction())
    assert not same_extraction(first, request(table="t", filter={"a": 1}).extraction())


@pytest.mark.parametrize(
    ("value", "arrow_type", "stored"),
    [
        (datetime(2024, 1, 2, 1, tzinfo=UTC), "timestamp[us, tz=UTC]", "2024-01-02T01:00:00+00:00"),
        (datetime(2024, 1, 2, 1, 30), "timestamp[us]", "2024-01-02T01:30:00"),
        (date(2024, 3, 1), "date32[day]", "2024-03-01"),
        (Decimal("12.50"), "decimal128(12, 2)", "12.50"),
        (41, "int64", 41),
        (2.5, "double", 2.5),
        ("b-17", "string", "b-17"),
    ],
)
def test_watermarks_are_stored_as_json_and_read_back_as_their_columns_type(
    value: Any, arrow_type: str, stored: Any
) -> None:
    assert json_value(value) == stored
    assert json.loads(json.dumps(stored)) == stored
    assert watermark_from_json(stored, arrow_type) == value


def test_the_execution_arn_follows_the_state_machines() -> None:
    machine = "arn:aws:states:eu-west-1:123456789012:stateMachine:cirrus-dev-data-snapshot"

    assert execution_arn(machine, "ab" * 16) == (
        "arn:aws:states:eu-west-1:123456789012:execution:cirrus-dev-data-snapshot:" + "ab" * 16
    )


def test_a_caught_errors_message_becomes_the_failure() -> None:
    cause = json.dumps(
        {"errorMessage": "connection refused", "errorType": "SnapshotFailed", "stackTrace": []}
    )

    assert failure_reason({"Error": "SnapshotFailed", "Cause": cause}) == "connection refused"
    assert failure_reason({"Error": "States.Timeout", "Cause": ""}).startswith(
        "The extraction ran out of time"
    )
    assert failure_reason({"Error": "Lambda.Unknown", "Cause": "not json"}) == "not json"
    assert failure_reason(None) == "The snapshot failed."
    assert len(failure_reason({"Error": "E", "Cause": json.dumps({"errorMessage": "x" * 5000})})) == 2048


def test_secret_values_are_removed_from_messages() -> None:
    secret = {"password": "hunter22!", "uri": "mongodb://u:hunter22!@h/db", "port": 5432, "x": "ab"}

    message = redact("auth failed for mongodb://u:hunter22!@h/db with hunter22! (ab)", secret)

    assert message == "auth failed for *** with *** (ab)"
