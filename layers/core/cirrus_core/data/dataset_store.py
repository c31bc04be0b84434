"""Datasets and their versions in the data table (docs/data.md, "Storage").

`DATASET#<name>` / `META` holds the dataset and its latest version number; `V#<version:010d>` each
version. A new version is allocated by one transaction that moves META's counter from the number it
read and puts the version (and the audit record), so concurrent producers each get their own number
and numbers never skip; a lost race re-reads and retries after a jittered pause.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from cirrus_core.audit.transact import ChangeConditionFailed, write_with_audit
from cirrus_core.contention import backoff_seconds
from cirrus_core.data.datasets import (
    Column,
    DataFile,
    Dataset,
    DatasetKind,
    DatasetVersion,
    Lineage,
    VersionStatus,
    parse_dataset_reference,
    version_location,
)
from cirrus_core.errors import (
    DatasetKindMismatch,
    DatasetNotFound,
    DatasetVersionNotFound,
    DatasetVersionNotReady,
    NoReadyDatasetVersion,
    TooMuchContention,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

    from cirrus_core.audit.log import AuditLog
    from cirrus_core.audit.models import AuditEntry

META_SK: Final = "META"
DATASETS_INDEX: Final = "gsi1"
DATASETS_INDEX_PK: Final = "DATASETS"
_MAX_ALLOCATION_ATTEMPTS: Final = 30


def dataset_pk(name: str) -> str:
    return f"DATASET#{name}"


def version_sk(version: int) -> str:
    return f"V#{version:010d}"


def _s(value: str) -> dict[str, Any]:
    return {"S": value}


class DatasetStore:
    """Datasets and versions in the data table, each change with its audit record in one transaction."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        bucket: str,
        audit: AuditLog | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = client
        self._table = table_name
        self._bucket = bucket
        self._audit = audit
        self._sleep = sleep
        self._clock = clock

    # ------------------------------------------------------------------ reads
    def dataset(self, name: str) -> Dataset | None:
        item = self._get(dataset_pk(name), META_SK)
        return Dataset.model_validate_json(item["dataset"]["S"]) if item else None

    def version(self, name: str, version: int) -> DatasetVersion | None:
        item = self._get(dataset_pk(name), version_sk(version))
        return DatasetVersion.model_validate_json(item["version"]["S"]) if item else None

    def require_version(self, name: str, version: int) -> DatasetVersion:
        """The version, or DatasetNotFound / DatasetVersionNotFound."""
        found = self.version(name, version)
        if found is None:
            if self.dataset(name) is None:
                raise DatasetNotFound(f"Dataset {name} does not exist.", [{"dataset": name}])
            raise DatasetVersionNotFound(
                f"Dataset {name} has no version {version}.", [{"dataset": name, "version": version}]
            )
        return found

    def ready_version(self, name: str, version: int) -> DatasetVersion:
        """The version if it is ready, else DatasetVersionNotReady (or a 404 when it does not exist)."""
        found = self.require_version(name, version)
        if found.status is not VersionStatus.READY:
            raise DatasetVersionNotReady(
                f"Version {version} of dataset {name} is {found.status.value}, not ready.",
                [{"dataset": name, "version": version, "status": found.status.value}],
            )
        return found

    def latest_ready(self, name: str) -> DatasetVersion:
        """The dataset's greatest ready version; DatasetNotFound or NoReadyDatasetVersion otherwise."""
        if self.dataset(name) is None:
            raise DatasetNotFound(f"Dataset {name} does not exist.", [{"dataset": name}])
        params: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :v)",
            "FilterExpression": "#status = :ready",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {
                ":pk": _s(dataset_pk(name)),
                ":v": _s("V#"),
                ":ready": _s(VersionStatus.READY.value),
            },
            "ScanIndexForward": False,
            "ConsistentRead": True,
        }
        while True:
            page = self._client.query(**params)
            items = page.get("Items", [])
            if items:
                return DatasetVersion.model_validate_json(items[0]["version"]["S"])
            if "LastEvaluatedKey" not in page:
                break
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        raise NoReadyDatasetVersion(
            f"Dataset {name} has no ready version yet.", [{"dataset": name, "field": "dataset"}]
        )

    def resolve(self, reference: str) -> DatasetVersion:
        """The ready version `dataset:<name>[@<version>]` names (no version: the latest ready one)."""
        parsed = parse_dataset_reference(reference)
        if parsed.version is None:
            return self.latest_ready(parsed.name)
        return self.ready_version(parsed.name, parsed.version)

    def datasets(self, *, limit: int, after: str | None) -> tuple[list[Dataset], str | None]:
        """A page of datasets by name, and the name to continue after (or None)."""
        params: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": DATASETS_INDEX,
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": {":pk": _s(DATASETS_INDEX_PK)},
            "Limit": limit,
        }
        if after is not None:
            params["ExclusiveStartKey"] = {
                "pk": _s(dataset_pk(after)),
                "sk": _s(META_SK),
                "gsi1pk": _s(DATASETS_INDEX_PK),
                "gsi1sk": _s(after),
            }
        page = self._client.query(**params)
        found = [Dataset.model_validate_json(item["dataset"]["S"]) for item in page.get("Items", [])]
        more = "LastEvaluatedKey" in page and bool(found)
        return found, (found[-1].name if more else None)

    def versions(
        self, name: str, *, limit: int, after: int | None
    ) -> tuple[list[DatasetVersion], int | None]:
        """A page of a dataset's versions, newest first, and the version to continue after (or None)."""
        params: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :v)",
            "ExpressionAttributeValues": {":pk": _s(dataset_pk(name)), ":v": _s("V#")},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if after is not None:
            params["ExclusiveStartKey"] = {"pk": _s(dataset_pk(name)), "sk": _s(version_sk(after))}
        page = self._client.query(**params)
        found = [DatasetVersion.model_validate_json(item["version"]["S"]) for item in page.get("Items", [])]
        more = "LastEvaluatedKey" in page and bool(found)
        return found, (found[-1].version if more else None)

    # ------------------------------------------------------------------ writes
    def begin_version(
        self,
        name: str,
        *,
        kind: DatasetKind,
        lineage: Lineage,
        actor: str,
        description: str = "",
        audit: Callable[[int], AuditEntry] | None = None,
    ) -> DatasetVersion:
        """Allocate the dataset's next version, `building` (the dataset is created with its first one).

        DatasetKindMismatch when the dataset is produced by another kind of producer; `audit` builds
        the audit entry for the allocated number.
        """
        for attempt in range(_MAX_ALLOCATION_ATTEMPTS):
            now = self._clock()
            current = self.dataset(name)
            if current is not None and current.kind is not kind:
                raise DatasetKindMismatch(
                    f"Dataset {name} is made by {current.kind.value} jobs, not {kind.value} jobs.",
                    [{"dataset": name, "kind": current.kind.value, "requested": kind.value}],
                )
            number = (current.latest_version if current else 0) + 1
            dataset = Dataset(
                name=name,
                kind=kind,
                description=(current.description if current and not description else description),
                source=lineage.source if current is None else current.source,
                latest_version=number,
                created_at=current.created_at if current else now,
                created_by=current.created_by if current else actor,
            )
            version = DatasetVersion(
                dataset=name,
                version=number,
                kind=kind,
                status=VersionStatus.BUILDING,
                location=version_location(self._bucket, name, number),
                lineage=lineage,
                description=description,
                created_at=now,
                created_by=actor,
            )
            meta_put: TransactWriteItemTypeDef = {
                "Put": {
                    "TableName": self._table,
                    "Item": self._dataset_item(dataset),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            if current is not None:
                meta_put["Put"]["ConditionExpression"] = "latest_version = :read"
                meta_put["Put"]["ExpressionAttributeValues"] = {":read": {"N": str(current.latest_version)}}
            version_put: TransactWriteItemTypeDef = {
                "Put": {
                    "TableName": self._table,
                    "Item": self._version_item(version),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            try:
                write_with_audit(
                    self._client,
                    [meta_put, version_put],
                    self._audit,
                    audit(number) if audit is not None else None,
                )
            except ChangeConditionFailed:
                self._sleep(backoff_seconds(attempt))
                continue
            return version
        raise TooMuchContention(f"Too many versions of dataset {name} are being created at once; retry.")

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
    ) -> DatasetVersion:
        """Mark a building version ready with what its job wrote; DatasetVersionNotReady if not building."""
        current = self.require_version(name, version)
        updates: dict[str, Any] = {
            "status": VersionStatus.READY,
            "columns": columns,
            "row_count": row_count,
            "content_hash": content_hash,
            "files": files,
            "completed_at": self._clock(),
        }
        if lineage is not None:
            updates["lineage"] = lineage
        return self._finish(current, current.model_copy(update=updates), audit)

    def fail_version(
        self, name: str, version: int, *, failure: str, audit: AuditEntry | None = None
    ) -> DatasetVersion:
        """Mark a building version failed, with why (no secret may be in `failure`)."""
        current = self.require_version(name, version)
        updated = current.model_copy(
            update={"status": VersionStatus.FAILED, "failure": failure[:2048], "completed_at": self._clock()}
        )
        return self._finish(current, updated, audit)

    def _finish(
        self, current: DatasetVersion, updated: DatasetVersion, audit: AuditEntry | None
    ) -> DatasetVersion:
        # Validate the copy: model_copy(update=...) does not.
        checked = DatasetVersion.model_validate(updated.model_dump())
        put: TransactWriteItemTypeDef = {
            "Put": {
                "TableName": self._table,
                "Item": self._version_item(checked),
                "ConditionExpression": "#status = :building",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {":building": _s(VersionStatus.BUILDING.value)},
            }
        }
        try:
            write_with_audit(self._client, [put], self._audit, audit)
        except ChangeConditionFailed:
            raise DatasetVersionNotReady(
                f"Version {current.version} of dataset {current.dataset} is no longer building.",
                [{"dataset": current.dataset, "version": current.version}],
            ) from None
        return checked

    # ------------------------------------------------------------------ items
    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._client.get_item(
            TableName=self._table, Key={"pk": _s(pk), "sk": _s(sk)}, ConsistentRead=True
        ).get("Item")
        return item

    def _dataset_item(self, dataset: Dataset) -> dict[str, Any]:
        return {
            "pk": _s(dataset_pk(dataset.name)),
            "sk": _s(META_SK),
            "gsi1pk": _s(DATASETS_INDEX_PK),
            "gsi1sk": _s(dataset.name),
            "latest_version": {"N": str(dataset.latest_version)},
            "dataset": _s(dataset.model_dump_json()),
        }

    def _version_item(self, version: DatasetVersion) -> dict[str, Any]:
        return {
            "pk": _s(dataset_pk(version.dataset)),
            "sk": _s(version_sk(version.version)),
            "status": _s(version.status.value),
            "version": _s(version.model_dump_json(by_alias=True)),
        }
