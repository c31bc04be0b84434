"""The deployment state machine's tasks (statemachines/model_deployment.asl.json, docs/serving.md).

Every task takes the working state and returns it with its own result under `steps`; the ASL writes
the whole result back (`ResultPath: $`, `OutputPath: $.Payload`), so a task never reads another's
Lambda envelope. A failure is caught into `$.failure.<step key>` and reaches `Roll back`, which
brings the restore point back (the live endpoint's config when the deployment started) and ends
the deployment `rolled_back`; a roll back that cannot finish ends it `failed`.

Waits poll DescribeEndpoint with a backoff (0, 1, 2, 4 ... seconds, capped at ENDPOINT_POLL_SECONDS)
until ENDPOINT_WAIT_SECONDS have passed: a serverless or small endpoint is seen InService within
seconds of being ready, a slow one costs one DescribeEndpoint per poll interval.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, Field, ValidationError

from cirrus_core.authz import Resource, authorize
from cirrus_core.caller import Caller
from cirrus_core.errors import (
    DeploymentInProgress,
    DeploymentStepError,
    EndpointBusy,
    EndpointFailed,
    EndpointUpdateFailed,
    InvalidSamplePayloads,
    NoSamplePayloads,
    RollbackIncomplete,
    SmokeTestFailed,
)
from cirrus_core.events import LifecycleEvent
from cirrus_core.observability import logger
from cirrus_core.principal import ActorRecord
from cirrus_core.registry.models import Environment
from cirrus_core.registry.naming import sagemaker_name
from cirrus_core.serving.deployment_models import (
    MAX_SAMPLE_PAYLOADS,
    AutoscalingConfig,
    Deployment,
    DeploymentConfig,
    DeploymentSource,
    DeploymentStatus,
    EnvironmentState,
    EnvironmentStatus,
    HistoryEntry,
    SamplePayload,
    as_json,
)
from cirrus_core.serving.deployment_service import check_deployable, kind_change
from cirrus_core.serving.deployment_store import EnvironmentLocked, LockLost

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_s3 import S3Client

    from cirrus_core.audit.log import AuditLog
    from cirrus_core.registry.models import ModelVersion, PromotionResult
    from cirrus_core.serving.containers import ServingContainers
    from cirrus_core.serving.deployment_adapters import (
        Autoscaling,
        EndpointAlarms,
        EndpointRuntime,
        Endpoints,
    )
    from cirrus_core.serving.deployment_store import DeploymentStore
    from cirrus_core.serving.settings import ServingSettings

# The step keys of `$.failure.<key>` and `$.steps.<key>`, and the states they name.
STEP_NAMES = {
    "prepare_deployment": "Prepare deployment",
    "create_model": "Create model",
    "create_endpoint_config": "Create endpoint config",
    "create_candidate_endpoint": "Create candidate endpoint",
    "check_candidate_endpoint": "Check candidate endpoint",
    "smoke_test_candidate": "Smoke test candidate",
    "create_or_update_live_endpoint": "Create or update live endpoint",
    "check_live_endpoint": "Check live endpoint",
    "smoke_test_live": "Smoke test live",
    "register_autoscaling": "Register autoscaling",
    "delete_candidate_endpoint": "Delete candidate endpoint",
    "mark_deployed": "Mark deployed",
}
CHANGING = frozenset(
    {"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting", "UpdateRollbackFailed"}
)
MAX_CAUSE_CHARS = 2048
ROLLED_BACK_EVENT_VERSION = "1.1"


class Registry(Protocol):
    """What the deployment tasks need of the registry service."""

    def get_version(self, model_id: str, version: int, caller: Caller) -> ModelVersion: ...

    def promote(
        self, model_id: str, version: int, environment: Environment, reason: str, caller: Caller
    ) -> PromotionResult: ...

    def clear_alias(
        self, model_id: str, environment: Environment, reason: str, caller: Caller
    ) -> PromotionResult: ...

    def get_model(self, model_id: str, caller: Caller) -> Any: ...


class Publisher(Protocol):
    def publish(self, events: list[LifecycleEvent]) -> None: ...


# -- the working state ----------------------------------------------------------------------------


class Names(BaseModel):
    model: str
    endpoint: str
    candidate: str
    endpoint_config: str


class RestorePoint(BaseModel):
    """What the environment served when the deployment started: what a roll back brings back."""

    endpoint_exists: bool
    endpoint_config_name: str | None = None
    version: int | None = None
    serverless: bool = False
    autoscaling: AutoscalingConfig | None = None


class DeploymentInput(BaseModel):
    deployment_id: str
    model_id: str
    version: int
    environment: Environment
    config: DeploymentConfig
    sample_payloads: list[SamplePayload] | None = None
    actor: ActorRecord
    source: DeploymentSource
    execution_arn: str | None = None


class Poll(BaseModel):
    seconds: int
    timeout_seconds: int


class Wait(BaseModel):
    """A wait loop on one endpoint: the Choice after it reads `status` and `timed_out`."""

    endpoint_name: str
    config_name: str
    status: str = "Creating"
    polls: int = 0
    waited: int = 0
    wait_seconds: int = 0  # the first look is at once: a small endpoint may be up already
    timed_out: bool = False
    action: str | None = None


class WorkingState(BaseModel):
    deployment: DeploymentInput
    names: Names
    restore: RestorePoint
    samples_uri: str | None = None
    poll: Poll
    steps: dict[str, Any] = Field(default_factory=dict)
    failure: dict[str, Any] = Field(default_factory=dict)

    @property
    def caller(self) -> Caller:
        return caller_of(self.deployment.actor, self.deployment.deployment_id)

    def wait(self, key: str) -> Wait:
        return Wait.model_validate(self.steps[key])

    def output(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def caller_of(actor: ActorRecord, deployment_id: str) -> Caller:
    """The deployment acts for its actor, as a pipeline run does (its request id: the deployment)."""
    return Caller(
        actor.principal(),
        request_id=deployment_id,
    )


def read_state(event: dict[str, Any]) -> WorkingState:
    try:
        return WorkingState.model_validate(event.get("state") or {})
    except ValidationError as error:
        raise DeploymentStepError(
            f"The task's payload is not a deployment's working state: {error}"
        ) from error


def endpoint_names(base: str, environment: str, version: int, deployment_id: str, model_name: str) -> Names:
    """docs/serving.md, "Names"."""
    return Names(
        model=model_name,
        endpoint=sagemaker_name(base, environment),
        candidate=sagemaker_name(base, f"{environment}-candidate"),
        endpoint_config=sagemaker_name(base, f"{environment}-v{version}-{deployment_id[:8]}"),
    )


def next_wait(polls: int, cap: int) -> int:
    """The wait after `polls` polls: 1, 2, 4 ... seconds, never more than `cap`."""
    return int(max(1, min(cap, 2 ** min(max(polls - 1, 0), 16))))


def failure_of(failure: dict[str, Any]) -> tuple[str, str]:
    """(the state that failed, why) from `$.failure`; a Lambda's cause is its errorMessage."""
    if not failure:
        return "Unknown", "The deployment failed without a recorded cause."
    key, error = next(iter(failure.items()))
    error = error if isinstance(error, dict) else {}
    name = str(error.get("Error") or "Error")
    raw = error.get("Cause")
    message = raw if isinstance(raw, str) else ""
    try:
        parsed = json.loads(message) if message else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("errorMessage"), str):
        message = parsed["errorMessage"]
    cause = f"{name}: {message}" if message else name
    return STEP_NAMES.get(key, key), cause[:MAX_CAUSE_CHARS]


