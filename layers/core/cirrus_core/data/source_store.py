"""DynamoDB adapter of data sources in the data table (docs/data.md, "Storage").

pk SOURCE#<name>   sk META   source (JSON, no secret value), type;
                             gsi1pk SOURCES, gsi1sk <name> (listing by name)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from cirrus_core.audit.transact import write_with_audit
from cirrus_core.data.sources import SourceRecord

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

    from cirrus_core.audit.log import AuditLog
    from cirrus_core.audit.models import AuditEntry

SOURCE_SK: Final = "META"
SOURCES_INDEX_PK: Final = "SOURCES"
INDEX: Final = "gsi1"


def source_pk(name: str) -> str:
    return f"SOURCE#{name}"


def _s(value: str) -> dict[str, Any]:
    return {"S": value}


class SourceStore:
    """Sources in the data table, each change with its audit record in one transaction."""

    def __init__(self, client: DynamoDBClient, table_name: str, audit: AuditLog | None = None) -> None:
        self._client = client
        self._table = table_name
        self._audit = audit

    def source(self, name: str) -> SourceRecord | None:
        item = self._client.get_item(TableName=self._table, Key=self._key(name), ConsistentRead=True).get(
            "Item"
        )
        return SourceRecord.model_validate_json(item["source"]["S"]) if item else None

    def create(self, record: SourceRecord, audit: AuditEntry | None) -> None:
        """Store a new source; ChangeConditionFailed when the name is taken."""
        put: TransactWriteItemTypeDef = {
            "Put": {
                "TableName": self._table,
                "Item": {
                    **self._key(record.name),
                    "gsi1pk": _s(SOURCES_INDEX_PK),
                    "gsi1sk": _s(record.name),
                    "source": _s(record.model_dump_json()),
                    "type": _s(record.type.value),
                },
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        write_with_audit(self._client, [put], self._audit, audit)

    def delete(self, name: str, audit: AuditEntry | None) -> None:
        """Delete a source; ChangeConditionFailed when it is already gone."""
        delete: TransactWriteItemTypeDef = {
            "Delete": {
                "TableName": self._table,
                "Key": self._key(name),
                "ConditionExpression": "attribute_exists(pk)",
            }
        }
        write_with_audit(self._client, [delete], self._audit, audit)

    def sources(self, *, limit: int, after: str | None) -> tuple[list[SourceRecord], str | None]:
        """A page of sources by name, and the name to continue after (or None)."""
        params: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": INDEX,
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": {":pk": _s(SOURCES_INDEX_PK)},
            "Limit": limit,
        }
        if after is not None:
            params["ExclusiveStartKey"] = {
                **self._key(after),
                "gsi1pk": _s(SOURCES_INDEX_PK),
                "gsi1sk": _s(after),
            }
        response = self._client.query(**params)
        records = [
            SourceRecord.model_validate_json(item["source"]["S"]) for item in response.get("Items", [])
        ]
        more = "LastEvaluatedKey" in response and len(records) == limit
        return records, (records[-1].name if more and records else None)

    @staticmethod
    def _key(name: str) -> dict[str, Any]:
        return {"pk": _s(source_pk(name)), "sk": _s(SOURCE_SK)}
