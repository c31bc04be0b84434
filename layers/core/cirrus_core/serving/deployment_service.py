"""Deployment use cases behind the API: start a deployment, read deployments, undeploy an environment.

Starting checks everything a caller can be told at once (authorization, the version approved and
not retired, samples to smoke-test with, a container that can serve it, the environment free), then
writes the deployment and takes the environment's lock in one transaction with its audit record, and
starts the deployment state machine (docs/serving.md). The machine does the rest.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from cirrus_core.api import API_PREFIX
from cirrus_core.audit.entries import entry_for
from cirrus_core.audit.models import AuditCategory
from cirrus_core.authz import Resource, authorize, determining_policies
from cirrus_core.errors import (
    DeploymentInProgress,
    DeploymentNotFound,
    EnvironmentNotDeployed,
    InvalidPaginationToken,
    ModelRetired,
    NoSamplePayloads,
    ServingKindChange,
    TooMuchContention,
    VersionNotApproved,
    VersionRetired,
)
from cirrus_core.events import LifecycleEvent
from cirrus_core.observability import logger
from cirrus_core.pagination import decode_token, encode_token
from cirrus_core.principal import ActorRecord
from cirrus_core.registry.models import ApprovalStatus, Environment
from cirrus_core.serving.deployment_models import (
    Deployment,
    DeploymentList,
    DeploymentRequest,
    DeploymentSource,
    DeploymentStatus,
    EnvironmentStatus,
    HistoryEntry,
    UndeployResult,
    as_json,
)
from cirrus_core.serving.deployment_store import EnvironmentLocked, LockLost

if TYPE_CHECKING:
    from collections.abc import Callable

    from cirrus_core.audit.log import AuditLog
    from cirrus_core.caller import Caller
    from cirrus_core.registry.models import ModelVersion, PromotionResult
    from cirrus_core.serving.containers import ServingContainer
    from cirrus_core.serving.deployment_adapters import (
        Autoscaling,
        DeploymentExecutions,
        EndpointAlarms,
        Endpoints,
    )
    from cirrus_core.serving.deployment_models import EnvironmentState
    from cirrus_core.serving.deployment_store import DeploymentStore

MAX_ATTEMPTS = 5
REQUESTED = "Requested"


class Registry(Protocol):
    """What deployments need of the registry service."""

    def get_version(self, model_id: str, version: int, caller: Caller) -> ModelVersion: ...

    def clear_alias(
        self, model_id: str, environment: Environment, reason: str, caller: Caller
    ) -> PromotionResult: ...

    def get_model(self, model_id: str, caller: Caller) -> Any: ...


class Containers(Protocol):
    def resolve(self, version: ModelVersion) -> ServingContainer: ...


class Publisher(Protocol):
    def publish(self, events: list[LifecycleEvent]) -> None: ...


def new_deployment_id() -> str:
    return uuid.uuid4().hex


def actor_of(caller: Caller) -> ActorRecord:
    return ActorRecord.of(caller.principal)


def deployment_links(model_id: str, deployment_id: str) -> dict[str, str]:
    return {"self": f"{API_PREFIX}/models/{model_id}/deployments/{deployment_id}"}


def check_deployable(version: ModelVersion, environment: Environment) -> None:
    """Only approved, live versions reach an endpoint (409 otherwise)."""
    if version.retired:
        raise VersionRetired(
            f"Version {version.version} of '{version.model_id}' is retired and cannot be deployed."
        )
    if version.approval_status is not ApprovalStatus.APPROVED:
        raise VersionNotApproved(
            f"Version {version.version} of '{version.model_id}' is {version.approval_status.value}: "
            "only approved versions are deployed.",
            [{"environment": environment.value, "approval_status": version.approval_status.value}],
        )


def kind_change(model_id: str, environment: Environment, *, serving_serverless: bool) -> ServingKindChange:
    """SageMaker cannot update an instance endpoint to serverless or back (409)."""
    serving = "serverless" if serving_serverless else "instance"
    return ServingKindChange(
        f"{environment.value} of '{model_id}' serves a {serving} endpoint, and SageMaker cannot update an "
        "endpoint between instances and serverless: undeploy the environment first.",
        [{"environment": environment.value, "serving": serving}],
    )


def execution_input(deployment: Deployment, request: DeploymentRequest, actor: ActorRecord) -> dict[str, Any]:
    """The deployment state machine's input (docs/serving.md)."""
    return {
        "deployment_id": deployment.deployment_id,
        "model_id": deployment.model_id,
        "version": deployment.version,
        "environment": deployment.environment.value,
        "config": as_json(deployment.config),
        "sample_payloads": [as_json(sample) for sample in request.sample_payloads]
        if request.sample_payloads
        else None,
        "actor": as_json(actor),
        "source": as_json(deployment.source),
    }


