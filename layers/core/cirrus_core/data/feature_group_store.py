"""Feature groups, their versions, ingestions, materialisations and training sets in the data table.

Items (docs/data.md, "Storage"):
  pk FG#<name>          sk META                  the group's summary (JSON), latest_version, has_data;
                                                 gsi1pk FEATURE_GROUPS, gsi1sk <name> (listing by name)
  pk FG#<name>          sk V#<version:010d>      one version of the definition (JSON)
  pk FG#<name>          sk INGEST#<id>           an ingestion job (JSON), status
  pk FG#<name>          sk MATERIALIZE#<id>      a materialisation job (JSON), status
  pk TRAININGSET#<id>   sk META                  a training set (JSON), status;
                                                 gsi1pk TRAINING_SETS, gsi1sk <created_at>#<id>

A version is allocated as dataset versions are: one transaction moves META's `latest_version` from
the number read (or creates META) and puts `V#n` if absent, with the audit record; a lost race
surfaces as ChangeConditionFailed and the service re-plans. `has_data` is its own attribute, set by
an update, so allocating a version never overwrites it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from cirrus_core.audit.transact import ChangeConditionFailed, write_with_audit
from cirrus_core.data.feature_models import (
    FeatureGroupSummary,
    FeatureJobStatus,
    IngestionJob,
    MaterializationJob,
)
from cirrus_core.data.features import FeatureGroupVersion
from cirrus_core.data.training_sets import TrainingSet, TrainingSetStatus

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

    from cirrus_core.audit.log import AuditLog
    from cirrus_core.audit.models import AuditEntry

META_SK: Final = "META"
INDEX: Final = "gsi1"
GROUPS_INDEX_PK: Final = "FEATURE_GROUPS"
TRAINING_SETS_INDEX_PK: Final = "TRAINING_SETS"
INGEST_PREFIX: Final = "INGEST#"
MATERIALIZE_PREFIX: Final = "MATERIALIZE#"


def group_pk(name: str) -> str:
    return f"FG#{name}"


def version_sk(version: int) -> str:
    return f"V#{version:010d}"


def training_set_pk(training_set_id: str) -> str:
    return f"TRAININGSET#{training_set_id}"


def _s(value: str) -> dict[str, Any]:
    return {"S": value}


class FeatureGroupStore:
    """The feature store's items in the data table; changes made by callers carry their audit record."""

    def __init__(self, client: DynamoDBClient, table_name: str, audit: AuditLog | None = None) -> None:
        self._client = client
        self._table = table_name
        self._audit = audit

    # ------------------------------------------------------------------ groups and versions
    def group(self, name: str) -> FeatureGroupSummary | None:
        item = self._get(group_pk(name), META_SK)
        if item is None:
            return None
        summary = FeatureGroupSummary.model_validate_json(item["summary"]["S"])
        return summary.model_copy(update={"has_data": bool(item.get("has_data", {}).get("BOOL", False))})

    def version(self, name: str, version: int) -> FeatureGroupVersion | None:
        item = self._get(group_pk(name), version_sk(version))
        return FeatureGroupVersion.model_validate_json(item["version"]["S"]) if item else None

    def versions(self, name: str) -> list[FeatureGroupVersion]:
        """Every version of the group, oldest first."""
        params: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :v)",
            "ExpressionAttributeValues": {":pk": _s(group_pk(name)), ":v": _s("V#")},
            "ConsistentRead": True,
        }
        return [FeatureGroupVersion.model_validate_json(item["version"]["S"]) for item in self._query(params)]

    def groups(self, *, limit: int, after: str | None) -> tuple[list[FeatureGroupSummary], str | None]:
        """A page of groups by name, and the name to continue after (or None)."""
        params: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": INDEX,
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": {":pk": _s(GROUPS_INDEX_PK)},
            "Limit": limit,
        }
        if after is not None:
            params["ExclusiveStartKey"] = {
                "pk": _s(group_pk(after)),
                "sk": _s(META_SK),
                "gsi1pk": _s(GROUPS_INDEX_PK),
                "gsi1sk": _s(after),
            }
        page = self._client.query(**params)
        found = [
            FeatureGroupSummary.model_validate_json(item["summary"]["S"]).model_copy(
                update={"has_data": bool(item.get("has_data", {}).get("BOOL", False))}
            )
            for item in page.get("Items", [])
        ]
        more = "LastEvaluatedKey" in page and bool(found)
        return found, (found[-1].name if more else None)

    def add_version(
        self,
        summary: FeatureGroupSummary,
        version: FeatureGroupVersion,
        *,
        read_latest: int | None,
        audit: AuditEntry | None,
    ) -> None:
        """Store `version` as the group's latest; ChangeConditionFailed when another writer got there
        first (`read_latest` is the latest version read, None when the group did not exist)."""
        pk = group_pk(summary.name)
        meta: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"pk": _s(pk), "sk": _s(META_SK)},
            "UpdateExpression": "SET latest_version = :n, summary = :summary, gsi1pk = :gpk, gsi1sk = :name",
            "ExpressionAttributeValues": {
                ":n": {"N": str(version.version)},
                ":summary": _s(summary.model_dump_json(exclude={"has_data"})),
                ":gpk": _s(GROUPS_INDEX_PK),
                ":name": _s(summary.name),
            },
        }
        if read_latest is None:
            meta["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            meta["ConditionExpression"] = "latest_version = :read"
            meta["ExpressionAttributeValues"][":read"] = {"N": str(read_latest)}
        update: TransactWriteItemTypeDef = {"Update": meta}  # type: ignore[typeddict-item]
        put: TransactWriteItemTypeDef = {
            "Put": {
                "TableName": self._table,
                "Item": {
                    "pk": _s(pk),
                    "sk": _s(version_sk(version.version)),
                    "version": _s(version.model_dump_json(by_alias=True)),
                },
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        write_with_audit(self._client, [update, put], self._audit, audit)

    def mark_has_data(self, name: str) -> None:
        """Record that rows were written to the group (a non-nullable feature added later breaks)."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": _s(group_pk(name)), "sk": _s(META_SK)},
                UpdateExpression="SET has_data = :yes",
                ConditionExpression=(
                    "attribute_exists(pk) AND (attribute_not_exists(has_data) OR has_data = :no)"
                ),
                ExpressionAttributeValues={":yes": {"BOOL": True}, ":no": {"BOOL": False}},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return

    # ------------------------------------------------------------------ ingestions
    def ingestion(self, name: str, ingestion_id: str) -> IngestionJob | None:
        item = self._get(group_pk(name), INGEST_PREFIX + ingestion_id)
        return IngestionJob.model_validate_json(item["job"]["S"]) if item else None

    def create_ingestion(self, job: IngestionJob, audit: AuditEntry | None) -> None:
        self._create(group_pk(job.group), INGEST_PREFIX + job.ingestion_id, job.status, job, audit)

    def finish_ingestion(self, job: IngestionJob) -> None:
        """Store a running ingestion's outcome; ChangeConditionFailed when it had finished already."""
        self._finish(group_pk(job.group), INGEST_PREFIX + job.ingestion_id, job.status, job)

    def succeeded_ingestions(self, name: str) -> list[IngestionJob]:
        """The group's ingestions that wrote their partition, oldest first (ids sort by time)."""
        params: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :ingest)",
            "FilterExpression": "#status = :succeeded",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {
                ":pk": _s(group_pk(name)),
                ":ingest": _s(INGEST_PREFIX),
                ":succeeded": _s(FeatureJobStatus.SUCCEEDED.value),
            },
            "ConsistentRead": True,
        }
        return [IngestionJob.model_validate_json(item["job"]["S"]) for item in self._query(params)]

    # ------------------------------------------------------------------ materialisations
    def materialization(self, name: str, materialization_id: str) -> MaterializationJob | None:
        item = self._get(group_pk(name), MATERIALIZE_PREFIX + materialization_id)
        return MaterializationJob.model_validate_json(item["job"]["S"]) if item else None

    def create_materialization(self, job: MaterializationJob, audit: AuditEntry | None) -> None:
        self._create(group_pk(job.group), MATERIALIZE_PREFIX + job.materialization_id, job.status, job, audit)

    def finish_materialization(self, job: MaterializationJob) -> None:
        self._finish(group_pk(job.group), MATERIALIZE_PREFIX + job.materialization_id, job.status, job)

    # ------------------------------------------------------------------ training sets
    def training_set(self, training_set_id: str) -> TrainingSet | None:
        item = self._get(training_set_pk(training_set_id), META_SK)
        return TrainingSet.model_validate_json(item["training_set"]["S"]) if item else None

    def create_training_set(self, training_set: TrainingSet, audit: AuditEntry | None) -> None:
        put: TransactWriteItemTypeDef = {
            "Put": {
                "TableName": self._table,
                "Item": self._training_set_item(training_set),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        write_with_audit(self._client, [put], self._audit, audit)

    def update_training_set(self, training_set: TrainingSet) -> None:
        """Replace a building training set (its version allocated, or its outcome); ChangeConditionFailed
        when it is no longer building."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item=self._training_set_item(training_set),
                ConditionExpression="#status = :building",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":building": _s(TrainingSetStatus.BUILDING.value)},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            raise ChangeConditionFailed(0) from None

    # ------------------------------------------------------------------ items
    def _training_set_item(self, training_set: TrainingSet) -> dict[str, Any]:
        return {
            "pk": _s(training_set_pk(training_set.training_set_id)),
            "sk": _s(META_SK),
            "gsi1pk": _s(TRAINING_SETS_INDEX_PK),
            "gsi1sk": _s(f"{training_set.created_at.isoformat()}#{training_set.training_set_id}"),
            "status": _s(training_set.status.value),
            "training_set": _s(training_set.model_dump_json()),
        }

    def _create(
        self,
        pk: str,
        sk: str,
        status: FeatureJobStatus,
        job: IngestionJob | MaterializationJob,
        audit: AuditEntry | None,
    ) -> None:
        put: TransactWriteItemTypeDef = {
            "Put": {
                "TableName": self._table,
                "Item": {
                    "pk": _s(pk),
                    "sk": _s(sk),
                    "status": _s(status.value),
                    "job": _s(job.model_dump_json()),
                },
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        write_with_audit(self._client, [put], self._audit, audit)

    def _finish(
        self, pk: str, sk: str, status: FeatureJobStatus, job: IngestionJob | MaterializationJob
    ) -> None:
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "pk": _s(pk),
                    "sk": _s(sk),
                    "status": _s(status.value),
                    "job": _s(job.model_dump_json()),
                },
                ConditionExpression="#status = :running",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":running": _s(FeatureJobStatus.RUNNING.value)},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            raise ChangeConditionFailed(0) from None

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._client.get_item(
            TableName=self._table, Key={"pk": _s(pk), "sk": _s(sk)}, ConsistentRead=True
        ).get("Item")
        return item

    def _query(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            page = self._client.query(**params)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
