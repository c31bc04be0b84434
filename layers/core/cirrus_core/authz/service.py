"""The policy API's use cases: list, store, delete and evaluate policies, each authorized first."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cirrus_core.audit.entries import entry_for
from cirrus_core.audit.models import AuditCategory
from cirrus_core.authz.engine import Authorizer, Resource, StoredPolicy, baseline_policies, validate_policy
from cirrus_core.authz.models import EvaluateRequest, EvaluateResult, Policy, PolicyList, PutPolicyRequest
from cirrus_core.authz.store import AlsoRefused, SecurityRepository, StoredPolicyMissing
from cirrus_core.errors import BaselinePolicyProtected, PolicyNotFound, TooMuchContention
from cirrus_core.principal import Principal

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

    from cirrus_core.audit.log import AuditLog
    from cirrus_core.audit.models import AuditEntry
    from cirrus_core.caller import Caller


class PolicyService:
    """Custom policies on top of the baseline; every change takes effect on the next decision."""

    def __init__(
        self,
        repository: SecurityRepository,
        authorizer: Authorizer,
        audit: AuditLog,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_attempts: int = 20,
    ) -> None:
        self._repository = repository
        self._authorizer = authorizer
        self._audit = audit
        self._clock = clock
        self._max_attempts = max_attempts

    def list_policies(self, caller: Caller) -> PolicyList:
        """Every policy in force: the baseline files, then the custom policies."""
        self._authorizer.authorize(caller.principal, "ListPolicies", Resource.platform())
        version = self._repository.policy_version()
        items = [
            Policy(policy_id=policy_id, statement=statement, baseline=True)
            for policy_id, statement in baseline_policies().items()
        ]
        items.extend(
            Policy(
                policy_id=stored.policy_id,
                statement=stored.statement,
                description=stored.description,
                baseline=False,
                updated_at=datetime.fromisoformat(stored.updated_at),
                updated_by=stored.updated_by,
            )
            for stored in self._repository.list_policies()
        )
        return PolicyList(items=items, version=version)

    def put_policy(self, policy_id: str, request: PutPolicyRequest, caller: Caller) -> Policy:
        """Validate a custom policy against the schema, then store it; a baseline id is refused."""
        decision = self._authorizer.authorize(caller.principal, "PutPolicy", Resource.platform())
        self._refuse_baseline(policy_id, "replaced")
        validate_policy(policy_id, request.statement)
        now = self._clock()
        stored = StoredPolicy(
            policy_id=policy_id,
            statement=request.statement,
            description=request.description,
            updated_at=now.isoformat(),
            updated_by=caller.actor,
        )
        entry = self._policy_entry(caller, "PutPolicy", policy_id, decision.policies, now, request.statement)
        self._with_audit(entry, lambda also: self._repository.put_policy(stored, also))
        return Policy(
            policy_id=policy_id,
            statement=request.statement,
            description=request.description,
            baseline=False,
            updated_at=now,
            updated_by=caller.actor,
        )

    def delete_policy(self, policy_id: str, caller: Caller) -> None:
        """Delete a custom policy; a baseline id is refused, an unknown one is not found."""
        decision = self._authorizer.authorize(caller.principal, "DeletePolicy", Resource.platform())
        self._refuse_baseline(policy_id, "deleted")
        entry = self._policy_entry(caller, "DeletePolicy", policy_id, decision.policies, self._clock(), None)
        try:
            self._with_audit(entry, lambda also: self._repository.delete_policy(policy_id, also))
        except StoredPolicyMissing as error:
            raise PolicyNotFound(f"No custom policy '{policy_id}' is stored.") from error

    def _policy_entry(
        self,
        caller: Caller,
        action: str,
        policy_id: str,
        policies: list[str],
        now: datetime,
        after: str | None,
    ) -> AuditEntry:
        before = self._repository.get_policy(policy_id)
        return entry_for(
            caller,
            action,
            f"policy/{policy_id}",
            AuditCategory.POLICY_CHANGE,
            now,
            policies=policies,
            before_hash=None if before is None else _text_hash(before.statement),
            after_hash=None if after is None else _text_hash(after),
        )

    def _with_audit(self, entry: AuditEntry, write: Callable[[list[TransactWriteItemTypeDef]], None]) -> None:
        """Write the change and its audit record in one transaction; a lost race on the head retries."""
        for _ in range(self._max_attempts):
            try:
                write(self._audit.transaction_items(entry, self._audit.head()))
            except AlsoRefused:
                continue
            return
        raise TooMuchContention("The audit trail is being appended to by too many callers; retry shortly.")

    def evaluate(self, request: EvaluateRequest, caller: Caller) -> EvaluateResult:
        """The decision the policies in force give a hypothetical request, and why."""
        self._authorizer.authorize(caller.principal, "EvaluatePolicy", Resource.platform())
        principal = Principal(
            sub=request.principal.sub,
            username=request.principal.username,
            groups=frozenset(request.principal.groups),
        )
        decision = self._authorizer.decide(principal, request.action, _resource(request), request.context)
        return EvaluateResult(
            decision="allow" if decision.allowed else "deny",
            action=decision.action,
            determining_policies=decision.policies,
            reason=decision.reason,
            errors=decision.errors,
        )

    @staticmethod
    def _refuse_baseline(policy_id: str, verb: str) -> None:
        if policy_id in baseline_policies():
            raise BaselinePolicyProtected(
                f"'{policy_id}' is a baseline policy: it is {verb} only by changing the repository's "
                "policy files and deploying.",
                [{"policy_id": policy_id}],
            )


def _text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _resource(request: EvaluateRequest) -> Resource:
    attributes = request.resource.attributes
    if request.resource.type == "Platform":
        return Resource.platform()
    if request.resource.type == "Model":
        return Resource.model(request.resource.id)
    # A version's parent is its model, as the registry builds it.
    model_id = str(attributes.get("model_id", ""))
    return Resource("ModelVersion", request.resource.id, attributes, (Resource.model(model_id),))
