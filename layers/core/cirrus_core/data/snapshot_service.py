"""Starting snapshot jobs, and reading them: `POST /data/datasets/{name}/snapshots`, `GET .../{job_id}`.

Starting a job checks everything first (the caller's right, the source, the request's fit to the
source's type, the dataset's producer and source, the incremental column), so a refusal writes
nothing. Then it allocates the dataset's next version `building` (with its audit record, in one
transaction), puts the job `queued`, and starts the snapshot state machine's execution named by the
job id with `{job_id, dataset, version}`; the steps do the rest (cirrus_core.data.snapshot_runner).

Incremental snapshots. `incremental: {watermark_column}` extends the dataset's latest ready version
when that version was read from the same source with the same extraction (table, query, filter,
prefix ...) and incrementally on the same column: the job reads the rows whose column is greater
than that version's `lineage.watermark.value`, and the new version holds the previous version's
files followed by its own new part(s). Files may so point into earlier versions' folders; versions
stay immutable. Otherwise (no ready version yet, another extraction, another column) the incremental
snapshot reads every row and starts a new chain. Its column must be one of the extended version's
columns (422 invalid_incremental).

The content hash of an incremental version is that of every version (docs/data.md,
cirrus_core.data.datasets.content_hash_of) over all the files it lists: the earlier parts it keeps,
then its new ones. A run that finds no new row adds no part: the version has the previous one's
files and so its content hash.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from cirrus_core.audit.entries import entry_for
from cirrus_core.audit.models import AuditCategory
from cirrus_core.authz import Resource, authorize, determining_policies
from cirrus_core.data.datasets import DatasetKind, Lineage
from cirrus_core.data.snapshots import (
    SnapshotJob,
    SnapshotJobStatus,
    check_fits_source,
    check_incremental_column,
    execution_arn,
    same_extraction,
)
from cirrus_core.errors import DatasetSourceMismatch, NoReadyDatasetVersion, SnapshotJobNotFound
from cirrus_core.observability import logger

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from pydantic import JsonValue

    from cirrus_core.audit.models import AuditEntry
    from cirrus_core.caller import Caller
    from cirrus_core.data.dataset_store import DatasetStore
    from cirrus_core.data.datasets import Dataset
    from cirrus_core.data.snapshots import CreateSnapshotRequest


class JobsPort(Protocol):
    def create(self, job: SnapshotJob) -> None: ...

    def job(self, dataset: str, job_id: str) -> SnapshotJob | None: ...

    def replace(self, job: SnapshotJob, *, expected: Iterable[SnapshotJobStatus]) -> None: ...


class ExecutionsPort(Protocol):
    def start(self, state_machine_arn: str, name: str, execution_input: str) -> str: ...


class SnapshotService:
    """Snapshot jobs on behalf of a caller (data_access).

    `source_type` names the type of a source (SourceNotFound, 404, if there is none); the API reads
    only the source's record, never its secret.
    """

    def __init__(
        self,
        datasets: DatasetStore,
        jobs: JobsPort,
        source_type: Callable[[str], str],
        executions: ExecutionsPort,
        *,
        state_machine_arn: str,
        audit_enabled: bool = True,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._datasets = datasets
        self._jobs = jobs
        self._source_type = source_type
        self._executions = executions
        self._state_machine_arn = state_machine_arn
        self._audit_enabled = audit_enabled
        self._clock = clock
        self._new_id = new_id

    def start(self, name: str, request: CreateSnapshotRequest, caller: Caller) -> SnapshotJob:
        """Allocate the next version `building`, record the job and start its execution (202)."""
        authorize(caller.principal, "CreateSnapshot", Resource.platform())
        source_type = self._source_type(request.source)
        check_fits_source(request, source_type)
        dataset = self._datasets.dataset(name)
        if dataset is not None and dataset.source is not None and dataset.source != request.source:
            raise DatasetSourceMismatch(
                f"Dataset {name} is made from source {dataset.source}, not {request.source}: "
                "snapshot into another dataset.",
                [{"dataset": name, "source": dataset.source, "requested": request.source}],
            )
        base_version, after_watermark = self._incremental_base(name, dataset, request)
        now = self._clock()
        job_id = self._new_id()
        version = self._datasets.begin_version(
            name,
            kind=DatasetKind.SNAPSHOT,
            lineage=Lineage(
                source=request.source,
                source_type=source_type,
                query=request.lineage_text(),
                parameters=request.extraction(),
            ),
            actor=caller.actor,
            description=request.description,
            audit=(lambda number: self._audit(caller, name, number, now)) if self._audit_enabled else None,
        )
        job = SnapshotJob(
            job_id=job_id,
            dataset=name,
            version=version.version,
            status=SnapshotJobStatus.QUEUED,
            request=request,
            source_type=source_type,
            base_version=base_version,
            after_watermark=after_watermark,
            execution_arn=execution_arn(self._state_machine_arn, job_id),
            created_by=caller.actor,
            created_at=now,
            updated_at=now,
        )
        try:
            self._jobs.create(job)
            self._executions.start(
                self._state_machine_arn,
                job_id,
                json.dumps({"job_id": job_id, "dataset": name, "version": version.version}),
            )
        except Exception:
            self._abandon(job)
            raise
        logger.info(
            "Snapshot started",
            extra={"dataset": name, "version": version.version, "job_id": job_id, "source": request.source},
        )
        return job

    def job(self, name: str, job_id: str, caller: Caller) -> SnapshotJob:
        """A snapshot job of the dataset; SnapshotJobNotFound (404) otherwise."""
        authorize(caller.principal, "GetSnapshotJob", Resource.platform())
        job = self._jobs.job(name, job_id)
        if job is None:
            raise SnapshotJobNotFound(
                f"Dataset {name} has no snapshot job {job_id}.", [{"dataset": name, "job_id": job_id}]
            )
        return job

    # -- internals -------------------------------------------------------------------------------------

    def _incremental_base(
        self, name: str, dataset: Dataset | None, request: CreateSnapshotRequest
    ) -> tuple[int | None, JsonValue]:
        """The ready version an incremental snapshot extends and the watermark it reads after, or
        (None, None) for a snapshot that reads every row."""
        if request.incremental is None or dataset is None:
            return None, None
        try:
            latest = self._datasets.latest_ready(name)
        except NoReadyDatasetVersion:
            return None, None
        lineage = latest.lineage
        if lineage.source != request.source or not same_extraction(lineage.parameters, request.extraction()):
            return None, None
        column = request.incremental.watermark_column
        check_incremental_column(column, [c.name for c in latest.columns], name, latest.version)
        watermark = lineage.watermark
        if watermark is None or watermark.column != column or watermark.value is None:
            return None, None
        return latest.version, watermark.value

    def _abandon(self, job: SnapshotJob) -> None:
        """The job could not be started: its version and the job end failed (best effort)."""
        reason = "The snapshot's execution could not be started."
        try:
            self._datasets.fail_version(job.dataset, job.version, failure=reason)
            failed = job.model_copy(
                update={"status": SnapshotJobStatus.FAILED, "error": reason, "updated_at": self._clock()}
            )
            self._jobs.replace(failed, expected=[SnapshotJobStatus.QUEUED])
        except Exception:  # the original error is the one to report
            logger.exception("Could not mark an unstarted snapshot failed", extra={"job_id": job.job_id})

    def _audit(self, caller: Caller, name: str, version: int, at: datetime) -> AuditEntry:
        return entry_for(
            caller,
            "create_snapshot",
            f"data/dataset/{name}/v{version}",
            AuditCategory.CHANGE,
            at,
            policies=determining_policies(),
        )
