"""What every producer of a dataset version records: the `dataset.version_created` event and the
audit entry of a job step's change to the version."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cirrus_core.audit.models import AuditCategory, AuditEntry
from cirrus_core.events import LifecycleEvent

if TYPE_CHECKING:
    from datetime import datetime

    from cirrus_core.data.datasets import DatasetVersion


def version_created(
    version: DatasetVersion, *, job_id: str, actor: str, at: datetime, extends_version: int | None = None
) -> LifecycleEvent:
    """The event of a version that became ready: what it holds and where it came from.

    `job_id` is the job that made it (a snapshot job or a transformation run: both 32 hex digits);
    `extends_version` the version an incremental snapshot kept the parts of.
    """
    lineage = version.lineage
    return LifecycleEvent(
        "dataset.version_created",
        {
            "dataset": version.dataset,
            "version": version.version,
            "reference": version.reference,
            "kind": version.kind.value,
            "location": version.location,
            "row_count": version.row_count,
            "content_hash": version.content_hash,
            "file_count": len(version.files),
            "column_count": len(version.columns),
            "job_id": job_id,
            "extends_version": extends_version,
            "lineage": {
                "source": lineage.source,
                "source_type": lineage.source_type,
                "watermark": lineage.watermark.model_dump(mode="json") if lineage.watermark else None,
                "inputs": [item.model_dump(mode="json") for item in lineage.inputs],
                "transformation": lineage.transformation,
            },
        },
        actor=actor,
        occurred_at=at,
    )


def version_change_audit(
    *, at: datetime, actor: str, dataset: str, version: int, action: str, job_id: str
) -> AuditEntry:
    """The audit entry of a job step changing a dataset version, in the name of who started the job."""
    return AuditEntry(
        at=at,
        actor=actor,
        action=action,
        resource=f"data/dataset/{dataset}/v{version}",
        category=AuditCategory.CHANGE,
        request_id=job_id,
    )
