"""Builds the snapshot service, the snapshot steps' runner and the dataset read service once per
execution environment.

The snapshot writer and the Parquet sampler import the connectors layer (pyarrow, the drivers) when
they are used: only the extract step and the sample function carry that layer.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import boto3

from cirrus_core.audit.wiring import audit_trail
from cirrus_core.data.dataset_read_service import DatasetReadService
from cirrus_core.data.dataset_store import DatasetStore
from cirrus_core.data.datasets import Column
from cirrus_core.data.settings import get_data_settings
from cirrus_core.data.snapshot_adapters import (
    DatasetParts,
    ParquetSampler,
    SnapshotExecutions,
    SnapshotJobStore,
)
from cirrus_core.data.snapshot_runner import SnapshotRunner, WrittenPart, WrittenSnapshot
from cirrus_core.data.snapshot_service import SnapshotService
from cirrus_core.data.source_store import SourceStore
from cirrus_core.errors import SourceNotFound
from cirrus_core.events import EventPublisher
from cirrus_core.observability import logger
from cirrus_core.settings import get_settings

if TYPE_CHECKING:
    from pathlib import Path

    from cirrus_core.data.connection import ExtractRequest, SourceConfig

EVENT_SOURCE = "cirrus.data"


def _dataset_store(*, audited: bool) -> DatasetStore:
    settings = get_data_settings()
    audit = audit_trail() if audited and get_settings().audit_table else None
    return DatasetStore(boto3.client("dynamodb"), settings.data_table, settings.data_bucket, audit)


def source_type(name: str) -> str:
    """The type of the named source, from its record (its secret is not read); SourceNotFound if none."""
    record = SourceStore(boto3.client("dynamodb"), get_data_settings().data_table).source(name)
    if record is None:
        raise SourceNotFound(f"No data source named '{name}'.", [{"field": "source", "source": name}])
    return record.type.value


def resolve_source(name: str) -> SourceConfig:
    """The source with its secret, as a connector needs it (the extract step only)."""
    from cirrus_core.data.sources_wiring import source_service

    return source_service().resolve(name)


def write_snapshot_parts(source: SourceConfig, request: ExtractRequest, directory: Path) -> WrittenSnapshot:
    """Open the source's connector and stream its batches through the Parquet snapshot writer."""
    from cirrus_connectors.base import open_connector
    from cirrus_connectors.snapshot import write_snapshot

    connector = open_connector(source)
    try:
        written = write_snapshot(
            connector.extract(request),
            directory,
            part_rows=get_data_settings().part_rows,
            watermark_column=request.watermark_column,
        )
    finally:
        connector.close()
    return WrittenSnapshot(
        parts=[WrittenPart(path=f.path, rows=f.rows, bytes=f.bytes, sha256=f.sha256) for f in written.files],
        columns=[Column.model_validate(field) for field in written.schema],
        row_count=written.row_count,
        content_hash=written.content_hash,
        max_watermark=written.max_watermark,
    )


@functools.cache
def snapshot_service() -> SnapshotService:
    """The snapshot API's service of this execution environment."""
    settings = get_data_settings()
    store = _dataset_store(audited=True)
    return SnapshotService(
        store,
        SnapshotJobStore(boto3.client("dynamodb"), settings.data_table),
        source_type,
        SnapshotExecutions(boto3.client("stepfunctions")),
        state_machine_arn=settings.snapshot_state_machine_arn,
        audit_enabled=bool(get_settings().audit_table),
    )


@functools.cache
def snapshot_runner() -> SnapshotRunner:
    """The snapshot state machine's steps of this execution environment."""
    core = get_settings()
    settings = get_data_settings()
    return SnapshotRunner(
        _dataset_store(audited=True),
        SnapshotJobStore(boto3.client("dynamodb"), settings.data_table),
        resolve_source,
        write_snapshot_parts,
        DatasetParts(boto3.client("s3"), settings.data_bucket),
        EventPublisher(
            boto3.client("events"),
            core.event_bus_name,
            EVENT_SOURCE,
            correlation_id=logger.get_correlation_id,
        ),
        chunk_rows=settings.extract_chunk_rows,
        audit_enabled=bool(core.audit_table),
    )


@functools.cache
def dataset_read_service() -> DatasetReadService:
    """The dataset read API's service of this execution environment."""
    settings = get_data_settings()
    return DatasetReadService(
        _dataset_store(audited=False),
        lambda: DatasetParts(boto3.client("s3"), settings.data_bucket),
        ParquetSampler,
        record_usage=audit_trail().append if get_settings().audit_table else None,
    )
