# ruff: noqa: F811 - the fixtures come from tests/unit/data/snapshots_support.py
"""The snapshot's steps against a real PostgreSQL: rows become Parquet parts in the data bucket and a
ready version with its schema, row count, content hash and lineage; an incremental snapshot adds only
the new rows and keeps the earlier parts; a failure fails the version and the job with the driver's
message and never the password."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal

import psycopg

from cirrus.localcloud.databases import LocalPostgres
from cirrus_core.data.datasets import content_hash_of
from tests.support.aws import DATA_BUCKET
from tests.support.events import assert_valid_event
from tests.unit.data.snapshots_support import (  # noqa: F401 - fixtures
    SnapshotWorld,
    add_customers,
    create_customers,
    postgres,
    world,
)


def stored_hash(world: SnapshotWorld, keys: list[str]) -> str:
    """The content hash docs/data.md defines, from the bytes in the bucket: content_hash_of over the
    SHA-256 of each part, in the order given."""
    bodies = [world.aws.s3.get_object(Bucket=DATA_BUCKET, Key=key)["Body"].read() for key in keys]
    return content_hash_of([hashlib.sha256(body).hexdigest() for body in bodies])


def test_a_snapshot_writes_the_tables_rows_as_parts_of_a_ready_version(
    world: SnapshotWorld, postgres: LocalPostgres
) -> None:
    table = create_customers(postgres, 2500)
    world.postgres_source("shop-db", postgres)

    job = world.snapshot("customers", {"source": "shop-db", "table": table})

    assert (job["status"], job["row_count"], job["error"]) == ("succeeded", 2500, None)
    version = world.version("customers", job["version"])
    assert version["status"] == "ready"
    assert version["row_count"] == 2500
    assert version["schema"] == [
        {"name": "id", "type": "int64", "nullable": True},
        {"name": "name", "type": "string", "nullable": True},
        {"name": "balance", "type": "decimal128(12, 2)", "nullable": True},
        {"name": "updated_at", "type": "timestamp[us, tz=UTC]", "nullable": True},
    ]
    keys = [f"datasets/customers/v1/part-{n:05d}.parquet" for n in range(3)]
    assert [item["key"] for item in version["files"]] == keys
    assert [item["rows"] for item in version["files"]] == [1000, 1000, 500]
    assert world.keys() == keys
    assert version["location"] == f"s3://{DATA_BUCKET}/datasets/customers/v1/"


def test_the_parts_hold_the_rows_and_the_version_their_hashes(
    world: SnapshotWorld, postgres: LocalPostgres
) -> None:
    table = create_customers(postgres, 1200)
    world.postgres_source("shop-db", postgres)
    query = f"SELECT * FROM {table} ORDER BY id"

    job = world.snapshot("customers", {"source": "shop-db", "query": query})

    version = world.version("customers", job["version"])
    rows = world.read_version(version)
    assert rows.column("id").to_pylist() == list(range(1, 1201))
    assert rows.column("balance")[1].as_py() == Decimal("2.50")
    assert version["content_hash"] == stored_hash(world, [item["key"] for item in version["files"]])
    for item in version["files"]:
        body = world.aws.s3.get_object(Bucket=DATA_BUCKET, Key=item["key"])["Body"].read()
        assert (item["sha256"], item["bytes"]) == (hashlib.sha256(body).hexdigest(), len(body))


def test_the_version_records_its_lineage_and_the_event_announces_it(
    world: SnapshotWorld, postgres: LocalPostgres
) -> None:
    table = create_customers(postgres, 10)
    world.postgres_source("shop-db", postgres)

    job = world.snapshot("customers", {"source": "shop-db", "table": table})

    lineage = world.version("customers", 1)["lineage"]
    assert (lineage["source"], lineage["source_type"], lineage["query"]) == ("shop-db", "postgresql", table)
    assert lineage["parameters"] == {"table": table}
    assert lineage["watermark"] is None
    [event] = world.events("dataset.version_created")
    assert_valid_event(event)
    assert event["source"] == "cirrus.data"
    assert event["detail"]["data"]["reference"] == "dataset:customers@1"
    assert event["detail"]["data"]["job_id"] == job["job_id"]
    assert event["detail"]["data"]["row_count"] == 10
    assert event["detail"]["metadata"]["actor"] == "dana@example.com"


def test_an_incremental_snapshot_adds_only_the_new_rows_and_keeps_the_earlier_parts(
    world: SnapshotWorld, postgres: LocalPostgres
) -> None:
    table = create_customers(postgres, 1500)
    world.postgres_source("shop-db", postgres)
    body = {"source": "shop-db", "table": table, "incremental": {"watermark_column": "updated_at"}}
    first = world.snapshot("customers", body)
    add_customers(postgres, table, 300, start=1501)

    second = world.snapshot("customers", body)

    assert (first["row_count"], second["row_count"]) == (1500, 1800)
    one, two = world.version("customers", 1), world.version("customers", 2)
    assert one["lineage"]["watermark"] == {"column": "updated_at", "value": "2024-01-02T01:00:00+00:00"}
    assert two["lineage"]["watermark"] == {"column": "updated_at", "value": "2024-01-02T06:00:00+00:00"}
    assert [f["key"] for f in two["files"]] == [
        "datasets/customers/v1/part-00000.parquet",
        "datasets/customers/v1/part-00001.parquet",
        "datasets/customers/v2/part-00000.parquet",
    ]
    assert world.read_part("datasets/customers/v2/part-00000.parquet").column("id").to_pylist() == list(
        range(1501, 1801)
    )
    assert world.keys("datasets/customers/v1/") == [f["key"] for f in one["files"]]
    assert second["base_version"] == 1
    assert second["after_watermark"] == "2024-01-02T01:00:00+00:00"


def test_an_incremental_versions_hash_is_over_all_its_files_the_kept_ones_first(
    world: SnapshotWorld, postgres: LocalPostgres
) -> None:
    table = create_customers(postgres, 40)
    world.postgres_source("shop-db", postgres)
    body = {"source": "shop-db", "table": table, "incremental": {"watermark_column": "id"}}
    world.snapshot("customers", body)
    add_customers(postgres, table, 5, start=41)
    world.snapshot("customers", body)

    one, two = world.version("customers", 1), world.version("customers", 2)

    kept, new = "datasets/customers/v1/part-00000.parquet", "datasets/customers/v2/part-00000.parquet"
    assert one["content_hash"] == stored_hash(world, [kept])
    assert [f["key"] for f in two["files"]] == [kept, new]
    assert two["content_hash"] == stored_hash(world, [kept, new])
    assert "segments" not in two["lineage"]
    assert world.read_version(two).column("id").to_pylist() == list(range(1, 46))


def test_an_incremental_snapshot_that_finds_no_new_row_keeps_the_previous_content(
    world: SnapshotWorld, postgres: LocalPostgres
) -> None:
    table = create_customers(postgres, 12)
    world.postgres_source("shop-db", postgres)
    body = {"source": "shop-db", "table": table, "incremental": {"watermark_column": "id"}}
    world.snapshot("customers", body)

    job = world.snapshot("customers", body)

    one, two = world.version("customers", 1), world.version("customers", 2)
    assert job["status"] == "succeeded"
    assert (two["row_count"], two["content_hash"], two["files"]) == (12, one["content_hash"], one["files"])
    assert two["lineage"]["watermark"] == {"column": "id", "value": 12}
    assert world.keys("datasets/customers/v2/") == []


def test_a_failed_extraction_fails_the_version_and_the_job_without_the_password(
    world: SnapshotWorld, postgres: LocalPostgres
) -> None:
    wrong = "Wr0ng-pa55word-do-not-show"
    world.postgres_source("shop-db", postgres, password=wrong)

    job = world.snapshot("customers", {"source": "shop-db", "table": "customers"})

    assert job["status"] == "failed"
    assert "password authentication failed" in job["error"]
    version = world.version("customers", job["version"])
    assert (version["status"], version["failure"]) == ("failed", job["error"])
    [event] = world.events("dataset.snapshot_failed")
    assert_valid_event(event)
    assert event["detail"]["data"]["error"] == job["error"]
    stored = json.dumps([world.items(), world.aws.published_events()])
    assert wrong not in stored
    assert postgres.password not in stored
    assert world.keys() == []


def test_a_query_the_database_refuses_fails_with_its_message(
    world: SnapshotWorld, postgres: LocalPostgres
) -> None:
    world.postgres_source("shop-db", postgres)

    job = world.snapshot("customers", {"source": "shop-db", "query": "SELECT * FROM no_such_table"})

    assert job["status"] == "failed"
    assert "no_such_table" in job["error"]
    assert postgres.password not in job["error"]
    assert world.version("customers", 1)["status"] == "failed"


def test_a_failed_version_does_not_stop_the_next_snapshot(
    world: SnapshotWorld, postgres: LocalPostgres
) -> None:
    table = create_customers(postgres, 3)
    world.postgres_source("shop-db", postgres)
    world.snapshot("customers", {"source": "shop-db", "query": "SELECT * FROM nowhere"})

    job = world.snapshot("customers", {"source": "shop-db", "table": table})

    assert (job["version"], job["status"]) == (2, "succeeded")
    assert world.keys() == ["datasets/customers/v2/part-00000.parquet"]


def test_running_the_extract_again_after_success_changes_nothing(
    world: SnapshotWorld, postgres: LocalPostgres
) -> None:
    table = create_customers(postgres, 3)
    world.postgres_source("shop-db", postgres)
    job = world.snapshot("customers", {"source": "shop-db", "table": table})
    before = (world.items(), len(world.events("dataset.version_created")))

    outcome = world.run(job)

    assert outcome["status"] == "succeeded"
    assert (world.items(), len(world.events("dataset.version_created"))) == before


def test_an_incremental_snapshot_whose_columns_changed_fails_and_uploads_nothing(
    world: SnapshotWorld, postgres: LocalPostgres
) -> None:
    table = create_customers(postgres, 5)
    world.postgres_source("shop-db", postgres)
    body = {"source": "shop-db", "table": table, "incremental": {"watermark_column": "id"}}
    world.snapshot("customers", body)
    with psycopg.connect(postgres.dsn, autocommit=True) as connection:
        connection.execute(f"ALTER TABLE {table} ADD COLUMN tier text")
    add_customers(postgres, table, 2, start=6)

    job = world.snapshot("customers", body)

    assert job["status"] == "failed"
    assert "columns changed since version 1" in job["error"]
    assert world.keys("datasets/customers/v2/") == []
    assert world.version("customers", 2)["status"] == "failed"
