"""Dataset versions: numbered 1, 2, 3 ... per dataset without gaps, allocated `building`, finished once
as `ready` or `failed`, and resolved by reference to ready versions only."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from cirrus.localcloud.hooks import HookContext
from cirrus.localcloud.hooks.dynamodb_transactions import install
from cirrus_core.data.dataset_store import DatasetStore
from cirrus_core.data.datasets import (
    Column,
    DataFile,
    DatasetKind,
    Lineage,
    VersionStatus,
    content_hash_of,
    parse_dataset_reference,
)
from cirrus_core.errors import (
    DatasetKindMismatch,
    DatasetNotFound,
    DatasetVersionNotFound,
    DatasetVersionNotReady,
    InvalidDatasetReference,
    NoReadyDatasetVersion,
)
from tests.support.aws import DATA_BUCKET, TABLE_NAMES, create_resources

HASH = "sha256:" + "ab" * 32
FILE = DataFile(key="datasets/customers/v1/part-00000.parquet", rows=3, bytes=100, sha256="cd" * 32)


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[DatasetStore]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        resources = create_resources()
        yield DatasetStore(resources.dynamodb, TABLE_NAMES["DataTable"], DATA_BUCKET, sleep=lambda _: None)


def begin(store: DatasetStore, name: str = "customers", kind: DatasetKind = DatasetKind.SNAPSHOT) -> int:
    lineage = Lineage(source="production_db", source_type="postgresql", query="SELECT * FROM customers")
    return store.begin_version(name, kind=kind, lineage=lineage, actor="ada").version


def complete(store: DatasetStore, version: int, name: str = "customers") -> None:
    store.complete_version(
        name,
        version,
        columns=[Column(name="id", type="int64", nullable=False)],
        row_count=3,
        content_hash=HASH,
        files=[FILE],
    )


def test_versions_are_numbered_from_one_and_start_building(store: DatasetStore) -> None:
    first, second = begin(store), begin(store)

    assert (first, second) == (1, 2)
    version = store.require_version("customers", 1)
    assert version.status is VersionStatus.BUILDING
    assert version.location == f"s3://{DATA_BUCKET}/datasets/customers/v1/"
    assert store.dataset("customers") is not None
    assert store.dataset("customers").latest_version == 2  # type: ignore[union-attr]


def test_concurrent_producers_each_get_their_own_number(store: DatasetStore, tmp_path: Path) -> None:
    # moto's transactions are not atomic across threads; the local cloud's hook makes them so, as in AWS.
    undo = install(HookContext(endpoint_url="http://127.0.0.1:4566", work_dir=tmp_path))
    numbers: list[int] = []
    lock = threading.Lock()

    def allocate() -> None:
        client = boto3.session.Session().client("dynamodb", region_name="us-east-1")
        own = DatasetStore(client, TABLE_NAMES["DataTable"], DATA_BUCKET, sleep=lambda _: None)
        number = begin(own)
        with lock:
            numbers.append(number)

    threads = [threading.Thread(target=allocate) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    undo()

    assert sorted(numbers) == list(range(1, 9))


def test_a_completed_version_is_ready_with_what_its_job_wrote(store: DatasetStore) -> None:
    complete(store, begin(store))

    version = store.ready_version("customers", 1)
    assert (version.row_count, version.content_hash, version.files) == (3, HASH, [FILE])
    assert version.columns == [Column(name="id", type="int64", nullable=False)]
    assert version.model_dump(by_alias=True)["schema"] == [{"name": "id", "type": "int64", "nullable": False}]


def test_a_version_finishes_only_once(store: DatasetStore) -> None:
    version = begin(store)
    store.fail_version("customers", version, failure="connection refused")

    with pytest.raises(DatasetVersionNotReady):
        complete(store, version)
    assert store.require_version("customers", version).status is VersionStatus.FAILED


def test_the_latest_reference_skips_versions_that_are_not_ready(store: DatasetStore) -> None:
    complete(store, begin(store))
    store.fail_version("customers", begin(store), failure="boom")
    begin(store)

    assert store.resolve("dataset:customers").version == 1
    assert store.resolve("dataset:customers@1").version == 1


def test_a_reference_to_a_version_that_is_not_ready_is_refused(store: DatasetStore) -> None:
    begin(store)

    with pytest.raises(DatasetVersionNotReady):
        store.resolve("dataset:customers@1")
    with pytest.raises(NoReadyDatasetVersion):
        store.resolve("dataset:customers")


def test_unknown_datasets_and_versions_are_not_found(store: DatasetStore) -> None:
    complete(store, begin(store))

    with pytest.raises(DatasetNotFound):
        store.resolve("dataset:orders")
    with pytest.raises(DatasetVersionNotFound):
        store.resolve("dataset:customers@7")


def test_a_dataset_keeps_the_kind_of_producer_that_made_it(store: DatasetStore) -> None:
    begin(store)

    with pytest.raises(DatasetKindMismatch):
        begin(store, kind=DatasetKind.TRANSFORMATION)
    assert store.dataset("customers").latest_version == 1  # type: ignore[union-attr]


@pytest.mark.parametrize("text", ["customers", "dataset:Customers", "dataset:c@0", "dataset:c@x", "s3://b/k"])
def test_malformed_references_are_refused(text: str) -> None:
    with pytest.raises(InvalidDatasetReference):
        parse_dataset_reference(text)


def test_lists_page_through_datasets_and_versions(store: DatasetStore) -> None:
    for name in ("a", "b", "c"):
        begin(store, name)
    begin(store, "a")

    first, after = store.datasets(limit=2, after=None)
    rest, end = store.datasets(limit=2, after=after)
    versions, _ = store.versions("a", limit=10, after=None)

    assert [d.name for d in first + rest] == ["a", "b", "c"]
    assert end is None
    assert [v.version for v in versions] == [2, 1]


def test_the_content_hash_is_sha256_over_the_part_digests_one_per_line() -> None:
    parts = ["ab" * 32, "cd" * 32]

    expected = "sha256:" + hashlib.sha256(("ab" * 32 + "\n" + "cd" * 32).encode()).hexdigest()

    assert content_hash_of(parts) == expected
