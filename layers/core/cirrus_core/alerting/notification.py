"""What an alert rule hands to the senders: one notification, delivered to one channel per message.

The rules side (monitoring alert evaluation) builds a `Notification` when an alert fires, is reminded
or resolves, and puts one `DeliveryRequest` per channel on the delivery queue. The delivery side reads
each request, renders it for the channel's kind (email, Slack, PagerDuty, webhook), sends it and logs
the attempt. Neither side imports the other: this module is their whole contract.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class NotificationKind(StrEnum):
    """Why a notification is sent."""

    TRIGGER = "trigger"  # the condition started to hold (or a reminder while it still holds)
    RESOLVE = "resolve"  # the condition cleared
    TEST = "test"  # sent on request (POST /monitoring/alerts/{alert_id}/test)


class Severity(StrEnum):
    """PagerDuty Events API v2's severities, which every channel shows."""

    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Notification(BaseModel):
    """One alert notification, independent of the channel it goes to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    notification_id: str = Field(description="Unique per notification; the webhook-id of a webhook.")
    alert_id: str = Field(description="The alert rule that raised it.")
    kind: NotificationKind
    alert_type: str = Field(description="drift_detection | performance_degradation | system_failures")
    severity: Severity
    dedup_key: str = Field(description="Stable while one alert stays open; PagerDuty's dedup_key.")
    model_id: str | None = None
    environment: str | None = None
    summary: str = Field(max_length=1024, description="One line a person reads first.")
    condition: str = Field(description='The rule in words, e.g. "share of drifted features >= 0.25".')
    values: dict[str, Any] = Field(
        default_factory=dict, description="What was observed: the measured value, the threshold, details."
    )
    report_url: str | None = Field(default=None, description="Where to look (a drift report, a run).")
    links: dict[str, str] = Field(default_factory=dict)
    occurred_at: datetime


class DeliveryRequest(BaseModel):
    """One message on the delivery queue: a notification for one named channel."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    delivery_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    channel: str
    notification: Notification
