"""A run's steps, read from its Step Functions execution history (docs/pipelines.md, "State names").

`run_steps(definition, events)` turns `GetExecutionHistory` events into one `StepStatus` per
pipeline step and per fixed state, in pipeline order; `failed_step` names the one that failed the
run. Events are matched to states as Step Functions links them: `*StateEntered`/`*StateExited` carry
the state's name; task events (`TaskScheduled`, `TaskFailed`, ...) name none and are traced back
through `previousEventId` to the `TaskStateEntered` they belong to, which also keeps the
interleaved branches of a Parallel apart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from cirrus_core.pipelines.compiler import (
    ANNOUNCE_START,
    AWAIT_APPROVAL,
    COLLECT_EVALUATION,
    DEPLOYMENT_HANDOFF,
    NOTIFY_COMPLETION,
    PREPARE_RUN,
    PROFILE_BASELINE,
    QUALITY_GATE,
    QUALITY_GATE_FAILED,
    REGISTER_VERSION,
    RUN_DEPLOYMENT,
    cached_choice_name,
    reuse_pass_name,
)
from cirrus_core.pipelines.definition import JobType, PipelineDefinitionRequest, validate_definition

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from mypy_boto3_stepfunctions import SFNClient

# A cause longer than this is cut (Step Functions allows 32768 characters; a run view needs less).
MAX_CAUSE_CHARS = 4096
_TASK_FAMILY = ("Task", "LambdaFunction", "Activity")
_TERMINAL = {
    "ExecutionAborted": "executionAbortedEventDetails",
    "ExecutionFailed": "executionFailedEventDetails",
    "ExecutionTimedOut": "executionTimedOutEventDetails",
}
_FAILURE_DETAILS = {
    "TaskFailed": "taskFailedEventDetails",
    "TaskStartFailed": "taskStartFailedEventDetails",
    "TaskSubmitFailed": "taskSubmitFailedEventDetails",
    "LambdaFunctionFailed": "lambdaFunctionFailedEventDetails",
    "LambdaFunctionStartFailed": "lambdaFunctionStartFailedEventDetails",
    "LambdaFunctionScheduleFailed": "lambdaFunctionScheduleFailedEventDetails",
    "ActivityFailed": "activityFailedEventDetails",
    "ActivityScheduleFailed": "activityScheduleFailedEventDetails",
    "ParallelStateFailed": "parallelStateFailedEventDetails",
    "MapStateFailed": "mapStateFailedEventDetails",
}
_TIMEOUT_DETAILS = {
    "TaskTimedOut": "taskTimedOutEventDetails",
    "LambdaFunctionTimedOut": "lambdaFunctionTimedOutEventDetails",
    "ActivityTimedOut": "activityTimedOutEventDetails",
}
_SCHEDULED = frozenset({"TaskScheduled", "LambdaFunctionScheduled", "ActivityScheduled"})
_SUCCEEDED = frozenset({"TaskSucceeded", "LambdaFunctionSucceeded", "ActivitySucceeded"})


class StepState(StrEnum):
    """Where a step (or fixed state) of a run is."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CACHED = "Cached"
    CANCELLED = "Cancelled"
    TIMED_OUT = "TimedOut"


FINISHED_BADLY = frozenset({StepState.FAILED, StepState.TIMED_OUT})


class StepStatus(BaseModel):
    """One pipeline step (`kind` step: its id) or fixed state (`kind` state: `Quality gate`) of a run."""

    name: str
    kind: Literal["step", "state"]
    status: StepState = StepState.PENDING
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_seconds: float | None = None
    job_name: str | None = None
    error: str | None = None
    cause: str | None = None


@dataclass
class _StateRecord:
    """What the history says about one state name."""

    entered_at: datetime | None = None
    exited_at: datetime | None = None
    outcome: StepState | None = None  # the latest attempt's: SUCCEEDED, FAILED, TIMED_OUT
    outcome_at: datetime | None = None
    failure_id: int | None = None
    error: str | None = None
    cause: str | None = None
    job_name: str | None = None
    output: str | None = None
    input: str | None = None

    @property
    def entered(self) -> bool:
        return self.entered_at is not None


@dataclass
class _History:
    states: dict[str, _StateRecord] = field(default_factory=dict)
    terminal: str | None = None  # ExecutionAborted | ExecutionFailed | ExecutionTimedOut
    terminal_error: str | None = None
    terminal_cause: str | None = None
    terminal_at: datetime | None = None
    terminal_id: int | None = None

    def record(self, name: str) -> _StateRecord:
        return self.states.setdefault(name, _StateRecord())

    def get(self, name: str) -> _StateRecord:
        return self.states.get(name) or _StateRecord()


# -- reading events ---------------------------------------------------------------------------------


