"""A state change and its audit record in one DynamoDB transaction, retried when the chain head moved."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from cirrus_core.contention import backoff_seconds
from cirrus_core.errors import TooMuchContention

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

    from cirrus_core.audit.log import AuditLog
    from cirrus_core.audit.models import AuditEntry


class ChangeConditionFailed(Exception):
    """A condition on one of the change's own items failed (`index` says which)."""

    def __init__(self, index: int) -> None:
        super().__init__(f"the condition of change item {index} failed")
        self.index = index


def write_with_audit(
    client: DynamoDBClient,
    change: Sequence[TransactWriteItemTypeDef],
    audit: AuditLog | None,
    entry: AuditEntry | None,
    *,
    sleep: Callable[[float], None] = time.sleep,
    max_attempts: int = 30,
) -> None:
    """Write `change` (and the audit record of `entry` when both are given) atomically.

    A lost race for the audit chain's head re-reads it and retries with jittered backoff; a failed
    condition on one of the change's items raises ChangeConditionFailed at once.
    """
    for attempt in range(max_attempts):
        items = list(change)
        if audit is not None and entry is not None:
            items.extend(audit.transaction_items(entry, audit.head()))
        try:
            client.transact_write_items(TransactItems=items)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = error.response.get("CancellationReasons", [])
            for index, reason in enumerate(reasons[: len(change)]):
                if reason.get("Code") == "ConditionalCheckFailed":
                    raise ChangeConditionFailed(index) from error
            sleep(backoff_seconds(attempt))
            continue
        return
    raise TooMuchContention("The audit trail is being written by too many callers at once; retry shortly.")
