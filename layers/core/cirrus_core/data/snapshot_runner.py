"""The snapshot state machine's steps: extract a source into a dataset version, or record its failure.

`Extract` marks the job running, resolves the source, has the writer stream the connector's record
batches into Parquet parts in a scratch folder under /tmp, uploads each part to
`datasets/<name>/v<version>/part-<nnnnn>.parquet` (deleting it locally once uploaded), completes the
version (schema, rows, content hash, files, lineage watermark), marks the job succeeded and publishes
`dataset.version_created`. An extraction error leaves as SnapshotFailed with the driver's message, every
secret value of the source removed; the state machine's Catch then runs `Record failure`, which fails
the version and the job and publishes `dataset.snapshot_failed`.

Both steps may run again (Step Functions retries Lambda service errors): a job already finished is not
redone, and a version already ready only has its job and event finished. Incremental versions: see
cirrus_core.data.snapshot_service.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

from pydantic import ValidationError

from cirrus_core.data.connection import ExtractRequest
from cirrus_core.data.dataset_events import version_change_audit, version_created
from cirrus_core.data.datasets import (
    DataFile,
    Lineage,
    VersionStatus,
    Watermark,
    content_hash_of,
    version_prefix,
)
from cirrus_core.data.snapshots import (
    SnapshotJob,
    SnapshotJobStatus,
    SnapshotStepEvent,
    json_value,
    watermark_from_json,
)
from cirrus_core.errors import SnapshotFailed, SnapshotStepError
from cirrus_core.events import LifecycleEvent
from cirrus_core.observability import logger

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from cirrus_core.audit.models import AuditEntry
    from cirrus_core.data.connection import SourceConfig
    from cirrus_core.data.datasets import Column, DatasetVersion
    from cirrus_core.data.snapshot_service import JobsPort

MAX_FAILURE: Final = 2048
_REDACTED: Final = "***"
# Secret values shorter than this are not searched for: they would mangle ordinary words.
_MIN_SECRET_LENGTH: Final = 4


@dataclass(frozen=True)
class WrittenPart:
    """One Parquet part the writer left in the scratch folder."""

    path: Path
    rows: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class WrittenSnapshot:
    """What the writer made of a source's rows: its parts, their schema, rows and content hash."""

    parts: list[WrittenPart]
    columns: list[Column]
    row_count: int
    content_hash: str
    max_watermark: Any


class SnapshotWriter(Protocol):
    """Reads the request's rows from the source and writes them as Parquet parts into `directory`."""

    def __call__(self, source: SourceConfig, request: ExtractRequest, directory: Path) -> WrittenSnapshot: ...


class VersionsPort(Protocol):
    def require_version(self, name: str, version: int) -> DatasetVersion: ...

    def version(self, name: str, version: int) -> DatasetVersion | None: ...

    def complete_version(
        self,
        name: str,
        version: int,
        *,
        columns: list[Column],
        row_count: int,
        content_hash: str,
        files: list[DataFile],
        lineage: Lineage | None = None,
        audit: AuditEntry | None = None,
    ) -> DatasetVersion: ...

    def fail_version(
        self, name: str, version: int, *, failure: str, audit: AuditEntry | None = None
    ) -> DatasetVersion: ...


class PartsPort(Protocol):
    def upload(self, path: Path, key: str) -> None: ...


class EventSink(Protocol):
    def publish(self, events: Sequence[LifecycleEvent]) -> None: ...


def read_step_event(document: Any) -> SnapshotStepEvent:
    try:
        return SnapshotStepEvent.model_validate(document)
    except ValidationError as error:
        raise SnapshotStepError(
            f"The snapshot step's input is invalid: {error.errors(include_url=False, include_input=False)}"
        ) from None


def redact(message: str, secret: Mapping[str, Any]) -> str:
    """`message` with every secret value of the source replaced by `***`."""
    for value in sorted(_secret_strings(secret), key=len, reverse=True):
        message = message.replace(value, _REDACTED)
    return message


def _secret_strings(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value} if len(value) >= _MIN_SECRET_LENGTH else set()
    if isinstance(value, dict):
        return set().union(*(_secret_strings(item) for item in value.values())) if value else set()
    if isinstance(value, list | tuple):
        return set().union(*(_secret_strings(item) for item in value)) if value else set()
    if value is not None and not isinstance(value, bool):
        return _secret_strings(str(value))
    return set()


