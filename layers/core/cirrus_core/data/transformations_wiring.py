"""Builds the transformations API's service, the run ledger and the executor once per execution
environment.

The executor and the PUT checker live in the frames layer (DuckDB): they are imported here only when
built, and only the functions that carry the FramesLayer build them (put_transformation for the checker,
the execute and record-output steps for the executor).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import boto3

from cirrus_core.audit.wiring import audit_trail
from cirrus_core.data.dataset_store import DatasetStore
from cirrus_core.data.settings import get_data_settings
from cirrus_core.data.transformation_store import (
    ModuleStore,
    RunFiles,
    TransformationExecutions,
    TransformationStore,
)
from cirrus_core.data.transformations_service import RunLedger, TransformationService
from cirrus_core.events import EventPublisher
from cirrus_core.observability import logger
from cirrus_core.settings import get_settings

if TYPE_CHECKING:
    from cirrus_core.data.transformations_service import TransformationChecker
    from cirrus_frames.transform import TransformationExecutor

EVENT_SOURCE = "cirrus.data"


def _datasets() -> DatasetStore:
    settings = get_data_settings()
    audit = audit_trail() if get_settings().audit_table else None
    return DatasetStore(boto3.client("dynamodb"), settings.data_table, settings.data_bucket, audit)


def _checker() -> TransformationChecker:
    from cirrus_frames.transform import check_transformation

    return check_transformation


@functools.cache
def transformation_service() -> TransformationService:
    """The transformations API's service of this execution environment."""
    settings = get_data_settings()
    audit = audit_trail() if get_settings().audit_table else None
    return TransformationService(
        TransformationStore(boto3.client("dynamodb"), settings.data_table, audit),
        _datasets(),
        ModuleStore(boto3.client("s3"), settings.data_bucket),
        TransformationExecutions(boto3.client("stepfunctions")),
        _checker,
        state_machine_arn=settings.transformation_state_machine_arn,
        spark_enabled=get_data_settings().spark_transformations_enabled,
        audit_enabled=audit is not None,
    )


@functools.cache
def run_ledger() -> RunLedger:
    """The transformation state machine's record of runs (every step uses it)."""
    settings = get_data_settings()
    core = get_settings()
    return RunLedger(
        TransformationStore(boto3.client("dynamodb"), settings.data_table),
        _datasets(),
        EventPublisher(
            boto3.client("events"),
            core.event_bus_name,
            EVENT_SOURCE,
            correlation_id=logger.get_correlation_id,
        ),
        audit_enabled=bool(core.audit_table),
    )


@functools.cache
def transformation_executor() -> TransformationExecutor:
    """The execute and record-output steps' executor (frames layer)."""
    from cirrus_frames.transform import TransformationExecutor

    settings = get_data_settings()
    s3 = boto3.client("s3")
    return TransformationExecutor(run_ledger(), _datasets(), s3, RunFiles(s3, settings.data_bucket))