class DeploymentService:
    """Deployments of a model, each on behalf of a `Caller`."""

    def __init__(
        self,
        store: DeploymentStore,
        registry: Callable[[], Registry],
        containers: Containers,
        executions: DeploymentExecutions,
        endpoints: Endpoints,
        autoscaling: Autoscaling,
        alarms: EndpointAlarms,
        publisher: Publisher,
        *,
        audit: AuditLog | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        ids: Callable[[], str] = new_deployment_id,
    ) -> None:
        self._store = store
        self._registry = registry
        self._containers = containers
        self._executions = executions
        self._endpoints = endpoints
        self._autoscaling = autoscaling
        self._alarms = alarms
        self._publisher = publisher
        self._audit = audit
        self._clock = clock
        self._ids = ids

    # -- deploying --------------------------------------------------------------------------------

    def start(self, model_id: str, request: DeploymentRequest, caller: Caller) -> Deployment:
        """Start deploying a version to an environment; every refusal comes before the first write."""
        environment = request.environment
        authorize(
            caller.principal, "DeployModel", Resource.model(model_id), {"environment": environment.value}
        )
        version = self._registry().get_version(model_id, request.version, caller)
        check_deployable(version, environment)
        if not request.sample_payloads and not version.sample_payloads_uri:
            raise NoSamplePayloads(
                f"Version {version.version} of '{model_id}' has no sample_payloads_uri and the request "
                "carries no sample_payloads: a deployment needs samples to smoke-test the endpoint with.",
                [{"field": "sample_payloads"}],
            )
        self._containers.resolve(version)  # unservable_version before anything is written
        current = self._store.get_environment(model_id, environment.value)
        _check_free(current, model_id, environment)
        if (
            current is not None
            and current.endpoint_name
            and current.serverless != request.config().is_serverless
        ):
            raise kind_change(model_id, environment, serving_serverless=current.serverless)
        deployment_id = self._ids()
        now = self._clock()
        deployment = Deployment(
            deployment_id=deployment_id,
            model_id=model_id,
            version=version.version,
            environment=environment,
            status=DeploymentStatus.IN_PROGRESS,
            config=request.config(),
            inline_sample_payloads=len(request.sample_payloads or []),
            source=DeploymentSource(kind="api"),
            started_by=caller.actor,
            started_at=now,
            execution_arn=self._executions.execution_arn(deployment_id),
            previous_version=current.version if current else None,
            history=[
                HistoryEntry(
                    status=DeploymentStatus.IN_PROGRESS, step=REQUESTED, at=now, message=f"By {caller.actor}."
                )
            ],
            links=deployment_links(model_id, deployment_id),
        )
        self._begin(deployment, caller, now)
        try:
            self._executions.start(deployment_id, execution_input(deployment, request, actor_of(caller)))
        except Exception as error:
            # Nothing was deployed: give the environment back, and say why on the deployment.
            logger.exception("Deployment execution did not start", extra={"deployment_id": deployment_id})
            self._store.end(
                deployment,
                DeploymentStatus.FAILED,
                HistoryEntry(
                    status=DeploymentStatus.FAILED, step=REQUESTED, at=self._clock(), message="Not started."
                ),
                failed_step=REQUESTED,
                cause=f"The deployment state machine did not start: {type(error).__name__}.",
                release=True,
            )
            raise
        logger.info("Deployment started", extra={"deployment_id": deployment_id, "model_id": model_id})
        return deployment

    def _begin(self, deployment: Deployment, caller: Caller, now: datetime) -> None:
        resource = f"model/{deployment.model_id}/deployment/{deployment.deployment_id}"
        for _ in range(MAX_ATTEMPTS):
            audit = entry_for(
                caller, "deploy_model", resource, AuditCategory.CHANGE, now, policies=determining_policies()
            )
            try:
                self._store.begin(deployment, audit)
            except EnvironmentLocked:
                # The lock, or only the audit chain's head? The environment item tells.
                _check_free(
                    self._store.get_environment(deployment.model_id, deployment.environment.value),
                    deployment.model_id,
                    deployment.environment,
                )
                continue
            return
        raise TooMuchContention(
            f"Model '{deployment.model_id}' is being changed by too many callers; retry shortly."
        )

    # -- reading ----------------------------------------------------------------------------------

    def list(
        self,
        model_id: str,
        environment: Environment | None,
        limit: int,
        next_token: str | None,
        caller: Caller,
    ) -> DeploymentList:
        """The model's environments, and its deployments newest first (optionally of one environment)."""
        authorize(caller.principal, "ListDeployments", Resource.model(model_id))
        self._registry().get_model(model_id, caller)  # a model nobody registered is a 404
        after: tuple[str, str] | None = None
        if next_token:
            position = decode_token(next_token, frozenset({"at", "id"}))
            if not isinstance(position["at"], str) or not isinstance(position["id"], str):
                raise InvalidPaginationToken("next_token does not belong to this listing.")
            after = (position["at"], position["id"])
        deployments = sorted(
            (
                item
                for item in self._store.list_deployments(model_id)
                if environment is None or item.environment is environment
            ),
            key=lambda item: (item.started_at.isoformat(), item.deployment_id),
            reverse=True,
        )
        if after is not None:
            deployments = [
                item for item in deployments if (item.started_at.isoformat(), item.deployment_id) < after
            ]
        page = deployments[:limit]
        token = None
        if len(deployments) > limit:
            last = page[-1]
            token = encode_token({"at": last.started_at.isoformat(), "id": last.deployment_id})
        environments = [
            state
            for state in self._store.list_environments(model_id)
            if environment is None or state.environment is environment
        ]
        return DeploymentList(
            model_id=model_id,
            environments=sorted(environments, key=lambda state: state.environment.value),
            items=[
                item.model_copy(update={"links": deployment_links(model_id, item.deployment_id)})
                for item in page
            ],
            next_token=token,
        )

    def get(self, model_id: str, deployment_id: str, caller: Caller) -> Deployment:
        """One deployment with its history."""
        authorize(caller.principal, "GetDeployment", Resource.model(model_id))
        found = self._store.get_deployment(model_id, deployment_id)
        if found is None:
            raise DeploymentNotFound(f"Model '{model_id}' has no deployment '{deployment_id}'.")
        return found.model_copy(update={"links": deployment_links(model_id, deployment_id)})

    # -- undeploying ------------------------------------------------------------------------------

    def undeploy(self, model_id: str, environment: Environment, caller: Caller) -> UndeployResult:
        """Take an environment down: its endpoint, autoscaling and alarms go, its alias is cleared."""
        authorize(
            caller.principal, "UndeployModel", Resource.model(model_id), {"environment": environment.value}
        )
        state = self._store.get_environment(model_id, environment.value)
        if state is None:
            raise EnvironmentNotDeployed(
                f"Nothing of '{model_id}' is deployed to {environment.value}.",
                [{"environment": environment.value}],
            )
        _check_free(state, model_id, environment, undeploying_ok=True)
        now = self._clock()
        audit = entry_for(
            caller,
            "undeploy_model",
            f"model/{model_id}/environment/{environment.value}",
            AuditCategory.CHANGE,
            now,
            policies=determining_policies(),
        )
        try:
            self._store.begin_undeploy(state.model_copy(update={"updated_at": now}), model_id, audit)
        except EnvironmentLocked as error:
            raise DeploymentInProgress(
                f"{environment.value} of '{model_id}' is changing; retry when it has finished.",
                [{"environment": environment.value}],
            ) from error
        endpoint = state.endpoint_name
        if endpoint:
            self._autoscaling.deregister(endpoint)
            self._endpoints.delete(endpoint)
            self._alarms.delete(endpoint)
        try:
            self._registry().clear_alias(model_id, environment, f"Undeployed by {caller.actor}.", caller)
        except ModelRetired:
            logger.info("Model retired; its aliases are gone already", extra={"model_id": model_id})
        try:
            self._store.remove_environment(model_id, environment.value)
        except EnvironmentLocked as error:  # pragma: no cover - only an undeploy changes an undeploying item
            raise DeploymentInProgress(f"{environment.value} of '{model_id}' changed meanwhile.") from error
        self._publisher.publish(
            [
                LifecycleEvent(
                    "model.undeployed",
                    {
                        "model_id": model_id,
                        "environment": environment.value,
                        "version": state.version,
                        "endpoint_name": endpoint,
                    },
                    caller.actor,
                    now,
                )
            ]
        )
        return UndeployResult(
            model_id=model_id,
            environment=environment,
            version=state.version,
            endpoint_name=endpoint,
            undeployed_at=now,
        )


def _check_free(
    state: EnvironmentState | None, model_id: str, environment: Environment, *, undeploying_ok: bool = False
) -> None:
    """409 deployment_in_progress while a deployment (or an undeploy) holds the environment."""
    if state is None:
        return
    busy = state.active_deployment_id is not None or state.status is EnvironmentStatus.DEPLOYING
    if state.status is EnvironmentStatus.UNDEPLOYING and not undeploying_ok:
        busy = True
    if busy:
        raise DeploymentInProgress(
            f"A deployment of '{model_id}' to {environment.value} is in progress"
            + (f" ({state.active_deployment_id})" if state.active_deployment_id else "")
            + "; wait for it to finish.",
            [{"environment": environment.value, "active_deployment_id": state.active_deployment_id}],
        )


__all__ = ["DeploymentService", "LockLost", "check_deployable", "execution_input"]