def _timestamp(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def readable_cause(cause: str | None) -> str | None:
    """A failure's cause as a person reads it, cut to MAX_CAUSE_CHARS.

    Lambda errors arrive as `{"errorMessage", "errorType", ...}` and SageMaker `.sync` failures as
    the job's Describe output: their message (`FailureReason`, plus `ExitMessage`) is what matters.
    """
    if not cause:
        return cause
    text = cause
    try:
        parsed = json.loads(cause)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        if isinstance(parsed.get("errorMessage"), str):
            text = parsed["errorMessage"]
        elif isinstance(parsed.get("FailureReason"), str):
            text = parsed["FailureReason"]
            if isinstance(parsed.get("ExitMessage"), str) and parsed["ExitMessage"].strip():
                text = f"{text}: {parsed['ExitMessage'].strip()}"
    return text[:MAX_CAUSE_CHARS]


def _job_name(parameters: Any) -> str | None:
    """The SageMaker job name in a TaskScheduled event's parameters (a JSON string)."""
    if not isinstance(parameters, str):
        return None
    try:
        parsed = json.loads(parameters)
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    for key in ("TrainingJobName", "ProcessingJobName", "TransformJobName"):
        if isinstance(parsed.get(key), str):
            return str(parsed[key])
    return None


def _is_task_event(event_type: str) -> bool:
    return event_type.startswith(_TASK_FAMILY) and not event_type.endswith(("StateEntered", "StateExited"))


def _owner(event: Mapping[str, Any], by_id: Mapping[int, Mapping[str, Any]]) -> str | None:
    """The state a task event belongs to: follow previousEventId through task events to the entry."""
    seen = 0
    current: Mapping[str, Any] | None = event
    while current is not None and seen < len(by_id) + 1:
        seen += 1
        previous = by_id.get(int(current.get("previousEventId") or 0))
        if previous is None:
            return None
        kind = str(previous.get("type", ""))
        if kind.endswith("StateEntered"):
            name = (previous.get("stateEnteredEventDetails") or {}).get("name")
            return str(name) if name is not None else None
        if not _is_task_event(kind):
            return None
        current = previous
    return None


def _read(events: Iterable[Mapping[str, Any]]) -> _History:
    ordered = sorted(events, key=lambda event: int(event.get("id") or 0))
    by_id = {int(event.get("id") or 0): event for event in ordered}
    history = _History()
    open_parallels: list[str] = []
    for event in ordered:
        kind = str(event.get("type", ""))
        when = _timestamp(event.get("timestamp"))
        event_id = int(event.get("id") or 0)
        if kind.endswith("StateEntered"):
            details = event.get("stateEnteredEventDetails") or {}
            record = history.record(str(details.get("name")))
            if record.entered_at is None:
                record.entered_at = when
            record.input = details.get("input")
            if kind in ("ParallelStateEntered", "MapStateEntered"):
                open_parallels.append(str(details.get("name")))
        elif kind.endswith("StateExited"):
            details = event.get("stateExitedEventDetails") or {}
            name = str(details.get("name"))
            record = history.record(name)
            record.exited_at = when
            record.output = details.get("output")
            if kind in ("ParallelStateExited", "MapStateExited") and name in open_parallels:
                open_parallels.remove(name)
        elif kind.startswith(("ParallelState", "MapState")):
            if open_parallels and kind in ("ParallelStateFailed", "MapStateFailed"):
                record = history.record(open_parallels[-1])
                _fail(record, event, _FAILURE_DETAILS[kind], StepState.FAILED, when, event_id)
        elif kind in _TERMINAL:
            details = event.get(_TERMINAL[kind]) or {}
            history.terminal = kind
            history.terminal_error = details.get("error")
            history.terminal_cause = readable_cause(details.get("cause"))
            history.terminal_at = when
            history.terminal_id = event_id
        elif _is_task_event(kind):
            owner = _owner(event, by_id)
            if owner is None:
                continue
            record = history.record(owner)
            if kind in _SCHEDULED:
                record.outcome = None  # a new attempt (a Retry) starts over
                scheduled = event.get("taskScheduledEventDetails") or {}
                record.job_name = _job_name(scheduled.get("parameters")) or record.job_name
            elif kind in _SUCCEEDED:
                record.outcome, record.outcome_at = StepState.SUCCEEDED, when
            elif kind in _FAILURE_DETAILS:
                _fail(record, event, _FAILURE_DETAILS[kind], StepState.FAILED, when, event_id)
            elif kind in _TIMEOUT_DETAILS:
                _fail(record, event, _TIMEOUT_DETAILS[kind], StepState.TIMED_OUT, when, event_id)
    return history


def _fail(
    record: _StateRecord,
    event: Mapping[str, Any],
    details_key: str,
    outcome: StepState,
    when: datetime | None,
    event_id: int,
) -> None:
    details = event.get(details_key) or {}
    record.outcome, record.outcome_at = outcome, when
    record.error = details.get("error")
    record.cause = readable_cause(details.get("cause"))
    record.failure_id = event_id


# -- states to steps --------------------------------------------------------------------------------


@dataclass
class _Status:
    status: StepState = StepState.PENDING
    started_at: datetime | None = None
    ended_at: datetime | None = None
    job_name: str | None = None
    error: str | None = None
    cause: str | None = None
    failure_id: int | None = None


def _state_status(record: _StateRecord) -> _Status:
    """One state's status from its own events (the execution's end is applied later)."""
    if not record.entered:
        return _Status()
    status = _Status(started_at=record.entered_at, job_name=record.job_name)
    if record.outcome in FINISHED_BADLY:
        status.status = record.outcome or StepState.FAILED
        status.ended_at = record.outcome_at or record.exited_at
        status.error, status.cause, status.failure_id = record.error, record.cause, record.failure_id
    elif record.exited_at is not None:
        status.status, status.ended_at = StepState.SUCCEEDED, record.exited_at
    else:
        status.status = StepState.RUNNING
    return status


def _job_step(step_id: str, history: _History) -> _Status:
    choice = history.get(cached_choice_name(step_id))
    reuse = history.get(reuse_pass_name(step_id))
    task = history.get(step_id)
    if reuse.entered:
        return _Status(
            status=StepState.CACHED,
            started_at=choice.entered_at or reuse.entered_at,
            ended_at=reuse.exited_at,
            job_name=_cached_job_name(step_id, reuse.output),
        )
    if task.entered:
        status = _state_status(task)
        status.started_at = choice.entered_at or task.entered_at
        return status
    if choice.entered:
        return _Status(status=StepState.RUNNING, started_at=choice.entered_at)
    return _Status()


def _cached_job_name(step_id: str, output: str | None) -> str | None:
    """The earlier run's job name, from the reuse Pass's output (`$` or, in a branch, `$.steps`)."""
    try:
        parsed = json.loads(output) if output else None
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    steps = parsed.get("steps") if isinstance(parsed.get("steps"), dict) else parsed
    entry = steps.get(step_id) if isinstance(steps, dict) else None
    name = entry.get("job_name") if isinstance(entry, dict) else None
    return name if isinstance(name, str) else None


def _deployment_step(history: _History) -> _Status:
    waiting = history.get(AWAIT_APPROVAL)
    handoff = history.get(DEPLOYMENT_HANDOFF)
    if not waiting.entered:
        return _Status()
    status = _state_status(waiting)
    if status.status is StepState.SUCCEEDED:
        # Approved: the step is done when the hand-off is, and failed when a deployment in it did.
        for failing in (history.get(RUN_DEPLOYMENT), handoff):
            if failing.outcome in FINISHED_BADLY:
                failed = _state_status(failing)
                failed.started_at = status.started_at
                if failed.error is None:
                    failed.error, failed.cause = _caught_error(failing.output)
                return failed
        if handoff.exited_at is not None:
            status.ended_at = handoff.exited_at
        else:
            status.status, status.ended_at = StepState.RUNNING, None
    return status


def _caught_error(output: str | None) -> tuple[str | None, str | None]:
    """The error a Catch put at `$.error` in a state's output (a failed Map reports none itself)."""
    try:
        parsed = json.loads(output) if output else None
    except ValueError:
        return None, None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict):
        return None, None
    cause = error.get("Cause")
    return error.get("Error"), readable_cause(cause) if isinstance(cause, str) else None