class SnapshotRunner:
    """The two steps of the snapshot state machine."""

    def __init__(
        self,
        datasets: VersionsPort,
        jobs: JobsPort,
        resolve_source: Callable[[str], SourceConfig],
        writer: SnapshotWriter,
        parts: PartsPort,
        events: EventSink,
        *,
        chunk_rows: int,
        audit_enabled: bool = True,
        scratch_dir: Path | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._datasets = datasets
        self._jobs = jobs
        self._resolve_source = resolve_source
        self._writer = writer
        self._parts = parts
        self._events = events
        self._chunk_rows = chunk_rows
        self._audit_enabled = audit_enabled
        self._scratch_dir = scratch_dir
        self._clock = clock

    # -- Extract -----------------------------------------------------------------------------------------

    def extract(self, event: SnapshotStepEvent) -> dict[str, Any]:
        """Fill the job's version from its source; the outcome for the execution's output."""
        job = self._job(event)
        if job.status.finished:
            return _outcome(job)
        version = self._datasets.require_version(job.dataset, job.version)
        if version.status is VersionStatus.READY:  # a retry after the version was completed
            return _outcome(self._succeed(job, version))
        if version.status is VersionStatus.FAILED:
            raise SnapshotFailed(version.failure or "The version failed.")
        job = self._transition(
            job, SnapshotJobStatus.RUNNING, {SnapshotJobStatus.QUEUED, SnapshotJobStatus.RUNNING}
        )
        base = self._datasets.require_version(job.dataset, job.base_version) if job.base_version else None
        with tempfile.TemporaryDirectory(prefix=f"snapshot-{job.job_id}-", dir=self._scratch_dir) as scratch:
            written = self._write(job, base, Path(scratch))
            if base is not None and written.row_count and base.columns:
                _check_same_columns(base, written.columns)
            files = self._upload(job, written, extends=base is not None)
        completed = self._complete(job, version, base, written, files)
        logger.info(
            "Snapshot completed",
            extra={"dataset": job.dataset, "version": job.version, "rows": completed.row_count},
        )
        return _outcome(self._succeed(job, completed))

    def _write(self, job: SnapshotJob, base: DatasetVersion | None, scratch: Path) -> WrittenSnapshot:
        secret: Mapping[str, Any] = {}
        try:
            source = self._resolve_source(job.request.source)
            secret = source.secret
            return self._writer(source, self._extract_request(job, base), scratch)
        except Exception as error:
            message = redact(str(error) or type(error).__name__, secret)[:MAX_FAILURE]
            logger.warning(
                "Extraction failed", extra={"job_id": job.job_id, "error_type": type(error).__name__}
            )
            raise SnapshotFailed(message) from None

    def _extract_request(self, job: SnapshotJob, base: DatasetVersion | None) -> ExtractRequest:
        request = job.request
        column = request.incremental.watermark_column if request.incremental else None
        after: Any = None
        if column is not None and base is not None:
            types = {c.name: c.type for c in base.columns}
            after = watermark_from_json(job.after_watermark, types.get(column))
        return ExtractRequest(
            query=request.query,
            table=request.table,
            filter=request.filter,
            projection=request.projection,
            prefix=request.prefix,
            format=request.format.value if request.format else None,
            watermark_column=column,
            after_watermark=after,
            chunk_rows=self._chunk_rows,
        )

    def _upload(self, job: SnapshotJob, written: WrittenSnapshot, *, extends: bool) -> list[DataFile]:
        """Upload the parts that hold rows, in order, each deleted locally once it is in the bucket.

        A snapshot that found no row keeps one empty part (its schema), unless it extends a version.
        """
        parts = [part for part in written.parts if part.rows]
        if not parts and not extends:
            parts = written.parts[:1]
        prefix = version_prefix(job.dataset, job.version)
        files = []
        for index, part in enumerate(parts):
            key = f"{prefix}part-{index:05d}.parquet"
            self._parts.upload(part.path, key)
            part.path.unlink(missing_ok=True)
            files.append(DataFile(key=key, rows=part.rows, bytes=part.bytes, sha256=part.sha256))
        return files

    def _complete(
        self,
        job: SnapshotJob,
        version: DatasetVersion,
        base: DatasetVersion | None,
        written: WrittenSnapshot,
        files: list[DataFile],
    ) -> DatasetVersion:
        columns, row_count, content_hash = written.columns, written.row_count, written.content_hash
        lineage = version.lineage
        incremental = job.request.incremental
        if incremental is not None:
            new_rows = written.row_count > 0
            value = json_value(written.max_watermark)
            if base is not None:
                if not new_rows or value is None:
                    value = base.lineage.watermark.value if base.lineage.watermark else None
                files = [*base.files, *files]
                columns = written.columns if new_rows else base.columns
                row_count = (base.row_count or 0) + written.row_count
                # Over every file the version lists, the kept ones first: the earlier parts' digests
                # are in the base version, so nothing is read again.
                content_hash = content_hash_of([file.sha256 for file in files])
            watermark = Watermark(column=incremental.watermark_column, value=value)
            lineage = lineage.model_copy(update={"watermark": watermark})
        return self._datasets.complete_version(
            job.dataset,
            job.version,
            columns=columns,
            row_count=row_count,
            content_hash=content_hash,
            files=files,
            lineage=Lineage.model_validate(lineage.model_dump()),
            audit=self._audit(job, "complete_snapshot"),
        )

    def _succeed(self, job: SnapshotJob, version: DatasetVersion) -> SnapshotJob:
        now = self._clock()
        done = self._transition(
            job,
            SnapshotJobStatus.SUCCEEDED,
            {SnapshotJobStatus.QUEUED, SnapshotJobStatus.RUNNING},
            row_count=version.row_count,
            completed_at=now,
        )
        self._events.publish(
            [
                version_created(
                    version,
                    job_id=done.job_id,
                    actor=done.created_by,
                    at=now,
                    extends_version=done.base_version,
                )
            ]
        )
        return done

    # -- Record failure ----------------------------------------------------------------------------------

    def record_failure(self, event: SnapshotStepEvent) -> dict[str, Any]:
        """The version and the job end failed with the caught error's message; `dataset.snapshot_failed`."""
        job = self._job(event)
        if job.status.finished:
            return _outcome(job)
        reason = failure_reason(event.error)
        version = self._datasets.require_version(job.dataset, job.version)
        if version.status is VersionStatus.BUILDING:
            self._datasets.fail_version(
                job.dataset, job.version, failure=reason, audit=self._audit(job, "fail_snapshot")
            )
        now = self._clock()
        failed = self._transition(
            job,
            SnapshotJobStatus.FAILED,
            {SnapshotJobStatus.QUEUED, SnapshotJobStatus.RUNNING},
            error=reason,
            completed_at=now,
        )
        self._events.publish([_snapshot_failed(failed, now)])
        logger.warning("Snapshot failed", extra={"dataset": job.dataset, "version": job.version})
        return _outcome(failed)

    # -- internals ---------------------------------------------------------------------------------------

    def _job(self, event: SnapshotStepEvent) -> SnapshotJob:
        given = event.input
        job = self._jobs.job(given.dataset, given.job_id)
        if job is None or job.version != given.version:
            raise SnapshotStepError(
                f"No snapshot job {given.job_id} for version {given.version} of {given.dataset}."
            )
        return job

    def _transition(
        self, job: SnapshotJob, status: SnapshotJobStatus, expected: set[SnapshotJobStatus], **changes: Any
    ) -> SnapshotJob:
        updated = SnapshotJob.model_validate(
            {**job.model_dump(), **changes, "status": status, "updated_at": self._clock()}
        )
        self._jobs.replace(updated, expected=expected)
        return updated

    def _audit(self, job: SnapshotJob, action: str) -> AuditEntry | None:
        if not self._audit_enabled:
            return None
        return version_change_audit(
            at=self._clock(),
            actor=job.created_by,
            dataset=job.dataset,
            version=job.version,
            action=action,
            job_id=job.job_id,
        )


def failure_reason(error: Mapping[str, Any] | None) -> str:
    """The message of the error the state machine caught (`{"Error", "Cause"}`), for the version and job."""
    if not error:
        return "The snapshot failed."
    name = str(error.get("Error") or "Error")
    cause = error.get("Cause")
    message = ""
    if isinstance(cause, str) and cause:
        try:
            document = json.loads(cause)
        except ValueError:
            message = cause
        else:
            message = str(document.get("errorMessage") or "") if isinstance(document, dict) else cause
    if name in {"States.Timeout", "States.HeartbeatTimeout"} or "Task timed out" in message:
        return "The extraction ran out of time: snapshot less at once (a query, or incremental)."
    return (message or name)[:MAX_FAILURE]


def _check_same_columns(base: DatasetVersion, columns: Iterable[Column]) -> None:
    """The new rows of an incremental snapshot must have the columns (names and types) of the version
    they extend; otherwise nothing is uploaded and the job fails saying so."""
    if [(c.name, c.type) for c in columns] != [(c.name, c.type) for c in base.columns]:
        raise SnapshotFailed(
            f"The source's columns changed since version {base.version} of {base.dataset}: "
            "snapshot it in full (without incremental)."
        )


def _outcome(job: SnapshotJob) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "dataset": job.dataset,
        "version": job.version,
        "status": job.status.value,
        "row_count": job.row_count,
    }


def _snapshot_failed(job: SnapshotJob, at: datetime) -> LifecycleEvent:
    return LifecycleEvent(
        "dataset.snapshot_failed",
        {
            "dataset": job.dataset,
            "version": job.version,
            "reference": job.reference,
            "job_id": job.job_id,
            "source": job.request.source,
            "source_type": job.source_type,
            "error": job.error or "",
        },
        actor=job.created_by,
        occurred_at=at,
    )
