"""Transformations on behalf of a caller (data_access), and the record of each run's end.

`TransformationService` is the API: declare (PUT), read, list, run. Every refusal (a request that does
not fit, an input dataset that does not exist or a pinned version that is not ready, SQL that is not one
query over the inputs, a module without its entry point, unknown processor parameters, an output
dataset another kind of producer owns) happens before anything is written: no module, no item, no
version.

`RunLedger` is the state machine steps' side: it reads a run, ends it `succeeded` with its version (and
publishes `dataset.version_created`) or `failed` with the error's message (and fails the version). It
imports no DuckDB, so the failure step needs no frames layer.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from cirrus_core.arns import execution_arn_of
from cirrus_core.audit.entries import entry_for
from cirrus_core.audit.models import AuditCategory, AuditEntry
from cirrus_core.audit.transact import ChangeConditionFailed
from cirrus_core.authz import Resource, authorize, determining_policies
from cirrus_core.data.dataset_events import version_change_audit, version_created
from cirrus_core.data.datasets import (
    DatasetInput,
    DatasetKind,
    Lineage,
    VersionStatus,
    parse_dataset_reference,
)
from cirrus_core.data.transformations import (
    MAX_FAILURE,
    PinnedInput,
    PythonModule,
    RunExecutionInput,
    RunOutput,
    StoredRun,
    Transformation,
    TransformationKind,
    TransformationPage,
    TransformationRun,
    TransformationRunStatus,
    TransformationSummary,
    check_python_entrypoint,
    module_code_hash,
    module_key,
    outcome,
    processor_code_hash,
    sql_code_hash,
)
from cirrus_core.errors import (
    DatasetKindMismatch,
    DatasetNotFound,
    InvalidPaginationToken,
    SparkTransformationsDisabled,
    TooMuchContention,
    TransformationNotFound,
    TransformationRunNotFound,
    TransformationStepError,
)
from cirrus_core.observability import logger
from cirrus_core.pagination import decode_token, encode_token

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from cirrus_core.caller import Caller
    from cirrus_core.data.dataset_store import DatasetStore
    from cirrus_core.data.datasets import DatasetVersion
    from cirrus_core.data.transformations import (
        ProcessorCall,
        PutTransformationRequest,
        TransformationStepEvent,
    )
    from cirrus_core.events import LifecycleEvent

_PUT_ATTEMPTS = 5


# -- ports ------------------------------------------------------------------------------------------------


class TransformationStorePort(Protocol):
    def transformation(self, name: str) -> Transformation | None: ...

    def put(
        self, record: Transformation, *, expected_revision: int | None, audit: AuditEntry | None
    ) -> None: ...

    def transformations(
        self, *, limit: int, after: str | None
    ) -> tuple[list[Transformation], str | None]: ...

    def create_run(self, run: StoredRun) -> None: ...

    def run(self, name: str, run_id: str) -> StoredRun | None: ...

    def replace_run(self, run: StoredRun, *, expected: Iterable[TransformationRunStatus]) -> None: ...


class ModulesPort(Protocol):
    def put(self, key: str, source: str) -> None: ...


class ExecutionsPort(Protocol):
    def start(self, state_machine_arn: str, name: str, execution_input: str) -> str: ...


class EventsPort(Protocol):
    def publish(self, events: Sequence[LifecycleEvent]) -> None: ...


class TransformationChecker(Protocol):
    """Checks SQL and processor parameters (the frames layer's DuckDB and processor registry): the
    processor call to store, or None for SQL; a 422 for anything that cannot run."""

    def __call__(self, request: PutTransformationRequest) -> ProcessorCall | None: ...


# -- the API ----------------------------------------------------------------------------------------------


class TransformationService:
    """Declare, read, list and run transformations (data_access)."""

    def __init__(
        self,
        store: TransformationStorePort,
        datasets: DatasetStore,
        modules: ModulesPort,
        executions: ExecutionsPort,
        check: Callable[[], TransformationChecker],
        *,
        state_machine_arn: str,
        spark_enabled: bool = False,
        audit_enabled: bool = True,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._store = store
        self._datasets = datasets
        self._modules = modules
        self._executions = executions
        self._check = check
        self._arn = state_machine_arn
        self._spark_enabled = spark_enabled
        self._audit_enabled = audit_enabled
        self._clock = clock
        self._new_id = new_id

    def put(
        self, name: str, request: PutTransformationRequest, caller: Caller
    ) -> tuple[Transformation, bool]:
        """Create or replace the transformation; (it, True when it was created)."""
        authorize(caller.principal, "PutTransformation", Resource.platform())
        self._check_runtime(request.runtime.spark)
        self._check_inputs(request.inputs)
        self._check_output(request.output.dataset)
        processor: ProcessorCall | None = None
        python: PythonModule | None = None
        if request.kind is TransformationKind.PYTHON and request.python is not None:
            check_python_entrypoint(request.python)
            code_hash = module_code_hash(request.python.module)
            digest = code_hash.removeprefix("sha256:")
            python = PythonModule(
                key=module_key(name, digest),
                sha256=digest,
                size=len(request.python.module.encode("utf-8")),
                entrypoint=request.python.entrypoint,
                engine=request.python.engine,
            )
        else:
            processor = self._check()(request)
            if processor is not None:
                code_hash = processor_code_hash(processor)
            else:
                code_hash = sql_code_hash(request.sql or "")
        if python is not None and request.python is not None:
            self._modules.put(python.key, request.python.module)
        for _ in range(_PUT_ATTEMPTS):
            existing = self._store.transformation(name)
            now = self._clock()
            record = Transformation(
                name=name,
                description=request.description,
                inputs=dict(request.inputs),
                output=request.output,
                runtime=request.runtime,
                kind=request.kind,
                sql=request.sql,
                python=python,
                processor=processor,
                parameters=request.parameters,
                code_hash=code_hash,
                revision=existing.revision + 1 if existing else 1,
                created_at=existing.created_at if existing else now,
                created_by=existing.created_by if existing else caller.actor,
                updated_at=now,
                updated_by=caller.actor,
            )
            try:
                self._store.put(
                    record,
                    expected_revision=existing.revision if existing else None,
                    audit=self._audit(caller, "put_transformation", f"data/transformation/{name}", now),
                )
            except ChangeConditionFailed:
                continue
            logger.info("Transformation stored", extra={"transformation": name, "revision": record.revision})
            return record, existing is None
        raise TooMuchContention(f"Transformation {name} is being changed by others at once; retry.")

    def get(self, name: str, caller: Caller) -> Transformation:
        authorize(caller.principal, "GetTransformation", Resource.platform())
        return self._existing(name)

    def list(self, limit: int, next_token: str | None, caller: Caller) -> TransformationPage:
        authorize(caller.principal, "ListTransformations", Resource.platform())
        after: str | None = None
        if next_token:
            position = decode_token(next_token, frozenset({"t"}))
            if not isinstance(position["t"], str):
                raise InvalidPaginationToken("next_token does not belong to this listing.")
            after = position["t"]
        found, last = self._store.transformations(limit=limit, after=after)
        return TransformationPage(
            items=[
                TransformationSummary.model_validate(
                    record.model_dump(include=set(TransformationSummary.model_fields))
                )
                for record in found
            ],
            next_token=encode_token({"t": last}) if last else None,
        )

    def run(self, name: str, caller: Caller) -> TransformationRun:
        """Pin every input to a ready version, allocate the output version and start the run (202)."""
        authorize(caller.principal, "RunTransformation", Resource.platform())
        record = self._existing(name)
        self._check_runtime(record.runtime.spark)
        pinned = [
            (alias, self._datasets.resolve(reference)) for alias, reference in sorted(record.inputs.items())
        ]
        now = self._clock()
        run_id = self._new_id()
        output = record.output.dataset
        lineage = Lineage(
            inputs=[DatasetInput(dataset=version.dataset, version=version.version) for _, version in pinned],
            transformation=name,
            code_hash=record.code_hash,
            parameters=record.processor.parameters if record.processor is not None else record.parameters,
        )
        version = self._datasets.begin_version(
            output,
            kind=DatasetKind.TRANSFORMATION,
            lineage=lineage,
            actor=caller.actor,
            description=record.output.description,
            audit=(
                (
                    lambda number: self._entry(
                        caller, "run_transformation", f"data/dataset/{output}/v{number}", now
                    )
                )
                if self._audit_enabled
                else None
            ),
        )
        run = StoredRun(
            run_id=run_id,
            transformation=name,
            revision=record.revision,
            status=TransformationRunStatus.RUNNING,
            runtime=record.runtime,
            code_hash=record.code_hash,
            inputs=[
                PinnedInput(
                    alias=alias, dataset=found.dataset, version=found.version, reference=found.reference
                )
                for alias, found in pinned
            ],
            output=RunOutput(dataset=output, version=version.version, reference=version.reference),
            parameters=lineage.parameters,
            execution_arn=execution_arn_of(self._arn, run_id),
            started_at=now,
            started_by=caller.actor,
            spec=record.spec(),
        )
        try:
            self._store.create_run(run)
            document = RunExecutionInput(run_id=run_id, transformation=name, runtime=record.runtime)
            self._executions.start(self._arn, run_id, document.model_dump_json())
        except Exception:
            self._abandon(run)
            raise
        logger.info(
            "Transformation run started",
            extra={"transformation": name, "run_id": run_id, "output": version.reference},
        )
        return run.view()

    def get_run(self, name: str, run_id: str, caller: Caller) -> TransformationRun:
        authorize(caller.principal, "GetTransformation", Resource.platform())
        run = self._store.run(name, run_id)
        if run is None:
            raise TransformationRunNotFound(
                f"Transformation {name} has no run {run_id}.", [{"transformation": name, "run_id": run_id}]
            )
        return run.view()

    # -- internals -------------------------------------------------------------------------------------

    def _existing(self, name: str) -> Transformation:
        record = self._store.transformation(name)
        if record is None:
            raise TransformationNotFound(f"There is no transformation {name}.", [{"transformation": name}])
        return record

    def _check_runtime(self, spark: bool) -> None:
        if spark and not self._spark_enabled:
            raise SparkTransformationsDisabled(
                "This deployment runs no Spark transformations: deploy with EnableSparkTransformations=true, "
                "or use runtime duckdb.",
                [{"field": "runtime"}],
            )

    def _check_inputs(self, inputs: Mapping[str, str]) -> None:
        """Every input dataset exists, and every pinned version is ready (404, 409)."""
        for alias, reference in sorted(inputs.items()):
            parsed = parse_dataset_reference(reference)
            if parsed.version is not None:
                self._datasets.ready_version(parsed.name, parsed.version)
            elif self._datasets.dataset(parsed.name) is None:
                raise DatasetNotFound(
                    f"Input {alias} names dataset {parsed.name}, which does not exist.",
                    [{"field": f"inputs.{alias}", "dataset": parsed.name}],
                )

    def _check_output(self, name: str) -> None:
        dataset = self._datasets.dataset(name)
        if dataset is not None and dataset.kind is not DatasetKind.TRANSFORMATION:
            raise DatasetKindMismatch(
                f"Dataset {name} is made by {dataset.kind.value} jobs: write the transformation's output to "
                "another dataset.",
                [{"field": "output.dataset", "dataset": name, "kind": dataset.kind.value}],
            )

    def _abandon(self, run: StoredRun) -> None:
        """The run could not be started: its version and the run end failed (best effort)."""
        reason = "The transformation's execution could not be started."
        try:
            self._datasets.fail_version(run.output.dataset, run.output.version, failure=reason)
            failed = StoredRun.model_validate(
                {
                    **run.model_dump(),
                    "status": TransformationRunStatus.FAILED,
                    "failure": reason,
                    "finished_at": self._clock(),
                }
            )
            if self._store.run(run.transformation, run.run_id) is not None:
                self._store.replace_run(failed, expected=[TransformationRunStatus.RUNNING])
        except Exception:  # the original error is the one to report
            logger.exception("Could not mark an unstarted run failed", extra={"run_id": run.run_id})

    def _audit(self, caller: Caller, action: str, resource: str, at: datetime) -> AuditEntry | None:
        return self._entry(caller, action, resource, at) if self._audit_enabled else None

    def _entry(self, caller: Caller, action: str, resource: str, at: datetime) -> AuditEntry:
        return entry_for(caller, action, resource, AuditCategory.CHANGE, at, policies=determining_policies())


# -- the steps' side ------------------------------------------------------------------------------------


class RunLedger:
    """Reads a run for a step, and ends it: succeeded with its ready version, or failed."""

    def __init__(
        self,
        store: TransformationStorePort,
        datasets: DatasetStore,
        events: EventsPort,
        *,
        audit_enabled: bool = True,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._datasets = datasets
        self._events = events
        self._audit_enabled = audit_enabled
        self._clock = clock

    def run_for(self, event: TransformationStepEvent) -> StoredRun:
        given = event.input
        run = self._store.run(given.transformation, given.run_id)
        if run is None:
            raise TransformationStepError(f"Transformation {given.transformation} has no run {given.run_id}.")
        return run

    def audit(self, run: StoredRun, action: str) -> AuditEntry | None:
        """The audit entry of a step's change to the run's version, in the name of who started the run."""
        if not self._audit_enabled:
            return None
        return version_change_audit(
            at=self._clock(),
            actor=run.started_by,
            dataset=run.output.dataset,
            version=run.output.version,
            action=action,
            job_id=run.run_id,
        )

    def succeed(self, run: StoredRun, version: DatasetVersion) -> StoredRun:
        """The run ends succeeded with its (ready) version; `dataset.version_created` is published."""
        now = self._clock()
        done = StoredRun.model_validate(
            {
                **run.model_dump(),
                "status": TransformationRunStatus.SUCCEEDED,
                "row_count": version.row_count,
                "content_hash": version.content_hash,
                "finished_at": now,
            }
        )
        self._store.replace_run(done, expected=[TransformationRunStatus.RUNNING])
        # The schema's job: the run that made the version (a run id is 32 hex digits too).
        self._events.publish([version_created(version, job_id=done.run_id, actor=done.started_by, at=now)])
        logger.info(
            "Transformation run succeeded",
            extra={"run_id": run.run_id, "output": version.reference, "rows": version.row_count},
        )
        return done

    def fail(self, run: StoredRun, reason: str) -> StoredRun:
        """The version (if still building) and the run end failed with `reason`."""
        if run.status is not TransformationRunStatus.RUNNING:
            return run
        reason = reason[:MAX_FAILURE]
        version = self._datasets.require_version(run.output.dataset, run.output.version)
        if version.status is VersionStatus.BUILDING:
            self._datasets.fail_version(
                run.output.dataset,
                run.output.version,
                failure=reason,
                audit=self.audit(run, "fail_transformation"),
            )
        failed = StoredRun.model_validate(
            {
                **run.model_dump(),
                "status": TransformationRunStatus.FAILED,
                "failure": reason,
                "finished_at": self._clock(),
            }
        )
        self._store.replace_run(failed, expected=[TransformationRunStatus.RUNNING])
        logger.warning("Transformation run failed", extra={"run_id": run.run_id, "reason": reason})
        return failed

    def record_failure(self, event: TransformationStepEvent) -> dict[str, Any]:
        """The state machine caught an error: the run and its version end failed with its message."""
        run = self.run_for(event)
        return outcome(self.fail(run, failure_reason(event.error)))


def failure_reason(error: Mapping[str, Any] | None) -> str:
    """The message of the error the state machine caught (`{"Error", "Cause"}`): a Lambda's
    errorMessage, a Glue job run's ErrorMessage, an EMR Serverless job run's stateDetails."""
    if not error:
        return "The transformation failed."
    name = str(error.get("Error") or "Error")
    cause = error.get("Cause")
    message = ""
    if isinstance(cause, str) and cause:
        try:
            document = json.loads(cause)
        except ValueError:
            message = cause
        else:
            if isinstance(document, dict):
                job_run = document.get("jobRun")
                details = job_run.get("stateDetails") if isinstance(job_run, dict) else None
                message = str(
                    document.get("errorMessage") or document.get("ErrorMessage") or details or cause
                )
            else:
                message = cause
    if name in {"States.Timeout", "States.HeartbeatTimeout"} or "Task timed out" in message:
        return "The transformation ran out of time: transform less at once, or use a Spark runtime."
    return (f"{name}: {message}" if message and name not in message else message or name)[:MAX_FAILURE]