# -- sample payloads ------------------------------------------------------------------------------


class SampleReader:
    """Reads a version's sample payloads: JSON Lines in S3, at most 20 requests."""

    def __init__(self, client: S3Client) -> None:
        self._client = client

    def load(self, uri: str) -> list[SamplePayload]:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        try:
            text = self._client.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
        except Exception as error:
            raise InvalidSamplePayloads(f"The sample payloads at {uri} cannot be read: {error}") from error
        lines = [line for line in text.splitlines() if line.strip()]
        if not lines or len(lines) > MAX_SAMPLE_PAYLOADS:
            raise InvalidSamplePayloads(
                f"{uri} holds {len(lines)} samples; 1 to {MAX_SAMPLE_PAYLOADS} are needed."
            )
        samples = []
        for number, line in enumerate(lines, start=1):
            try:
                samples.append(SamplePayload.model_validate_json(line))
            except ValidationError as error:
                raise InvalidSamplePayloads(
                    f'Line {number} of {uri} is not {{"content_type", "body"}}: {error.errors()[0]["msg"]}'
                ) from error
        return samples


# -- the tasks ------------------------------------------------------------------------------------


class Rollout:
    """The tasks of a deployment. Adapters come from factories, so each task function builds only
    the clients its task uses."""

    def __init__(
        self,
        *,
        settings: ServingSettings,
        store: Callable[[], DeploymentStore],
        registry: Callable[[], Registry],
        containers: Callable[[], ServingContainers],
        endpoints: Callable[[], Endpoints],
        runtime: Callable[[], EndpointRuntime],
        autoscaling: Callable[[], Autoscaling],
        alarms: Callable[[], EndpointAlarms],
        samples: Callable[[], SampleReader],
        publisher: Callable[[], Publisher],
        audit: Callable[[], AuditLog | None] = lambda: None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._store = store
        self._registry = registry
        self._containers = containers
        self._endpoints = endpoints
        self._runtime = runtime
        self._autoscaling = autoscaling
        self._alarms = alarms
        self._samples = samples
        self._publisher = publisher
        self._audit = audit
        self._clock = clock

    # -- Prepare deployment -----------------------------------------------------------------------

    def prepare(self, event: dict[str, Any]) -> dict[str, Any]:
        """Re-check the deployment for its actor, find the restore point, record it in progress."""
        raw = dict(event.get("input") or {})
        execution = event.get("execution") or {}
        if not raw.get("deployment_id"):
            # A pipeline's deployment step names its execution with States.UUID().
            raw["deployment_id"] = str(execution.get("name") or "").replace("-", "")
        raw["execution_arn"] = execution.get("arn") or raw.get("execution_arn")
        try:
            deployment = DeploymentInput.model_validate(raw)
        except ValidationError as error:
            raise DeploymentStepError(f"The execution input is not a deployment: {error}") from error
        caller = caller_of(deployment.actor, deployment.deployment_id)
        environment = deployment.environment
        authorize(
            caller.principal,
            "DeployModel",
            Resource.model(deployment.model_id),
            {"environment": environment.value},
        )
        version = self._registry().get_version(deployment.model_id, deployment.version, caller)
        check_deployable(version, environment)
        self._containers().resolve(version)
        if deployment.sample_payloads is None:
            if not version.sample_payloads_uri:
                raise NoSamplePayloads(
                    f"Version {version.version} of '{version.model_id}' has no sample payloads."
                )
            self._samples().load(
                version.sample_payloads_uri
            )  # a broken file fails here, not at the smoke test
        names = endpoint_names(
            version.sagemaker.base_name,
            environment.value,
            version.version,
            deployment.deployment_id,
            version.sagemaker.model_name,
        )
        store = self._store()
        current = store.get_environment(deployment.model_id, environment.value)
        live = self._endpoints().describe(names.endpoint)
        restore = RestorePoint(
            endpoint_exists=live is not None,
            endpoint_config_name=live.config_name if live else None,
            version=current.version if current and live else None,
            serverless=bool(current and current.serverless),
            autoscaling=current.autoscaling if current else None,
        )
        if live is not None and restore.serverless != deployment.config.is_serverless:
            raise kind_change(deployment.model_id, environment, serving_serverless=restore.serverless)
        self._record_start(deployment, names, restore, current, caller)
        state = WorkingState(
            deployment=deployment,
            names=names,
            restore=restore,
            samples_uri=None if deployment.sample_payloads is not None else version.sample_payloads_uri,
            poll=Poll(
                seconds=self._settings.endpoint_poll_seconds,
                timeout_seconds=self._settings.endpoint_wait_seconds,
            ),
        )
        logger.info(
            "Deployment prepared",
            extra={"names": names.model_dump(), "restore": restore.model_dump(mode="json")},
        )
        return state.output()

    def _record_start(
        self,
        deployment: DeploymentInput,
        names: Names,
        restore: RestorePoint,
        current: EnvironmentState | None,
        caller: Caller,
    ) -> None:
        store = self._store()
        now = self._clock()
        entry = HistoryEntry(
            status=DeploymentStatus.IN_PROGRESS,
            step=STEP_NAMES["prepare_deployment"],
            at=now,
            message=f"Restore point: {restore.endpoint_config_name or 'no endpoint'}.",
        )
        fields: dict[str, str | int | None] = {
            "execution_arn": deployment.execution_arn,
            "endpoint_name": names.endpoint,
            "endpoint_config_name": names.endpoint_config,
            "previous_version": restore.version,
        }
        if store.get_deployment(deployment.model_id, deployment.deployment_id) is None:
            # Started by a pipeline's deployment step, not the API: record it and take the lock here.
            from cirrus_core.audit.entries import entry_for
            from cirrus_core.audit.models import AuditCategory
            from cirrus_core.authz import determining_policies

            record = Deployment(
                deployment_id=deployment.deployment_id,
                model_id=deployment.model_id,
                version=deployment.version,
                environment=deployment.environment,
                status=DeploymentStatus.IN_PROGRESS,
                config=deployment.config,
                inline_sample_payloads=len(deployment.sample_payloads or []),
                source=deployment.source,
                started_by=caller.actor,
                started_at=now,
                execution_arn=deployment.execution_arn,
                previous_version=current.version if current else None,
                history=[],
            )
            audit = entry_for(
                caller,
                "deploy_model",
                f"model/{deployment.model_id}/deployment/{deployment.deployment_id}",
                AuditCategory.CHANGE,
                now,
                policies=determining_policies(),
            )
            try:
                store.begin(record, audit)
            except EnvironmentLocked as error:
                raise DeploymentInProgress(
                    f"{deployment.environment.value} of '{deployment.model_id}' is locked by another "
                    "deployment."
                ) from error
        self._history(deployment, entry, **fields)

    # -- SageMaker resources ----------------------------------------------------------------------

    def create_model(self, event: dict[str, Any]) -> dict[str, Any]:
        state = read_state(event)
        version = self._registry().get_version(
            state.deployment.model_id, state.deployment.version, state.caller
        )
        name = self._containers().ensure_model(version)
        state.steps["create_model"] = {"model_name": name}
        self._step(state, "create_model", f"SageMaker model {name}.")
        return state.output()

    def create_endpoint_config(self, event: dict[str, Any]) -> dict[str, Any]:
        state = read_state(event)
        capture_uri = f"s3://{self._settings.capture_bucket}/capture"
        self._endpoints().create_config(
            state.names.endpoint_config,
            state.names.model,
            state.deployment.config,
            capture_uri,
            self._tags(state),
        )
        state.steps["create_endpoint_config"] = {"endpoint_config_name": state.names.endpoint_config}
        self._step(state, "create_endpoint_config", f"Endpoint config {state.names.endpoint_config}.")
        return state.output()

    def create_candidate(self, event: dict[str, Any]) -> dict[str, Any]:
        """The candidate endpoint: the new config, smoke-tested before any real request sees it."""
        state = read_state(event)
        endpoints = self._endpoints()
        name, config = state.names.candidate, state.names.endpoint_config
        found = endpoints.describe(name)
        if found is not None and config not in (found.config_name, found.pending_config_name):
            # Left over from a deployment whose roll back could not delete it: delete, then retry.
            if found.status != "Deleting":
                endpoints.delete(name)
            raise EndpointBusy(f"The candidate endpoint {name} of an earlier deployment is being deleted.")
        if found is None:
            endpoints.create(name, config, self._tags(state))
        state.steps["candidate"] = Wait(endpoint_name=name, config_name=config).model_dump()
        self._step(state, "create_candidate_endpoint", f"Candidate endpoint {name}.")
        return state.output()

    def check_endpoint(self, event: dict[str, Any]) -> dict[str, Any]:
        """One DescribeEndpoint of the `target` wait (`candidate` or `live`)."""
        state = read_state(event)
        target = str(event.get("target"))
        if target not in {"candidate", "live"}:
            raise DeploymentStepError(f"check_endpoint needs target candidate or live, not {target!r}.")
        wait = state.wait(target)
        found = self._endpoints().describe(wait.endpoint_name)
        if found is None:
            raise EndpointFailed(f"Endpoint {wait.endpoint_name} no longer exists.")
        if found.status == "Failed":
            raise EndpointFailed(
                f"Endpoint {wait.endpoint_name} failed: {found.failure_reason or 'no reason given'}"
            )
        if found.status == "InService" and found.config_name != wait.config_name:
            raise EndpointUpdateFailed(
                f"Endpoint {wait.endpoint_name} stayed on {found.config_name}: "
                f"{found.failure_reason or 'the update to ' + wait.config_name + ' did not complete'}"
            )
        waited = wait.waited + wait.wait_seconds
        state.steps[target] = wait.model_copy(
            update={
                "status": found.status,
                "polls": wait.polls + 1,
                "waited": waited,
                "wait_seconds": next_wait(wait.polls + 1, state.poll.seconds),
                "timed_out": found.status != "InService" and waited >= state.poll.timeout_seconds,
            }
        ).model_dump()
        if found.status == "InService":
            key = "check_candidate_endpoint" if target == "candidate" else "check_live_endpoint"
            self._step(state, key, f"{wait.endpoint_name} InService on {wait.config_name}.")
        return state.output()

    # -- smoke tests ------------------------------------------------------------------------------

    def smoke_test(self, event: dict[str, Any]) -> dict[str, Any]:
        """Every sample through InvokeEndpoint of the `target` endpoint; any error fails the deployment."""
        state = read_state(event)
        target = str(event.get("target"))
        if target not in {"candidate", "live"}:
            raise DeploymentStepError(f"smoke_test needs target candidate or live, not {target!r}.")
        endpoint = state.names.candidate if target == "candidate" else state.names.endpoint
        samples = state.deployment.sample_payloads
        if samples is None:
            if not state.samples_uri:
                raise NoSamplePayloads("The deployment has no sample payloads.")
            samples = self._samples().load(state.samples_uri)
        runtime = self._runtime()
        failures = []
        for index, sample in enumerate(samples):
            answer = runtime.invoke(endpoint, sample.content_type, sample.body)
            if not 200 <= answer.status < 300:
                failures.append(
                    {"sample": index, "status": answer.status, "error": answer.error, "message": answer.body}
                )
        key = f"smoke_test_{target}"
        if failures:
            first = failures[0]
            raise SmokeTestFailed(
                f"{len(failures)} of {len(samples)} samples failed on {endpoint}; sample {first['sample']}: "
                f"{first['status']} {first['error'] or ''} {first['message']}".strip(),
                failures,
            )
        state.steps[key] = {"endpoint_name": endpoint, "samples": len(samples)}
        self._step(state, key, f"{len(samples)} samples answered by {endpoint}.")
        return state.output()

    # -- the live endpoint ------------------------------------------------------------------------

    def update_live(self, event: dict[str, Any]) -> dict[str, Any]:
        """Create the environment's endpoint, or update it blue/green onto the new config."""
        state = read_state(event)
        endpoints = self._endpoints()
        name, config = state.names.endpoint, state.names.endpoint_config
        serverless = state.deployment.config.is_serverless
        found = endpoints.describe(name)
        if found is None:
            endpoints.create(name, config, self._tags(state))
            if not serverless:
                self._alarms().ensure(name)
            action = "created"
        elif config in (found.config_name, found.pending_config_name):
            action = "updated"  # this task ran already (a retried invocation)
        elif found.status in CHANGING:
            raise EndpointBusy(f"Endpoint {name} is {found.status}; it cannot take an update now.")
        else:
            # Application Auto Scaling refuses updates that change a scaled variant; the restore
            # point's registration is put back by Register autoscaling or by Roll back.
            self._autoscaling().deregister(name)
            guarded = not serverless and not state.restore.serverless
            alarms = self._alarms().ensure(name) if guarded else None
            endpoints.update(name, config, alarms=alarms, bake_seconds=self._settings.deployment_bake_seconds)
            action = "updated"
        state.steps["live"] = Wait(endpoint_name=name, config_name=config, action=action).model_dump()
        self._step(state, "create_or_update_live_endpoint", f"Endpoint {name} {action} with {config}.")
        return state.output()

    def register_autoscaling(self, event: dict[str, Any]) -> dict[str, Any]:
        state = read_state(event)
        config = state.deployment.config
        scaling = self._autoscaling()
        if config.is_serverless:
            message = "Serverless: SageMaker scales it."
        elif config.autoscaling is not None:
            scaling.register(state.names.endpoint, config.autoscaling)
            message = (
                f"{config.autoscaling.min_capacity} to {config.autoscaling.max_capacity} instances, "
                f"{config.autoscaling.target_invocations_per_instance:g} invocations per instance."
            )
        else:
            scaling.deregister(state.names.endpoint)
            message = "No autoscaling asked for."
        state.steps["register_autoscaling"] = {"message": message}
        self._step(state, "register_autoscaling", message)
        return state.output()

    def delete_candidate(self, event: dict[str, Any]) -> dict[str, Any]:
        state = read_state(event)
        self._endpoints().delete(state.names.candidate)
        state.steps["delete_candidate_endpoint"] = {"endpoint_name": state.names.candidate}
        self._step(state, "delete_candidate_endpoint", f"Candidate endpoint {state.names.candidate} deleted.")
        return state.output()

    # -- the end ----------------------------------------------------------------------------------

    def mark_deployed(self, event: dict[str, Any]) -> dict[str, Any]:
        """The environment serves the version: its record, the registry alias, model.deployed."""
        state = read_state(event)
        deployment, names = state.deployment, state.names
        caller = state.caller
        self._registry().promote(
            deployment.model_id,
            deployment.version,
            deployment.environment,
            f"Deployed by deployment {deployment.deployment_id}.",
            caller,
        )
        now = self._clock()
        record = self._require(deployment)
        environment = EnvironmentState(
            environment=deployment.environment,
            status=EnvironmentStatus.DEPLOYED,
            version=deployment.version,
            endpoint_name=names.endpoint,
            endpoint_config_name=names.endpoint_config,
            serverless=deployment.config.is_serverless,
            autoscaling=None if deployment.config.is_serverless else deployment.config.autoscaling,
            deployment_id=deployment.deployment_id,
            updated_at=now,
        )
        entry = HistoryEntry(
            status=DeploymentStatus.SUCCEEDED,
            step=STEP_NAMES["mark_deployed"],
            at=now,
            message=f"{deployment.environment.value} serves version {deployment.version}.",
        )
        try:
            self._store().succeed(record, environment, entry)
        except LockLost as error:
            raise DeploymentStepError(
                f"Deployment {deployment.deployment_id} no longer holds its environment."
            ) from error
        self._publisher().publish(
            [
                LifecycleEvent(
                    "model.deployed",
                    {
                        "deployment_id": deployment.deployment_id,
                        "model_id": deployment.model_id,
                        "version": deployment.version,
                        "environment": deployment.environment.value,
                        "endpoint_name": names.endpoint,
                        "endpoint_config_name": names.endpoint_config,
                        "previous_version": state.restore.version,
                        "serverless": deployment.config.is_serverless,
                    },
                    caller.actor,
                    now,
                )
            ]
        )
        state.steps["mark_deployed"] = {"version": deployment.version}
        return state.output()

    def roll_back(self, event: dict[str, Any]) -> dict[str, Any]:
        """Bring the restore point back; `steps.rollback.done` false: wait, then call again."""
        raw = dict(event.get("state") or {})
        try:
            state = WorkingState.model_validate(raw)
        except ValidationError:
            return self._fail_unprepared(raw)  # Prepare failed: nothing was touched
        progress = dict(state.steps.get("rollback") or {"polls": 0, "waited": 0, "wait_seconds": 0})
        if not self._restore(state):
            waited = int(progress["waited"]) + int(progress["wait_seconds"])
            if waited >= state.poll.timeout_seconds:
                raise RollbackIncomplete(
                    f"Endpoint {state.names.endpoint} did not return to {state.restore.endpoint_config_name} "
                    f"within {state.poll.timeout_seconds} s."
                )
            progress.update(
                polls=int(progress["polls"]) + 1,
                waited=waited,
                wait_seconds=next_wait(int(progress["polls"]) + 1, state.poll.seconds),
                done=False,
            )
            state.steps["rollback"] = progress
            return state.output()
        failed_step, cause = failure_of(state.failure)
        self._end(state, DeploymentStatus.ROLLED_BACK, failed_step, cause, serving=state.restore.version)
        progress["done"] = True
        state.steps["rollback"] = progress
        return state.output()

    def give_up(self, event: dict[str, Any]) -> dict[str, Any]:
        """`Roll back failed`: the deployment ends `failed`; the environment is released for the next one."""
        raw = dict(event.get("state") or {})
        try:
            state = WorkingState.model_validate(raw)
        except ValidationError:
            return self._fail_unprepared(raw)
        failed_step, cause = failure_of(state.failure)
        _, rollback_cause = failure_of({"roll_back": raw.get("rollback_error") or {}})
        self._end(
            state,
            DeploymentStatus.FAILED,
            failed_step,
            f"{cause} The roll back failed too ({rollback_cause}): check endpoint {state.names.endpoint}.",
            serving=None,
        )
        return state.output()

    # -- helpers ----------------------------------------------------------------------------------

    def _restore(self, state: WorkingState) -> bool:
        """One pass of the roll back; True once the restore point serves (or nothing is left)."""
        endpoints, names, restore = self._endpoints(), state.names, state.restore
        endpoints.delete(names.candidate)
        live = endpoints.describe(names.endpoint)
        if not restore.endpoint_exists:
            if live is not None:  # created by this deployment: nothing served before, nothing should now
                self._autoscaling().deregister(names.endpoint)
                endpoints.delete(names.endpoint)
                self._alarms().delete(names.endpoint)
            return True
        if live is None:
            logger.warning(
                "The live endpoint vanished during the deployment", extra={"endpoint": names.endpoint}
            )
            return True
        if live.status in CHANGING:
            return False
        if live.config_name != restore.endpoint_config_name:
            if live.status != "InService":
                raise RollbackIncomplete(f"Endpoint {names.endpoint} is {live.status} on {live.config_name}.")
            endpoints.update(names.endpoint, str(restore.endpoint_config_name), alarms=None, bake_seconds=0)
            return False
        scaling = self._autoscaling()
        if restore.autoscaling is not None:
            scaling.register(names.endpoint, restore.autoscaling)
        elif not restore.serverless:
            scaling.deregister(names.endpoint)
        if "mark_deployed" in state.failure:
            self._restore_alias(state)
        return True

    def _restore_alias(self, state: WorkingState) -> None:
        """`Mark deployed` may have moved the alias before it failed: put it back."""
        deployment, caller = state.deployment, state.caller
        registry = self._registry()
        aliases = registry.get_model(deployment.model_id, caller).aliases
        if (
            aliases.get(deployment.environment) != deployment.version
            or state.restore.version == deployment.version
        ):
            return
        reason = f"Deployment {deployment.deployment_id} rolled back."
        if state.restore.version is None:
            registry.clear_alias(deployment.model_id, deployment.environment, reason, caller)
        else:
            registry.promote(
                deployment.model_id, state.restore.version, deployment.environment, reason, caller
            )

    def _end(
        self,
        state: WorkingState,
        status: DeploymentStatus,
        failed_step: str,
        cause: str,
        *,
        serving: int | None,
    ) -> None:
        deployment = state.deployment
        now = self._clock()
        record = self._store().get_deployment(deployment.model_id, deployment.deployment_id)
        if record is not None and record.status is DeploymentStatus.IN_PROGRESS:
            entry = HistoryEntry(status=status, step="Roll back", at=now, message=cause[:512])
            try:
                self._store().end(record, status, entry, failed_step=failed_step, cause=cause, release=True)
            except LockLost:
                logger.warning("Deployment already ended", extra={"deployment_id": deployment.deployment_id})
        events = [
            LifecycleEvent(
                "model.deployment_failed",
                {
                    "deployment_id": deployment.deployment_id,
                    "model_id": deployment.model_id,
                    "version": deployment.version,
                    "environment": deployment.environment.value,
                    "failed_step": failed_step,
                    "cause": cause,
                    "serving_version": serving,
                },
                deployment.actor.username or deployment.actor.sub,
                now,
            )
        ]
        if serving is not None:
            events.append(
                LifecycleEvent(
                    "model.rolled_back",
                    {
                        "model_id": deployment.model_id,
                        "environment": deployment.environment.value,
                        "from_version": deployment.version,
                        "to_version": serving,
                        "reason": f"Deployment {deployment.deployment_id} failed at {failed_step}."[:1024],
                        "deployment_id": deployment.deployment_id,
                        "cause": cause,
                    },
                    deployment.actor.username or deployment.actor.sub,
                    now,
                    event_version=ROLLED_BACK_EVENT_VERSION,
                )
            )
        self._publisher().publish(events)
        logger.info(
            "Deployment ended", extra={"status": status.value, "failed_step": failed_step, "cause": cause}
        )

    def _fail_unprepared(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Prepare failed: end the deployment (when it is recorded and ours) and say why."""
        failed_step, cause = failure_of(dict(raw.get("failure") or {}))
        deployment_id = str(raw.get("deployment_id") or "")
        model_id = str(raw.get("model_id") or "")
        environment = str(raw.get("environment") or "")
        store = self._store()
        record = store.get_deployment(model_id, deployment_id) if deployment_id and model_id else None
        now = self._clock()
        if record is not None and record.status is DeploymentStatus.IN_PROGRESS:
            entry = HistoryEntry(
                status=DeploymentStatus.ROLLED_BACK, step="Roll back", at=now, message=cause[:512]
            )
            try:
                store.end(
                    record,
                    DeploymentStatus.ROLLED_BACK,
                    entry,
                    failed_step=failed_step,
                    cause=cause,
                    release=True,
                )
            except LockLost:
                logger.warning("Deployment already ended", extra={"deployment_id": deployment_id})
        if model_id and environment:
            current = store.get_environment(model_id, environment)
            actor = raw.get("actor") or {}
            self._publisher().publish(
                [
                    LifecycleEvent(
                        "model.deployment_failed",
                        {
                            "deployment_id": deployment_id,
                            "model_id": model_id,
                            "version": record.version if record else int(raw.get("version") or 1),
                            "environment": environment,
                            "failed_step": failed_step,
                            "cause": cause,
                            "serving_version": current.version if current else None,
                        },
                        str(actor.get("username") or actor.get("sub") or "cirrus"),
                        now,
                    )
                ]
            )
        return {**raw, "steps": {"rollback": {"done": True}}}

    def _require(self, deployment: DeploymentInput) -> Deployment:
        record = self._store().get_deployment(deployment.model_id, deployment.deployment_id)
        if record is None:
            raise DeploymentStepError(f"Deployment {deployment.deployment_id} is not recorded.")
        return record

    def _step(self, state: WorkingState, key: str, message: str) -> None:
        entry = HistoryEntry(
            status=DeploymentStatus.IN_PROGRESS, step=STEP_NAMES[key], at=self._clock(), message=message
        )
        self._history(state.deployment, entry)

    def _history(self, deployment: DeploymentInput, entry: HistoryEntry, **fields: str | int | None) -> None:
        try:
            self._store().record(deployment.model_id, deployment.deployment_id, entry, **fields)
        except LockLost as error:
            raise DeploymentStepError(
                f"Deployment {deployment.deployment_id} is no longer in progress."
            ) from error

    @staticmethod
    def _tags(state: WorkingState) -> dict[str, str]:
        deployment = state.deployment
        return {
            "cirrus:model_id": deployment.model_id,
            "cirrus:version": str(deployment.version),
            "cirrus:environment": deployment.environment.value,
            "cirrus:deployment_id": deployment.deployment_id,
        }


__all__ = ["Rollout", "SampleReader", "WorkingState", "as_json", "failure_of", "next_wait"]
