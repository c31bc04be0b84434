"""DynamoDB adapter for the audit table: the chain head, one item per record, filtered listings.

  pk HEAD   sk HEAD            the chain head: `seq` and `hash` of the last record
  pk CHAIN  sk <12-digit seq>  one record; its canonical document in `doc`, filter keys beside it
The GSIs `by_actor` (actor, sk) and `by_resource` (resource, sk) serve the two selective filters;
action and time range narrow a listing with a filter expression (few actions, and time follows seq).

A record and the head's advance are written in one transaction: the record put requires a fresh
key, the head update requires the head still at the seq the record follows. Two writers racing for
the same seq cannot both win, so the chain never forks; the loser re-reads the head and retries.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from cirrus_core.audit.models import AuditEntry, AuditPage, AuditRecord, ChainHead, iso_utc
from cirrus_core.contention import backoff_seconds
from cirrus_core.errors import InvalidPaginationToken, TooMuchContention
from cirrus_core.pagination import decode_token, encode_token

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from datetime import datetime

    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

HEAD_KEY = {"pk": {"S": "HEAD"}, "sk": {"S": "HEAD"}}
CHAIN_PK = "CHAIN"
ACTOR_INDEX = "by_actor"
RESOURCE_INDEX = "by_resource"
_PAGE = 100


class ChainContention(Exception):
    """Another writer advanced the chain head first; re-read it and try again."""


def record_sk(seq: int) -> str:
    """The sort key of record `seq`: zero-padded so that string order is sequence order."""
    return f"{seq:012d}"


def _s(value: str) -> dict[str, str]:
    return {"S": value}


class AuditLog:
    """Appends records to the hash chain and reads them back; no rules beyond the chain live here."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        max_attempts: int = 60,
    ) -> None:
        self._client = client
        self._table = table_name
        self._sleep = sleep
        self._max_attempts = max_attempts

    @property
    def table_name(self) -> str:
        """The audit table's name."""
        return self._table

    # -- writing ----------------------------------------------------------------------------------

    def head(self) -> ChainHead:
        """The chain head as last committed (seq 0 for an empty chain)."""
        item = self._client.get_item(TableName=self._table, Key=HEAD_KEY, ConsistentRead=True).get("Item")
        if not item:
            return ChainHead()
        return ChainHead(seq=int(item["seq"]["N"]), hash=item["hash"]["S"])

    def transaction_items(self, entry: AuditEntry, head: ChainHead) -> list[TransactWriteItemTypeDef]:
        """The writes that append `entry` after `head`, for the caller's own TransactWriteItems.

        The caller's transaction fails (a ConditionalCheckFailed on one of these items) when another
        writer moved the head since `head` was read: the caller treats that as a lost race.
        """
        record = AuditRecord.link(entry, head.seq + 1, head.hash)
        put: TransactWriteItemTypeDef = {
            "Put": {
                "TableName": self._table,
                "Item": self._item(record),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        values: dict[str, Any] = {":seq": {"N": str(record.seq)}, ":hash": _s(record.hash)}
        if head.seq:
            values[":expected"] = {"N": str(head.seq)}
        advance: TransactWriteItemTypeDef = {
            "Update": {
                "TableName": self._table,
                "Key": HEAD_KEY,
                "UpdateExpression": "SET seq = :seq, #hash = :hash",
                "ExpressionAttributeNames": {"#hash": "hash"},
                "ExpressionAttributeValues": values,
            }
        }
        if head.seq == 0:
            advance["Update"]["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            advance["Update"]["ConditionExpression"] = "seq = :expected"
        return [put, advance]

    def append(self, entry: AuditEntry) -> AuditRecord:
        """Append a record on its own (reads, denials, policy changes); retries lost races."""
        for attempt in range(self._max_attempts):
            head = self.head()
            try:
                self._client.transact_write_items(TransactItems=self.transaction_items(entry, head))
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise
                self._sleep(backoff_seconds(attempt))
                continue
            return AuditRecord.link(entry, head.seq + 1, head.hash)
        raise TooMuchContention(
            "The audit trail is being written by too many callers at once; retry shortly."
        )

    # -- reading ----------------------------------------------------------------------------------

    def iter_chain(self, start_after: int = 0) -> Iterator[tuple[int, AuditRecord | None]]:
        """Every stored record in key order as (key seq, record); None for a record that no longer parses."""
        params: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk > :after",
            "ExpressionAttributeValues": {":pk": _s(CHAIN_PK), ":after": _s(record_sk(start_after))},
            "ConsistentRead": True,
        }
        for item in self._pages(params):
            yield int(item["sk"]["S"]), self._parse(item)

    def query(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        resource: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        next_token: str | None = None,
    ) -> AuditPage:
        """Records newest first, narrowed by any of the filters; `until` is exclusive."""
        params: dict[str, Any] = {"TableName": self._table, "ScanIndexForward": False}
        values: dict[str, Any] = {}
        if actor is not None:
            params["IndexName"] = ACTOR_INDEX
            params["KeyConditionExpression"] = "actor = :key"
            values[":key"] = _s(actor)
        elif resource is not None:
            params["IndexName"] = RESOURCE_INDEX
            params["KeyConditionExpression"] = "#resource = :key"
            values[":key"] = _s(resource)
        else:
            params["KeyConditionExpression"] = "pk = :key"
            values[":key"] = _s(CHAIN_PK)
        filters: list[str] = []
        names: dict[str, str] = {}
        if resource is not None:
            names["#resource"] = "resource"
            if actor is not None:
                filters.append("#resource = :resource")
                values[":resource"] = _s(resource)
        if action is not None:
            filters.append("#action = :action")
            names["#action"] = "action"
            values[":action"] = _s(action)
        if since is not None:
            filters.append("#at >= :since")
            values[":since"] = _s(iso_utc(since))
        if until is not None:
            filters.append("#at < :until")
            values[":until"] = _s(iso_utc(until))
        if since is not None or until is not None:
            names["#at"] = "at"
        if filters:
            params["FilterExpression"] = " AND ".join(filters)
        if names:
            params["ExpressionAttributeNames"] = names
        params["ExpressionAttributeValues"] = values
        start = self._start_seq(next_token)
        if start is not None:
            params["ExclusiveStartKey"] = self._start_key(start, actor=actor, resource=resource)
        records: list[AuditRecord] = []
        for item in self._pages(params):
            record = self._parse(item)
            if record is not None:
                records.append(record)
            if len(records) > limit:
                break
        token = encode_token({"q": records[limit - 1].seq}) if len(records) > limit else None
        return AuditPage(items=records[:limit], next_token=token)

    # -- helpers ----------------------------------------------------------------------------------

    @staticmethod
    def _item(record: AuditRecord) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": _s(CHAIN_PK),
            "sk": _s(record_sk(record.seq)),
            "actor": _s(record.actor),
            "action": _s(record.action),
            "resource": _s(record.resource),
            "at": _s(iso_utc(record.at)),
            "category": _s(record.category.value),
            "doc": _s(record.model_dump_json()),
        }
        return item

    @staticmethod
    def _parse(item: dict[str, Any]) -> AuditRecord | None:
        try:
            return AuditRecord.model_validate_json(item["doc"]["S"])
        except (KeyError, ValueError):
            return None

    @staticmethod
    def _start_seq(next_token: str | None) -> int | None:
        if not next_token:
            return None
        value = decode_token(next_token, frozenset({"q"}))["q"]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InvalidPaginationToken("next_token does not belong to this listing.")
        return value

    @staticmethod
    def _start_key(seq: int, *, actor: str | None, resource: str | None) -> dict[str, Any]:
        key: dict[str, Any] = {"pk": _s(CHAIN_PK), "sk": _s(record_sk(seq))}
        # An index's start key carries the index keys too; the token holds only the seq, and the
        # filter values of the request (which a token must be used with) supply the rest.
        if actor is not None:
            key["actor"] = _s(actor)
        elif resource is not None:
            key["resource"] = _s(resource)
        return key

    def _pages(self, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        params = {**params, "Limit": _PAGE}
        while True:
            response = self._client.query(**params)
            yield from response.get("Items", [])
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            params["ExclusiveStartKey"] = last
