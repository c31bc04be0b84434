"""Aggregates a batch of observations from the metrics queue into the metrics table, exactly once.

Each observation has an idempotency item (its prediction record, or an observation record keyed by
its inference id or, for refusals that have none, by its SQS message id) put with a condition in the
same transaction as the aggregate ADDs. A redelivered message's item exists: the transaction is
cancelled with ConditionalCheckFailed at that item, the message is dropped as already recorded, and
the rest is written again. Observations of one batch are merged per aggregate item first, so a busy
model costs one ADD per item per batch, not per request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from pydantic import ValidationError

from cirrus_core.metrics.models import Observation
from cirrus_core.metrics.store import Duplicate, Write, transaction_chunks
from cirrus_core.observability import logger

if TYPE_CHECKING:
    from collections.abc import Sequence

# A message's idempotency item and its four aggregate items must fit a transaction on their own.
MAX_ATTEMPTS_PER_CHUNK = 5


class ObservationWriter(Protocol):
    def record(self, writes: Sequence[Write]) -> None: ...

    @staticmethod
    def idempotency_key(write: Write) -> dict[str, str]: ...

    @staticmethod
    def transaction_size(writes: Sequence[Write]) -> int: ...


@dataclass
class BatchOutcome:
    """Which messages were recorded, were already recorded, or must be retried."""

    recorded: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def parse(message_id: str, body: str) -> Write | None:
    """The observation of one message; None for a body that is not one."""
    try:
        return Write(message_id, Observation.model_validate_json(body))
    except ValidationError:
        return None


class MetricsRecorder:
    def __init__(self, writer: ObservationWriter) -> None:
        self._writer = writer

    def record(self, messages: Sequence[tuple[str, str]]) -> BatchOutcome:
        """Record `(message_id, body)` pairs; failures are reported per message, never raised."""
        outcome = BatchOutcome()
        writes: list[Write] = []
        seen: set[tuple[str, str]] = set()
        for message_id, body in messages:
            write = parse(message_id, body)
            if write is None:
                outcome.malformed.append(message_id)
                continue
            key = self._writer.idempotency_key(write)
            identity = (key["pk"], key["sk"])
            if identity in seen:  # the same observation twice in one batch (at-least-once delivery)
                outcome.duplicates.append(message_id)
                continue
            seen.add(identity)
            writes.append(write)
        for chunk in transaction_chunks(writes, self._writer.transaction_size):
            self._write_chunk(chunk, outcome)
        return outcome

    def _write_chunk(self, chunk: list[Write], outcome: BatchOutcome) -> None:
        pending = list(chunk)
        for _ in range(MAX_ATTEMPTS_PER_CHUNK):
            if not pending:
                return
            try:
                self._writer.record(pending)
            except Duplicate as duplicate:
                dropped = set(duplicate.indexes)
                outcome.duplicates.extend(pending[index].message_id for index in sorted(dropped))
                pending = [write for index, write in enumerate(pending) if index not in dropped]
                continue
            except Exception:  # throttling, a conflict with another writer: the queue retries them
                logger.exception("Could not record observations", extra={"messages": len(pending)})
                outcome.failed.extend(write.message_id for write in pending)
                return
            outcome.recorded.extend(write.message_id for write in pending)
            return
        outcome.failed.extend(write.message_id for write in pending)