def _quality_gate(history: _History) -> _Status:
    status = _state_status(history.get(QUALITY_GATE))
    refused = history.get(QUALITY_GATE_FAILED)
    if refused.entered:
        status.status = StepState.FAILED
        status.ended_at = refused.exited_at or refused.entered_at
        status.error = "QualityGateFailed"
        status.cause = _gate_explanation(refused)
    return status


def _gate_explanation(refused: _StateRecord) -> str | None:
    for text, path in ((refused.output, ("failure", "cause")), (refused.input, ("evaluation", "gate"))):
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            continue
        for key in path:
            parsed = parsed.get(key) if isinstance(parsed, dict) else None
        if isinstance(parsed, dict):
            parsed = parsed.get("explanation")
        if isinstance(parsed, str):
            return readable_cause(parsed)
    return None


def _layout(definition: PipelineDefinitionRequest) -> list[tuple[str, Literal["step", "state"]]]:
    """Every step and fixed state a run of this definition shows, in pipeline order."""
    stages = validate_definition(definition)
    types = {step.type for step in definition.steps}
    layout: list[tuple[str, Literal["step", "state"]]] = [(PREPARE_RUN, "state"), (ANNOUNCE_START, "state")]
    layout += [(step_id, "step") for stage in stages for step_id in stage]
    if JobType.MODEL_EVALUATION in types:
        layout += [(COLLECT_EVALUATION, "state"), (QUALITY_GATE, "state")]
    if JobType.MODEL_TRAINING in types:
        layout += [(PROFILE_BASELINE, "state"), (REGISTER_VERSION, "state")]
    layout += [(step.id, "step") for step in definition.steps if step.type is JobType.MODEL_DEPLOYMENT]
    layout.append((NOTIFY_COMPLETION, "state"))
    return layout


