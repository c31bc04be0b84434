# ruff: noqa: F811 - the fixture `world` comes from tests/unit/data/sources_support.py
"""Data sources API: a source is registered with its secret fields in Secrets Manager (one secret per
source) and shown without them; it is read by data_access holders, created and deleted by
system_config holders only; every change is audited in the transaction that makes it."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.authz import claims
from tests.unit.data.sources_support import (  # noqa: F401 - fixtures
    DATA_BUCKET,
    DATA_SOURCE_SECRET_PREFIX,
    MONGO_URI,
    PASSWORD,
    SourcesWorld,
    api,
    cassandra,
    function_logs,
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

# type, body, the fields kept secret, the connection shown
TYPES: list[tuple[str, Callable[..., dict[str, Any]], list[str], dict[str, Any]]] = [
    (
        "postgresql",
        postgres,
        ["password"],
        {"host": "db.internal", "port": 5432, "database": "shop", "user": "reader"},
    ),
    ("mysql", mysql, ["password"], {"host": "10.0.3.7", "port": 3306, "database": "crm", "user": "reader"}),
    ("mongodb", mongodb_uri, ["uri"], {"database": "shop"}),
    (
        "mongodb",
        mongodb_host,
        ["password"],
        {
            "host": "mongo.internal",
            "port": 27017,
            "user": "reader",
            "auth_source": "admin",
            "database": "shop",
        },
    ),
    (
        "cassandra",
        cassandra,
        ["password"],
        {
            "contact_points": ["cass-1.internal", "cass-2.internal"],
            "port": 9042,
            "keyspace": "telemetry",
            "local_dc": "dc1",
            "user": "reader",
        },
    ),
    ("s3", s3, [], {"bucket": DATA_BUCKET, "prefix": "landing/orders/", "format": "csv"}),
    ("kinesis", kinesis, [], {"stream_arn": "arn:aws:kinesis:us-east-1:123456789012:stream/clicks"}),
    (
        "kafka",
        kafka,
        ["password"],
        {
            "bootstrap_servers": ["b-1.kafka.internal:9096", "b-2.kafka.internal:9096"],
            "topic": "payments.v1",
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "username": "cirrus",
        },
    ),
]
TYPE_IDS = ["postgresql", "mysql", "mongodb-uri", "mongodb-host", "cassandra", "s3", "kinesis", "kafka"]


@pytest.mark.parametrize(("kind", "body", "secret_fields", "shown"), TYPES, ids=TYPE_IDS)
def test_a_source_of_each_type_is_created_and_shown_without_its_secret(
    world: SourcesWorld,
    kind: str,
    body: Callable[..., dict[str, Any]],
    secret_fields: list[str],
    shown: dict[str, Any],
) -> None:
    request = body()

    response = world.create(request)

    source = ok(response, 201)
    assert (source["name"], source["type"]) == (request["name"], kind)
    assert source["connection"] == shown
    assert source["secret_fields"] == secret_fields
    assert source["created_by"] == "ada@example.com"
    assert (source["secret_version"] is not None) == bool(secret_fields)
    assert "secret_arn" not in source
    assert PASSWORD not in response.raw_body
    assert "mongodb://" not in response.raw_body


@pytest.mark.parametrize(("kind", "body", "secret_fields", "shown"), TYPES, ids=TYPE_IDS)
def test_the_secret_fields_live_in_one_secret_named_after_the_source(
    world: SourcesWorld,
    kind: str,
    body: Callable[..., dict[str, Any]],
    secret_fields: list[str],
    shown: dict[str, Any],
) -> None:
    request = body()

    world.created(request)

    if secret_fields:
        assert world.secret_names() == [f"{DATA_SOURCE_SECRET_PREFIX}/{request['name']}"]
        assert world.secret(request["name"]) == {
            field: request["connection"][field] for field in secret_fields
        }
    else:
        assert world.secret_names() == []


def test_the_item_holds_the_non_secret_fields_and_the_secret_s_arn_and_version(world: SourcesWorld) -> None:
    created = world.created(postgres())

    (item,) = world.items()
    stored = json.loads(item["source"]["S"])
    (listed,) = world.secret_list()
    assert (item["pk"]["S"], item["sk"]["S"]) == ("SOURCE#orders-db", "META")
    assert (item["gsi1pk"]["S"], item["gsi1sk"]["S"]) == ("SOURCES", "orders-db")
    assert stored["secret_arn"] == listed["ARN"]
    assert stored["secret_version"] == created["secret_version"]
    assert (stored["created_by"], stored["created_at"]) == ("ada@example.com", created["created_at"])
    assert PASSWORD not in json.dumps(item)


def test_the_options_of_a_type_are_stored_and_shown(world: SourcesWorld) -> None:
    schema: list[dict[str, Any]] = [
        {"name": "user_id", "type": "int64", "nullable": False},
        {"name": "page", "type": "string"},
    ]

    source = world.created(kinesis(options={"schema": schema, "starting_position": "TRIM_HORIZON"}))
    shown = ok(api("get_source", path={"name": "clicks"}))

    expected = {
        "schema": [{**schema[0]}, {**schema[1], "nullable": True}],
        "starting_position": "TRIM_HORIZON",
    }
    assert source["options"] == shown["options"] == expected


def test_get_and_list_show_sources_without_secrets(world: SourcesWorld) -> None:
    world.created(postgres("b-orders"))
    world.created(mongodb_uri("a-events"))

    one = api("get_source", path={"name": "b-orders"})
    listed = api("list_sources", query=None)

    assert ok(one)["connection"]["host"] == "db.internal"
    assert [item["name"] for item in ok(listed)["items"]] == ["a-events", "b-orders"]
    for raw in (one.raw_body, listed.raw_body):
        assert PASSWORD not in raw
        assert MONGO_URI not in raw


def test_sources_are_listed_in_pages(world: SourcesWorld) -> None:
    for name in ("s1", "s2", "s3"):
        world.created(s3(name))

    first = ok(api("list_sources", query={"limit": "2"}))
    second = ok(api("list_sources", query={"limit": "2", "next_token": first["next_token"]}))

    assert [item["name"] for item in first["items"]] == ["s1", "s2"]
    assert [item["name"] for item in second["items"]] == ["s3"]
    assert second["next_token"] is None


def test_a_token_of_another_listing_is_refused(world: SourcesWorld) -> None:
    from cirrus_core.pagination import encode_token

    response = api("list_sources", query={"next_token": encode_token({"c": "x"})})

    assert (response.status, response.error_code) == (400, "invalid_next_token")


def test_an_unknown_source_is_404(world: SourcesWorld) -> None:
    response = api("get_source", path={"name": "nowhere"})

    assert (response.status, response.error_code) == (404, "source_not_found")


def test_a_deleted_source_loses_its_item_and_its_secret_is_scheduled_for_deletion(
    world: SourcesWorld,
) -> None:
    world.created(postgres())
    world.created(s3())

    first = api("delete_source", path={"name": "orders-db"})
    second = api("delete_source", path={"name": "landing"})

    assert (first.status, second.status) == (204, 204)
    assert first.raw_body in ("", None)
    assert world.items() == []
    assert world.secret_names() == []
    assert world.secret_names(scheduled=True) == [f"{DATA_SOURCE_SECRET_PREFIX}/orders-db"]
    assert api("get_source", path={"name": "orders-db"}).status == 404


def test_deleting_an_unknown_source_is_404(world: SourcesWorld) -> None:
    response = api("delete_source", path={"name": "nowhere"})

    assert (response.status, response.error_code) == (404, "source_not_found")


def test_a_deleted_source_s_name_can_be_used_again_with_a_new_secret(world: SourcesWorld) -> None:
    world.created(postgres())
    api("delete_source", path={"name": "orders-db"})

    again = world.created(postgres(password="an0ther-pa55word"))

    assert world.secret_names() == [f"{DATA_SOURCE_SECRET_PREFIX}/orders-db"]
    assert world.secret("orders-db") == {"password": "an0ther-pa55word"}
    assert again["secret_version"] is not None


def test_creation_and_deletion_are_audited_without_the_secret(world: SourcesWorld) -> None:
    world.created(postgres())
    api("delete_source", path={"name": "orders-db"})

    records = world.changes_audited()

    assert [(r["action"], r["resource"], r["actor"]) for r in records] == [
        ("create_data_source", "data/source/orders-db", "ada@example.com"),
        ("delete_data_source", "data/source/orders-db", "ada@example.com"),
    ]
    assert PASSWORD not in json.dumps(world.audit_items())


# -- permissions --------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["ml_engineer", "data_scientist", "model_reviewer"])
def test_only_system_config_holders_create_or_delete_sources(world: SourcesWorld, role: str) -> None:
    world.created(postgres())
    before = world.snapshot()

    created = world.create(mysql(), claims=claims(role))
    deleted = api("delete_source", path={"name": "orders-db"}, claims=claims(role))

    assert (created.status, created.error_code) == (403, "access_denied")
    assert (deleted.status, deleted.error_code) == (403, "access_denied")
    assert world.snapshot() == before


@pytest.mark.parametrize("role", ["ml_engineer", "data_scientist", "admin"])
def test_data_access_holders_read_sources(world: SourcesWorld, role: str) -> None:
    world.created(postgres())

    listed = api("list_sources", query=None, claims=claims(role))
    one = api("get_source", path={"name": "orders-db"}, claims=claims(role))

    assert [item["name"] for item in ok(listed)["items"]] == ["orders-db"]
    assert ok(one)["name"] == "orders-db"


def test_a_model_reviewer_does_not_read_sources(world: SourcesWorld) -> None:
    world.created(postgres())

    listed = api("list_sources", query=None, claims=claims("model_reviewer"))
    one = api("get_source", path={"name": "orders-db"}, claims=claims("model_reviewer"))

    assert (listed.status, one.status) == (403, 403)


def test_an_anonymous_request_is_401_and_writes_nothing(world: SourcesWorld) -> None:
    response = world.create(postgres(), claims=None)

    assert response.status == 401
    assert world.items() == []
    assert world.secret_list() == []


# -- logs ------------------------------------------------------------------------------------------------


def test_secrets_never_reach_the_logs(
    world: SourcesWorld, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.INFO)  # every library's records too (botocore's DEBUG dumps are off in Lambda)

    with function_logs() as logs:
        world.created(postgres())
        world.created(mongodb_uri())
        world.create(postgres())  # 409
        world.create(postgres("bad", port=0))  # 422
        world.create(mongodb_uri("bad-mongo", uri=f"http://reader:{PASSWORD}@mongo.internal"))  # 422
        api("get_source", path={"name": "orders-db"})
        api("list_sources", query=None)
        api("delete_source", path={"name": "orders-db"})

    captured = capsys.readouterr()
    logged = caplog.text + logs.getvalue() + captured.out + captured.err
    assert '"code":"invalid_connection"' in logged  # the functions' own JSON logs were captured
    assert PASSWORD not in logged
    assert MONGO_URI not in logged
