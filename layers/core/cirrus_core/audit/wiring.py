"""Builds the audit trail once per execution environment, from settings and boto3 clients."""

from __future__ import annotations

import functools

import boto3

from cirrus_core.audit.anchor import ChainAnchor
from cirrus_core.audit.log import AuditLog
from cirrus_core.settings import get_settings


@functools.cache
def audit_trail() -> AuditLog:
    """The audit log of this execution environment (AUDIT_TABLE_NAME)."""
    return AuditLog(boto3.client("dynamodb"), get_settings().audit_table)


@functools.cache
def chain_anchor() -> ChainAnchor:
    """The anchorer of this execution environment (AUDIT_ARCHIVE_BUCKET, AUDIT_SIGNING_KEY_ID)."""
    settings = get_settings()
    return ChainAnchor(
        audit_trail(),
        boto3.client("kms"),
        boto3.client("s3"),
        settings.audit_archive_bucket,
        settings.audit_signing_key_id,
    )
