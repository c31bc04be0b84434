"""Cedar authorization: one `authorize(principal, action, resource)` every function calls.

Policies are the baseline files shipped in `policies/` (one policy per file, the file's stem its id)
plus the custom policies an admin stored through the policy API. Decisions are Cedar's: deny by
default, and a `forbid` overrides every `permit`. The policy set is parsed once per policy version:
each decision reads the version item (strongly consistent, one small read), so a policy stored or
deleted through the API governs the very next request, in every execution environment, without a
redeploy.
"""

from __future__ import annotations

import functools
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import cedarpy

from cirrus_core.errors import AccessDenied, InvalidPolicy

if TYPE_CHECKING:
    from collections.abc import Mapping

    from cirrus_core.principal import Principal

NAMESPACE = "Cirrus"
AUTHZ_DIR = Path(__file__).resolve().parent
SCHEMA_PATH = AUTHZ_DIR / "cirrus.cedarschema.json"
POLICIES_DIR = AUTHZ_DIR / "policies"
PLATFORM_ID = "cirrus"

REASON_NO_PERMIT = "no_permit"
REASON_FORBIDDEN_PREFIX = "forbidden:"
REASON_ERROR = "evaluation_error"


@dataclass(frozen=True, slots=True)
class Resource:
    """A Cedar entity that an action is taken on, with the attributes the policies may read."""

    type: str
    id: str
    attributes: Mapping[str, Any] = field(default_factory=dict)
    parents: tuple[Resource, ...] = ()

    @classmethod
    def platform(cls) -> Resource:
        """The platform itself: the resource of policy, audit and listing actions."""
        return cls("Platform", PLATFORM_ID)

    @classmethod
    def model(cls, model_id: str) -> Resource:
        """A registered model (or one about to be registered)."""
        return cls("Model", model_id, {"model_id": model_id}, (cls.platform(),))

    @classmethod
    def pipeline(cls, pipeline_id: str) -> Resource:
        """A pipeline (or one about to be defined), its runs and schedules."""
        return cls("Pipeline", pipeline_id, {"pipeline_id": pipeline_id}, (cls.platform(),))

    @property
    def uid(self) -> dict[str, str]:
        """The entity's uid in Cedar's JSON form."""
        return {"type": f"{NAMESPACE}::{self.type}", "id": self.id}


@dataclass(frozen=True, slots=True)
class Decision:
    """Cedar's answer: allowed or not, the policies that determined it, and why, as a reason code."""

    action: str
    allowed: bool
    policies: list[str]
    reason: str
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class StoredPolicy:
    """A custom policy as the security table keeps it."""

    policy_id: str
    statement: str
    description: str
    updated_at: str
    updated_by: str


class PolicySource(Protocol):
    """Where custom policies live: the security table's adapter."""

    def policy_version(self) -> str: ...

    def list_policies(self) -> list[StoredPolicy]: ...


@functools.cache
def schema() -> dict[str, Any]:
    """The Cedar schema (JSON), read once per cold start."""
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


@functools.cache
def parsed_schema() -> cedarpy.Schema:
    """The schema parsed once per cold start: parsing it per decision would cost every request."""
    return cedarpy.Schema.from_json_str(SCHEMA_PATH.read_text(encoding="utf-8"))


@functools.cache
def baseline_policies() -> dict[str, str]:
    """The policies shipped with the code, by id (the file's stem), read once per cold start."""
    return {path.stem: path.read_text(encoding="utf-8") for path in sorted(POLICIES_DIR.glob("*.cedar"))}


def _cedar_uid(type_name: str, entity_id: str) -> str:
    # json.dumps quotes and escapes the id exactly as Cedar's string literal syntax needs.
    return f"{NAMESPACE}::{type_name}::{json.dumps(entity_id)}"


def _annotated(policy_id: str, statement: str) -> str:
    """The statement carrying its id as an `@id` annotation, which Cedar reports back in decisions."""
    return f"@id({json.dumps(policy_id)})\n{statement.strip()}\n"


