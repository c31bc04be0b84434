# ruff: noqa: F811 - the fixtures come from tests/unit/data/snapshots_support.py
"""The dataset read routes: datasets by name, a dataset with its latest ready version, its versions
newest first in pages, one version with its schema, and a sample of a ready version's first rows read
through ranged GETs; unknown datasets and versions are 404, and only data_access may read."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cirrus_core.data.dataset_read_service import DatasetSample
from cirrus_core.data.dataset_store import DatasetStore
from cirrus_core.data.datasets import Column, DataFile, DatasetKind, DatasetVersion, Lineage
from cirrus_core.data.snapshot_adapters import DatasetParts, ParquetSampler
from tests.support.aws import DATA_BUCKET
from tests.unit.data.snapshots_support import (  # noqa: F401 - fixtures
    DATA_TABLE,
    SnapshotWorld,
    api,
    ok,
    world,
)


def rows(count: int, *, start: int = 1) -> pa.Table:
    ids = list(range(start, start + count))
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "name": pa.array([f"customer {n}" for n in ids], pa.string()),
            "balance": pa.array([Decimal(n) / 4 for n in ids], pa.decimal128(12, 2)),
            "seen_at": pa.array(
                [datetime(2024, 1, 1, n % 24, tzinfo=UTC) for n in ids], pa.timestamp("us", tz="UTC")
            ),
        }
    )


class Datasets:
    """Versions made as a producer makes them: allocated, their parts uploaded, completed (or failed)."""

    def __init__(self, world: SnapshotWorld) -> None:
        self.world = world
        self.store = DatasetStore(world.aws.dynamodb, DATA_TABLE, DATA_BUCKET)

    def begin(self, name: str) -> int:
        lineage = Lineage(source="shop-db", source_type="postgresql", query="SELECT * FROM customers")
        return self.store.begin_version(
            name, kind=DatasetKind.SNAPSHOT, lineage=lineage, actor="dana"
        ).version

    def ready(self, name: str, *parts: pa.Table, row_group_size: int | None = None) -> int:
        version = self.begin(name)
        files = []
        for index, table in enumerate(parts):
            sink = io.BytesIO()
            pq.write_table(table, sink, row_group_size=row_group_size)
            body = sink.getvalue()
            key = f"datasets/{name}/v{version}/part-{index:05d}.parquet"
            self.world.aws.s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=body)
            files.append(
                DataFile(
                    key=key, rows=table.num_rows, bytes=len(body), sha256=hashlib.sha256(body).hexdigest()
                )
            )
        columns = [Column(name=f.name, type=str(f.type), nullable=f.nullable) for f in parts[0].schema]
        self.store.complete_version(
            name,
            version,
            columns=columns,
            row_count=sum(table.num_rows for table in parts),
            content_hash="sha256:" + hashlib.sha256(name.encode()).hexdigest(),
            files=files,
        )
        return version

    def failed(self, name: str) -> int:
        version = self.begin(name)
        self.store.fail_version(name, version, failure="connection refused")
        return version


@pytest.fixture
def datasets(world: SnapshotWorld) -> Datasets:
    return Datasets(world)


def test_datasets_are_listed_by_name_in_pages(datasets: Datasets) -> None:
    for name in ("orders", "customers", "payments"):
        datasets.begin(name)

    first = ok(api("list_datasets", query={"limit": "2"}))
    rest = ok(api("list_datasets", query={"limit": "2", "next_token": first["next_token"]}))

    assert [item["name"] for item in first["items"] + rest["items"]] == ["customers", "orders", "payments"]
    assert rest["next_token"] is None
    assert first["items"][0]["kind"] == "snapshot"
    assert first["items"][0]["source"] == "shop-db"


def test_a_dataset_shows_its_latest_and_latest_ready_versions(datasets: Datasets) -> None:
    datasets.ready("customers", rows(3))
    datasets.ready("customers", rows(4))
    datasets.failed("customers")

    dataset = ok(api("get_dataset", path={"name": "customers"}))

    assert (dataset["name"], dataset["latest_version"], dataset["latest_ready_version"]) == (
        "customers",
        3,
        2,
    )


def test_a_dataset_with_no_ready_version_says_so(datasets: Datasets) -> None:
    datasets.begin("customers")

    dataset = ok(api("get_dataset", path={"name": "customers"}))

    assert (dataset["latest_version"], dataset["latest_ready_version"]) == (1, None)


def test_versions_are_listed_newest_first_in_pages(datasets: Datasets) -> None:
    datasets.ready("customers", rows(3))
    datasets.failed("customers")
    datasets.begin("customers")

    first = ok(api("list_dataset_versions", path={"name": "customers"}, query={"limit": "2"}))
    rest = ok(
        api(
            "list_dataset_versions",
            path={"name": "customers"},
            query={"limit": "2", "next_token": first["next_token"]},
        )
    )

    listed = first["items"] + rest["items"]
    assert [(item["version"], item["status"]) for item in listed] == [
        (3, "building"),
        (2, "failed"),
        (1, "ready"),
    ]
    assert rest["next_token"] is None
    assert listed[2]["reference"] == "dataset:customers@1"
    assert listed[1]["failure"] == "connection refused"
    assert "schema" not in listed[2]
    assert "files" not in listed[2]


def test_a_version_page_token_of_another_dataset_is_refused(datasets: Datasets) -> None:
    for _ in range(2):
        datasets.begin("customers")
    datasets.begin("orders")
    token = ok(api("list_dataset_versions", path={"name": "customers"}, query={"limit": "1"}))["next_token"]

    response = api(
        "list_dataset_versions", path={"name": "orders"}, query={"limit": "1", "next_token": token}
    )

    assert (response.status, response.error_code) == (400, "invalid_next_token")


def test_a_version_shows_its_schema_files_and_lineage(datasets: Datasets) -> None:
    datasets.ready("customers", rows(5), rows(2, start=6))

    version = ok(api("get_dataset_version", path={"name": "customers", "version": "1"}))

    assert version["schema"] == [
        {"name": "id", "type": "int64", "nullable": True},
        {"name": "name", "type": "string", "nullable": True},
        {"name": "balance", "type": "decimal128(12, 2)", "nullable": True},
        {"name": "seen_at", "type": "timestamp[us, tz=UTC]", "nullable": True},
    ]
    assert version["row_count"] == 7
    assert [item["rows"] for item in version["files"]] == [5, 2]
    assert version["lineage"]["source"] == "shop-db"
    assert version["status"] == "ready"


def test_a_sample_is_the_first_rows_as_json(datasets: Datasets) -> None:
    datasets.ready("customers", rows(50))

    sample = ok(api("get_dataset_sample", path={"name": "customers", "version": "1"}, query={"limit": "3"}))

    assert sample["rows"] == [
        {"id": 1, "name": "customer 1", "balance": "0.25", "seen_at": "2024-01-01T01:00:00+00:00"},
        {"id": 2, "name": "customer 2", "balance": "0.50", "seen_at": "2024-01-01T02:00:00+00:00"},
        {"id": 3, "name": "customer 3", "balance": "0.75", "seen_at": "2024-01-01T03:00:00+00:00"},
    ]
    assert [column["name"] for column in sample["schema"]] == ["id", "name", "balance", "seen_at"]
    assert (sample["dataset"], sample["version"], sample["row_count"]) == ("customers", 1, 50)


def test_the_answers_read_back_as_the_clients_models(datasets: Datasets) -> None:
    datasets.ready("customers", rows(5))
    path = {"name": "customers", "version": "1"}

    sample = api("get_dataset_sample", path=path, query=None).raw_body
    version = api("get_dataset_version", path=path).raw_body

    assert len(DatasetSample.model_validate_json(sample).columns) == 4
    assert len(DatasetVersion.model_validate_json(version).columns) == 4


def test_a_sample_has_twenty_rows_unless_asked_otherwise(datasets: Datasets) -> None:
    datasets.ready("customers", rows(50))

    sample = ok(api("get_dataset_sample", path={"name": "customers", "version": "1"}, query=None))

    assert [row["id"] for row in sample["rows"]] == list(range(1, 21))


def test_a_sample_of_a_small_version_is_all_of_it(datasets: Datasets) -> None:
    datasets.ready("customers", rows(4))

    sample = ok(api("get_dataset_sample", path={"name": "customers", "version": "1"}, query={"limit": "100"}))

    assert len(sample["rows"]) == 4


def test_a_sample_skips_empty_parts(datasets: Datasets) -> None:
    datasets.ready("customers", rows(0), rows(3, start=10))

    sample = ok(api("get_dataset_sample", path={"name": "customers", "version": "1"}, query={"limit": "2"}))

    assert [row["id"] for row in sample["rows"]] == [10, 11]


@pytest.mark.parametrize("limit", ["0", "101", "-1", "many"])
def test_a_sample_limit_outside_1_to_100_is_422(datasets: Datasets, limit: str) -> None:
    datasets.ready("customers", rows(3))

    response = api("get_dataset_sample", path={"name": "customers", "version": "1"}, query={"limit": limit})

    assert (response.status, response.error_code) == (422, "validation_error")


@pytest.mark.parametrize("state", ["building", "failed"])
def test_a_sample_of_a_version_that_is_not_ready_is_409(datasets: Datasets, state: str) -> None:
    datasets.begin("customers") if state == "building" else datasets.failed("customers")

    response = api("get_dataset_sample", path={"name": "customers", "version": "1"}, query=None)

    assert (response.status, response.error_code) == (409, "dataset_version_not_ready")


def test_reading_a_sample_is_recorded_as_data_usage(datasets: Datasets, world: SnapshotWorld) -> None:
    datasets.ready("customers", rows(3))

    ok(api("get_dataset_sample", path={"name": "customers", "version": "1"}, query=None))

    audit = world.aws.dynamodb.scan(TableName="cirrus-test-audit")["Items"]
    usage = [item for item in audit if item.get("category", {}).get("S") == "data_usage"]
    assert [(item["resource"]["S"], item["actor"]["S"]) for item in usage] == [
        ("data/dataset/customers/v1", "dana@example.com")
    ]


@pytest.mark.parametrize(
    ("route", "path", "code"),
    [
        ("get_dataset", {"name": "nothing"}, "dataset_not_found"),
        ("list_dataset_versions", {"name": "nothing"}, "dataset_not_found"),
        ("get_dataset_version", {"name": "nothing", "version": "1"}, "dataset_not_found"),
        ("get_dataset_version", {"name": "customers", "version": "9"}, "dataset_version_not_found"),
        ("get_dataset_sample", {"name": "nothing", "version": "1"}, "dataset_not_found"),
        ("get_dataset_sample", {"name": "customers", "version": "9"}, "dataset_version_not_found"),
    ],
)
def test_unknown_datasets_and_versions_are_404(
    datasets: Datasets, route: str, path: dict[str, str], code: str
) -> None:
    datasets.ready("customers", rows(3))

    response = api(route, path=path, query=None)

    assert (response.status, response.error_code) == (404, code)


@pytest.mark.parametrize(
    ("route", "path"),
    [
        ("list_datasets", None),
        ("get_dataset", {"name": "customers"}),
        ("list_dataset_versions", {"name": "customers"}),
        ("get_dataset_version", {"name": "customers", "version": "1"}),
        ("get_dataset_sample", {"name": "customers", "version": "1"}),
    ],
)
def test_reading_datasets_needs_data_access(
    datasets: Datasets, route: str, path: dict[str, str] | None
) -> None:
    datasets.ready("customers", rows(3))
    parts: dict[str, Any] = {"query": None} if path is None else {"path": path, "query": None}

    response = api(route, role="model_reviewer", **parts)

    assert (response.status, response.error_code) == (403, "access_denied")


class RecordingS3:
    """An S3 client that records the byte ranges of the objects it is asked for."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.ranges: list[str | None] = []

    def head_object(self, **kwargs: Any) -> Any:
        return self._client.head_object(**kwargs)

    def get_object(self, **kwargs: Any) -> Any:
        self.ranges.append(kwargs.get("Range"))
        return self._client.get_object(**kwargs)


def test_a_sample_reads_the_footer_and_first_row_group_only(datasets: Datasets, world: SnapshotWorld) -> None:
    table = pa.table(
        {"id": pa.array(range(200_000), pa.int64()), "noise": pa.array([str(n) * 5 for n in range(200_000)])}
    )
    datasets.ready("big", table, row_group_size=10_000)
    key = "datasets/big/v1/part-00000.parquet"
    size = world.aws.s3.head_object(Bucket=DATA_BUCKET, Key=key)["ContentLength"]
    client = RecordingS3(world.aws.s3)

    with DatasetParts(client, DATA_BUCKET).open(key) as part:  # type: ignore[arg-type]
        _, first = ParquetSampler().first_rows(part, 5)

    assert [row["id"] for row in first] == [0, 1, 2, 3, 4]
    assert None not in client.ranges
    fetched = sum(int(r.split("-")[1]) - int(r.split("=")[1].split("-")[0]) + 1 for r in client.ranges if r)
    assert fetched < size / 4, (fetched, size, client.ranges)
