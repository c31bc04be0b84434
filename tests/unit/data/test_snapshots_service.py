"""The snapshot service with a fake Step Functions: what a start writes and starts, which version an
incremental snapshot extends and from which watermark, and what is left when the execution cannot
start."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from moto import mock_aws

from cirrus_core.data.dataset_store import DatasetStore
from cirrus_core.data.datasets import (
    Column,
    DataFile,
    DatasetKind,
    Lineage,
    VersionStatus,
    Watermark,
    content_hash_of,
)
from cirrus_core.data.snapshot_adapters import SnapshotJobStore
from cirrus_core.data.snapshot_service import SnapshotService
from cirrus_core.data.snapshots import CreateSnapshotRequest, SnapshotJobStatus
from cirrus_core.errors import DatasetKindMismatch, SourceNotFound
from tests.support.authz import caller
from tests.support.aws import DATA_BUCKET, TABLE_NAMES, create_resources

ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:cirrus-test-data-snapshot"
TABLE = "public.customers"
DIGEST = "cd" * 32


@dataclass
class FakeExecutions:
    """Records StartExecution calls; `refuse` makes them fail as Step Functions would."""

    started: list[tuple[str, str, dict[str, object]]] = field(default_factory=list)
    refuse: bool = False

    def start(self, state_machine_arn: str, name: str, execution_input: str) -> str:
        if self.refuse:
            raise RuntimeError("ExecutionLimitExceeded")
        self.started.append((state_machine_arn, name, json.loads(execution_input)))
        return f"{state_machine_arn.replace(':stateMachine:', ':execution:')}:{name}"


def source_type(name: str) -> str:
    types = {"shop-db": "postgresql", "docs": "mongodb"}
    if name not in types:
        raise SourceNotFound(f"No data source named '{name}'.")
    return types[name]


@dataclass
class Harness:
    service: SnapshotService
    store: DatasetStore
    jobs: SnapshotJobStore
    executions: FakeExecutions


@pytest.fixture
def harness() -> Iterator[Harness]:
    with mock_aws():
        resources = create_resources()
        store = DatasetStore(resources.dynamodb, TABLE_NAMES["DataTable"], DATA_BUCKET, sleep=lambda _: None)
        jobs = SnapshotJobStore(resources.dynamodb, TABLE_NAMES["DataTable"])
        executions = FakeExecutions()
        ids = iter(f"{n:032x}" for n in range(1, 100))
        service = SnapshotService(
            store,
            jobs,
            source_type,
            executions,
            state_machine_arn=ARN,
            audit_enabled=False,
            new_id=lambda: next(ids),
        )
        yield Harness(service, store, jobs, executions)


def request(**fields: object) -> CreateSnapshotRequest:
    return CreateSnapshotRequest.model_validate({"source": "shop-db", "table": TABLE, **fields})


def incremental(column: str = "updated_at", **fields: object) -> CreateSnapshotRequest:
    return request(incremental={"watermark_column": column}, **fields)


def ready(harness: Harness, job_request: CreateSnapshotRequest, watermark: Watermark | None) -> int:
    """Start a snapshot and complete its version as the extract step would."""
    job = harness.service.start("customers", job_request, caller("data_scientist"))
    version = harness.store.require_version("customers", job.version)
    harness.store.complete_version(
        "customers",
        job.version,
        columns=[Column(name="id", type="int64"), Column(name="updated_at", type="timestamp[us, tz=UTC]")],
        row_count=2,
        content_hash=content_hash_of([DIGEST]),
        files=[
            DataFile(
                key=f"datasets/customers/v{job.version}/part-00000.parquet", rows=2, bytes=9, sha256=DIGEST
            )
        ],
        lineage=version.lineage.model_copy(update={"watermark": watermark}),
    )
    return job.version


def test_a_start_allocates_the_version_stores_the_job_and_starts_its_execution(harness: Harness) -> None:
    job = harness.service.start("customers", request(), caller("ml_engineer"))

    assert harness.store.require_version("customers", job.version).status is VersionStatus.BUILDING
    assert harness.jobs.job("customers", job.job_id) == job
    assert job.status is SnapshotJobStatus.QUEUED
    assert harness.executions.started == [
        (ARN, job.job_id, {"job_id": job.job_id, "dataset": "customers", "version": 1})
    ]


def test_the_version_remembers_what_was_read(harness: Harness) -> None:
    harness.service.start("customers", request(description="nightly"), caller("ml_engineer"))

    version = harness.store.require_version("customers", 1)
    assert version.lineage == Lineage(
        source="shop-db", source_type="postgresql", query=TABLE, parameters={"table": TABLE}
    )
    assert version.description == "nightly"
    assert harness.store.dataset("customers").source == "shop-db"  # type: ignore[union-attr]


def test_a_first_incremental_snapshot_reads_every_row(harness: Harness) -> None:
    job = harness.service.start("customers", incremental(), caller("ml_engineer"))

    assert (job.base_version, job.after_watermark) == (None, None)


def test_an_incremental_snapshot_extends_the_latest_ready_version_after_its_watermark(
    harness: Harness,
) -> None:
    ready(harness, incremental(), Watermark(column="updated_at", value="2024-01-02T01:00:00+00:00"))
    harness.service.start("customers", incremental(), caller("ml_engineer"))  # still building: not extended

    job = harness.service.start("customers", incremental(), caller("ml_engineer"))

    assert (job.version, job.base_version, job.after_watermark) == (3, 1, "2024-01-02T01:00:00+00:00")


@pytest.mark.parametrize(
    ("previous", "watermark"),
    [
        (incremental(), Watermark(column="id", value=7)),  # another column
        (incremental(), Watermark(column="updated_at", value=None)),  # nothing read yet
        (request(), None),  # a full snapshot
        (incremental(table="public.other"), Watermark(column="updated_at", value="2024-01-01T00:00:00")),
    ],
    ids=["another column", "no watermark value", "full snapshot", "another table"],
)
def test_an_incremental_snapshot_starts_a_new_chain_when_the_latest_version_cannot_be_extended(
    harness: Harness, previous: CreateSnapshotRequest, watermark: Watermark | None
) -> None:
    ready(harness, previous, watermark)

    job = harness.service.start("customers", incremental(), caller("ml_engineer"))

    assert (job.base_version, job.after_watermark) == (None, None)


def test_an_execution_that_cannot_start_fails_its_version_and_job(harness: Harness) -> None:
    harness.executions.refuse = True

    with pytest.raises(RuntimeError, match="ExecutionLimitExceeded"):
        harness.service.start("customers", request(), caller("ml_engineer"))

    version = harness.store.require_version("customers", 1)
    assert version.status is VersionStatus.FAILED
    job = harness.jobs.job("customers", f"{1:032x}")
    assert job is not None
    assert (job.status, job.error) == (
        SnapshotJobStatus.FAILED,
        "The snapshot's execution could not be started.",
    )


def test_a_dataset_another_kind_of_producer_made_is_refused(harness: Harness) -> None:
    harness.store.begin_version("customers", kind=DatasetKind.TRANSFORMATION, lineage=Lineage(), actor="ada")

    with pytest.raises(DatasetKindMismatch):
        harness.service.start("customers", request(), caller("ml_engineer"))

    assert harness.executions.started == []
    assert harness.store.dataset("customers").latest_version == 1  # type: ignore[union-attr]
