# ruff: noqa: F811 - the fixture `world` comes from tests/unit/data/sources_support.py
"""Refused source definitions: an unknown type, parameters that do not fit their type, a taken name.
Each is a 4xx naming what is wrong (never quoting a secret), and writes nothing: no item, no secret,
no audit record of a change."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.aws import ALLOWLISTED_BUCKET
from tests.unit.data.sources_support import (  # noqa: F401 - fixtures
    ARTIFACT_BUCKET,
    PASSWORD,
    SourcesWorld,
    api,
    cassandra,
    kafka,
    kinesis,
    mongodb_host,
    mongodb_uri,
    mysql,
    ok,
    postgres,
    s3,
    world,
)


def refused(world: SourcesWorld, body: dict[str, Any], status: int, code: str) -> dict[str, Any]:
    before = world.snapshot()
    audited = world.changes_audited()
    response = world.create(body)
    assert (response.status, response.error_code) == (status, code), response.body
    assert world.snapshot() == before, "the refused request changed something"
    assert world.changes_audited() == audited
    assert PASSWORD not in response.raw_body
    return dict(response.body)


def fields(body: dict[str, Any]) -> list[str]:
    return [detail["field"] for detail in body["error"]["details"]]


def test_an_unknown_type_is_refused_with_the_types_there_are(world: SourcesWorld) -> None:
    body = refused(world, {**postgres(), "type": "oracle"}, 422, "unknown_source_type")

    assert body["error"]["details"] == [
        {
            "field": "type",
            "allowed": ["postgresql", "mysql", "mongodb", "cassandra", "s3", "kinesis", "kafka"],
        }
    ]
    assert "postgresql, mysql, mongodb" in body["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (postgres(host=None), "connection.host"),
        (postgres(port=70000), "connection.port"),
        (postgres(port=0), "connection.port"),
        (postgres(port="5432"), "connection.port"),
        (postgres(password=None), "connection.password"),
        (postgres(host="db internal;"), "connection.host"),
        (postgres(sslmode="always"), "connection.sslmode"),
        (postgres(connect_timeout_s=600), "connection.connect_timeout_s"),
        (postgres(passwrd=PASSWORD), "connection.passwrd"),
        (postgres(options={"chunk_rows": 5}), "options.chunk_rows"),
        (postgres(options={"fetch": 100}), "options.fetch"),
        (mysql(database=None), "connection.database"),
        (mysql(port=-1), "connection.port"),
        (mongodb_uri(uri=f"http://reader:{PASSWORD}@mongo.internal/shop"), "connection.uri"),
        (mongodb_uri(host="mongo.internal"), "connection.host"),
        (mongodb_uri(database=None), "connection.database"),
        (mongodb_host(port=None), "connection.port"),
        (mongodb_host(user=None), "connection.user"),
        (mongodb_host(options={"max_time_s": 0}), "options.max_time_s"),
        (cassandra(contact_points=[]), "connection.contact_points"),
        (cassandra(contact_points=["cass-1.internal", "-bad-"]), "connection.contact_points.1"),
        (cassandra(keyspace="1-telemetry"), "connection.keyspace"),
        (cassandra(user=None), "connection.user"),
        (cassandra(options={"consistency": "SOME"}), "options.consistency"),
        (s3(bucket="someone-elses-bucket"), "connection.bucket"),
        (s3(format="xlsx"), "connection.format"),
        (s3(prefix="landing/../secrets/"), "connection.prefix"),
        (s3(prefix="/landing"), "connection.prefix"),
        (s3(format="parquet", options={"csv_header": True}), "options"),
        (kinesis(stream_arn="arn:aws:sqs:us-east-1:123456789012:clicks"), "connection.stream_arn"),
        (kinesis(options={"schema": [{"name": "a", "type": "varchar"}]}), "options.schema.0.type"),
        (
            kinesis(options={"schema": [{"name": "a", "type": "int64"}, {"name": "a", "type": "string"}]}),
            "options.schema",
        ),
        (kafka(bootstrap_servers=["b-1.kafka.internal"]), "connection.bootstrap_servers.0"),
        (kafka(bootstrap_servers=["b-1.kafka.internal:99999"]), "connection.bootstrap_servers.0"),
        (kafka(bootstrap_servers=[]), "connection.bootstrap_servers"),
        (kafka(security_protocol="SASL_PLAINTEXT"), "connection.security_protocol"),
        (kafka(password=None), "connection.password"),
        (kafka(security_protocol="SSL"), "connection.password"),
        (kafka(options={"starting_position": "AT_TIMESTAMP"}), "options.starting_position"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_parameters_that_do_not_fit_the_type_are_refused_naming_the_field(
    world: SourcesWorld, body: dict[str, Any], field: str
) -> None:
    refusal = refused(world, body, 422, "invalid_connection")

    assert field in fields(refusal)
    assert field in refusal["error"]["message"]


def test_every_problem_is_reported_at_once(world: SourcesWorld) -> None:
    body = postgres(host=None, port=70000, options={"chunk_rows": 5})

    refusal = refused(world, body, 422, "invalid_connection")

    assert fields(refusal) == ["connection.host", "connection.port", "options.chunk_rows"]


@pytest.mark.parametrize(
    "body",
    [
        mongodb_uri(uri=f"https://reader:{PASSWORD}@mongo.internal/shop"),
        postgres(password=["not", "text", PASSWORD]),
        postgres(password="x" * 5000),
        mongodb_uri(uri=PASSWORD * 300),
    ],
    ids=["bad uri scheme", "password not text", "password too long", "uri too long"],
)
def test_a_refused_secret_is_never_echoed(world: SourcesWorld, body: dict[str, Any]) -> None:
    refusal = refused(world, body, 422, "invalid_connection")

    assert PASSWORD not in json.dumps(refusal)
    assert "x" * 100 not in json.dumps(refusal)


@pytest.mark.parametrize("bucket", [ARTIFACT_BUCKET, ALLOWLISTED_BUCKET])
def test_an_s3_source_may_read_the_artifact_bucket_and_the_allowlist(
    world: SourcesWorld, bucket: str
) -> None:
    source = world.created(s3(bucket=bucket))

    assert source["connection"]["bucket"] == bucket


@pytest.mark.parametrize(
    "body",
    [
        {**postgres(), "name": "Orders DB"},
        {**postgres(), "name": "-orders"},
        {**postgres(), "connection": "host=db.internal password=" + PASSWORD},
        {**postgres(), "extra": True},
        {key: value for key, value in postgres().items() if key != "connection"},
    ],
    ids=["capitals and space", "leading dash", "connection not an object", "unknown field", "no connection"],
)
def test_a_malformed_request_is_a_validation_error(world: SourcesWorld, body: dict[str, Any]) -> None:
    refused(world, body, 422, "validation_error")


def test_a_taken_name_is_409_and_the_first_source_is_unchanged(world: SourcesWorld) -> None:
    first = world.created(postgres())
    secret_before = world.secret("orders-db")

    refused(world, mysql("orders-db"), 409, "source_exists")

    assert world.secret("orders-db") == secret_before
    assert ok(api("get_source", path={"name": "orders-db"})) == first
