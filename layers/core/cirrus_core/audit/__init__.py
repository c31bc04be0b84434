"""The audit trail: a SHA-256 hash chain of records in DynamoDB, anchored in an Object Lock bucket.

`AuditLog` writes records (inside a caller's own transaction, or standalone) and reads them back;
`ChainAnchor` signs the chain head with KMS and stores it where nobody can delete it;
`verify_chain` walks the chain and checks it against the latest anchor.
"""

from cirrus_core.audit.models import (
    AuditCategory,
    AuditDecision,
    AuditEntry,
    AuditPage,
    AuditRecord,
    ChainHead,
    VerifyReport,
    state_hash,
)

__all__ = [
    "AuditCategory",
    "AuditDecision",
    "AuditEntry",
    "AuditPage",
    "AuditRecord",
    "ChainHead",
    "VerifyReport",
    "state_hash",
]
