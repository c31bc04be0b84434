"""What the live feed stores and what travels on its sockets (docs/monitoring.md, "Live feed")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from cirrus_core.principal import ActorRecord
from cirrus_core.registry.primitives import MODEL_ID_PATTERN

ALL_MODELS: Final = "*"
MAX_MODELS_PER_MESSAGE: Final = 50

FeedModelId = Annotated[str, StringConstraints(pattern=MODEL_ID_PATTERN, max_length=63)]


# -- stored -------------------------------------------------------------------------------------------


class Connection(BaseModel):
    """An open socket and who opened it (the token was checked once, on `$connect`)."""

    connection_id: str
    actor: ActorRecord
    connected_at: datetime
    expires_at: int  # epoch seconds: the table's TTL attribute removes connections API Gateway dropped


class Subscription(BaseModel):
    """One model (or `*`, every model the caller may read) that a connection follows."""

    connection_id: str
    model_id: str  # a model id, or ALL_MODELS
    actor: ActorRecord
    expires_at: int


# -- client -> feed -----------------------------------------------------------------------------------


class SubscriptionMessage(BaseModel):
    """`{"action": "subscribe" | "unsubscribe", "models": ["fraud_v2", ...] | "*"}`."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["subscribe", "unsubscribe"]
    models: (
        Annotated[list[FeedModelId], Field(min_length=1, max_length=MAX_MODELS_PER_MESSAGE)] | Literal["*"]
    ) = Field(description="Model ids (1 to 50), or `*` for every model the caller may read.")

    def model_ids(self) -> list[str]:
        """The models named, without repeats, in the order given (`["*"]` for every model)."""
        if self.models == ALL_MODELS:
            return [ALL_MODELS]
        return list(dict.fromkeys(self.models))


# -- feed -> client -----------------------------------------------------------------------------------


class SubscriptionsAck(BaseModel):
    """The answer to `subscribe` and `unsubscribe`: every model the connection now follows."""

    type: Literal["subscribed", "unsubscribed"]
    models: list[str]
    request_id: str | None = None


class FeedNotice(BaseModel):
    """One lifecycle event as a subscriber receives it."""

    type: str  # the event's detail-type, e.g. drift.detected
    model_id: str | None
    occurred_at: datetime
    data: dict[str, Any] | None
    correlation_id: str | None = None
    truncated: bool = False  # true when `data` was dropped to fit API Gateway's 128 KB frame


# -- EventBridge -> publisher -------------------------------------------------------------------------


class EventMetadata(BaseModel):
    """`detail.metadata` of every Cirrus event."""

    occurred_at: datetime
    correlation_id: str | None = None
    actor: str | None = None
    event_version: str | None = None


class EventDetail(BaseModel):
    """`detail` of every Cirrus event: `{"metadata": {...}, "data": {...}}`."""

    metadata: EventMetadata
    data: dict[str, Any] = Field(default_factory=dict)
