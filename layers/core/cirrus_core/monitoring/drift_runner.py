"""The drift monitor's step: one run over one window of an environment's captured traffic.

Imported only by the drift monitor's step functions, which carry the science layer (numpy and the drift
engine); nothing else in the core layer imports this module.

A run (docs/monitoring.md, "Runs"): resolve the version the environment serves and its baseline, read
the window's data capture, check every feature against the baseline with the model's drift config
(reusing the stored calibration when the window size has not changed materially), write the report,
the Model Monitor violations file and the full result to the monitoring bucket, store the run's
verdict, and publish `drift.detected` when any feature drifted. A window with fewer rows than the
config's `min_rows` ends `insufficient_data`, with no verdict and no event.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ValidationError

from cirrus_core.errors import MonitoringStepError
from cirrus_core.events import LifecycleEvent
from cirrus_core.monitoring.models import (
    TEST_KINDS,
    DriftConfigRequest,
    DriftRun,
    DriftRunStatus,
    DriftRunSummary,
    DriftRunTrigger,
    FeatureScore,
    new_run_id,
    window_length,
)
from cirrus_core.monitoring.store import RunExists
from cirrus_core.registry.primitives import Environment

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from cirrus_science.drift.baseline import Baseline
    from cirrus_science.drift.calibration import Calibration
    from cirrus_science.drift.results import DriftResult

    from cirrus_core.monitoring.capture import CapturedRows
    from cirrus_core.monitoring.service import MonitoringStorePort
    from cirrus_core.serving.inference import ServingDirectory

MAX_FAILURE_REASON = 1024
SCHEDULER_ACTOR = "scheduler"


class MonitorInput(BaseModel):
    """The drift monitor's execution input: from the API (with run id and window) or a schedule."""

    model_id: str
    environment: Environment
    trigger: DriftRunTrigger = DriftRunTrigger.SCHEDULE
    run_id: str | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    window: str | None = None
    alert_id: str | None = None
    actor: str | None = None


class MonitorStepEvent(BaseModel):
    """What the state machine passes each step: the input, and the execution's name and start time."""

    input: MonitorInput
    execution_name: str
    execution_start: datetime
    error: dict[str, Any] | None = None


def read_step_event(document: Any) -> MonitorStepEvent:
    try:
        return MonitorStepEvent.model_validate(document)
    except ValidationError as error:
        raise MonitoringStepError(
            f"The drift monitor's step input is invalid: {error.errors(include_url=False)}"
        ) from error


class BaselineStorePort(Protocol):
    def load(self, uri: str) -> Baseline: ...

    def calibration(self, fingerprint: str) -> Calibration | None: ...

    def save_calibration(self, calibration: Calibration) -> None: ...


class BaselineLinksPort(Protocol):
    def baseline_uri(self, model_id: str, version: int) -> str | None: ...


class CapturePort(Protocol):
    def read_window(
        self, endpoint_name: str, start: datetime, end: datetime, columns: Sequence[str], max_rows: int
    ) -> CapturedRows: ...


class ReportWriterPort(Protocol):
    def write(self, key: str, body: bytes, content_type: str) -> str: ...


class EventSink(Protocol):
    def publish(self, events: Sequence[LifecycleEvent]) -> None: ...


def run_identity(event: MonitorStepEvent) -> tuple[str, datetime, datetime]:
    """The run's id and window: the API's, or derived from a scheduled execution's start (the same on
    every retry of the step)."""
    given = event.input
    if given.run_id and given.window_start and given.window_end:
        return given.run_id, given.window_start.astimezone(UTC), given.window_end.astimezone(UTC)
    end = event.execution_start.astimezone(UTC).replace(second=0, microsecond=0)
    start = end - window_length(given.window or "1h")
    return new_run_id(event.execution_start, seed=event.execution_name), start, end


