"""Audit records, their canonical form and their hashes.

A record's hash is the SHA-256 of its canonical JSON without the `hash` field: keys sorted, no
insignificant whitespace, UTF-8, timestamps in ISO 8601 UTC. The canonical form includes `seq` and
`prev_hash`, so a record's hash commits to its place in the chain and to everything before it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer

GENESIS_HASH = "0" * 64


class AuditCategory(StrEnum):
    """What kind of call a record describes."""

    CHANGE = "change"
    MODEL_ACCESS = "model_access"
    DATA_USAGE = "data_usage"
    DENIAL = "denial"
    POLICY_CHANGE = "policy_change"


class AuditDecision(StrEnum):
    """The authorization decision the call met."""

    ALLOW = "allow"
    DENY = "deny"


def canonical_json(document: Any) -> bytes:
    """The one byte form of a JSON document that hashes and signatures are computed over."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def iso_utc(moment: datetime) -> str:
    """One spelling of each instant, whatever zone the clock used: hashes and filters depend on it."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def state_hash(*documents: BaseModel) -> str:
    """The hash of a piece of state (a model record, plus the versions a change wrote)."""
    return sha256_hex(canonical_json([document.model_dump(mode="json") for document in documents]))


class AuditEntry(BaseModel):
    """What a caller asks the trail to record; the trail adds the chain fields."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    actor: str
    actor_sub: str | None = None
    groups: list[str] = Field(default_factory=list)
    action: str
    resource: str
    category: AuditCategory
    decision: AuditDecision = AuditDecision.ALLOW
    policies: list[str] = Field(default_factory=list)
    request_id: str | None = None
    source_ip: str | None = None
    before_hash: str | None = None
    after_hash: str | None = None

    @field_serializer("at")
    def _utc_iso(self, value: datetime) -> str:
        return iso_utc(value)


class AuditRecord(AuditEntry):
    """One link of the chain: an entry with its sequence number, the previous hash and its own."""

    seq: int = Field(ge=1)
    prev_hash: str
    hash: str

    @classmethod
    def link(cls, entry: AuditEntry, seq: int, prev_hash: str) -> AuditRecord:
        """The record that follows a chain whose last record is `seq - 1` with hash `prev_hash`."""
        body = {**entry.model_dump(mode="json"), "seq": seq, "prev_hash": prev_hash}
        return cls.model_validate({**body, "hash": sha256_hex(canonical_json(body))})

    def computed_hash(self) -> str:
        """The hash this record's content gives, to compare with the hash it claims."""
        return sha256_hex(canonical_json(self.model_dump(mode="json", exclude={"hash"})))


class ChainHead(BaseModel):
    """The last record's sequence number and hash (seq 0 and the genesis hash for an empty chain)."""

    seq: int = 0
    hash: str = GENESIS_HASH


class Anchor(BaseModel):
    """A signed statement that the chain's record `seq` had hash `hash` at time `at`."""

    seq: int
    hash: str
    at: datetime
    key_id: str
    algorithm: str
    signature: str  # base64

    def signed_message(self) -> bytes:
        """The bytes the signature covers."""
        return canonical_json(
            {"seq": self.seq, "hash": self.hash, "at": self.at.astimezone(UTC).isoformat(timespec="seconds")}
        )


class AuditPage(BaseModel):
    """A page of audit records, newest first."""

    items: list[AuditRecord]
    next_token: str | None = None


class VerifyReport(BaseModel):
    """The outcome of walking the chain: intact, or the first bad sequence number and why."""

    intact: bool
    records: int
    head_seq: int
    anchored_seq: int | None = None
    first_bad_seq: int | None = None
    reason: str | None = None
