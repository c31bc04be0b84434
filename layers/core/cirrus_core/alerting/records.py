"""The delivery log: one record per delivery request (one notification to one channel), under its alert.

  pk ALERT#<alert_id>  sk DELIVERY#<notification's occurred_at, UTC ISO 8601>#<delivery_id>

Every attempt is appended with its number (SQS's receive count), time, HTTP status, latency and error.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Final

from pydantic import BaseModel, Field

from cirrus_core.alerting.notification import DeliveryRequest, NotificationKind

DELIVERY_PREFIX: Final = "DELIVERY#"


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # queued, not tried yet
    RETRYING = "retrying"  # an attempt failed; the next one waits for its backoff
    DELIVERED = "delivered"
    DEAD_LETTERED = "dead_lettered"  # given up: on the dead-letter queue with its history


FINAL_STATUSES: Final = frozenset({DeliveryStatus.DELIVERED, DeliveryStatus.DEAD_LETTERED})


class DeliveryAttempt(BaseModel):
    attempt: int = Field(ge=1)
    at: datetime
    status_code: int | None = Field(default=None, description="The receiver's HTTP status (none: no answer).")
    latency_ms: int = Field(ge=0)
    error: str | None = None


class DeliveryRecord(BaseModel):
    """A delivery as GET /alerts/{alert_id}/deliveries shows it."""

    delivery_id: str
    alert_id: str
    notification_id: str
    notification_kind: NotificationKind
    channel: str
    kind: str | None = Field(default=None, description="The channel's type when it was tried.")
    status: DeliveryStatus
    attempts: list[DeliveryAttempt] = Field(default_factory=list)
    reason: str | None = Field(default=None, description="Why it was dead-lettered.")
    queued_at: datetime
    updated_at: datetime


class DeliveryPage(BaseModel):
    items: list[DeliveryRecord]
    next_token: str | None = None


class QueuedDelivery(BaseModel):
    delivery_id: str
    channel: str


class TestAlertResponse(BaseModel):
    """202 of POST /alerts/{alert_id}/test."""

    alert_id: str
    notification_id: str
    deliveries: list[QueuedDelivery]


def delivery_sort_key(request: DeliveryRequest) -> str:
    """The record's sort key: the notification's time (newest first by key) and the delivery id."""
    moment = request.notification.occurred_at
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return f"{DELIVERY_PREFIX}{moment.isoformat()}#{request.delivery_id}"