class DriftRunner:
    """Runs one drift check and records it."""

    def __init__(
        self,
        store: MonitoringStorePort,
        registry: BaselineLinksPort,
        environments: ServingDirectory,
        baselines: BaselineStorePort,
        capture: CapturePort,
        reports: ReportWriterPort,
        events: EventSink,
        *,
        max_window_rows: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._registry = registry
        self._environments = environments
        self._baselines = baselines
        self._capture = capture
        self._reports = reports
        self._events = events
        self._max_rows = max_window_rows
        self._clock = clock

    def run(self, event: MonitorStepEvent) -> dict[str, Any]:
        """Check the window and record the outcome; a repeated call returns the recorded outcome."""
        run = self._open_run(event)
        if run.status is not DriftRunStatus.RUNNING:
            return _outcome(run)
        given = event.input
        endpoint = self._environments.serving_endpoint(given.model_id, given.environment.value)
        if endpoint is None or endpoint.version < 1 or not endpoint.endpoint_name:
            return self._finish_failed(
                run, f"Model '{given.model_id}' is not deployed to {given.environment.value}."
            )
        baseline_uri = self._registry.baseline_uri(given.model_id, endpoint.version)
        if baseline_uri is None:
            return self._finish_failed(
                run,
                f"Version {endpoint.version} of '{given.model_id}' has no drift baseline.",
                version=endpoint.version,
            )
        run = run.model_copy(update={"version": endpoint.version, "baseline_uri": baseline_uri})
        baseline = self._baselines.load(baseline_uri)
        columns = [feature.name for feature in baseline.features]
        captured = self._capture.read_window(
            endpoint.endpoint_name, run.window_start, run.window_end, columns, self._max_rows
        )
        return self._check(run, baseline, captured)

    def record_failure(self, event: MonitorStepEvent) -> dict[str, Any]:
        """The state machine's catch: the run ends failed with the error's cause."""
        run = self._open_run(event)
        if run.status is not DriftRunStatus.RUNNING:
            return _outcome(run)
        error = event.error or {}
        cause = str(error.get("Cause") or error.get("Error") or "The drift monitor failed.")
        with contextlib.suppress(ValueError, AttributeError):
            cause = str(json.loads(cause).get("errorMessage", cause))
        return self._finish_failed(run, cause)

    # -- the check ---------------------------------------------------------------------------------

    def _check(self, run: DriftRun, baseline: Baseline, captured: CapturedRows) -> dict[str, Any]:
        from cirrus_science.drift.baseline import columns_from_records
        from cirrus_science.drift.config import DriftConfig
        from cirrus_science.drift.engine import InsufficientData, check_drift
        from cirrus_science.drift.report import ReportContext, render_html, violations

        stored = self._store.drift_config(run.model_id)
        request = stored[0] if stored is not None else DriftConfigRequest()
        config = DriftConfig.from_dict(applicable_config(request.engine_config(), baseline))
        window, extra = columns_from_records(captured.rows, baseline.features)
        calibration = self._baselines.calibration(baseline.fingerprint)
        try:
            result, used = check_drift(baseline, window, config, calibration=calibration, extra_columns=extra)
        except InsufficientData as error:
            finished = run.model_copy(
                update={
                    "status": DriftRunStatus.INSUFFICIENT_DATA,
                    "rows": len(captured.rows),
                    "finished_at": self._clock(),
                    "failure_reason": str(error)[:MAX_FAILURE_REASON],
                }
            )
            self._store.finish_run(finished)
            return _outcome(finished)
        if not result.calibration_reused:
            self._baselines.save_calibration(used)
        prefix = f"drift/{run.model_id}/{run.environment.value}/{run.run_id}"
        context = ReportContext(
            model_id=run.model_id,
            version=run.version or 0,
            environment=run.environment.value,
            run_id=run.run_id,
            window_start=run.window_start.isoformat(),
            window_end=run.window_end.isoformat(),
            baseline_uri=run.baseline_uri or "",
            generated_at=self._clock().isoformat(),
        )
        report_uri = self._reports.write(
            f"{prefix}/report.html", render_html(result, context).encode("utf-8"), "text/html; charset=utf-8"
        )
        violations_uri = self._reports.write(
            f"{prefix}/constraint_violations.json", _json_bytes(violations(result)), "application/json"
        )
        result_document = {**result.to_dict(), "requests": captured.requests, "truncated": captured.truncated}
        result_uri = self._reports.write(
            f"{prefix}/result.json", _json_bytes(result_document), "application/json"
        )
        finished = run.model_copy(
            update={
                "status": DriftRunStatus.SUCCEEDED,
                "rows": result.rows,
                "drifted_features": list(result.drifted_features),
                "drift_share": result.drift_share,
                "dataset_drift": result.dataset_drift,
                "finished_at": self._clock(),
                "report_uri": report_uri,
                "violations_uri": violations_uri,
                "result_uri": result_uri,
                "features": feature_scores(result),
                "calibration_window_size": result.calibration_window_size,
                "calibration_reused": result.calibration_reused,
            }
        )
        # Announce before recording: a retry after a lost write publishes again (at least once),
        # where the other order could record a run whose event was never sent.
        if result.drifted_features:
            self._events.publish([drift_detected(finished, result)])
        self._store.finish_run(finished)
        return _outcome(finished)

    # -- bookkeeping -------------------------------------------------------------------------------

    def _open_run(self, event: MonitorStepEvent) -> DriftRun:
        run_id, start, end = run_identity(event)
        given = event.input
        existing = self._store.run(given.model_id, run_id)
        if existing is not None:
            return existing
        run = DriftRunSummary(
            run_id=run_id,
            model_id=given.model_id,
            environment=given.environment,
            status=DriftRunStatus.RUNNING,
            trigger=given.trigger,
            alert_id=given.alert_id,
            window_start=start,
            window_end=end,
            started_at=self._clock(),
            started_by=given.actor or SCHEDULER_ACTOR,
        )
        with contextlib.suppress(RunExists):
            self._store.create_run(run)
        stored = self._store.run(given.model_id, run_id)
        if stored is None:
            raise MonitoringStepError(f"Drift run '{run_id}' could not be recorded.")
        return stored

    def _finish_failed(self, run: DriftRun, reason: str, *, version: int | None = None) -> dict[str, Any]:
        finished = run.model_copy(
            update={
                "status": DriftRunStatus.FAILED,
                "version": version if version is not None else run.version,
                "finished_at": self._clock(),
                "failure_reason": reason[:MAX_FAILURE_REASON],
            }
        )
        self._store.finish_run(finished)
        return _outcome(finished)


def applicable_config(engine_config: Mapping[str, Any], baseline: Baseline) -> dict[str, Any]:
    """The config with only the per-feature thresholds that apply to `baseline`.

    A config's features are checked against the model's latest baseline, while a run compares with
    the baseline of the version the environment serves, which may lack a feature or hold it as the
    other kind: thresholds of features it lacks, and tests that do not fit a feature's kind there,
    are left out (the engine refuses them) rather than failing every run of that version.
    """
    kinds = {feature.name: feature.kind for feature in baseline.features}
    applicable: dict[str, dict[str, float]] = {}
    for name, thresholds in dict(engine_config.get("feature_thresholds", {})).items():
        if name not in kinds:
            continue
        kept = {
            method: value
            for method, value in thresholds.items()
            if TEST_KINDS.get(method, kinds[name]) == kinds[name]
        }
        if kept:
            applicable[name] = kept
    return {**engine_config, "feature_thresholds": applicable}


def feature_scores(result: DriftResult) -> list[FeatureScore]:
    """The stored form of every feature's verdict (histograms stay in the result file)."""
    return [
        FeatureScore.model_validate(
            {
                "name": feature.name,
                "kind": feature.kind,
                "status": feature.status,
                "drifted": feature.drifted,
                "present_rows": feature.present_rows,
                "methods": [method.to_dict() for method in feature.methods],
                "quality": feature.quality.to_dict(),
            }
        )
        for feature in result.features
    ]


def drift_detected(run: DriftRun, result: DriftResult) -> LifecycleEvent:
    """`drift.detected` v1 (events/schemas/drift.detected.v1.json)."""
    drifted = [
        {
            "name": feature.name,
            "kind": feature.kind,
            "methods": [
                {
                    "method": method.method,
                    "score": method.score,
                    "threshold": method.threshold,
                    "threshold_source": method.threshold_source,
                    "drifted": method.drifted,
                }
                for method in feature.methods
            ],
        }
        for feature in result.features
        if feature.drifted
    ]
    data = {
        "model_id": run.model_id,
        "version": run.version,
        "environment": run.environment.value,
        "run_id": run.run_id,
        "alert_id": run.alert_id,
        "window_start": run.window_start.isoformat(),
        "window_end": run.window_end.isoformat(),
        "rows": result.rows,
        "drifted_features": drifted,
        "drift_share": result.drift_share,
        "dataset_drift": result.dataset_drift,
        "report_uri": run.report_uri,
        "violations_uri": run.violations_uri,
    }
    return LifecycleEvent("drift.detected", data, run.started_by)


def _outcome(run: DriftRunSummary) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "model_id": run.model_id,
        "status": run.status.value,
        "drifted_features": list(run.drifted_features),
        "report_uri": run.report_uri,
    }


def _json_bytes(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), allow_nan=False).encode("utf-8")
