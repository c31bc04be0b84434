"""DynamoDB writes that are atomic under threads, as in AWS.

moto 5.2.5's DynamoDB backend is not safe when several threads write at once. A conditional write
reads the item, evaluates the condition, then stores the new item, and another thread may write in
between: two writers both see the item absent (or `revision = 7`) and both succeed.
`transact_write_items` also snapshots the tables it touches and, when the transaction is cancelled,
puts the snapshots back, erasing whatever another thread wrote meanwhile. The registry's optimistic
lock relies on AWS's guarantee that a transaction's checks and writes form one step, so under the
local cloud's threaded server it would hand out duplicate version numbers and lose versions.

This hook serialises the backend's write paths with one re-entrant lock (a transaction calls
`put_item`, `update_item` and `delete_item` itself, holding the lock already). Reads are not
locked, so a read made during a transaction may see some of its items and not others, where AWS
would isolate it; what the registry relies on, the atomicity of conditional writes, this hook gives.
"""

from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING, Any

from moto.dynamodb.models import DynamoDBBackend

if TYPE_CHECKING:
    from collections.abc import Callable

    from cirrus.localcloud.hooks import HookContext, Undo

SERIALISED_METHODS = ("transact_write_items", "put_item", "update_item", "delete_item")


def _serialised(method: Callable[..., Any], lock: threading.RLock) -> Callable[..., Any]:
    @functools.wraps(method)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return method(*args, **kwargs)

    return locked


def install(context: HookContext) -> Undo:
    """Make moto's DynamoDB writes mutually exclusive; the returned callable restores moto's methods."""
    del context  # the lock is process-wide; nothing about the emulator's setup matters here
    lock = threading.RLock()
    originals = {name: DynamoDBBackend.__dict__[name] for name in SERIALISED_METHODS}
    for name, method in originals.items():
        setattr(DynamoDBBackend, name, _serialised(method, lock))

    def undo() -> None:
        for name, method in originals.items():
            setattr(DynamoDBBackend, name, method)

    return undo
