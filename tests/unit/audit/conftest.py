"""Audit fixtures: the template's tables under moto, plus the anchor bucket and signing key."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from cirrus_core.audit.anchor import ChainAnchor
from cirrus_core.audit.log import AuditLog
from cirrus_core.audit.models import AuditCategory, AuditEntry
from cirrus_core.audit.wiring import audit_trail, chain_anchor
from tests.support.aws import TABLE_NAMES, AwsResources

ARCHIVE_BUCKET = "cirrus-test-audit-archive"


@dataclass
class AuditWorld:
    """The audit table, the anchor bucket and key, and adapters over them."""

    aws: AwsResources
    log: AuditLog
    anchors: ChainAnchor
    kms: Any
    key_id: str


def entry(number: int, actor: str = "alice", action: str = "register_model") -> AuditEntry:
    """A distinct entry per number."""
    return AuditEntry(
        at=datetime(2026, 1, 1, 12, 0, number % 60, tzinfo=UTC),
        actor=actor,
        groups=["ml_engineer"],
        action=action,
        resource=f"model/m{number}",
        category=AuditCategory.CHANGE,
        request_id=f"req-{number}",
        source_ip="203.0.113.10",
    )


@pytest.fixture
def world(aws: AwsResources, monkeypatch: pytest.MonkeyPatch) -> Iterator[AuditWorld]:
    """A fresh audit trail with an Object Lock (COMPLIANCE) bucket and an ECC signing key."""
    session = boto3.session.Session()
    kms = session.client("kms", region_name="us-east-1")
    key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    aws.s3.create_bucket(Bucket=ARCHIVE_BUCKET, ObjectLockEnabledForBucket=True)
    aws.s3.put_object_lock_configuration(
        Bucket=ARCHIVE_BUCKET,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}},
        },
    )
    monkeypatch.setenv("AUDIT_ARCHIVE_BUCKET", ARCHIVE_BUCKET)
    monkeypatch.setenv("AUDIT_SIGNING_KEY_ID", key_id)
    from cirrus_core.settings import get_settings

    get_settings.cache_clear()
    audit_trail.cache_clear()
    chain_anchor.cache_clear()
    log = AuditLog(aws.dynamodb, TABLE_NAMES["AuditTable"])
    yield AuditWorld(aws, log, ChainAnchor(log, kms, aws.s3, ARCHIVE_BUCKET, key_id), kms, key_id)
    audit_trail.cache_clear()
    chain_anchor.cache_clear()
