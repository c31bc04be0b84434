"""Dataset snapshots on the local cloud: a postgresql source pointing at a real PostgreSQL server, a
snapshot through the API run by the snapshot state machine and its steps (as on AWS), then the version
and a sample read back through the API; an incremental snapshot adds only the new rows."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from cirrus.client import CirrusApiError, CirrusClient
from cirrus.localcloud.databases import LocalPostgres
from tests.support.endpoints import wait_for

if TYPE_CHECKING:
    from cirrus.localcloud.cloud import LocalCloud
    from cirrus_core.data.snapshots import SnapshotJob


@pytest.fixture(scope="module")
def postgres() -> Iterator[LocalPostgres]:
    """A PostgreSQL server with a small `customers` table (never skipped: fails if it cannot start)."""
    with LocalPostgres() as server:
        with psycopg.connect(server.dsn, autocommit=True) as connection:
            connection.execute(
                "CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL, "
                "balance numeric(10, 2), updated_at timestamptz NOT NULL)"
            )
            add_customers(connection, 1, 25)
        yield server


def add_customers(connection: psycopg.Connection[Any], first: int, last: int) -> None:
    connection.execute(
        "INSERT INTO customers SELECT n, 'customer ' || n, n * 2.5, "
        "timestamptz '2024-05-01 00:00:00+00' + n * interval '1 hour' "
        "FROM generate_series(%s::int, %s::int) n",
        (first, last),
    )


@pytest.fixture(scope="module")
def source(postgres: LocalPostgres, clients: dict[str, CirrusClient]) -> str:
    name = f"it-pg-{uuid.uuid4().hex[:8]}"
    connection = {
        "host": postgres.host,
        "port": postgres.port,
        "database": postgres.database,
        "user": postgres.user,
        "password": postgres.password,
    }
    clients["admin"].create_data_source({"name": name, "type": "postgresql", "connection": connection})
    return name


def finished(client: CirrusClient, dataset: str, job_id: str) -> SnapshotJob:
    job: SnapshotJob = wait_for(
        lambda: client.get_snapshot_job(dataset, job_id), lambda job: job.status.finished
    )
    return job


def test_a_snapshot_becomes_a_ready_version_with_a_sample(
    local_cloud: LocalCloud, clients: dict[str, CirrusClient], source: str, postgres: LocalPostgres
) -> None:
    client = clients["data_scientist"]
    dataset = f"it_customers_{uuid.uuid4().hex[:8]}"

    job = client.create_snapshot(dataset, source, table="customers")
    done = finished(client, dataset, job.job_id)

    assert (done.status.value, done.row_count, done.error) == ("succeeded", 25, None)
    version = client.get_dataset_version(dataset, job.version)
    assert (version.status.value, version.row_count) == ("ready", 25)
    assert [(c.name, c.type) for c in version.columns] == [
        ("id", "int64"),
        ("name", "string"),
        ("balance", "decimal128(10, 2)"),
        ("updated_at", "timestamp[us, tz=UTC]"),
    ]
    assert version.content_hash is not None
    assert version.lineage.source == source
    keys = [item.key for item in version.files]
    assert keys == [f"datasets/{dataset}/v1/part-00000.parquet"]
    bucket = local_cloud.emulator.client("s3")
    stored = bucket.list_objects_v2(Bucket=version.location.split("/")[2], Prefix=f"datasets/{dataset}/")
    assert [item["Key"] for item in stored["Contents"]] == keys
    sample = client.dataset_sample(dataset, job.version, limit=3)
    assert sample.rows == [
        {"id": 1, "name": "customer 1", "balance": "2.50", "updated_at": "2024-05-01T01:00:00+00:00"},
        {"id": 2, "name": "customer 2", "balance": "5.00", "updated_at": "2024-05-01T02:00:00+00:00"},
        {"id": 3, "name": "customer 3", "balance": "7.50", "updated_at": "2024-05-01T03:00:00+00:00"},
    ]
    assert postgres.password not in version.model_dump_json()


def test_an_incremental_snapshot_adds_only_new_rows(
    clients: dict[str, CirrusClient], source: str, postgres: LocalPostgres
) -> None:
    client = clients["ml_engineer"]
    dataset = f"it_incremental_{uuid.uuid4().hex[:8]}"
    incremental = {"watermark_column": "updated_at"}
    first = finished(
        client,
        dataset,
        client.create_snapshot(dataset, source, table="customers", incremental=incremental).job_id,
    )
    with psycopg.connect(postgres.dsn, autocommit=True) as connection:
        add_customers(connection, 26, 30)

    second = finished(
        client,
        dataset,
        client.create_snapshot(dataset, source, table="customers", incremental=incremental).job_id,
    )

    assert (first.row_count, second.row_count) == (25, 30)
    version = client.get_dataset_version(dataset, second.version)
    assert [item.rows for item in version.files] == [25, 5]
    assert version.lineage.watermark is not None
    assert version.lineage.watermark.value == "2024-05-02T06:00:00+00:00"
    listed = client.list_dataset_versions(dataset)
    assert [item.version for item in listed.items] == [2, 1]


def test_a_reviewer_may_not_snapshot(clients: dict[str, CirrusClient], source: str) -> None:
    with pytest.raises(CirrusApiError) as refused:
        clients["model_reviewer"].create_snapshot("it_refused", source, table="customers")

    assert (refused.value.status, refused.value.code) == (403, "access_denied")
