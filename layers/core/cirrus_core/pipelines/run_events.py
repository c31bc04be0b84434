"""`Announce start`, `Notify completion`, `Notify failure`: a run's lifecycle events, and its cache.

Each publishes one event on the platform bus (source `cirrus.pipelines`, correlation id the run
id, actor the run's actor): `pipeline.started`, `pipeline.completed` or `pipeline.failed`
(events/schemas). A run that ends, either way, also records every job that succeeded in it in the
step cache, so a later run with `use_cache` can reuse them.

`Notify failure` may follow a failed `Prepare run`, when the state is still the execution input:
it reads what is there, and takes the run's id and ARN from the payload's `execution` if the
state has no `run`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from botocore.exceptions import ClientError
from pydantic import ValidationError

from cirrus_core.errors import InvalidPipeline, PipelineStepError
from cirrus_core.events import EventPublisher, LifecycleEvent
from cirrus_core.observability import logger
from cirrus_core.pipelines.definition import PipelineDefinitionRequest, validate_definition
from cirrus_core.pipelines.history import (
    MAX_CAUSE_CHARS,
    StepState,
    StepStatus,
    failed_step,
    readable_cause,
    run_steps,
)
from cirrus_core.pipelines.run_state import WorkingState, read_state

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from mypy_boto3_events import EventBridgeClient

    from cirrus_core.pipelines.cache import StepCache

EVENT_SOURCE = "cirrus.pipelines"
RunEvent = Literal["started", "completed", "failed"]
MAX_ERROR_CHARS = 256
FALLBACK_ACTOR = "cirrus.pipelines"


class HistoryReader(Protocol):
    """An execution's history events, oldest first (`cirrus_core.pipelines.history.ExecutionHistory`)."""

    def events(self, execution_arn: str) -> list[dict[str, Any]]: ...