def _statuses(
    definition: PipelineDefinitionRequest, events: Iterable[Mapping[str, Any]]
) -> tuple[list[tuple[str, Literal["step", "state"], _Status]], _History]:
    history = _read(events)
    types = {step.id: step.type for step in definition.steps}
    found = []
    for name, kind in _layout(definition):
        if kind == "step" and types[name] is JobType.MODEL_DEPLOYMENT:
            status = _deployment_step(history)
        elif kind == "step":
            status = _job_step(name, history)
        elif name == QUALITY_GATE:
            status = _quality_gate(history)
        else:
            status = _state_status(history.get(name))
        found.append((name, kind, status))
    _apply_execution_end(history, [status for _, _, status in found])
    return found, history


def _apply_execution_end(history: _History, statuses: Sequence[_Status]) -> None:
    """An execution that ended stops whatever was still running."""
    if history.terminal is None:
        return
    running = [status for status in statuses if status.status is StepState.RUNNING]
    outcome = StepState.TIMED_OUT if history.terminal == "ExecutionTimedOut" else StepState.CANCELLED
    blamed = None
    # A failed execution with no failed state: the state it was in is the one that failed (a runtime
    # error such as a bad path); anything else still running was cancelled with it.
    if (
        history.terminal == "ExecutionFailed"
        and running
        and not any(status.status in FINISHED_BADLY for status in statuses)
    ):
        blamed = max(running, key=lambda status: status.started_at or datetime.min.replace(tzinfo=UTC))
    for status in running:
        status.ended_at = history.terminal_at
        if status is blamed:
            status.status = StepState.FAILED
            status.error, status.cause = history.terminal_error, history.terminal_cause
            status.failure_id = history.terminal_id
        else:
            status.status = outcome
            if outcome is StepState.TIMED_OUT:
                status.error, status.cause = history.terminal_error, history.terminal_cause


def _public(name: str, kind: Literal["step", "state"], status: _Status) -> StepStatus:
    duration = None
    if status.started_at is not None and status.ended_at is not None:
        duration = max(0.0, (status.ended_at - status.started_at).total_seconds())
    return StepStatus(
        name=name,
        kind=kind,
        status=status.status,
        started_at=status.started_at,
        ended_at=status.ended_at,
        duration_seconds=duration,
        job_name=status.job_name,
        error=status.error,
        cause=status.cause,
    )


def run_steps(definition: PipelineDefinitionRequest, events: Iterable[Mapping[str, Any]]) -> list[StepStatus]:
    """Each step and fixed state of a run, in pipeline order, from its execution history events."""
    found, _ = _statuses(definition, events)
    return [_public(name, kind, status) for name, kind, status in found]


def failed_step(
    definition: PipelineDefinitionRequest, events: Iterable[Mapping[str, Any]]
) -> StepStatus | None:
    """The step or state whose failure failed the run (the earliest failure), or None.

    A Parallel stage that failed without a failed step inside (a runtime error of the stage itself)
    is reported as the stage.
    """
    found, history = _statuses(definition, events)
    failures = [
        (status.failure_id or 0, _public(name, kind, status))
        for name, kind, status in found
        if status.status in FINISHED_BADLY
    ]
    if failures:
        return min(failures, key=lambda item: item[0])[1]
    for name, record in history.states.items():
        if name.startswith("Stage ") and record.outcome in FINISHED_BADLY:
            return _public(name, "state", _state_status(record))
    return None


# -- the adapter ------------------------------------------------------------------------------------


class ExecutionHistory:
    """Reads an execution's history events (every page), oldest first."""

    def __init__(self, client: SFNClient, max_events: int = 25_000) -> None:
        self._client = client
        self._max_events = max_events

    def events(self, execution_arn: str) -> list[dict[str, Any]]:
        """The execution's history events, sorted by id (newest pages are read first)."""
        events: list[dict[str, Any]] = []
        token: str | None = None
        while len(events) < self._max_events:
            page = (
                self._client.get_execution_history(
                    executionArn=execution_arn, reverseOrder=True, maxResults=1000, nextToken=token
                )
                if token
                else self._client.get_execution_history(
                    executionArn=execution_arn, reverseOrder=True, maxResults=1000
                )
            )
            events.extend(dict(event) for event in page["events"])
            token = page.get("nextToken")
            if not token:
                break
        return sorted(events, key=lambda event: int(event.get("id") or 0))
