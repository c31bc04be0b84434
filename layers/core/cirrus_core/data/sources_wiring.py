"""Builds the data source service once per execution environment."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import boto3

from cirrus_core.audit.wiring import audit_trail
from cirrus_core.data.settings import get_data_settings
from cirrus_core.data.source_secrets import SourceSecrets
from cirrus_core.data.source_store import SourceStore
from cirrus_core.data.sources import SourceUnreachable
from cirrus_core.data.sources_service import SourceService
from cirrus_core.registry.artifacts import allowed_artifact_buckets
from cirrus_core.settings import get_settings

if TYPE_CHECKING:
    from cirrus_core.data.connection import SourceConfig


def check_connection(source: SourceConfig) -> float:
    """Open the source's connector, time its trivial request, close it (ConnectorsLayer only).

    Imported here and not above: only the function that tests sources has the connectors layer,
    and a driver is imported only when a source of its type is opened.
    """
    from cirrus_connectors.base import ConnectionFailed, ExtractionRefused, open_connector

    try:
        connector = open_connector(source)
        try:
            return connector.test()
        finally:
            connector.close()
    except ConnectionFailed as error:
        raise SourceUnreachable(error.message) from None
    except ExtractionRefused as error:
        raise SourceUnreachable(str(error)) from None


@functools.cache
def source_secrets() -> SourceSecrets:
    """The source secrets adapter of this execution environment."""
    # Made on first use only: listing and reading sources never touch Secrets Manager.
    settings = get_data_settings()
    return SourceSecrets(
        boto3.client("secretsmanager"), settings.source_secret_prefix, settings.source_secrets_key_id
    )


@functools.cache
def source_service() -> SourceService:
    """The data sources API's service of this execution environment."""
    core = get_settings()
    settings = get_data_settings()
    audit = audit_trail() if core.audit_table else None
    return SourceService(
        SourceStore(boto3.client("dynamodb"), settings.data_table, audit),
        source_secrets,
        check_connection,
        allowed_buckets=allowed_artifact_buckets(
            core.artifact_bucket, (*core.artifact_bucket_allowlist, settings.data_bucket)
        ),
        audit_enabled=audit is not None,
    )
