# ruff: noqa: F811 - the fixtures come from tests/unit/data/snapshots_support.py
"""POST /data/datasets/{name}/snapshots: a job is answered 202, the dataset's next version allocated
`building`, the job stored `queued` and the snapshot state machine started with {job_id, dataset,
version}; every refusal (unknown source, a field the source's type does not take, a bad incremental
column, a malformed body, a caller without data_access) writes and starts nothing."""

from __future__ import annotations

from typing import Any

import pytest

from cirrus.localcloud.databases import LocalPostgres
from tests.support.aws import DATA_BUCKET
from tests.unit.data.snapshots_support import (  # noqa: F401 - fixtures
    STATE_MACHINE_ARN,
    SnapshotWorld,
    Untouched,
    api,
    create_customers,
    ok,
    postgres,
    untouched,
    world,
)

PG = {
    "host": "db.example.com",
    "port": 5432,
    "database": "shop",
    "user": "reader",
    "password": "pw-5ecret-77",
}


@pytest.fixture
def shop_db(world: SnapshotWorld) -> SnapshotWorld:
    """A postgresql source `shop-db` (never connected to by these tests)."""
    ok(
        api("create_source", role="admin", body={"name": "shop-db", "type": "postgresql", "connection": PG}),
        201,
    )
    return world


def test_a_snapshot_is_accepted_as_a_queued_job(shop_db: SnapshotWorld) -> None:
    response = shop_db.start("customers", {"source": "shop-db", "table": "public.customers"})

    job = ok(response, 202)
    assert (job["dataset"], job["version"], job["status"]) == ("customers", 1, "queued")
    assert job["request"]["table"] == "public.customers"
    assert job["source_type"] == "postgresql"
    assert job["created_by"] == "dana@example.com"
    assert len(job["job_id"]) == 32
    execution = STATE_MACHINE_ARN.replace(":stateMachine:", ":execution:") + f":{job['job_id']}"
    assert job["execution_arn"] == execution


def test_the_version_is_allocated_building_with_its_lineage(shop_db: SnapshotWorld) -> None:
    shop_db.started("customers", {"source": "shop-db", "query": "SELECT id FROM customers"})

    version = shop_db.version("customers", 1)
    assert (version["status"], version["kind"], version["row_count"]) == ("building", "snapshot", None)
    assert version["location"] == f"s3://{DATA_BUCKET}/datasets/customers/v1/"
    lineage = version["lineage"]
    assert (lineage["source"], lineage["source_type"]) == ("shop-db", "postgresql")
    assert lineage["query"] == "SELECT id FROM customers"
    assert lineage["parameters"] == {"query": "SELECT id FROM customers"}


def test_the_job_is_stored_under_its_dataset(shop_db: SnapshotWorld) -> None:
    job = shop_db.started("customers", {"source": "shop-db", "table": "customers"})

    keys = [(item["pk"]["S"], item["sk"]["S"]) for item in shop_db.dataset_items()]
    assert sorted(keys) == [
        ("DATASET#customers", f"JOB#{job['job_id']}"),
        ("DATASET#customers", "META"),
        ("DATASET#customers", "V#0000000001"),
    ]
    assert shop_db.job("customers", job["job_id"]) == job


def test_the_state_machine_is_started_with_the_job_and_its_version(shop_db: SnapshotWorld) -> None:
    first = shop_db.started("customers", {"source": "shop-db", "table": "customers"})
    second = shop_db.started("customers", {"source": "shop-db", "table": "customers"})

    assert shop_db.execution_inputs() == [
        {"job_id": first["job_id"], "dataset": "customers", "version": 1},
        {"job_id": second["job_id"], "dataset": "customers", "version": 2},
    ]
    executions = shop_db.sfn.list_executions(stateMachineArn=STATE_MACHINE_ARN)["executions"]
    assert {item["name"] for item in executions} == {first["job_id"], second["job_id"]}
    assert {item["executionArn"] for item in executions} == {first["execution_arn"], second["execution_arn"]}


def test_starting_a_snapshot_is_audited(shop_db: SnapshotWorld) -> None:
    shop_db.started("customers", {"source": "shop-db", "table": "customers"})

    audit = shop_db.aws.dynamodb.scan(TableName="cirrus-test-audit")["Items"]
    resources = [item["resource"]["S"] for item in audit if "resource" in item]
    assert "data/dataset/customers/v1" in resources


def test_an_idempotent_retry_answers_the_first_job(shop_db: SnapshotWorld) -> None:
    headers = {"Idempotency-Key": "snapshot-customers-0001"}
    body = {"source": "shop-db", "table": "customers"}
    first = ok(api("start_snapshot", path={"name": "customers"}, body=body, headers=headers), 202)

    again = ok(api("start_snapshot", path={"name": "customers"}, body=body, headers=headers), 202)

    assert again == first
    assert len(shop_db.execution_inputs()) == 1


def test_an_unknown_job_is_404(shop_db: SnapshotWorld) -> None:
    response = api("get_snapshot_job", path={"name": "customers", "job_id": "0" * 32})

    assert (response.status, response.error_code) == (404, "snapshot_job_not_found")


# -- refusals ------------------------------------------------------------------------------------------


def test_an_unknown_source_is_404(shop_db: SnapshotWorld, untouched: Untouched) -> None:
    with untouched:
        response = shop_db.start("customers", {"source": "nowhere", "table": "customers"})

    assert (response.status, response.error_code) == (404, "source_not_found")


