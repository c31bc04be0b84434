"""Pipeline use cases: define pipelines, start, follow, cancel and retry runs, schedule them.

Definitions: storing one validates it as a DAG and compiles it before anything is written, then
creates or updates the pipeline's state machine and commits the new version, the trigger index and
the audit record in one transaction conditioned on the pipeline's revision (a lost race re-reads,
redeploys and tries again, so the state machine always holds the last committed definition).

Runs and schedules live in Step Functions and EventBridge Scheduler, outside any transaction of
ours: their audit record is appended before the call that changes them, so nothing starts, stops
or gets scheduled unrecorded (a call that then fails leaves the record of an attempt, which its
request id ties to the failure in the logs).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import available_timezones

from pydantic import TypeAdapter, ValidationError

from cirrus_core.api import API_PREFIX
from cirrus_core.audit.entries import entry_for
from cirrus_core.audit.models import AuditCategory, canonical_json, state_hash
from cirrus_core.authz import Resource, authorize, determining_policies
from cirrus_core.caller import Caller
from cirrus_core.contention import backoff_seconds
from cirrus_core.errors import (
    InvalidPaginationToken,
    InvalidPipeline,
    InvalidRunParameters,
    InvalidSchedule,
    PipelineNotFound,
    ReservedPipelineId,
    RunNotCancellable,
    RunNotFound,
    RunNotRetryable,
    ScheduleNotFound,
    TooMuchContention,
)
from cirrus_core.observability import logger
from cirrus_core.pagination import decode_token, encode_token
from cirrus_core.pipelines.compiler import builtin_training_definition, compile_definition, substitute
from cirrus_core.pipelines.cron import to_schedule_expression
from cirrus_core.pipelines.definition import (
    BUILTIN_PIPELINE_ID,
    PipelineDefinitionRequest,
    RunParameters,
    StepParameters,
    validate_definition,
)
from cirrus_core.pipelines.history import failed_step, run_steps
from cirrus_core.pipelines.models import (
    CANCELLABLE,
    RETRYABLE,
    TIMEZONE_PATTERN,
    DefinitionVersion,
    ExecutePipelineRequest,
    PipelineDetail,
    PipelinePage,
    PipelineSchedule,
    PipelineStored,
    PipelineSummary,
    RunDetail,
    RunFailure,
    RunPage,
    RunRegistration,
    RunStarted,
    RunStatus,
    RunSummary,
    RunTrigger,
    SchedulePage,
    TriggerType,
)
from cirrus_core.pipelines.orchestrator import Execution, ExecutionMissing, InvalidListToken, execution_arn
from cirrus_core.pipelines.scheduler import ScheduleRefused, name_prefix, next_fire_times, schedule_name
from cirrus_core.pipelines.store import (
    ConcurrentPipelineUpdate,
    PipelineChange,
    PipelineRecord,
    StoredDefinition,
    definition_json,
)
from cirrus_core.principal import ActorRecord, Principal

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from cirrus_core.pipelines.orchestrator import Orchestrator
    from cirrus_core.pipelines.scheduler import Schedule, Schedules
    from cirrus_core.pipelines.store import PipelineStore

# `training` is the built-in pipeline. `execute` and `webhooks` name fixed resources under
# /pipelines (POST /pipelines/execute, POST /pipelines/webhooks/{provider}): API Gateway prefers them
# to /pipelines/{pipeline_id}, so a pipeline of either name could never be read.
RESERVED_PIPELINE_IDS = frozenset({BUILTIN_PIPELINE_ID, "execute", "webhooks"})
BUILTIN_DEFINITION_VERSION = 1
VERSIONS_SHOWN = 100
MAX_RUNS_TOKEN_LENGTH = 4096
_CRON_MARK = "cron: "
_extra_parameters = TypeAdapter(StepParameters)


@dataclass(frozen=True)
class _Pipeline:
    """A pipeline as runs see it: the built-in one, or a stored one at its current version."""

    pipeline_id: str
    definition: PipelineDefinitionRequest
    version: int
    state_machine_arn: str
    record: PipelineRecord | None = None


def new_run_id(now: datetime) -> str:
    """`<UTC time>-<8 hex>`: readable, ordered by start, unique enough for an execution name."""
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def actor_of(principal: Principal) -> ActorRecord:
    return ActorRecord.of(principal)


def execution_input(
    pipeline_id: str,
    version: int,
    definition: PipelineDefinitionRequest,
    parameters: Mapping[str, Any],
    actor: ActorRecord,
    trigger: RunTrigger,
) -> dict[str, Any]:
    """The execution input docs/pipelines.md specifies: the definition frozen, for whom, what started it."""
    return {
        "pipeline": {
            "pipeline_id": pipeline_id,
            "definition_version": version,
            "definition": definition.model_dump(mode="json"),
        },
        "parameters": dict(parameters),
        "actor": actor.model_dump(mode="json"),
        "trigger": trigger.model_dump(mode="json"),
    }


@functools.cache
def _known_timezones() -> frozenset[str]:
    """The zones this environment knows (empty when it has no time zone database)."""
    return frozenset(available_timezones())


class PipelineService:
    """The pipelines' use cases, each on behalf of a `Caller` (or, for triggers, a pipeline's author)."""

    def __init__(
        self,
        store: PipelineStore,
        orchestrator: Orchestrator,
        schedules: Schedules,
        *,
        placeholders: Mapping[str, str],
        training_pipeline_arn: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
        run_ids: Callable[[datetime], str] = new_run_id,
        max_attempts: int = 30,
    ) -> None:
        self._store = store
        self._orchestrator = orchestrator
        self._schedules = schedules
        self._placeholders = dict(placeholders)
        self._training_arn = training_pipeline_arn
        self._clock = clock
        self._sleep = sleep
        self._run_ids = run_ids
        self._max_attempts = max_attempts
        self._builtin_definition: PipelineDefinitionRequest | None = None

    # -- definitions ------------------------------------------------------------------------------

    def put_pipeline(self, request: PipelineDefinitionRequest, caller: Caller) -> PipelineStored:
        """Store a new version of a pipeline's definition (creating the pipeline on first use).

        A definition equal to the current one (compiling to the same state machine) stores nothing
        and answers `changed: false`. Every refusal happens before the first write.
        """
        pipeline_id = request.pipeline_id
        authorize(caller.principal, "PutPipeline", Resource.pipeline(pipeline_id))
        if pipeline_id in RESERVED_PIPELINE_IDS:
            raise ReservedPipelineId(
                f"'{pipeline_id}' is reserved and cannot name a pipeline.",
                [{"field": "pipeline_id", "pipeline_id": pipeline_id}],
            )
        stages = validate_definition(request)
        _check_triggers(request)
        asl = substitute(compile_definition(request), self._placeholders)
        asl_text = json.dumps(asl, separators=(",", ":"))
        asl_sha256 = hashlib.sha256(canonical_json(asl)).hexdigest()
        for attempt in range(self._max_attempts):
            record = self._store.get_record(pipeline_id)
            current = self._store.get_definition(pipeline_id, record.definition_version) if record else None
            if (
                record is not None
                and current is not None
                and current.asl_sha256 == asl_sha256
                and definition_json(current.definition) == definition_json(request)
            ):
                return PipelineStored(**dict(self._detail(record, current, stages)), changed=False)
            # Deployed again on every attempt: the last writer to commit is the last to deploy, so
            # the state machine holds the committed definition whoever won the race.
            arn = self._orchestrator.deploy(
                pipeline_id, asl_text, record.state_machine_arn if record else None
            )
            change = self._next_version(request, record, current, arn, asl_sha256, caller)
            try:
                self._store.commit(change)
            except ConcurrentPipelineUpdate:
                self._sleep(backoff_seconds(attempt))
                continue
            if record is not None:
                self._refresh_schedules(
                    _Pipeline(pipeline_id, request, change.record.definition_version, arn, change.record)
                )
            return PipelineStored(
                **dict(self._detail(change.record, change.definition, stages)), changed=True
            )
        raise TooMuchContention(
            f"Pipeline '{pipeline_id}' is being changed by too many callers at once; retry shortly."
        )

    def _next_version(
        self,
        request: PipelineDefinitionRequest,
        record: PipelineRecord | None,
        current: StoredDefinition | None,
        arn: str,
        asl_sha256: str,
        caller: Caller,
    ) -> PipelineChange:
        """What storing `request` after `record` writes: META, DEF, the trigger index, the audit record."""
        now = self._clock()
        version = (record.definition_version if record else 0) + 1
        updated = PipelineRecord(
            pipeline_id=request.pipeline_id,
            definition_version=version,
            state_machine_arn=arn,
            description=request.description,
            step_count=len(request.steps),
            trigger_count=len(request.triggers),
            created_by=record.created_by if record else caller.actor,
            created_at=record.created_at if record else now,
            updated_by=caller.actor,
            updated_at=now,
            updated_by_principal=actor_of(caller.principal),
            revision=(record.revision + 1) if record else 1,
        )
        stored = StoredDefinition(
            pipeline_id=request.pipeline_id,
            version=version,
            definition=request,
            asl_sha256=asl_sha256,
            created_by=caller.actor,
            created_at=now,
        )
        before = (
            {(rule.provider, rule.repository) for rule in current.definition.triggers} if current else set()
        )
        after = {(rule.provider, rule.repository) for rule in request.triggers}
        return PipelineChange(
            record=updated,
            expected_revision=record.revision if record else None,
            definition=stored,
            remove_triggers=sorted(before - after),
            put_triggers=list(request.triggers),
            audit=entry_for(
                caller,
                "put_pipeline",
                f"pipeline/{request.pipeline_id}/version/{version}",
                AuditCategory.CHANGE,
                now,
                policies=determining_policies(),
                before_hash=state_hash(record) if record else None,
                after_hash=state_hash(updated, stored),
            ),
        )

    def list_pipelines(self, limit: int, next_token: str | None, caller: Caller) -> PipelinePage:
        """Pipelines in id order, the built-in `training` pipeline among them."""
        authorize(caller.principal, "ListPipelines", Resource.platform())
        start = decode_token(next_token, frozenset({"p"}))["p"] if next_token else None
        if start is not None and not isinstance(start, str):
            raise InvalidPaginationToken("next_token does not belong to this listing.")
        builtin = self._builtin()
        summaries = [
            PipelineSummary(
                pipeline_id=BUILTIN_PIPELINE_ID,
                description=builtin.description,
                builtin=True,
                definition_version=BUILTIN_DEFINITION_VERSION,
                state_machine_arn=self._training_arn,
                step_count=len(builtin.steps),
                trigger_count=len(builtin.triggers),
                links=_pipeline_links(BUILTIN_PIPELINE_ID),
            )
        ]
        summaries.extend(
            PipelineSummary(
                pipeline_id=record.pipeline_id,
                description=record.description,
                definition_version=record.definition_version,
                state_machine_arn=record.state_machine_arn,
                step_count=record.step_count,
                trigger_count=record.trigger_count,
                updated_at=record.updated_at,
                updated_by=record.updated_by,
                links=_pipeline_links(record.pipeline_id),
            )
            for record in self._store.iter_records()
        )
        ordered = sorted(
            (item for item in summaries if start is None or item.pipeline_id > start),
            key=lambda item: item.pipeline_id,
        )
        token = encode_token({"p": ordered[limit - 1].pipeline_id}) if len(ordered) > limit else None
        return PipelinePage(items=ordered[:limit], next_token=token)

    def get_pipeline(self, pipeline_id: str, version: int | None, caller: Caller) -> PipelineDetail:
        """A pipeline with its current definition, or with version `version` of it."""
        authorize(caller.principal, "GetPipeline", Resource.pipeline(pipeline_id))
        if pipeline_id == BUILTIN_PIPELINE_ID:
            if version not in (None, BUILTIN_DEFINITION_VERSION):
                raise _no_version(pipeline_id, version)
            return self._builtin_detail()
        record = self._require_record(pipeline_id)
        number = record.definition_version if version is None else version
        stored = self._store.get_definition(pipeline_id, number)
        if stored is None:
            raise _no_version(pipeline_id, number)
        return self._detail(record, stored, _stages(stored.definition))

    # -- runs -------------------------------------------------------------------------------------

    def execute(self, request: ExecutePipelineRequest, caller: Caller) -> RunStarted:
        """Start a run now, as the caller (the run's actor), with the definition frozen in its input."""
        authorize(caller.principal, "ExecutePipeline", Resource.pipeline(request.pipeline_id))
        pipeline = self._pipeline(request.pipeline_id)
        parameters = _run_parameters(pipeline.definition, request.parameters)
        return self._start(
            pipeline,
            parameters,
            actor_of(caller.principal),
            RunTrigger(type=TriggerType.API),
            caller,
            "execute_pipeline",
        )

    def start_triggered_run(
        self, pipeline_id: str, parameters: Mapping[str, Any], trigger: RunTrigger | Mapping[str, Any]
    ) -> RunStarted:
        """Start a run for a webhook (or another trigger with no caller of its own).

        The run acts for the principal that stored the pipeline's current definition
        (`META.updated_by_principal`): it is the run's actor and the audit record's. The only policy
        check is the one starting a run needs, ExecutePipeline for that principal, so a trigger
        stops working when its author loses the right to start runs. The built-in pipeline has no
        author and no triggers: PipelineNotFound.
        """
        if pipeline_id == BUILTIN_PIPELINE_ID:
            raise PipelineNotFound(f"The built-in pipeline '{pipeline_id}' takes no triggers.")
        record = self._require_record(pipeline_id)
        author = record.updated_by_principal
        principal = Principal(sub=author.sub, username=author.username, groups=frozenset(author.groups))
        authorize(principal, "ExecutePipeline", Resource.pipeline(pipeline_id))
        pipeline = self._stored_pipeline(record)
        run_trigger = trigger if isinstance(trigger, RunTrigger) else RunTrigger.model_validate(trigger)
        return self._start(
            pipeline,
            _run_parameters(pipeline.definition, parameters),
            author,
            run_trigger,
            Caller(principal),
            "trigger_pipeline",
        )

    def list_runs(
        self, pipeline_id: str, status: RunStatus | None, limit: int, next_token: str | None, caller: Caller
    ) -> RunPage:
        """Runs newest first, optionally only those with one status."""
        authorize(caller.principal, "ListPipelineRuns", Resource.pipeline(pipeline_id))
        pipeline = self._pipeline(pipeline_id)
        listing = f"{pipeline_id}|{status.value if status else ''}"
        try:
            executions, token = self._orchestrator.list_executions(
                pipeline.state_machine_arn,
                status.value if status else None,
                limit,
                _decode_runs_token(next_token, listing) if next_token else None,
            )
        except InvalidListToken as error:
            raise InvalidPaginationToken("next_token has expired or belongs to another listing.") from error
        return RunPage(
            items=[_summary(pipeline_id, execution) for execution in executions],
            next_token=_encode_runs_token(token, listing) if token else None,
        )

    def get_run(self, pipeline_id: str, run_id: str, caller: Caller) -> RunDetail:
        """A run: status, times, parameters, trigger, actor, each step, failure and registration."""
        authorize(caller.principal, "GetPipelineRun", Resource.pipeline(pipeline_id))
        pipeline = self._pipeline(pipeline_id)
        execution = self._require_run(pipeline, run_id)
        document = _input_document(execution)
        frozen = _mapping(document.get("pipeline"))
        definition = pipeline.definition
        try:
            if frozen.get("definition") is not None:
                definition = PipelineDefinitionRequest.model_validate(frozen["definition"])
        except ValidationError:
            logger.warning("A run's frozen definition no longer validates", extra={"run_id": run_id})
        events = self._orchestrator.history(execution.arn)
        status = RunStatus(execution.status)
        failure = None
        if status in RETRYABLE:
            step = failed_step(definition, events)
            failure = RunFailure(
                step=step.name if step else None,
                error=(step.error if step else None) or execution.error,
                cause=(step.cause if step else None) or execution.cause,
            )
        version = frozen.get("definition_version")
        return RunDetail(
            run_id=run_id,
            pipeline_id=pipeline_id,
            execution_arn=execution.arn,
            status=status,
            started_at=execution.started_at,
            stopped_at=execution.stopped_at,
            definition_version=version if isinstance(version, int) else None,
            parameters=_mapping(document.get("parameters")),
            trigger=_optional(RunTrigger, document.get("trigger")),
            actor=_optional(ActorRecord, document.get("actor")),
            steps=run_steps(definition, events),
            failure=failure,
            registration=_registration(execution, events),
            links=_run_links(pipeline_id, run_id, execution.arn),
        )

    def cancel(self, pipeline_id: str, run_id: str, caller: Caller) -> RunSummary:
        """Stop a running run; any other status is refused with RunNotCancellable."""
        authorize(caller.principal, "CancelPipelineRun", Resource.pipeline(pipeline_id))
        pipeline = self._pipeline(pipeline_id)
        execution = self._require_run(pipeline, run_id)
        if RunStatus(execution.status) not in CANCELLABLE:
            raise RunNotCancellable(
                f"Run '{run_id}' is {execution.status}: only a RUNNING run can be cancelled.",
                [{"run_id": run_id, "status": execution.status}],
            )
        self._record(caller, "cancel_pipeline_run", f"pipeline/{pipeline_id}/run/{run_id}")
        try:
            stopped_at = self._orchestrator.stop(execution.arn, "Cancelled", f"Cancelled by {caller.actor}.")
        except ExecutionMissing as error:
            raise RunNotFound(f"Pipeline '{pipeline_id}' has no run '{run_id}'.") from error
        return RunSummary(
            run_id=run_id,
            pipeline_id=pipeline_id,
            execution_arn=execution.arn,
            status=RunStatus.ABORTED,
            started_at=execution.started_at,
            stopped_at=stopped_at,
            links=_run_links(pipeline_id, run_id, execution.arn),
        )

    def retry(self, pipeline_id: str, run_id: str, caller: Caller) -> RunStarted:
        """Start a new run with a failed, timed-out or cancelled run's input, as the caller.

        Refused with RunNotRetryable when the run is in another status, or when the pipeline's
        definition changed since: its state machine no longer matches the frozen definition.
        """
        authorize(caller.principal, "RetryPipelineRun", Resource.pipeline(pipeline_id))
        pipeline = self._pipeline(pipeline_id)
        execution = self._require_run(pipeline, run_id)
        if RunStatus(execution.status) not in RETRYABLE:
            raise RunNotRetryable(
                f"Run '{run_id}' is {execution.status}: only a FAILED, TIMED_OUT or ABORTED run can be "
                "retried.",
                [{"run_id": run_id, "status": execution.status}],
            )
        document = _input_document(execution)
        frozen = _mapping(document.get("pipeline"))
        try:
            definition = PipelineDefinitionRequest.model_validate(frozen.get("definition"))
        except ValidationError:
            definition = None
        if definition is None or definition_json(definition) != definition_json(pipeline.definition):
            raise RunNotRetryable(
                f"Pipeline '{pipeline_id}' changed since run '{run_id}' started "
                f"(version {frozen.get('definition_version')} then, {pipeline.version} now): "
                "start a new run instead.",
                [
                    {
                        "run_id": run_id,
                        "run_definition_version": frozen.get("definition_version"),
                        "definition_version": pipeline.version,
                    }
                ],
            )
        version = frozen.get("definition_version")
        retried = _Pipeline(
            pipeline.pipeline_id,
            definition,
            version if isinstance(version, int) else pipeline.version,
            pipeline.state_machine_arn,
            pipeline.record,
        )
        return self._start(
            retried,
            _mapping(document.get("parameters")),
            actor_of(caller.principal),
            RunTrigger(type=TriggerType.RETRY, detail={"retry_of": run_id}),
            caller,
            "retry_pipeline_run",
        )

    # -- schedules --------------------------------------------------------------------------------

    def schedule(self, request: ExecutePipelineRequest, caller: Caller) -> PipelineSchedule:
        """Schedule runs on a cron expression, as the caller; the same schedule twice is one schedule."""
        authorize(caller.principal, "SchedulePipeline", Resource.pipeline(request.pipeline_id))
        pipeline = self._pipeline(request.pipeline_id)
        cron = " ".join((request.schedule or "").split())
        expression = to_schedule_expression(cron)
        timezone = _check_timezone(request.timezone)
        parameters = _run_parameters(pipeline.definition, request.parameters)
        name = schedule_name(
            pipeline.pipeline_id, {"cron": cron, "timezone": timezone, "parameters": parameters}
        )
        existing = self._schedules.get(name)
        if existing is not None and existing.target_arn == pipeline.state_machine_arn:
            return self._schedule_view(pipeline.pipeline_id, existing)
        document = execution_input(
            pipeline.pipeline_id,
            pipeline.version,
            pipeline.definition,
            parameters,
            actor_of(caller.principal),
            RunTrigger(type=TriggerType.SCHEDULE, detail={"schedule": name}),
        )
        self._record(caller, "schedule_pipeline", f"pipeline/{pipeline.pipeline_id}/schedule/{name}")
        try:
            self._schedules.create(
                name,
                expression,
                timezone,
                pipeline.state_machine_arn,
                json.dumps(document, separators=(",", ":")),
                f"Cirrus pipeline {pipeline.pipeline_id}, {_CRON_MARK}{cron}",
            )
        except ScheduleRefused as error:
            raise InvalidSchedule(
                f"EventBridge Scheduler refused the schedule: {error}",
                [{"field": "schedule", "expression": expression, "timezone": timezone}],
            ) from error
        created = self._schedules.get(name)
        if created is None:  # pragma: no cover - deleted between two calls
            raise ScheduleNotFound(f"Schedule '{name}' was deleted as it was created.")
        return self._schedule_view(pipeline.pipeline_id, created)

    def list_schedules(self, pipeline_id: str, caller: Caller) -> SchedulePage:
        """The schedules that start runs of a pipeline, by name."""
        authorize(caller.principal, "ListPipelineSchedules", Resource.pipeline(pipeline_id))
        pipeline = self._pipeline(pipeline_id)
        items = []
        for name in self._schedules.names_targeting(name_prefix(pipeline_id), pipeline.state_machine_arn):
            found = self._schedules.get(name)
            if found is not None:
                items.append(self._schedule_view(pipeline_id, found))
        return SchedulePage(items=items)

    def delete_schedule(self, pipeline_id: str, name: str, caller: Caller) -> None:
        """Delete one of a pipeline's schedules; runs it started are left alone."""
        authorize(caller.principal, "DeletePipelineSchedule", Resource.pipeline(pipeline_id))
        pipeline = self._pipeline(pipeline_id)
        found = self._schedules.get(name)
        if found is None or found.target_arn != pipeline.state_machine_arn:
            raise ScheduleNotFound(f"Pipeline '{pipeline_id}' has no schedule '{name}'.")
        self._record(caller, "delete_pipeline_schedule", f"pipeline/{pipeline_id}/schedule/{name}")
        if not self._schedules.delete(name):
            raise ScheduleNotFound(f"Pipeline '{pipeline_id}' has no schedule '{name}'.")

    # -- helpers ----------------------------------------------------------------------------------

    def _start(
        self,
        pipeline: _Pipeline,
        parameters: Mapping[str, Any],
        actor: ActorRecord,
        trigger: RunTrigger,
        caller: Caller,
        action: str,
    ) -> RunStarted:
        run_id = self._run_ids(self._clock())
        document = execution_input(
            pipeline.pipeline_id, pipeline.version, pipeline.definition, parameters, actor, trigger
        )
        self._record(caller, action, f"pipeline/{pipeline.pipeline_id}/run/{run_id}")
        execution = self._orchestrator.start(
            pipeline.state_machine_arn, run_id, json.dumps(document, separators=(",", ":"))
        )
        return RunStarted(
            run_id=run_id,
            pipeline_id=pipeline.pipeline_id,
            execution_arn=execution.arn,
            status=RunStatus.RUNNING,
            started_at=execution.started_at,
            definition_version=pipeline.version,
            trigger=trigger,
            links=_run_links(pipeline.pipeline_id, run_id, execution.arn),
        )

    def _record(self, caller: Caller, action: str, resource: str) -> None:
        """Append the audit record of a change outside our tables, before making it (fail closed)."""
        audit = self._store.audit
        if audit is not None:
            audit.append(
                entry_for(
                    caller,
                    action,
                    resource,
                    AuditCategory.CHANGE,
                    self._clock(),
                    policies=determining_policies(),
                )
            )

    def _refresh_schedules(self, pipeline: _Pipeline) -> None:
        """Give a pipeline's schedules its new definition, so scheduled runs match the state machine.

        Best effort: the new version is stored already; a schedule left behind is logged.
        """
        try:
            names = self._schedules.names_targeting(
                name_prefix(pipeline.pipeline_id), pipeline.state_machine_arn
            )
            for name in names:
                found = self._schedules.get(name)
                if found is None or not found.target_input:
                    continue
                document = json.loads(found.target_input)
                document["pipeline"] = {
                    "pipeline_id": pipeline.pipeline_id,
                    "definition_version": pipeline.version,
                    "definition": pipeline.definition.model_dump(mode="json"),
                }
                self._schedules.replace_input(
                    found, json.dumps(document, separators=(",", ":")), pipeline.state_machine_arn
                )
        except Exception:  # the definition is stored; a stale schedule must not turn that into a 500
            logger.exception(
                "Could not give the pipeline's schedules its new definition",
                extra={"pipeline_id": pipeline.pipeline_id, "definition_version": pipeline.version},
            )

    def _schedule_view(self, pipeline_id: str, schedule: Schedule) -> PipelineSchedule:
        document: dict[str, Any] = {}
        if schedule.target_input:
            try:
                loaded = json.loads(schedule.target_input)
                document = loaded if isinstance(loaded, dict) else {}
            except ValueError:
                document = {}
        cron = None
        if _CRON_MARK in schedule.description:
            cron = schedule.description.rpartition(_CRON_MARK)[2] or None
        return PipelineSchedule(
            schedule_name=schedule.name,
            pipeline_id=pipeline_id,
            cron=cron,
            expression=schedule.expression,
            timezone=schedule.timezone,
            state=schedule.state,
            parameters=_mapping(document.get("parameters")),
            next_runs=next_fire_times(schedule.expression, schedule.timezone, self._clock()),
            created_at=schedule.created_at,
            links={
                "self": f"{API_PREFIX}/pipelines/{pipeline_id}/schedules/{schedule.name}",
                "pipeline": f"{API_PREFIX}/pipelines/{pipeline_id}",
            },
        )

    def _builtin(self) -> PipelineDefinitionRequest:
        if self._builtin_definition is None:
            self._builtin_definition = builtin_training_definition()
        return self._builtin_definition

    def _builtin_detail(self) -> PipelineDetail:
        definition = self._builtin()
        return PipelineDetail(
            pipeline_id=BUILTIN_PIPELINE_ID,
            description=definition.description,
            builtin=True,
            definition_version=BUILTIN_DEFINITION_VERSION,
            latest_version=BUILTIN_DEFINITION_VERSION,
            definition=definition,
            stages=_stages(definition),
            triggers=list(definition.triggers),
            versions=[DefinitionVersion(version=BUILTIN_DEFINITION_VERSION)],
            state_machine_arn=self._training_arn,
            links=_pipeline_links(BUILTIN_PIPELINE_ID),
        )

    def _detail(
        self, record: PipelineRecord, stored: StoredDefinition, stages: list[list[str]]
    ) -> PipelineDetail:
        return PipelineDetail(
            pipeline_id=record.pipeline_id,
            description=stored.definition.description,
            definition_version=stored.version,
            latest_version=record.definition_version,
            definition=stored.definition,
            stages=stages,
            triggers=list(stored.definition.triggers),
            versions=self._store.list_versions(record.pipeline_id, VERSIONS_SHOWN),
            state_machine_arn=record.state_machine_arn,
            created_at=record.created_at,
            created_by=record.created_by,
            updated_at=record.updated_at,
            updated_by=record.updated_by,
            links=_pipeline_links(record.pipeline_id),
        )

    def _pipeline(self, pipeline_id: str) -> _Pipeline:
        if pipeline_id == BUILTIN_PIPELINE_ID:
            return _Pipeline(
                BUILTIN_PIPELINE_ID, self._builtin(), BUILTIN_DEFINITION_VERSION, self._training_arn
            )
        return self._stored_pipeline(self._require_record(pipeline_id))

    def _stored_pipeline(self, record: PipelineRecord) -> _Pipeline:
        stored = self._store.get_definition(record.pipeline_id, record.definition_version)
        if stored is None:  # pragma: no cover - META and DEF are written in one transaction
            raise PipelineNotFound(f"Pipeline '{record.pipeline_id}' has no current definition.")
        return _Pipeline(
            record.pipeline_id, stored.definition, record.definition_version, record.state_machine_arn, record
        )

    def _require_record(self, pipeline_id: str) -> PipelineRecord:
        record = self._store.get_record(pipeline_id)
        if record is None:
            raise PipelineNotFound(f"No pipeline '{pipeline_id}' is defined.")
        return record

    def _require_run(self, pipeline: _Pipeline, run_id: str) -> Execution:
        execution = self._orchestrator.describe(execution_arn(pipeline.state_machine_arn, run_id))
        if execution is None:
            raise RunNotFound(f"Pipeline '{pipeline.pipeline_id}' has no run '{run_id}'.")
        return execution


# -- rules ------------------------------------------------------------------------------------------


def _check_triggers(definition: PipelineDefinitionRequest) -> None:
    """One trigger rule per repository: the trigger index holds one rule per (repository, pipeline)."""
    seen: set[tuple[str, str]] = set()
    problems = []
    for rule in definition.triggers:
        key = (rule.provider, rule.repository)
        if key in seen:
            problems.append(
                {
                    "step": None,
                    "problem": "structure",
                    "message": f"More than one trigger names {rule.provider} repository {rule.repository}: "
                    "give it one rule, with all its branches and events.",
                }
            )
        seen.add(key)
    if problems:
        raise InvalidPipeline("The pipeline definition is invalid.", problems)


def _run_parameters(definition: PipelineDefinitionRequest, given: Mapping[str, Any]) -> dict[str, Any]:
    """The run's parameters over the definition's defaults, validated: each problem named."""
    merged = {**definition.default_parameters, **given}
    try:
        parameters = RunParameters.model_validate(merged)
    except ValidationError as error:
        raise InvalidRunParameters("The run parameters are invalid.", _problems(error)) from error
    try:
        _extra_parameters.validate_python(parameters.model_extra or {})
    except ValidationError as error:
        raise InvalidRunParameters(
            "The run parameters are invalid: extra parameters reach the steps, so they take step "
            "parameter names and values (text, numbers, booleans).",
            _problems(error),
        ) from error
    return parameters.model_dump(mode="json", exclude_none=True)


def _problems(error: ValidationError) -> list[dict[str, Any]]:
    return [
        {
            "field": ".".join(str(part) for part in ("parameters", *item["loc"])),
            "message": item["msg"],
            "type": item["type"],
        }
        for item in error.errors(include_url=False, include_context=False, include_input=False)
    ]


def _check_timezone(timezone: str) -> str:
    """An IANA zone name; checked against the zone database when this environment has one."""
    known = _known_timezones()
    if not re.fullmatch(TIMEZONE_PATTERN, timezone) or (
        known and timezone not in known and timezone != "UTC"
    ):
        raise InvalidSchedule(
            f"'{timezone}' is not a time zone (use an IANA name such as UTC or Europe/Paris).",
            [{"field": "timezone", "value": timezone}],
        )
    return timezone


def _stages(definition: PipelineDefinitionRequest) -> list[list[str]]:
    """A stored definition's stages (empty if a stricter validator now refuses it)."""
    try:
        return validate_definition(definition)
    except InvalidPipeline:
        return []


def _no_version(pipeline_id: str, version: int | None) -> PipelineNotFound:
    return PipelineNotFound(
        f"Pipeline '{pipeline_id}' has no definition version {version}.", [{"version": version}]
    )


def _summary(pipeline_id: str, execution: Execution) -> RunSummary:
    return RunSummary(
        run_id=execution.name,
        pipeline_id=pipeline_id,
        execution_arn=execution.arn,
        status=RunStatus(execution.status),
        started_at=execution.started_at,
        stopped_at=execution.stopped_at,
        links=_run_links(pipeline_id, execution.name, execution.arn),
    )


def _pipeline_links(pipeline_id: str) -> dict[str, str]:
    base = f"{API_PREFIX}/pipelines/{pipeline_id}"
    return {"self": base, "runs": f"{base}/runs", "schedules": f"{base}/schedules"}


def _run_links(pipeline_id: str, run_id: str, arn: str) -> dict[str, str]:
    base = f"{API_PREFIX}/pipelines/{pipeline_id}"
    region = arn.split(":")[3] if arn.count(":") >= 3 else ""
    return {
        "self": f"{base}/runs/{run_id}",
        "pipeline": base,
        "cancel": f"{base}/runs/{run_id}/cancel",
        "retry": f"{base}/runs/{run_id}/retry",
        "console": f"https://{region}.console.aws.amazon.com/states/home?region={region}"
        f"#/v2/executions/details/{arn}",
    }


def _input_document(execution: Execution) -> dict[str, Any]:
    try:
        document = json.loads(execution.input or "{}")
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _optional(model: Any, value: Any) -> Any:
    if not isinstance(value, dict):
        return None
    try:
        return model.model_validate(value)
    except ValidationError:
        return None


def _registration(execution: Execution, events: list[dict[str, Any]]) -> RunRegistration | None:
    """The version a run registered: from its output, else from `Register version`'s exit in its history."""
    texts = [execution.output] if execution.output else []
    for event in reversed(events):
        details = event.get("stateExitedEventDetails") or {}
        if details.get("name") == "Register version" and details.get("output"):
            texts.append(details["output"])
    for text in texts:
        try:
            document = json.loads(text)
        except (TypeError, ValueError):
            continue
        registration = document.get("registration") if isinstance(document, dict) else None
        if isinstance(registration, dict):
            try:
                return RunRegistration.model_validate(registration)
            except ValidationError:
                continue
    return None


def _encode_runs_token(sfn_token: str, listing: str) -> str:
    raw = json.dumps({"t": sfn_token, "l": listing}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_runs_token(token: str, listing: str) -> str:
    """Step Functions' token inside ours; one from another listing (pipeline, status) is refused."""
    if len(token) > MAX_RUNS_TOKEN_LENGTH:
        raise InvalidPaginationToken("next_token is too long.")
    try:
        position = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as error:
        raise InvalidPaginationToken("next_token is not a token this API issued.") from error
    if (
        not isinstance(position, dict)
        or set(position) != {"t", "l"}
        or position["l"] != listing
        or not isinstance(position["t"], str)
    ):
        raise InvalidPaginationToken("next_token does not belong to this listing.")
    return position["t"]
