"""The monitoring API's use cases: drift configs, baselines and drift runs.

Alert rules are cirrus_core.alerting.rules.

Every refusal happens before anything is written, scheduled or started (docs/monitoring.md).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from cirrus_core.arns import execution_arn_of
from cirrus_core.audit.entries import entry_for
from cirrus_core.audit.models import AuditCategory
from cirrus_core.authz import Resource, authorize, determining_policies
from cirrus_core.errors import (
    DriftReportNotReady,
    DriftRunNotFound,
    EnvironmentNotDeployed,
    InvalidDriftConfig,
    InvalidPaginationToken,
    ModelNotFound,
    ModelRetired,
    NoBaseline,
    UnknownFeature,
    VersionNotFound,
    VersionRetired,
)
from cirrus_core.monitoring.models import (
    TEST_KINDS,
    BaselineView,
    CreateBaselineRequest,
    DriftConfigRequest,
    DriftConfigView,
    DriftRun,
    DriftRunPage,
    DriftRunStatus,
    DriftRunSummary,
    DriftRunTrigger,
    StartDriftRunRequest,
    drift_run_links,
    new_run_id,
    window_length,
)
from cirrus_core.pagination import decode_token, encode_token

if TYPE_CHECKING:
    from collections.abc import Callable

    from cirrus_core.audit.models import AuditEntry
    from cirrus_core.caller import Caller
    from cirrus_core.registry.models import ModelVersion, RegisteredModel
    from cirrus_core.serving.inference import ServingDirectory


# -- ports ------------------------------------------------------------------------------------------


class MonitoringStorePort(Protocol):
    def drift_config(self, model_id: str) -> tuple[DriftConfigRequest, datetime, str] | None: ...

    def put_drift_config(
        self, model_id: str, config: DriftConfigRequest, at: datetime, by: str, audit: AuditEntry | None
    ) -> None: ...

    def create_run(self, run: DriftRunSummary, audit: AuditEntry | None = None) -> None: ...

    def finish_run(self, run: DriftRun) -> None: ...

    def run(self, model_id: str, run_id: str) -> DriftRun | None: ...

    def runs(
        self, model_id: str, *, limit: int, before: str | None = None, environment: str | None = None
    ) -> tuple[list[DriftRunSummary], str | None]: ...


class RegistryPort(Protocol):
    def model(self, model_id: str) -> RegisteredModel | None: ...

    def version(self, model_id: str, version: int) -> ModelVersion | None: ...

    def link_baseline(self, model_id: str, version: int, baseline_uri: str, caller: Caller) -> None: ...


class BaselineFeaturesPort(Protocol):
    def features(self, baseline_uri: str) -> dict[str, str]: ...


class BaselineBuilderPort(Protocol):
    def build(self, request: CreateBaselineRequest, actor: str) -> BaselineView: ...


class ExecutionStarter(Protocol):
    def start(self, state_machine_arn: str, name: str, execution_input: str) -> str: ...


class ReportPort(Protocol):
    def read_text(self, uri: str) -> str: ...


# -- helpers ------------------------------------------------------------------------------------------


def _with_links(run: DriftRunSummary) -> DriftRunSummary:
    return run.model_copy(
        update={"links": drift_run_links(run.model_id, run.run_id, report=run.report_uri is not None)}
    )


class MonitoringService:
    """Drift configs, baselines and drift runs, each on behalf of a `Caller`."""

    def __init__(
        self,
        store: MonitoringStorePort,
        registry: RegistryPort,
        environments: ServingDirectory,
        baseline_features: BaselineFeaturesPort,
        executions: ExecutionStarter,
        reports: ReportPort,
        *,
        baseline_builder: Callable[[], BaselineBuilderPort],
        drift_state_machine_arn: str,
        audit_enabled: bool = True,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._store = store
        self._registry = registry
        self._environments = environments
        self._baseline_features = baseline_features
        self._executions = executions
        self._reports = reports
        self._baseline_builder = baseline_builder
        self._arn = drift_state_machine_arn
        self._audit_enabled = audit_enabled
        self._clock = clock
        self._new_id = new_id

    # -- drift configs ------------------------------------------------------------------------------

    def get_drift_config(self, model_id: str, caller: Caller) -> DriftConfigView:
        authorize(caller.principal, "GetDriftConfig", Resource.model(model_id))
        self._model(model_id)
        stored = self._store.drift_config(model_id)
        if stored is None:
            return DriftConfigView(model_id=model_id, source="default", **DriftConfigRequest().model_dump())
        config, at, by = stored
        return DriftConfigView(
            model_id=model_id, source="model", updated_at=at, updated_by=by, **config.model_dump()
        )

    def put_drift_config(self, model_id: str, request: DriftConfigRequest, caller: Caller) -> DriftConfigView:
        """Set the model's drift config; per-feature thresholds must name features of its latest baseline."""
        authorize(caller.principal, "PutDriftConfig", Resource.model(model_id))
        model = self._model(model_id)
        if request.feature_thresholds:
            known = self._latest_baseline_features(model)
            unknown = sorted(set(request.feature_thresholds) - set(known))
            if unknown:
                names = ", ".join(map(repr, unknown[:5]))
                raise UnknownFeature(
                    f"The latest baseline of '{model_id}' has no feature {names}.",
                    [{"field": "feature_thresholds", "unknown": unknown[:50], "known": list(known)[:200]}],
                )
            misfits = [
                f"{name}.{method}"
                for name, thresholds in sorted(request.feature_thresholds.items())
                for method in thresholds.given()
                if TEST_KINDS.get(method, known[name]) != known[name]
            ]
            if misfits:
                raise InvalidDriftConfig(
                    "ks applies to numeric features only, chi_square to categorical ones: "
                    f"{', '.join(misfits[:5])} does not fit the feature's kind in the latest baseline.",
                    [{"field": "feature_thresholds", "misfits": misfits[:50]}],
                )
        now = self._clock()
        self._store.put_drift_config(
            model_id,
            request,
            now,
            caller.actor,
            self._audit(caller, "put_drift_config", f"model/{model_id}/drift-config", now),
        )
        return DriftConfigView(
            model_id=model_id, source="model", updated_at=now, updated_by=caller.actor, **request.model_dump()
        )

    def _latest_baseline_features(self, model: RegisteredModel) -> dict[str, str]:
        """The features (name: kind) of the latest version's baseline that has one."""
        for number in range(model.latest_version, 0, -1):
            version = self._registry.version(model.model_id, number)
            if version is not None and version.baseline_uri:
                return self._baseline_features.features(version.baseline_uri)
        raise NoBaseline(
            f"No version of '{model.model_id}' has a drift baseline, so per-feature thresholds cannot be "
            "checked; build one with POST /api/v1/monitoring/baselines."
        )

    # -- baselines ----------------------------------------------------------------------------------

    def create_baseline(self, request: CreateBaselineRequest, caller: Caller) -> BaselineView:
        """Build a version's baseline from a dataset and link it to the version."""
        authorize(caller.principal, "CreateBaseline", Resource.model(request.model_id))
        model = self._model(request.model_id)
        version = self._registry.version(request.model_id, request.version)
        if version is None:
            raise VersionNotFound(f"Model '{request.model_id}' has no version {request.version}.")
        # The registry refuses to link a retired version's baseline: refuse before one is built and stored.
        if model.retired:
            raise ModelRetired(f"Model '{request.model_id}' is retired.")
        if version.retired:
            raise VersionRetired(
                f"Version {request.version} of '{request.model_id}' is retired: its baseline is kept as is."
            )
        view = self._baseline_builder().build(request, caller.actor)
        self._registry.link_baseline(request.model_id, request.version, view.baseline_uri, caller)
        return view

    # -- drift runs -------------------------------------------------------------------------------

    def start_run(self, model_id: str, request: StartDriftRunRequest, caller: Caller) -> DriftRunSummary:
        """Start a drift monitor run over a window of the environment's captured traffic (202)."""
        authorize(caller.principal, "StartDriftRun", Resource.model(model_id))
        self._model(model_id)
        environment = request.environment.value
        endpoint = self._environments.serving_endpoint(model_id, environment)
        if endpoint is None or endpoint.version < 1:
            raise EnvironmentNotDeployed(
                f"Model '{model_id}' is not deployed to {environment}: there is no traffic to check.",
                [{"model_id": model_id, "environment": environment}],
            )
        version = self._registry.version(model_id, endpoint.version)
        if version is None or not version.baseline_uri:
            raise NoBaseline(
                f"Version {endpoint.version} of '{model_id}' (serving {environment}) has no drift baseline; "
                "build one with POST /api/v1/monitoring/baselines.",
                [{"version": endpoint.version, "environment": environment}],
            )
        now = self._clock()
        if request.window_start is not None and request.window_end is not None:
            start, end = request.window_start.astimezone(UTC), request.window_end.astimezone(UTC)
        else:
            end = now
            start = end - window_length(request.window or "1h")
        run_id = new_run_id(now)
        run = DriftRunSummary(
            run_id=run_id,
            model_id=model_id,
            environment=request.environment,
            version=endpoint.version,
            status=DriftRunStatus.RUNNING,
            trigger=DriftRunTrigger.API,
            window_start=start,
            window_end=end,
            started_at=now,
            started_by=caller.actor,
            baseline_uri=version.baseline_uri,
            execution_arn=execution_arn_of(self._arn, run_id),
        )
        self._store.create_run(
            run, self._audit(caller, "start_drift_run", f"model/{model_id}/drift-run/{run_id}", now)
        )
        document = {
            "run_id": run_id,
            "model_id": model_id,
            "environment": environment,
            "window_start": start.isoformat(),
            "window_end": end.isoformat(),
            "trigger": DriftRunTrigger.API.value,
            "actor": caller.actor,
        }
        try:
            self._executions.start(self._arn, run_id, json.dumps(document, separators=(",", ":")))
        except Exception as error:
            self._store.finish_run(
                DriftRun.model_validate(
                    {
                        **run.model_dump(),
                        "status": DriftRunStatus.FAILED,
                        "finished_at": self._clock(),
                        "failure_reason": f"The drift monitor did not start: {error}"[:1024],
                    }
                )
            )
            raise
        return _with_links(run)

    def list_runs(
        self, model_id: str, limit: int, next_token: str | None, environment: str | None, caller: Caller
    ) -> DriftRunPage:
        """A model's drift runs, newest first."""
        authorize(caller.principal, "ListDriftRuns", Resource.model(model_id))
        self._model(model_id)
        before: str | None = None
        if next_token:
            position = decode_token(next_token, frozenset({"m", "r", "e"}))
            if (
                position["m"] != model_id
                or position["e"] != environment
                or not isinstance(position["r"], str)
            ):
                raise InvalidPaginationToken("next_token does not belong to this listing.")
            before = position["r"]
        items, last = self._store.runs(model_id, limit=limit, before=before, environment=environment)
        token = encode_token({"m": model_id, "r": last, "e": environment}) if last else None
        return DriftRunPage(items=[_with_links(item) for item in items], next_token=token)

    def get_run(self, model_id: str, run_id: str, caller: Caller) -> DriftRun:
        """One run with every feature's scores, thresholds and verdicts."""
        authorize(caller.principal, "GetDriftRun", Resource.model(model_id))
        run = self._store.run(model_id, run_id)
        if run is None:
            raise DriftRunNotFound(f"Model '{model_id}' has no drift run '{run_id}'.")
        return DriftRun.model_validate(_with_links(run).model_dump())

    def report(self, model_id: str, run_id: str, caller: Caller) -> str:
        """The run's HTML report."""
        authorize(caller.principal, "GetDriftRun", Resource.model(model_id))
        run = self._store.run(model_id, run_id)
        if run is None:
            raise DriftRunNotFound(f"Model '{model_id}' has no drift run '{run_id}'.")
        if run.report_uri is None:
            raise DriftReportNotReady(
                f"Drift run '{run_id}' has no report: it is {run.status.value}.",
                [{"status": run.status.value, "failure_reason": run.failure_reason}],
            )
        return self._reports.read_text(run.report_uri)

    # -- shared -----------------------------------------------------------------------------------

    def _model(self, model_id: str) -> RegisteredModel:
        model = self._registry.model(model_id)
        if model is None:
            raise ModelNotFound(f"No model '{model_id}' is registered.")
        return model

    def _audit(self, caller: Caller, action: str, resource: str, at: datetime) -> AuditEntry | None:
        if not self._audit_enabled:
            return None
        return entry_for(caller, action, resource, AuditCategory.CHANGE, at, policies=determining_policies())