@pytest.mark.parametrize(
    ("kind", "body", "field"),
    [
        ("postgresql", {"table": "customers", "filter": {"a": 1}}, "filter"),
        ("postgresql", {"prefix": "s3://bucket/landing/"}, "prefix"),
        ("postgresql", {"table": "customers", "query": "SELECT 1"}, "table"),
        ("postgresql", {}, "table"),
        ("mongodb", {"query": "SELECT * FROM orders"}, "query"),
        ("mongodb", {"filter": {"status": "paid"}}, "table"),
        ("s3", {"table": "orders"}, "table"),
        ("s3", {"format": "csv"}, "prefix"),
        ("cassandra", {"filter": {"a": 1}, "table": "events"}, "filter"),
        ("kinesis", {"table": "clicks"}, "source"),
    ],
)
def test_a_field_the_sources_type_does_not_take_is_422(
    world: SnapshotWorld, untouched: Untouched, kind: str, body: dict[str, Any], field: str
) -> None:
    if kind == "postgresql":
        ok(api("create_source", role="admin", body={"name": "src", "type": kind, "connection": PG}), 201)
    else:
        world.source_of_type("src", kind)

    with untouched:
        response = world.start("orders", {"source": "src", **body})

    assert (response.status, response.error_code) == (422, "invalid_snapshot_request")
    assert field in [detail.get("field") for detail in response.body["error"]["details"]]


@pytest.mark.parametrize("column", ["updated at", "id;drop table x", "1st", "", "a" * 129])
def test_a_malformed_incremental_column_is_422(
    shop_db: SnapshotWorld, untouched: Untouched, column: str
) -> None:
    body = {"source": "shop-db", "table": "customers", "incremental": {"watermark_column": column}}

    with untouched:
        response = shop_db.start("customers", body)

    assert (response.status, response.error_code) == (422, "validation_error")
    assert "incremental" in response.body["error"]["details"][0]["field"]


def test_an_incremental_column_the_dataset_does_not_have_is_422(
    world: SnapshotWorld, postgres: LocalPostgres, untouched: Untouched
) -> None:
    table = create_customers(postgres, 3)
    world.postgres_source("live-db", postgres)
    world.snapshot("customers", {"source": "live-db", "table": table})
    body = {"source": "live-db", "table": table, "incremental": {"watermark_column": "modified"}}

    with untouched:
        response = world.start("customers", body)

    assert (response.status, response.error_code) == (422, "invalid_incremental")
    assert response.body["error"]["details"][0]["field"] == "incremental.watermark_column"


def test_an_incremental_snapshot_of_files_is_422(world: SnapshotWorld, untouched: Untouched) -> None:
    world.source_of_type("landing", "s3")
    body = {
        "source": "landing",
        "prefix": f"s3://{DATA_BUCKET}/landing/",
        "incremental": {"watermark_column": "ts"},
    }

    with untouched:
        response = world.start("orders", body)

    assert (response.status, response.error_code) == (422, "invalid_incremental")


def test_a_dataset_made_from_another_source_is_409(shop_db: SnapshotWorld, untouched: Untouched) -> None:
    shop_db.started("customers", {"source": "shop-db", "table": "customers"})
    ok(
        api("create_source", role="admin", body={"name": "other-db", "type": "postgresql", "connection": PG}),
        201,
    )

    with untouched:
        response = shop_db.start("customers", {"source": "other-db", "table": "customers"})

    assert (response.status, response.error_code) == (409, "dataset_source_mismatch")


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        ("{not json", 400, "malformed_json"),
        ('[{"source": "shop-db", "table": "customers"}]', 422, "validation_error"),
        ('{"source": "shop-db", "table": "customers", "colour": "red"}', 422, "validation_error"),
        ('{"table": "customers"}', 422, "validation_error"),
        ('{"source": "Shop DB", "table": "customers"}', 422, "validation_error"),
        ('{"source": "shop-db", "table": "customers; drop table x"}', 422, "validation_error"),
        ('{"source": "shop-db", "prefix": "http://bucket/x", "format": "csv"}', 422, "validation_error"),
    ],
)
def test_a_malformed_body_is_refused(
    shop_db: SnapshotWorld, untouched: Untouched, raw: str, status: int, code: str
) -> None:
    with untouched:
        response = api("start_snapshot", path={"name": "customers"}, raw_body=raw)

    assert (response.status, response.error_code) == (status, code)


def test_a_malformed_dataset_name_is_422(shop_db: SnapshotWorld, untouched: Untouched) -> None:
    with untouched:
        response = shop_db.start("Customers!", {"source": "shop-db", "table": "customers"})

    assert response.status == 422


def test_a_caller_without_data_access_is_403(shop_db: SnapshotWorld, untouched: Untouched) -> None:
    with untouched:
        response = shop_db.start(
            "customers", {"source": "shop-db", "table": "customers"}, role="model_reviewer"
        )
        job = api("get_snapshot_job", role="model_reviewer", path={"name": "customers", "job_id": "0" * 32})

    assert (response.status, response.error_code) == (403, "access_denied")
    assert (job.status, job.error_code) == (403, "access_denied")


@pytest.mark.parametrize("role", ["ml_engineer", "data_scientist", "admin"])
def test_every_role_with_data_access_may_snapshot(shop_db: SnapshotWorld, role: str) -> None:
    response = shop_db.start("customers", {"source": "shop-db", "table": "customers"}, role=role)

    assert response.status == 202