def validate_policy(policy_id: str, statement: str) -> None:
    """Refuse a statement that is not exactly one static policy valid against the schema."""
    try:
        parsed = json.loads(cedarpy.policies_to_json_str(_annotated(policy_id, statement)))
    except ValueError as error:
        raise InvalidPolicy(
            f"Policy '{policy_id}' does not parse.", [{"field": "statement", "message": str(error)}]
        ) from error
    if parsed.get("templates") or len(parsed.get("staticPolicies", {})) != 1:
        raise InvalidPolicy(
            f"Policy '{policy_id}' must hold exactly one static policy (no templates).",
            [{"field": "statement", "message": "expected exactly one permit or forbid statement"}],
        )
    result = cedarpy.validate_policies(statement, parsed_schema())
    if not result.validation_passed:
        raise InvalidPolicy(
            f"Policy '{policy_id}' does not validate against the Cirrus schema.",
            [{"field": "statement", "message": error.error} for error in result.errors],
        )


class Authorizer:
    """Evaluates requests against the baseline and custom policies, re-parsing only on change."""

    def __init__(self, source: PolicySource) -> None:
        self._source = source
        self._lock = threading.Lock()
        self._cached: tuple[str, cedarpy.PolicySet] | None = None

    def policy_set(self) -> cedarpy.PolicySet:
        """The current policy set: parsed again only when the stored policy version moved."""
        version = self._source.policy_version()
        cached = self._cached
        if cached is not None and cached[0] == version:
            return cached[1]
        with self._lock:
            statements = dict(baseline_policies())
            for policy in self._source.list_policies():
                statements.setdefault(policy.policy_id, policy.statement)
            text = "".join(_annotated(pid, statement) for pid, statement in sorted(statements.items()))
            parsed = cedarpy.PolicySet.from_str(text)
            self._cached = (version, parsed)
        return parsed

    def decide(
        self,
        principal: Principal,
        action: str,
        resource: Resource,
        context: Mapping[str, Any] | None = None,
    ) -> Decision:
        """Cedar's decision on `principal` taking `action` on `resource`, without raising."""
        request = {
            "principal": _cedar_uid("User", principal.sub),
            "action": _cedar_uid("Action", action),
            "resource": _cedar_uid(resource.type, resource.id),
            "context": dict(context or {}),
        }
        result = cedarpy.is_authorized(
            request, self.policy_set(), _entities(principal, resource), parsed_schema()
        )
        diagnostics = result.diagnostics
        by_reason = diagnostics.id_annotations_by_reason
        policies = sorted(by_reason.get(reason, reason) for reason in diagnostics.reasons)
        errors = [str(error) for error in diagnostics.errors]
        if result.allowed:
            return Decision(action, True, policies, "permitted", errors)
        if policies:
            # A deny with determining policies is a forbid: Cedar lists the forbids that matched.
            return Decision(action, False, policies, REASON_FORBIDDEN_PREFIX + policies[0], errors)
        return Decision(action, False, [], REASON_ERROR if errors else REASON_NO_PERMIT, errors)

    def authorize(
        self,
        principal: Principal,
        action: str,
        resource: Resource,
        context: Mapping[str, Any] | None = None,
    ) -> Decision:
        """The decision when allowed; AccessDenied (403) with the action and reason otherwise."""
        decision = self.decide(principal, action, resource, context)
        if not decision.allowed:
            raise AccessDenied(
                action,
                decision.reason,
                f"{principal.actor} may not {action} on {resource.type} '{resource.id}'.",
                decision.policies,
            )
        return decision


def _entities(principal: Principal, resource: Resource) -> list[dict[str, Any]]:
    """The principal with its roles, and the resource with its ancestors, as Cedar entities."""
    roles = sorted(principal.roles)
    entities: list[dict[str, Any]] = [
        {
            "uid": {"type": f"{NAMESPACE}::User", "id": principal.sub},
            "attrs": {"sub": principal.sub, "username": principal.username},
            "parents": [{"type": f"{NAMESPACE}::Role", "id": role} for role in roles],
        },
        *({"uid": {"type": f"{NAMESPACE}::Role", "id": role}, "attrs": {}, "parents": []} for role in roles),
    ]
    seen: set[tuple[str, str]] = set()
    pending = [resource]
    while pending:
        current = pending.pop()
        key = (current.type, current.id)
        if key in seen:
            continue
        seen.add(key)
        entities.append(
            {
                "uid": current.uid,
                "attrs": dict(current.attributes),
                "parents": [parent.uid for parent in current.parents],
            }
        )
        pending.extend(current.parents)
    return entities
