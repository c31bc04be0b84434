"""The connections table: who holds each socket, and which models each socket follows.

Items (docs/monitoring.md, "Live feed", storage):
- `pk CONN#<connection id>`, `sk CONNECTION`: the connection and its actor.
- `pk CONN#<connection id>`, `sk SUB#<model id or *>`, `gsi1pk FEED#<model id or *>`,
  `gsi1sk CONN#<connection id>`: one subscription; the index lists a model's subscribers in one Query.
Every item carries `expires_at` (the table's TTL attribute).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from cirrus_core.feed.models import Connection, Subscription
from cirrus_core.principal import ActorRecord
from cirrus_core.registry.primitives import model_pk

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

INDEX: Final = "gsi1"
_CONNECTION_SK: Final = "CONNECTION"
_SUB_PREFIX: Final = "SUB#"
_BATCH: Final = 25
_BATCH_ATTEMPTS: Final = 5


class ConnectionGoneFromTable(Exception):
    """The connection item is not there (any more): nothing was written."""


def _pk(connection_id: str) -> str:
    return f"CONN#{connection_id}"


def _feed_key(model_id: str) -> str:
    return f"FEED#{model_id}"


class ConnectionStore:
    """Reads and writes the connections table (low-level client, injected)."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def put_connection(self, connection: Connection) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": _pk(connection.connection_id)},
                "sk": {"S": _CONNECTION_SK},
                "doc": {"S": connection.model_dump_json()},
                "expires_at": {"N": str(connection.expires_at)},
            },
        )

    def get_connection(self, connection_id: str) -> Connection | None:
        item = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": _pk(connection_id)}, "sk": {"S": _CONNECTION_SK}},
            ConsistentRead=True,
        ).get("Item")
        return Connection.model_validate_json(item["doc"]["S"]) if item else None

    def subscriptions(self, connection_id: str) -> list[str]:
        """The model ids (or `*`) the connection follows, sorted."""
        models = [
            str(item["sk"]["S"]).removeprefix(_SUB_PREFIX)
            for item in self._items(
                KeyConditionExpression="pk = :pk AND begins_with(sk, :sub)",
                ExpressionAttributeValues={":pk": {"S": _pk(connection_id)}, ":sub": {"S": _SUB_PREFIX}},
                ProjectionExpression="sk",
                ConsistentRead=True,
            )
        ]
        return sorted(models)

    def add_subscriptions(self, connection: Connection, model_ids: Sequence[str]) -> None:
        """Store the subscriptions at once, while the connection item still exists."""
        actor = connection.actor.model_dump_json()
        items: list[TransactWriteItemTypeDef] = [
            {
                "ConditionCheck": {
                    "TableName": self._table,
                    "Key": {"pk": {"S": _pk(connection.connection_id)}, "sk": {"S": _CONNECTION_SK}},
                    "ConditionExpression": "attribute_exists(pk)",
                }
            }
        ]
        for model_id in model_ids:
            items.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {
                            "pk": {"S": _pk(connection.connection_id)},
                            "sk": {"S": _SUB_PREFIX + model_id},
                            "gsi1pk": {"S": _feed_key(model_id)},
                            "gsi1sk": {"S": _pk(connection.connection_id)},
                            "actor": {"S": actor},
                            "expires_at": {"N": str(connection.expires_at)},
                        },
                    }
                }
            )
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                reasons = error.response.get("CancellationReasons", [])
                if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                    raise ConnectionGoneFromTable(connection.connection_id) from error
            raise

    def remove_subscriptions(self, connection_id: str, model_ids: Sequence[str]) -> None:
        self._delete([(_pk(connection_id), _SUB_PREFIX + model_id) for model_id in model_ids])

    def delete_connection(self, connection_id: str) -> None:
        """Remove the connection and every subscription of it."""
        keys = [
            (str(item["pk"]["S"]), str(item["sk"]["S"]))
            for item in self._items(
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": _pk(connection_id)}},
                ProjectionExpression="pk, sk",
                ConsistentRead=True,
            )
        ]
        self._delete(keys)

    def subscribers(self, model_id: str) -> Iterator[Subscription]:
        """The subscriptions to one model id (or to `*`), from the index."""
        for item in self._items(
            IndexName=INDEX,
            KeyConditionExpression="gsi1pk = :key",
            ExpressionAttributeValues={":key": {"S": _feed_key(model_id)}},
        ):
            yield Subscription(
                connection_id=str(item["gsi1sk"]["S"]).removeprefix("CONN#"),
                model_id=model_id,
                actor=ActorRecord.model_validate_json(item["actor"]["S"]),
                expires_at=int(item["expires_at"]["N"]),
            )

    def _items(self, **params: Any) -> Iterator[dict[str, Any]]:
        paginator = self._client.get_paginator("query")
        for page in paginator.paginate(TableName=self._table, **params):
            yield from page.get("Items", [])

    def _delete(self, keys: Sequence[tuple[str, str]]) -> None:
        for start in range(0, len(keys), _BATCH):
            requests: Any = [
                {"DeleteRequest": {"Key": {"pk": {"S": pk}, "sk": {"S": sk}}}}
                for pk, sk in keys[start : start + _BATCH]
            ]
            pending = {self._table: requests}
            for attempt in range(_BATCH_ATTEMPTS):
                if attempt:
                    time.sleep(0.05 * 2**attempt)
                response = self._client.batch_write_item(RequestItems=pending)
                pending = dict(response.get("UnprocessedItems") or {})
                if not pending:
                    break
            else:
                raise RuntimeError("DynamoDB left deletes of the connections table unprocessed")


class RegisteredModels:
    """Whether a model is registered, read from the registry's table (its model item's key only)."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def exists(self, model_id: str) -> bool:
        item = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": model_pk(model_id)}, "sk": {"S": "MODEL"}},
            ProjectionExpression="pk",
        ).get("Item")
        return bool(item)
