"""DynamoDB writes that are atomic under threads, as in AWS.

moto 5.2.5's DynamoDB backend is not safe when several threads write at once. A conditional write
reads the item, evaluates the condition, then stores the new item, and another thread may write in
between: two writers both see the item absent (or `revision = 7`) and both succeed.
`transact_write_items` also snapshots the tables it touches and, when the transaction is cancelled,
puts the snapshots back, erasing whatever another thread wrote meanwhile. The registry's optimistic
lock relies on AWS's guarantee that a transaction's checks and writes form one step, so under the
local cloud's threaded server it would hand out duplicate version numbers and lose versions.

This hook serialises the backend's write paths and single-item reads with one re-entrant lock (a
transaction calls `put_item`, `update_item` and `delete_item` itself, holding the lock already).
`get_item` takes the lock because moto's `update_item` of a missing item first stores the bare key
and then applies the update to it: an unlocked read in between saw an item without its attributes
(the audit chain's head without `seq`). Queries and scans are not locked, so one made during a
transaction may see some of its items and not others, where AWS would isolate it; what the registry
and the audit chain rely on, atomic conditional writes and whole single-item reads, this hook gives.

It also replaces moto's rollback snapshot. moto deep-copies every table a transaction touches
before each transaction, so a transaction costs time in proportion to the tables' sizes: with the
audit chain growing by a record per request, a long local-cloud session slowed down request by
request. Under the lock, backing up just the items the transaction touches and putting them back
when it is cancelled gives the same all-or-nothing result at a cost independent of table size.
"""

from __future__ import annotations

import copy
import functools
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

if TYPE_CHECKING:
    from collections.abc import Callable

    from cirrus.localcloud.hooks import HookContext, Undo

SERIALISED_METHODS = ("transact_write_items", "put_item", "update_item", "delete_item", "get_item")


def _serialised(method: Callable[..., Any], lock: threading.RLock) -> Callable[..., Any]:
    @functools.wraps(method)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return method(*args, **kwargs)

    return locked


class _CopyExceptTables:
    """Stands in for the `copy` module inside moto.dynamodb.models: tables are not snapshotted."""

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


@dataclass(frozen=True)
class _Backup:
    """One item as it was before a transaction (None: it did not exist)."""

    table: Table
    hash_key: DynamoType
    range_key: DynamoType | None
    item: Item | None

    def restore(self) -> None:
        # Straight into moto's item store (moto 5.2.5: Table.items[hash] or Table.items[hash][range]),
        # so values go back exactly as they were, binary ones included.
        if self.item is None:
            self.table.delete_item(self.hash_key, self.range_key)
        elif self.range_key is not None:
            self.table.items[self.hash_key][self.range_key] = self.item
        else:
            self.table.items[self.hash_key] = self.item  # type: ignore[assignment]  # moto annotates dict-of-dicts


def _backup(backend: DynamoDBBackend, operation: dict[str, Any]) -> _Backup | None:
    """The item one transaction operation touches, as it is now."""
    if len(operation) != 1:
        return None  # moto refuses it before writing anything
    op_type, op = next(iter(operation.items()))
    table = backend.tables.get(op.get("TableName", ""))
    key = op.get("Item") if op_type == "Put" else op.get("Key")
    if table is None or not key or table.hash_key_attr not in key:
        return None  # moto refuses it before writing anything
    hash_key = DynamoType(key[table.hash_key_attr])
    range_key = None
    if table.range_key_attr is not None and table.range_key_attr in key:
        range_key = DynamoType(key[table.range_key_attr])
    current = (
        table.get_item(hash_key, range_key) if range_key is not None or not table.has_range_key else None
    )
    return _Backup(table, hash_key, range_key, copy.deepcopy(current))


def _with_item_rollback(method: Callable[..., Any]) -> Callable[..., Any]:
    """moto 5.2.5's transact_write_items, rolled back item by item instead of table by table."""

    @functools.wraps(method)
    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> Any:
        backups = [backup for backup in (_backup(self, op) for op in transact_items) if backup is not None]
        try:
            return method(self, transact_items)
        except Exception:
            for backup in reversed(backups):
                backup.restore()
            raise

    return transact_write_items


def install(context: HookContext) -> Undo:
    """Make moto's DynamoDB writes mutually exclusive; the returned callable restores moto's methods."""
    del context  # the lock is process-wide; nothing about the emulator's setup matters here
    lock = threading.RLock()
    originals = {name: DynamoDBBackend.__dict__[name] for name in SERIALISED_METHODS}
    for name, method in originals.items():
        if name == "transact_write_items":
            method = _with_item_rollback(method)
        setattr(DynamoDBBackend, name, _serialised(method, lock))
    # moto.dynamodb.models uses `copy` only to snapshot tables (and items, which still copy).
    original_copy = dynamodb_models.copy  # type: ignore[attr-defined]
    dynamodb_models.copy = _CopyExceptTables  # type: ignore[attr-defined,assignment]

    def undo() -> None:
        for name, method in originals.items():
            setattr(DynamoDBBackend, name, method)
        dynamodb_models.copy = original_copy  # type: ignore[attr-defined]

    return undo