def _text(value: Any, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


class RunNotifier:
    """Publishes a run's lifecycle events and, when it ends, fills the step cache."""

    def __init__(
        self,
        events: EventBridgeClient,
        bus_name: str,
        history: HistoryReader,
        cache: StepCache,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._events = events
        self._bus_name = bus_name
        self._history = history
        self._cache = cache
        self._clock = clock

    def notify(
        self, event: str, raw_state: Mapping[str, Any], execution: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Publish `pipeline.<event>` for the run whose working state this is."""
        run_id: str | None
        if event == "started":
            state = read_state(dict(raw_state))
            lifecycle = self._started(state)
            run_id = state.run.run_id
        elif event == "completed":
            state = read_state(dict(raw_state))
            steps = self._steps(state.definition, state.run.execution_arn)
            self._fill_cache(state, steps)
            lifecycle = self._completed(state, steps)
            run_id = state.run.run_id
        elif event == "failed":
            lifecycle, run_id = self._failed(raw_state, execution or {})
        else:
            raise PipelineStepError(f"notify_run: unknown event {event!r} (started, completed or failed).")
        EventPublisher(self._events, self._bus_name, EVENT_SOURCE, correlation_id=lambda: run_id).publish(
            [lifecycle]
        )
        logger.info("Published run event", extra={"detail_type": lifecycle.detail_type, "run_id": run_id})
        return {"published": lifecycle.detail_type, "run_id": run_id}

    # -- the three events --------------------------------------------------------------------------

    def _started(self, state: WorkingState) -> LifecycleEvent:
        return LifecycleEvent(
            "pipeline.started",
            {
                "pipeline_id": state.pipeline.pipeline_id,
                "run_id": state.run.run_id,
                "execution_arn": state.run.execution_arn,
                "definition_version": state.pipeline.definition_version,
                "trigger": state.trigger.type.value,
                "model_type": str(state.parameters.get("model_type", "")),
                "data_source": state.run.dataset.uri,
                "dataset_version": state.run.dataset.version,
            },
            state.actor.name,
            self._clock(),
        )

    def _completed(self, state: WorkingState, steps: list[StepStatus]) -> LifecycleEvent:
        started = _parse_time(state.run.started_at)
        now = self._clock()
        duration = max(0.0, (now - started).total_seconds()) if started else 0.0
        metrics = state.evaluation.metrics if state.evaluation is not None else {}
        decision = (state.approval_decision or {}).get("decision")
        registration = state.registration
        return LifecycleEvent(
            "pipeline.completed",
            {
                "pipeline_id": state.pipeline.pipeline_id,
                "run_id": state.run.run_id,
                "execution_arn": state.run.execution_arn,
                "model_id": registration.model_id if registration else None,
                "version": registration.version if registration else None,
                "approval_decision": decision if isinstance(decision, str) else None,
                "metrics": [{"name": name, "value": value} for name, value in sorted(metrics.items())][:100],
                "duration_seconds": round(duration, 3),
                "steps": [
                    {"step": step.name, "status": step.status.value} for step in steps if step.kind == "step"
                ],
            },
            state.actor.name,
            now,
        )

    def _failed(
        self, raw: Mapping[str, Any], execution: Mapping[str, Any]
    ) -> tuple[LifecycleEvent, str | None]:
        pipeline, run = _mapping(raw, "pipeline"), _mapping(raw, "run")
        run_id = str(run.get("run_id") or execution.get("name") or "") or None
        execution_arn = str(run.get("execution_arn") or execution.get("arn") or "") or None
        definition = _definition(pipeline)
        steps: list[StepStatus] = []
        failed: StepStatus | None = None
        if definition is not None and execution_arn:
            events = self._events_of(execution_arn)
            steps = run_steps(definition, events)
            failed = failed_step(definition, events)
        try:
            state: WorkingState | None = WorkingState.model_validate(raw)
        except ValidationError:
            state = None  # Prepare run failed: no jobs to cache
        if state is not None:
            self._fill_cache(state, steps)

        failure, error = _mapping(raw, "failure"), _mapping(raw, "error")
        if failure:
            where, code, cause = failure.get("step"), failure.get("error"), failure.get("cause")
        elif failed is not None:
            where, code, cause = failed.name, failed.error, failed.cause
        else:
            where, code, cause = None, error.get("Error"), readable_cause(error.get("Cause"))
        actor = _mapping(raw, "actor")
        lifecycle = LifecycleEvent(
            "pipeline.failed",
            {
                "pipeline_id": str(
                    pipeline.get("pipeline_id") or (definition.pipeline_id if definition else "")
                ),
                "run_id": run_id,
                "execution_arn": execution_arn,
                "failed_step": _text(where, 80),
                "error": _text(code, MAX_ERROR_CHARS),
                "cause": _text(cause, MAX_CAUSE_CHARS),
            },
            str(actor.get("username") or actor.get("sub") or FALLBACK_ACTOR),
            self._clock(),
        )
        return lifecycle, run_id

    # -- history and cache -------------------------------------------------------------------------

    def _events_of(self, execution_arn: str) -> list[dict[str, Any]]:
        try:
            return self._history.events(execution_arn)
        except ClientError as error:
            logger.warning(
                "Execution history not read",
                extra={"execution_arn": execution_arn, "error": error.response.get("Error")},
            )
            return []

    def _steps(self, definition: PipelineDefinitionRequest, execution_arn: str) -> list[StepStatus]:
        return run_steps(definition, self._events_of(execution_arn))

    def _fill_cache(self, state: WorkingState, steps: list[StepStatus]) -> None:
        """Record each job that succeeded in this run (cached steps already have their entry)."""
        succeeded = {
            step.name for step in steps if step.kind == "step" and step.status is StepState.SUCCEEDED
        }
        for step in state.definition.steps:
            job, entry = state.jobs.get(step.id), state.cache.get(step.id)
            if step.id not in succeeded or job is None or job.kind == "deployment":
                continue
            if entry is None or entry.hit:
                continue
            output = {
                **(job.output or {}),
                "job_name": job.job_name,
                "status": StepState.CACHED.value,
                "run_id": state.run.run_id,
            }
            self._cache.store(
                entry.key,
                output,
                run_id=state.run.run_id,
                pipeline_id=state.pipeline.pipeline_id,
                step_id=step.id,
            )


def _mapping(source: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = source.get(key)
    return dict(value) if isinstance(value, dict) else {}


def _definition(pipeline: Mapping[str, Any]) -> PipelineDefinitionRequest | None:
    """The run's definition, None when it is not a valid one (the failure Prepare run reported)."""
    try:
        definition = PipelineDefinitionRequest.model_validate(pipeline.get("definition"))
        validate_definition(definition)
    except (ValidationError, InvalidPipeline):
        return None
    return definition


def _parse_time(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
