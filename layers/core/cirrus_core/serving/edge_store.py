"""DynamoDB adapter for edge packages in the serving table (docs/serving.md, "Serving table").

  pk MODEL#<model_id>   sk EDGE#<package_id>   the package: request, status, compilation job and
                                               kind, component name/version, manifest URI and
                                               signature, times, failure cause

Creating a package writes its item and the audit record of the request in one transaction. The
state machine's steps move it forward with conditional updates: a package that reached a terminal
status never changes again, so a retried or late step cannot undo `ready` or `failed`.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from cirrus_core.contention import backoff_seconds
from cirrus_core.errors import TooMuchContention
from cirrus_core.serving.edge_models import EdgePackage, EdgePackageStatus

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping

    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

    from cirrus_core.audit.log import AuditLog
    from cirrus_core.audit.models import AuditEntry

EDGE_PREFIX = "EDGE#"
_MODEL_PREFIX = "MODEL#"
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class PackageExists(Exception):
    """A package with this id is already recorded (ids are random: a retry of the same create)."""


def model_pk(model_id: str) -> str:
    return f"{_MODEL_PREFIX}{model_id}"


def edge_sk(package_id: str) -> str:
    return f"{EDGE_PREFIX}{package_id}"


def _plain(value: Any) -> Any:
    """DynamoDB's Decimals back to ints (edge items hold no fractional numbers)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def to_item(package: EdgePackage) -> dict[str, Any]:
    """The package as a DynamoDB item (links are computed on the way out, never stored)."""
    document = package.model_dump(mode="json", exclude_none=True, exclude={"links"})
    return {
        "pk": {"S": model_pk(package.model_id)},
        "sk": {"S": edge_sk(package.package_id)},
        **{key: _serializer.serialize(value) for key, value in document.items()},
    }


def from_item(item: Mapping[str, Any]) -> EdgePackage:
    document = {key: _plain(_deserializer.deserialize(value)) for key, value in item.items()}
    document.pop("pk", None)
    document.pop("sk", None)
    return EdgePackage.model_validate(document)


class EdgePackageStore:
    """Reads and writes EDGE# items; no rules beyond the status conditions live here."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        audit: AuditLog | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        max_attempts: int = 30,
    ) -> None:
        self._client = client
        self._table = table_name
        self._audit = audit
        self._sleep = sleep
        self._max_attempts = max_attempts

    def create(self, package: EdgePackage, audit: AuditEntry | None) -> None:
        """Record a new package with the audit record of its request, in one transaction.

        A lost race for the audit chain's head is retried; PackageExists if the id is taken.
        """
        put: TransactWriteItemTypeDef = {
            "Put": {
                "TableName": self._table,
                "Item": to_item(package),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        for attempt in range(self._max_attempts):
            items = [put]
            if self._audit is not None and audit is not None:
                items.extend(self._audit.transaction_items(audit, self._audit.head()))
            try:
                self._client.transact_write_items(TransactItems=items)
                return
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise
                reasons = error.response.get("CancellationReasons") or []
                if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                    raise PackageExists(package.package_id) from error
                self._sleep(backoff_seconds(attempt))
        raise TooMuchContention(
            "The audit trail is being written by too many callers at once; retry shortly."
        )

    def get(self, model_id: str, package_id: str) -> EdgePackage | None:
        item = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": model_pk(model_id)}, "sk": {"S": edge_sk(package_id)}},
            ConsistentRead=True,
        ).get("Item")
        return from_item(item) if item else None

    def list(self, model_id: str, limit: int, start_after: str | None) -> tuple[list[EdgePackage], bool]:
        """Up to `limit` packages in package id order after `start_after`, and whether more follow."""
        params: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": model_pk(model_id)}, ":prefix": {"S": EDGE_PREFIX}},
            "ConsistentRead": True,
            "Limit": limit + 1,
        }
        if start_after is not None:
            params["ExclusiveStartKey"] = {"pk": {"S": model_pk(model_id)}, "sk": {"S": edge_sk(start_after)}}
        found: list[EdgePackage] = []
        while len(found) <= limit:
            response = self._client.query(**params)
            found.extend(from_item(item) for item in response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if not last:
                break
            params["ExclusiveStartKey"] = last
        return found[:limit], len(found) > limit

    def update(
        self,
        model_id: str,
        package_id: str,
        changes: Mapping[str, Any],
        *,
        allowed_from: Collection[EdgePackageStatus],
    ) -> bool:
        """Set `changes` (JSON values) when the package's status is one of `allowed_from`; False if not."""
        names = {f"#f{index}": name for index, name in enumerate(changes)}
        values = {f":v{index}": _serializer.serialize(value) for index, value in enumerate(changes.values())}
        allowed = {f":s{index}": {"S": status.value} for index, status in enumerate(allowed_from)}
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": model_pk(model_id)}, "sk": {"S": edge_sk(package_id)}},
                UpdateExpression="SET "
                + ", ".join(f"{name} = :v{index}" for index, name in enumerate(names)),
                ConditionExpression=f"#status IN ({', '.join(allowed)})",
                ExpressionAttributeNames={**names, "#status": "status"},
                ExpressionAttributeValues={**values, **allowed},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True
