"""Lifecycle events: the envelope DESIGN.md fixes, and the EventBridge adapter that publishes them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cirrus_core.errors import CirrusError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

EVENT_VERSION = "1.0"
_PUT_EVENTS_BATCH = 10
_PUBLISH_ATTEMPTS = 3


class EventPublishFailed(CirrusError):
    status = 500
    code = "event_publish_failed"


@dataclass(frozen=True, slots=True)
class LifecycleEvent:
    """One lifecycle event: its detail-type (`model.registered`, ...) and its data."""

    detail_type: str
    data: dict[str, Any]
    actor: str
    occurred_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # A minor bump adds fields within the same schema major (model.rolled_back 1.1, for instance).
    event_version: str = EVENT_VERSION

    def detail(self, correlation_id: str | None) -> dict[str, Any]:
        """The EventBridge `detail`: metadata and data."""
        return {
            "metadata": {
                "event_version": self.event_version,
                "correlation_id": correlation_id,
                "actor": self.actor,
                "occurred_at": self.occurred_at.isoformat(),
            },
            "data": self.data,
        }


class EventPublisher:
    """Publishes lifecycle events of one module (`source` is `cirrus.<module>`) to the platform bus."""

    def __init__(
        self,
        client: EventBridgeClient,
        bus_name: str,
        source: str,
        correlation_id: Callable[[], str | None] = lambda: None,
    ) -> None:
        if source.startswith("aws."):
            raise ValueError("EventBridge reserves sources starting with 'aws.'")
        self._client = client
        self._bus_name = bus_name
        self._source = source
        self._correlation_id = correlation_id

    def publish(self, events: Sequence[LifecycleEvent]) -> None:
        """Put the events on the bus; entries EventBridge refuses are retried, then reported."""
        correlation_id = self._correlation_id()
        entries: list[PutEventsRequestEntryTypeDef] = [
            {
                "Source": self._source,
                "DetailType": event.detail_type,
                "Detail": json.dumps(event.detail(correlation_id), separators=(",", ":")),
                "EventBusName": self._bus_name,
                "Time": event.occurred_at,
            }
            for event in events
        ]
        for start in range(0, len(entries), _PUT_EVENTS_BATCH):
            self._put_batch(entries[start : start + _PUT_EVENTS_BATCH])

    def _put_batch(self, batch: list[PutEventsRequestEntryTypeDef]) -> None:
        pending = batch
        for _ in range(_PUBLISH_ATTEMPTS):
            response = self._client.put_events(Entries=pending)
            if not response.get("FailedEntryCount"):
                return
            pending = [
                entry
                for entry, result in zip(pending, response["Entries"], strict=True)
                if result.get("ErrorCode")
            ]
        raise EventPublishFailed(
            f"EventBridge refused {len(pending)} lifecycle event(s).",
            [{"detail_type": entry["DetailType"]} for entry in pending],
        )
