"""Builds the feature store's service, its jobs' ledger and their runner once per execution environment."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Final

import boto3

from cirrus_core.data.dataset_store import DatasetStore
from cirrus_core.data.feature_group_store import FeatureGroupStore
from cirrus_core.data.feature_store import FeatureJobs, FeatureStore
from cirrus_core.data.online_store import OnlineStore
from cirrus_core.data.settings import get_data_settings
from cirrus_core.events import EventPublisher
from cirrus_core.observability import logger
from cirrus_core.settings import get_settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient

    from cirrus_frames.features import FeatureJobRunner

EVENT_SOURCE: Final = "cirrus.data"


class S3Staging:
    """Streaming puts' JSON Lines objects in the data bucket."""

    def __init__(self, client: S3Client, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def put(self, key: str, body: bytes) -> None:
        self._client.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType="application/x-ndjson")


class StateMachineExecutions:
    """StartExecution of the feature state machine, named by the job id."""

    def __init__(self, client: SFNClient) -> None:
        self._client = client

    def start(self, state_machine_arn: str, name: str, execution_input: str) -> str:
        response = self._client.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=execution_input
        )
        return response["executionArn"]


def _events() -> EventPublisher:
    return EventPublisher(
        boto3.client("events"),
        get_settings().event_bus_name,
        EVENT_SOURCE,
        correlation_id=logger.get_correlation_id,
    )


@functools.cache
def feature_store() -> FeatureStore:
    """The feature store API's service of this execution environment."""
    core = get_settings()
    settings = get_data_settings()
    dynamodb = boto3.client("dynamodb")
    audit = None
    if core.audit_table:
        from cirrus_core.audit.wiring import audit_trail

        audit = audit_trail()
    return FeatureStore(
        FeatureGroupStore(dynamodb, settings.data_table, audit),
        DatasetStore(dynamodb, settings.data_table, settings.data_bucket),
        OnlineStore(dynamodb, settings.feature_online_table),
        S3Staging(boto3.client("s3"), settings.data_bucket),
        StateMachineExecutions(boto3.client("stepfunctions")),
        _events(),
        state_machine_arn=settings.feature_state_machine_arn,
        audit_log=audit,
    )


@functools.cache
def feature_jobs() -> FeatureJobs:
    """The feature jobs' ledger of this execution environment (the steps' view of the data table)."""
    settings = get_data_settings()
    dynamodb = boto3.client("dynamodb")
    return FeatureJobs(
        FeatureGroupStore(dynamodb, settings.data_table),
        DatasetStore(dynamodb, settings.data_table, settings.data_bucket),
        _events(),
        bucket=settings.data_bucket,
    )


@functools.cache
def feature_job_runner() -> FeatureJobRunner:
    """The runner of the feature jobs' steps (FramesLayer functions only: it imports DuckDB and pandas
    when a job runs)."""
    from cirrus_frames.features import FeatureJobRunner

    settings = get_data_settings()
    return FeatureJobRunner(
        feature_jobs(),
        OnlineStore(boto3.client("dynamodb"), settings.feature_online_table),
        boto3.client("s3"),
        settings.data_bucket,
    )
