"""Registry rules: versioning, approvals, promotion through aliases, rollback, retirement, lineage,
drift baselines.

Every change re-reads the model, applies the rules, and commits one transaction conditioned on the
model's revision; a lost race is retried with jittered backoff. So version numbers never collide
and never skip, and a rule checked here still holds when the write lands.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from itertools import islice
from typing import TYPE_CHECKING, Protocol, TypeVar

from cirrus_core.audit.entries import entry_for as _entry
from cirrus_core.audit.models import AuditCategory, AuditEntry, state_hash
from cirrus_core.authz import Resource, authorize, determining_policies
from cirrus_core.contention import backoff_seconds
from cirrus_core.errors import (
    AliasInUse,
    InvalidApprovalTransition,
    InvalidDatasetUri,
    InvalidPaginationToken,
    ModelNotFound,
    ModelRetired,
    NameCollision,
    NoRollbackTarget,
    ReservedName,
    TooMuchContention,
    UnknownParentVersion,
    VersionNotApproved,
    VersionNotFound,
    VersionRejected,
    VersionRetired,
)
from cirrus_core.events import LifecycleEvent
from cirrus_core.pagination import decode_token, encode_token
from cirrus_core.registry.artifacts import check_s3_uri
from cirrus_core.registry.data_lineage import DatasetKey, UpstreamWalker, dataset_node_id, pinned_dataset
from cirrus_core.registry.models import (
    ApprovalStatus,
    Environment,
    Lineage,
    LineageEdge,
    LineageNode,
    ModelDetail,
    ModelPage,
    ModelVersion,
    Promotion,
    PromotionAction,
    PromotionPage,
    PromotionResult,
    RegisteredModel,
    RetireResult,
    Review,
    SageMakerNames,
    VersionPage,
)
from cirrus_core.registry.naming import RESERVED_MODEL_IDS, sagemaker_base_name, sagemaker_name
from cirrus_core.registry.repository import (
    Changes,
    ConcurrentUpdate,
    ModelRecord,
    NameTaken,
    RegistryRepository,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from cirrus_core.caller import Caller
    from cirrus_core.registry.bodies import RegisterModelRequest

ResultT = TypeVar("ResultT")
Outcome = tuple[Changes | None, list[LifecycleEvent], ResultT]

ALIAS_STACK_DEPTH = 50
_GATED_ENVIRONMENTS = frozenset({Environment.STAGING, Environment.PROD})


# Audit actions of changes, by the lifecycle event each change publishes.
_CHANGE_ACTIONS = {
    "model.registered": "register_model",
    "model.approval_requested": "request_review",
    "model.approved": "approve_version",
    "model.rejected": "reject_version",
    "model.promoted": "promote_model",
    "model.rolled_back": "rollback_model",
    "model.retired": "retire_model",
    "model.alias_cleared": "clear_alias",
}
# Changes that move a model's alias: the version in their event is a target, not the resource.
_MODEL_LEVEL_ACTIONS = frozenset({"promote_model", "rollback_model", "clear_alias"})


class Publisher(Protocol):
    def publish(self, events: list[LifecycleEvent]) -> None: ...


class RegistryService:
    """The registry's use cases, each on behalf of a `Caller`."""

    def __init__(
        self,
        repository: RegistryRepository,
        publisher: Publisher,
        artifact_buckets: frozenset[str],
        *,
        baseline_buckets: frozenset[str] | None = None,
        data_lineage: UpstreamWalker | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
        max_attempts: int = 60,
    ) -> None:
        self._repository = repository
        self._publisher = publisher
        self._artifact_buckets = artifact_buckets
        # Where drift baselines may live: the artifact buckets, plus the monitoring bucket if any.
        self._baseline_buckets = artifact_buckets if baseline_buckets is None else baseline_buckets
        # Without the data module's table, versions trained on its datasets show them as missing.
        self._data_lineage = data_lineage if data_lineage is not None else UpstreamWalker(None)
        self._clock = clock
        self._sleep = sleep
        self._max_attempts = max_attempts

    # -- registration -----------------------------------------------------------------------------

    def register(self, request: RegisterModelRequest, caller: Caller) -> ModelVersion:
        """Register the next version of a model, creating the model on first use."""
        actor = caller.actor
        model_id = request.model_name
        authorize(caller.principal, "RegisterModel", Resource.model(model_id))
        if model_id in RESERVED_MODEL_IDS:
            raise ReservedName(f"'{model_id}' is reserved and cannot name a model.")
        check_s3_uri(request.artifact_location, self._artifact_buckets)
        if request.sample_payloads_uri is not None:
            check_s3_uri(request.sample_payloads_uri, self._artifact_buckets, field="sample_payloads_uri")
        if request.baseline_uri is not None:
            self._check_baseline_uri(request.baseline_uri)
        if request.dataset_uri is not None:
            check_s3_uri(
                request.dataset_uri, None, field="dataset_uri", error=InvalidDatasetUri, prefix_allowed=True
            )

        def change(record: ModelRecord | None, now: datetime) -> Outcome[ModelVersion]:
            reserve = None
            if record is None:
                reserve = sagemaker_base_name(model_id)
                record = ModelRecord(
                    model=RegisteredModel(
                        model_id=model_id,
                        model_type=request.model_type,
                        latest_version=0,
                        sagemaker_base_name=reserve,
                        created_at=now,
                        created_by=actor,
                        updated_at=now,
                    ),
                    revision=0,
                )
                expected = None
            else:
                expected = record.revision
            model = record.model
            if model.retired:
                raise ModelRetired(f"Model '{model_id}' is retired and takes no new versions.")
            number = model.latest_version + 1
            if request.parent_version is not None and request.parent_version >= number:
                raise UnknownParentVersion(
                    f"parent_version {request.parent_version} does not exist for model '{model_id}'.",
                    [{"field": "parent_version", "latest_version": model.latest_version}],
                )
            version = ModelVersion(
                model_id=model_id,
                version=number,
                model_type=request.model_type,
                framework_version=request.framework_version,
                training_metadata=request.training_metadata,
                artifact_location=request.artifact_location,
                dataset_uri=request.dataset_uri,
                data_source=request.data_source,
                sample_payloads_uri=request.sample_payloads_uri,
                baseline_uri=request.baseline_uri,
                training_job_name=request.training_job_name,
                pipeline_execution_arn=request.pipeline_execution_arn,
                parent_version=request.parent_version,
                tags=request.tags,
                description=request.description,
                approval_status=ApprovalStatus.PENDING,
                sagemaker=SageMakerNames(
                    base_name=model.sagemaker_base_name,
                    model_name=sagemaker_name(model.sagemaker_base_name, f"v{number}"),
                ),
                created_at=now,
                created_by=actor,
                created_by_sub=caller.principal.sub,
                updated_at=now,
            )
            counts = model.counts.model_copy(update={"total": number, "pending": model.counts.pending + 1})
            updated = record.model_copy(
                update={
                    "model": model.model_copy(
                        update={
                            "latest_version": number,
                            "model_type": request.model_type,
                            "counts": counts,
                            "updated_at": now,
                        }
                    ),
                    "revision": record.revision + 1,
                }
            )
            event = LifecycleEvent(
                "model.registered",
                {
                    "model_id": model_id,
                    "version": number,
                    "model_type": request.model_type,
                    "framework_version": request.framework_version,
                    "artifact_location": request.artifact_location,
                    "dataset_version": request.training_metadata.dataset_version,
                    "approval_status": ApprovalStatus.PENDING.value,
                    "parent_version": request.parent_version,
                },
                actor,
                now,
            )
            changes = Changes(updated, expected, new_versions=[version], reserve_name=reserve)
            return changes, [event], version

        try:
            return self._mutate(model_id, change, caller)
        except NameTaken as error:
            raise NameCollision(
                f"Model id '{model_id}' maps to SageMaker name '{error}', which another model holds.",
                [{"field": "model_name", "sagemaker_base_name": str(error)}],
            ) from error

    # -- reads ------------------------------------------------------------------------------------

    def get_model(self, model_id: str, caller: Caller) -> ModelDetail:
        """A model with its aliases, counts and latest version."""
        authorize(caller.principal, "GetModel", Resource.model(model_id))
        record = self._require_model(model_id)
        self._record_access(caller, "get_model", f"model/{model_id}")
        latest = None
        if record.model.latest_version:
            latest = self._repository.get_version(model_id, record.model.latest_version)
            latest = latest and self._effective(latest, record.model)
        return ModelDetail(**record.model.model_dump(), latest=latest)

    def list_models(self, prefix: str, limit: int, next_token: str | None, caller: Caller) -> ModelPage:
        """Models in name order, filtered by id prefix."""
        authorize(caller.principal, "ListModels", Resource.platform())
        start = decode_token(next_token, frozenset({"m"}))["m"] if next_token else None
        if start is not None and not isinstance(start, str):
            raise InvalidPaginationToken("next_token does not belong to this listing.")
        records = self._repository.iter_models(prefix, start, limit + 1)
        items = [record.model for record in islice(records, limit + 1)]
        self._record_access(caller, "list_models", f"model/{prefix}*")
        return ModelPage(
            items=items[:limit], next_token=self._next(items, limit, lambda m: {"m": m.model_id})
        )

    def get_version(self, model_id: str, version: int, caller: Caller) -> ModelVersion:
        """One version of a model."""
        authorize(caller.principal, "GetVersion", Resource.model(model_id))
        record = self._require_model(model_id)
        found = self._effective(self._require_version(model_id, version), record.model)
        self._record_access(caller, "get_version", f"model/{model_id}/version/{version}")
        return found

    def list_versions(
        self, model_id: str, status: ApprovalStatus | None, limit: int, next_token: str | None, caller: Caller
    ) -> VersionPage:
        """Versions newest first, optionally only those with one approval status."""
        authorize(caller.principal, "ListVersions", Resource.model(model_id))
        record = self._require_model(model_id)
        start = self._int_position(next_token, "v")
        versions: Iterator[ModelVersion] = self._repository.iter_versions(model_id, start, limit + 1)
        if status is not None:
            versions = (version for version in versions if version.approval_status == status)
        items = [self._effective(version, record.model) for version in islice(versions, limit + 1)]
        self._record_access(caller, "list_versions", f"model/{model_id}")
        return VersionPage(
            items=items[:limit], next_token=self._next(items, limit, lambda v: {"v": v.version})
        )

    def promotion_history(
        self, model_id: str, environment: Environment, limit: int, next_token: str | None, caller: Caller
    ) -> PromotionPage:
        """How an environment's alias moved, newest first."""
        authorize(caller.principal, "ListPromotions", Resource.model(model_id))
        self._require_model(model_id)
        start = self._int_position(next_token, "s")
        promotions = islice(
            self._repository.iter_promotions(model_id, environment, start, limit + 1), limit + 1
        )
        items = list(promotions)
        self._record_access(caller, "list_promotions", f"model/{model_id}")
        return PromotionPage(
            items=items[:limit], next_token=self._next(items, limit, lambda p: {"s": p.sequence})
        )

    def lineage(self, model_id: str, version: int | None, caller: Caller) -> Lineage:
        """The provenance graph of a model's versions, or of one version and its ancestors, with the
        data module's lineage upstream of each dataset version they were trained on."""
        authorize(caller.principal, "GetLineage", Resource.model(model_id))
        self._require_model(model_id)
        versions = {v.version: v for v in self._repository.iter_versions(model_id, None, 100)}
        if version is not None:
            if version not in versions:
                raise VersionNotFound(f"Model '{model_id}' has no version {version}.")
            chain: dict[int, ModelVersion] = {}
            current: int | None = version
            while current is not None and current in versions and current not in chain:
                chain[current] = versions[current]
                current = versions[current].parent_version
            versions = chain
        nodes: dict[str, LineageNode] = {}
        edges: list[LineageEdge] = []
        data_roots: list[DatasetKey] = []
        for number in sorted(versions):
            item = versions[number]
            node_id = f"version:{number}"
            attributes: dict[str, str | bool | int | float | None] = {
                "approval_status": item.approval_status.value,
                "artifact_location": item.artifact_location,
                "created_by": item.created_by,
                "created_at": item.created_at.isoformat(),
            }
            if item.data_source is not None:
                attributes["data_source"] = item.data_source
            nodes[node_id] = LineageNode(
                id=node_id, kind="model_version", label=f"{model_id} v{number}", attributes=attributes
            )
            pinned = pinned_dataset(item.training_metadata.dataset_version)
            if pinned is not None:
                # A data module dataset version: the walk below adds it and what lies upstream of it.
                data_roots.append(pinned)
                edges.append(
                    LineageEdge(source=node_id, target=dataset_node_id(pinned), relation="trained_on")
                )
            else:
                dataset_key = item.dataset_uri or item.training_metadata.dataset_version
                dataset_id = f"dataset:{dataset_key}"
                nodes.setdefault(
                    dataset_id,
                    LineageNode(
                        id=dataset_id,
                        kind="dataset",
                        label=item.training_metadata.dataset_version,
                        attributes={
                            "dataset_version": item.training_metadata.dataset_version,
                            "uri": item.dataset_uri,
                        },
                    ),
                )
                edges.append(LineageEdge(source=node_id, target=dataset_id, relation="trained_on"))
            if item.training_job_name:
                job_id = f"training_job:{item.training_job_name}"
                nodes.setdefault(
                    job_id, LineageNode(id=job_id, kind="training_job", label=item.training_job_name)
                )
                edges.append(LineageEdge(source=node_id, target=job_id, relation="produced_by"))
            if item.pipeline_execution_arn:
                run_id = f"pipeline_execution:{item.pipeline_execution_arn}"
                label = item.pipeline_execution_arn.rsplit(":", 1)[-1]
                nodes.setdefault(run_id, LineageNode(id=run_id, kind="pipeline_execution", label=label))
                edges.append(LineageEdge(source=node_id, target=run_id, relation="registered_by"))
            if item.parent_version is not None:
                edges.append(
                    LineageEdge(
                        source=node_id, target=f"version:{item.parent_version}", relation="derived_from"
                    )
                )
        if data_roots:
            upstream = self._data_lineage.walk(data_roots)
            for node in upstream.nodes.values():
                nodes.setdefault(node.id, node)
            edges += upstream.edges.values()
        self._record_access(caller, "get_lineage", f"model/{model_id}")
        return Lineage(model_id=model_id, nodes=list(nodes.values()), edges=edges)

    # -- approval ---------------------------------------------------------------------------------

    def request_review(self, model_id: str, version: int, comment: str, caller: Caller) -> ModelVersion:
        """Ask reviewers to approve or reject a pending version."""
        authorize(caller.principal, "RequestReview", Resource.model(model_id))
        actor = caller.actor

        def change(record: ModelRecord | None, now: datetime) -> Outcome[ModelVersion]:
            record, current = self._pending_version(record, model_id, version, "request review of")
            updated = current.model_copy(
                update={"review_request": Review(by=actor, at=now, comment=comment), "updated_at": now}
            )
            event = LifecycleEvent(
                "model.approval_requested",
                {"model_id": model_id, "version": version, "comment": comment},
                actor,
                now,
            )
            return self._bump(record, now, updated_versions=[updated]), [event], updated

        return self._mutate(model_id, change, caller)

    def approve(self, model_id: str, version: int, comment: str, caller: Caller) -> ModelVersion:
        """Approve a pending version: it may then be promoted to staging and prod."""
        return self._decide(model_id, version, comment, caller, ApprovalStatus.APPROVED)

    def reject(self, model_id: str, version: int, comment: str, caller: Caller) -> ModelVersion:
        """Reject a pending version: it can no longer be promoted anywhere."""
        return self._decide(model_id, version, comment, caller, ApprovalStatus.REJECTED)

    def _decide(
        self, model_id: str, version: int, comment: str, caller: Caller, decision: ApprovalStatus
    ) -> ModelVersion:
        actor = caller.actor
        verb = "approve" if decision is ApprovalStatus.APPROVED else "reject"
        # The forbid on self-approval needs the registrant, so the version is loaded first; who
        # registered a version never changes, so the decision holds for every retry below.
        self._require_model(model_id)
        registered = self._require_version(model_id, version)
        authorize(
            caller.principal,
            "ApproveVersion" if decision is ApprovalStatus.APPROVED else "RejectVersion",
            _version_resource(registered),
        )

        def change(record: ModelRecord | None, now: datetime) -> Outcome[ModelVersion]:
            record, current = self._pending_version(record, model_id, version, verb)
            updated = current.model_copy(
                update={
                    "approval_status": decision,
                    "review": Review(by=actor, at=now, comment=comment),
                    "updated_at": now,
                }
            )
            counts = record.model.counts
            moved = {"pending": counts.pending - 1}
            if decision is ApprovalStatus.APPROVED:
                moved["approved"] = counts.approved + 1
            else:
                moved["rejected"] = counts.rejected + 1
            event = LifecycleEvent(
                f"model.{'approved' if decision is ApprovalStatus.APPROVED else 'rejected'}",
                {
                    "model_id": model_id,
                    "version": version,
                    "approval_status": decision.value,
                    "comment": comment,
                },
                actor,
                now,
            )
            changes = self._bump(
                record, now, counts=counts.model_copy(update=moved), updated_versions=[updated]
            )
            return changes, [event], updated

        return self._mutate(model_id, change, caller)

    def _pending_version(
        self, record: ModelRecord | None, model_id: str, version: int, verb: str
    ) -> tuple[ModelRecord, ModelVersion]:
        record = self._existing(record, model_id)
        current = self._effective(self._require_version(model_id, version), record.model)
        if current.retired:
            raise VersionRetired(f"Version {version} of '{model_id}' is retired.")
        if current.approval_status is not ApprovalStatus.PENDING:
            raise InvalidApprovalTransition(
                f"Cannot {verb} version {version}: it is {current.approval_status.value}, "
                f"not {ApprovalStatus.PENDING.value}.",
                [{"approval_status": current.approval_status.value}],
            )
        return record, current

    # -- aliases ----------------------------------------------------------------------------------

    def promote(
        self, model_id: str, version: int, environment: Environment, reason: str, caller: Caller
    ) -> PromotionResult:
        """Point an environment's alias at a version; staging and prod take approved versions only."""
        # The environment is context: the policies let registrants promote to dev, and require
        # model_deploy for staging and prod.
        authorize(
            caller.principal, "PromoteModel", Resource.model(model_id), {"environment": environment.value}
        )
        actor = caller.actor

        def change(record: ModelRecord | None, now: datetime) -> Outcome[PromotionResult]:
            record = self._live_model(record, model_id)
            target = self._effective(self._require_version(model_id, version), record.model)
            if target.retired:
                raise VersionRetired(f"Version {version} of '{model_id}' is retired and cannot be promoted.")
            if target.approval_status is ApprovalStatus.REJECTED:
                raise VersionRejected(
                    f"Version {version} of '{model_id}' was rejected and cannot be promoted."
                )
            if environment in _GATED_ENVIRONMENTS and target.approval_status is not ApprovalStatus.APPROVED:
                raise VersionNotApproved(
                    f"Version {version} of '{model_id}' is {target.approval_status.value}; "
                    f"{environment.value} takes approved versions only.",
                    [{"environment": environment.value, "approval_status": target.approval_status.value}],
                )
            current = record.model.aliases.get(environment)
            if current == version:
                return (
                    None,
                    [],
                    PromotionResult(
                        changed=False, model_id=model_id, environment=environment, version=version
                    ),
                )
            stack = list(record.alias_stacks.get(environment, []))
            if current is not None:
                stack = [*stack, current][-ALIAS_STACK_DEPTH:]
            return self._move_alias(
                record,
                now,
                environment,
                version,
                current,
                stack,
                PromotionAction.PROMOTE,
                reason,
                caller,
                LifecycleEvent(
                    "model.promoted",
                    {
                        "model_id": model_id,
                        "version": version,
                        "environment": environment.value,
                        "previous_version": current,
                        "reason": reason,
                    },
                    actor,
                    now,
                ),
            )

        return self._mutate(model_id, change, caller)

    def rollback(
        self, model_id: str, environment: Environment, reason: str, caller: Caller
    ) -> PromotionResult:
        """Move an environment's alias back to the version it held before the current one."""
        authorize(
            caller.principal, "RollbackModel", Resource.model(model_id), {"environment": environment.value}
        )
        actor = caller.actor

        def change(record: ModelRecord | None, now: datetime) -> Outcome[PromotionResult]:
            record = self._live_model(record, model_id)
            stack = list(record.alias_stacks.get(environment, []))
            current = record.model.aliases.get(environment)
            if not stack or current is None:
                raise NoRollbackTarget(
                    f"The {environment.value} alias of '{model_id}' has no earlier version to roll back to."
                )
            target = stack.pop()
            previous = self._effective(self._require_version(model_id, target), record.model)
            if previous.retired:
                raise VersionRetired(
                    f"The {environment.value} alias held version {target} before, but it is retired; "
                    "promote a version explicitly instead."
                )
            return self._move_alias(
                record,
                now,
                environment,
                target,
                current,
                stack,
                PromotionAction.ROLLBACK,
                reason,
                caller,
                LifecycleEvent(
                    "model.rolled_back",
                    {
                        "model_id": model_id,
                        "environment": environment.value,
                        "from_version": current,
                        "to_version": target,
                        "reason": reason,
                        # Since 1.1, a failed deployment's roll back (cirrus.serving) names both.
                        "deployment_id": None,
                        "cause": None,
                    },
                    actor,
                    now,
                    event_version="1.1",
                ),
            )

        return self._mutate(model_id, change, caller)

    def clear_alias(
        self, model_id: str, environment: Environment, reason: str, caller: Caller
    ) -> PromotionResult:
        """Remove an environment's alias (its deployment was taken down); its rollback history goes too."""
        authorize(
            caller.principal, "PromoteModel", Resource.model(model_id), {"environment": environment.value}
        )

        def change(record: ModelRecord | None, now: datetime) -> Outcome[PromotionResult]:
            record = self._live_model(record, model_id)
            current = record.model.aliases.get(environment)
            if current is None:
                return (
                    None,
                    [],
                    PromotionResult(changed=False, model_id=model_id, environment=environment, version=None),
                )
            sequence = record.promotion_seq.get(environment, 0) + 1
            promotion = Promotion(
                model_id=model_id,
                environment=environment,
                sequence=sequence,
                action=PromotionAction.CLEAR,
                version=None,
                previous_version=current,
                reason=reason,
                actor=caller.actor,
                at=now,
            )
            aliases = {env: number for env, number in record.model.aliases.items() if env != environment}
            changes = self._bump(
                record,
                now,
                aliases=aliases,
                alias_stacks={**record.alias_stacks, environment: []},
                promotion_seq={**record.promotion_seq, environment: sequence},
                promotions=[promotion],
            )
            result = PromotionResult(
                changed=True, model_id=model_id, environment=environment, version=None, promotion=promotion
            )
            event = LifecycleEvent(
                "model.alias_cleared",
                {
                    "model_id": model_id,
                    "environment": environment.value,
                    "previous_version": current,
                    "reason": reason,
                },
                caller.actor,
                now,
            )
            return changes, [event], result

        return self._mutate(model_id, change, caller)

    def _move_alias(
        self,
        record: ModelRecord,
        now: datetime,
        environment: Environment,
        version: int,
        previous: int | None,
        stack: list[int],
        action: PromotionAction,
        reason: str,
        caller: Caller,
        event: LifecycleEvent,
    ) -> Outcome[PromotionResult]:
        actor = caller.actor
        sequence = record.promotion_seq.get(environment, 0) + 1
        promotion = Promotion(
            model_id=record.model.model_id,
            environment=environment,
            sequence=sequence,
            action=action,
            version=version,
            previous_version=previous,
            reason=reason,
            actor=actor,
            at=now,
        )
        changes = self._bump(
            record,
            now,
            aliases={**record.model.aliases, environment: version},
            alias_stacks={**record.alias_stacks, environment: stack},
            promotion_seq={**record.promotion_seq, environment: sequence},
            promotions=[promotion],
        )
        result = PromotionResult(
            changed=True,
            model_id=record.model.model_id,
            environment=environment,
            version=version,
            promotion=promotion,
        )
        return changes, [event], result

    # -- drift baselines --------------------------------------------------------------------------

    def link_baseline(self, model_id: str, version: int, baseline_uri: str, caller: Caller) -> ModelVersion:
        """Set (or replace) the drift baseline of an existing version.

        The monitoring API calls this once it has built a baseline for a version registered without
        one. The caller must be allowed to register versions of the model (`RegisterModel`): a
        baseline is part of what a version was registered with. Linking the URI the version already
        has changes nothing and writes nothing. No lifecycle event is published; the audit record,
        `link_baseline`, is written in the change's own transaction.
        """
        authorize(caller.principal, "RegisterModel", Resource.model(model_id))
        self._check_baseline_uri(baseline_uri)

        def change(record: ModelRecord | None, now: datetime) -> Outcome[ModelVersion]:
            record = self._live_model(record, model_id)
            current = self._effective(self._require_version(model_id, version), record.model)
            if current.retired:
                raise VersionRetired(
                    f"Version {version} of '{model_id}' is retired: its baseline is kept as is."
                )
            if current.baseline_uri == baseline_uri:
                return None, [], current
            updated = current.model_copy(update={"baseline_uri": baseline_uri, "updated_at": now})
            return self._bump(record, now, updated_versions=[updated]), [], updated

        return self._mutate(
            model_id, change, caller, unpublished=("link_baseline", f"model/{model_id}/version/{version}")
        )

    def _check_baseline_uri(self, uri: str) -> None:
        check_s3_uri(uri, self._baseline_buckets, field="baseline_uri")

    # -- retirement -------------------------------------------------------------------------------

    def retire(self, model_id: str, version: int | None, caller: Caller) -> RetireResult:
        """Retire one version, or the whole model; refused while an alias points at what would go."""
        authorize(caller.principal, "RetireModel", Resource.model(model_id))
        actor = caller.actor

        def change(record: ModelRecord | None, now: datetime) -> Outcome[RetireResult]:
            record = self._live_model(record, model_id)
            aliases = record.model.aliases
            if version is None:
                live = sorted(env.value for env in aliases)
                if live:
                    raise AliasInUse(
                        f"Model '{model_id}' is live in {', '.join(live)}; move those aliases first.",
                        [{"environment": env} for env in live],
                    )
                changes = self._bump(record, now, retired=True, retired_at=now, retired_by=actor)
            else:
                target = self._require_version(model_id, version)
                if target.retired:
                    raise VersionRetired(f"Version {version} of '{model_id}' is already retired.")
                live = sorted(env.value for env, held in aliases.items() if held == version)
                if live:
                    raise AliasInUse(
                        f"Version {version} of '{model_id}' is live in {', '.join(live)}.",
                        [{"environment": env} for env in live],
                    )
                retired = target.model_copy(
                    update={"retired": True, "retired_at": now, "retired_by": actor, "updated_at": now}
                )
                counts = record.model.counts.model_copy(update={"retired": record.model.counts.retired + 1})
                changes = self._bump(record, now, counts=counts, updated_versions=[retired])
            event = LifecycleEvent("model.retired", {"model_id": model_id, "version": version}, actor, now)
            return changes, [event], RetireResult(model_id=model_id, version=version, retired_at=now)

        return self._mutate(model_id, change, caller)

    # -- helpers ----------------------------------------------------------------------------------

    def _mutate(
        self,
        model_id: str,
        change: Callable[[ModelRecord | None, datetime], Outcome[ResultT]],
        caller: Caller,
        *,
        unpublished: tuple[str, str] | None = None,
    ) -> ResultT:
        """Apply `change` to the model and commit it with its audit record, retrying lost races.

        `unpublished` is the audit (action, resource) of a change that publishes no event; every
        other change is named by the event it publishes.
        """
        for attempt in range(self._max_attempts):
            before = self._repository.get_model(model_id)
            now = self._clock()
            changes, events, result = change(before, now)
            if changes is None:
                return result
            changes.audit = self._change_entry(caller, before, changes, events, now, unpublished)
            try:
                self._repository.commit(changes)
            except ConcurrentUpdate:
                self._sleep(backoff_seconds(attempt))
                continue
            self._publisher.publish(events)
            return result
        raise TooMuchContention(
            f"Model '{model_id}' is being changed by too many callers at once; retry shortly."
        )

    @staticmethod
    def _change_entry(
        caller: Caller,
        before: ModelRecord | None,
        changes: Changes,
        events: list[LifecycleEvent],
        now: datetime,
        unpublished: tuple[str, str] | None = None,
    ) -> AuditEntry:
        """The audit record of a change: the one event it publishes names it, else `unpublished`."""
        if events:
            event = events[0]
            action = _CHANGE_ACTIONS[event.detail_type]
            version = event.data.get("version")
            resource = f"model/{changes.record.model.model_id}"
            if isinstance(version, int) and action not in _MODEL_LEVEL_ACTIONS:
                resource = f"{resource}/version/{version}"
        elif unpublished is not None:
            action, resource = unpublished
        else:  # pragma: no cover - a programming error, caught by the tests of each operation
            raise ValueError("a registry change without an event must name its audit action")
        written = [*changes.new_versions, *changes.updated_versions, *changes.promotions]
        return _entry(
            caller,
            action,
            resource,
            AuditCategory.CHANGE,
            now,
            policies=determining_policies(),
            before_hash=None if before is None else state_hash(before),
            after_hash=state_hash(changes.record, *written),
        )

    def _record_access(self, caller: Caller, action: str, resource: str) -> None:
        """Record a read of model metadata before its answer leaves the service (fail closed)."""
        audit = self._repository.audit
        if audit is not None:
            audit.append(
                _entry(
                    caller,
                    action,
                    resource,
                    AuditCategory.MODEL_ACCESS,
                    self._clock(),
                    policies=determining_policies(),
                )
            )

    @staticmethod
    def _bump(
        record: ModelRecord,
        now: datetime,
        *,
        updated_versions: list[ModelVersion] | None = None,
        promotions: list[Promotion] | None = None,
        alias_stacks: dict[Environment, list[int]] | None = None,
        promotion_seq: dict[Environment, int] | None = None,
        **model_fields: object,
    ) -> Changes:
        model = record.model.model_copy(update={**model_fields, "updated_at": now})
        updated = record.model_copy(
            update={
                "model": model,
                "revision": record.revision + 1,
                "alias_stacks": record.alias_stacks if alias_stacks is None else alias_stacks,
                "promotion_seq": record.promotion_seq if promotion_seq is None else promotion_seq,
            }
        )
        return Changes(
            updated, record.revision, updated_versions=updated_versions or [], promotions=promotions or []
        )

    def _require_model(self, model_id: str) -> ModelRecord:
        return self._existing(self._repository.get_model(model_id), model_id)

    @staticmethod
    def _existing(record: ModelRecord | None, model_id: str) -> ModelRecord:
        if record is None:
            raise ModelNotFound(f"No model '{model_id}' is registered.")
        return record

    def _live_model(self, record: ModelRecord | None, model_id: str) -> ModelRecord:
        record = self._existing(record, model_id)
        if record.model.retired:
            raise ModelRetired(f"Model '{model_id}' is retired.")
        return record

    def _require_version(self, model_id: str, version: int) -> ModelVersion:
        found = self._repository.get_version(model_id, version)
        if found is None:
            raise VersionNotFound(f"Model '{model_id}' has no version {version}.")
        return found

    @staticmethod
    def _effective(version: ModelVersion, model: RegisteredModel) -> ModelVersion:
        """A version as callers see it: retiring the model retires every version."""
        if model.retired and not version.retired:
            return version.model_copy(
                update={"retired": True, "retired_at": model.retired_at, "retired_by": model.retired_by}
            )
        return version

    @staticmethod
    def _int_position(next_token: str | None, key: str) -> int | None:
        if not next_token:
            return None
        value = decode_token(next_token, frozenset({key}))[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise InvalidPaginationToken("next_token does not belong to this listing.")
        return value

    @staticmethod
    def _next(
        items: list[ResultT], limit: int, position: Callable[[ResultT], dict[str, object]]
    ) -> str | None:
        if len(items) <= limit:
            return None
        return encode_token(position(items[limit - 1]))


def _version_resource(version: ModelVersion) -> Resource:
    """A version as Cedar sees it, with the attributes the review policies read."""
    return Resource(
        "ModelVersion",
        f"{version.model_id}/{version.version}",
        {
            "model_id": version.model_id,
            "version": version.version,
            "registered_by": version.created_by_sub or "",
            "registered_by_name": version.created_by,
            "approval_status": version.approval_status.value,
            "retired": version.retired,
        },
        (Resource.model(version.model_id),),
    )
