"""Building audit entries from the caller of a request: what every writer of the trail needs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cirrus_core.audit.models import AuditCategory, AuditDecision, AuditEntry

if TYPE_CHECKING:
    from datetime import datetime

    from cirrus_core.caller import Caller


def entry_for(
    caller: Caller,
    action: str,
    resource: str,
    category: AuditCategory,
    at: datetime,
    *,
    decision: AuditDecision = AuditDecision.ALLOW,
    policies: list[str] | None = None,
    before_hash: str | None = None,
    after_hash: str | None = None,
) -> AuditEntry:
    """An entry naming `caller` (actor, sub, groups, request id, source IP) as the one who acted.

    For a policy change: `entry_for(caller, "PutPolicy", f"policy/{policy_id}",
    AuditCategory.POLICY_CHANGE, now, before_hash=..., after_hash=...)`, then
    `audit_trail().append(entry)`.
    """
    return AuditEntry(
        at=at,
        actor=caller.actor,
        actor_sub=caller.principal.sub,
        groups=sorted(caller.principal.groups),
        action=action,
        resource=resource,
        category=category,
        decision=decision,
        policies=policies or [],
        request_id=caller.request_id,
        source_ip=caller.source_ip,
        before_hash=before_hash,
        after_hash=after_hash,
    )
