"""Authorization with Cedar: the schema, the baseline policies and the one `authorize` call.

Every function authorizes through `authorize(principal, action, resource, context)`: one action per
route, deny by default, a forbid overrides every permit. The schema and the policy files here also
load into Amazon Verified Permissions, so they stay plain files.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from cirrus_core.authz.engine import Decision, Resource

if TYPE_CHECKING:
    from collections.abc import Mapping

    from cirrus_core.principal import Principal

__all__ = ["Decision", "Resource", "authorize", "determining_policies"]

# The allowing decision of the request being handled, for its audit record: a write decides inside
# its change (after loading the resource), far from where the record is built. Lambda serves one
# request at a time per execution environment; a ContextVar keeps threads apart all the same.
_latest_allow: ContextVar[Decision | None] = ContextVar("cirrus_latest_allow", default=None)


def determining_policies() -> list[str]:
    """The policies that allowed this request's latest authorized action (for its audit record)."""
    decision = _latest_allow.get()
    return list(decision.policies) if decision is not None else []


def authorize(
    principal: Principal, action: str, resource: Resource, context: Mapping[str, Any] | None = None
) -> Decision:
    """Allow `principal` `action` on `resource`, or raise AccessDenied (403) saying why not."""
    # Imported here so that importing the package (for Resource, say) builds no boto3 client.
    from cirrus_core.authz.wiring import authorizer

    decision = authorizer().authorize(principal, action, resource, context)
    _latest_allow.set(decision)
    return decision
