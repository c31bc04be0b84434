"""The live feed's use cases: open, follow, leave, and push events to the sockets that follow them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Protocol

from cirrus_core.authz import Resource, authorize
from cirrus_core.errors import AccessDenied, FeedConnectionUnknown, ModelNotFound, TooManyFeedSubscriptions
from cirrus_core.feed.models import (
    ALL_MODELS,
    Connection,
    EventDetail,
    FeedNotice,
    Subscription,
    SubscriptionMessage,
    SubscriptionsAck,
)
from cirrus_core.feed.pusher import ConnectionGone
from cirrus_core.feed.store import ConnectionGoneFromTable
from cirrus_core.observability import logger
from cirrus_core.principal import ActorRecord, Principal, principal_from_claims

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from cirrus_core.feed.store import ConnectionStore, RegisteredModels

# API Gateway's WebSocket frame limit is 128 KB; a notice above this goes out without its data.
MAX_NOTICE_BYTES: Final = 120_000


class TokenVerifier(Protocol):
    def verify(self, token: str) -> dict[str, Any]: ...


class Pusher(Protocol):
    def post(self, connection_id: str, data: bytes) -> None: ...


@dataclass
class PublishReport:
    """What one event's fan-out did."""

    detail_type: str
    model_id: str | None
    delivered: int = 0
    refused: int = 0  # subscribers the policies do not let read the event's model
    gone: int = 0  # closed connections, removed
    failed: int = 0  # other delivery errors (logged)


class FeedService:
    """Connections, subscriptions and the fan-out; no boto3 types here."""

    def __init__(
        self,
        store: ConnectionStore,
        models: RegisteredModels,
        *,
        verifier: Callable[[], TokenVerifier],
        pusher: Callable[[], Pusher],
        connection_ttl_seconds: int,
        max_subscriptions: int,
        authorizer: Callable[[Principal, str, Resource], object] = authorize,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`verifier` and `pusher` are built on first use: only `$connect` verifies tokens, only the
        publisher pushes."""
        self._store = store
        self._models = models
        self._verifier = verifier
        self._pusher = pusher
        self._ttl = connection_ttl_seconds
        self._max_subscriptions = max_subscriptions
        self._authorize = authorizer
        self._clock = clock

    # -- $connect / $disconnect -----------------------------------------------------------------------

    def connect(self, connection_id: str, token: str) -> Connection:
        """Admit a socket: a valid token (401 otherwise) of a caller allowed WatchFeed (403 otherwise)."""
        claims = self._verifier().verify(token)
        principal = principal_from_claims(claims)
        self._authorize(principal, "WatchFeed", Resource.platform())
        now = self._clock()
        connection = Connection(
            connection_id=connection_id,
            actor=ActorRecord.of(principal),
            connected_at=now,
            expires_at=int(now.timestamp()) + self._ttl,
        )
        self._store.put_connection(connection)
        logger.info(
            "Feed connection opened", extra={"connection_id": connection_id, "actor": principal.actor}
        )
        return connection

    def disconnect(self, connection_id: str) -> None:
        """Forget a socket and what it followed."""
        self._store.delete_connection(connection_id)

    # -- messages -------------------------------------------------------------------------------------

    def subscribe(
        self, connection_id: str, message: SubscriptionMessage, request_id: str | None
    ) -> SubscriptionsAck:
        """Follow models: each must be registered and readable (GetModel); all or nothing is stored."""
        connection = self._connection(connection_id)
        principal = connection.actor.principal()
        wanted = message.model_ids()
        for model_id in wanted:
            if model_id == ALL_MODELS:
                continue  # every model the caller may read: decided per event, when it is pushed
            self._authorize(principal, "GetModel", Resource.model(model_id))
            if not self._models.exists(model_id):
                raise ModelNotFound(f"No model '{model_id}' is registered.", [{"model_id": model_id}])
        existing = self._store.subscriptions(connection_id)
        new = [model_id for model_id in wanted if model_id not in existing]
        if len(existing) + len(new) > self._max_subscriptions:
            raise TooManyFeedSubscriptions(
                f"A connection follows at most {self._max_subscriptions} models.",
                [{"limit": self._max_subscriptions, "subscribed": len(existing), "requested": len(new)}],
            )
        if new:
            try:
                self._store.add_subscriptions(connection, new)
            except ConnectionGoneFromTable:
                raise FeedConnectionUnknown("This connection is closed; connect again.") from None
        return SubscriptionsAck(type="subscribed", models=sorted({*existing, *new}), request_id=request_id)

    def unsubscribe(
        self, connection_id: str, message: SubscriptionMessage, request_id: str | None
    ) -> SubscriptionsAck:
        """Stop following models (naming one not followed is no error)."""
        self._connection(connection_id)
        self._store.remove_subscriptions(connection_id, message.model_ids())
        remaining = self._store.subscriptions(connection_id)
        return SubscriptionsAck(type="unsubscribed", models=remaining, request_id=request_id)

    def _connection(self, connection_id: str) -> Connection:
        connection = self._store.get_connection(connection_id)
        if connection is None:
            raise FeedConnectionUnknown("This connection is not known to the feed; connect again.")
        return connection

    # -- events ---------------------------------------------------------------------------------------

    def publish(self, detail_type: str, detail: EventDetail) -> PublishReport:
        """Push one event to every connection following its model (or `*`) that may read it."""
        raw_model = detail.data.get("model_id")
        model_id = raw_model if isinstance(raw_model, str) and raw_model else None
        report = PublishReport(detail_type=detail_type, model_id=model_id)
        payload = _payload(detail_type, model_id, detail)
        action, resource = _read_permission(model_id, detail.data)
        decisions: dict[tuple[str, str, tuple[str, ...]], bool] = {}
        pusher = None
        for subscription in self._recipients(model_id):
            actor = subscription.actor
            key = (actor.sub, actor.username, tuple(actor.groups))
            if key not in decisions:
                decisions[key] = self._allowed(actor.principal(), action, resource)
            if not decisions[key]:
                report.refused += 1
                continue
            pusher = pusher or self._pusher()
            try:
                pusher.post(subscription.connection_id, payload)
            except ConnectionGone:
                self._store.delete_connection(subscription.connection_id)
                report.gone += 1
            except Exception:  # one broken socket must not keep the event from the others
                logger.exception(
                    "Could not push an event", extra={"connection_id": subscription.connection_id}
                )
                report.failed += 1
            else:
                report.delivered += 1
        return report

    def _recipients(self, model_id: str | None) -> Iterator[Subscription]:
        """Each connection once, whether it follows the model, `*`, or both."""
        seen: set[str] = set()
        keys: Sequence[str] = (model_id, ALL_MODELS) if model_id is not None else (ALL_MODELS,)
        for key in keys:
            for subscription in self._store.subscribers(key):
                if subscription.connection_id not in seen:
                    seen.add(subscription.connection_id)
                    yield subscription

    def _allowed(self, principal: Principal, action: str, resource: Resource) -> bool:
        try:
            self._authorize(principal, action, resource)
        except AccessDenied:
            return False
        return True


def _read_permission(model_id: str | None, data: dict[str, Any]) -> tuple[str, Resource]:
    """What a subscriber must be allowed to receive an event: read its model, else its pipeline."""
    if model_id is not None:
        return "GetModel", Resource.model(model_id)
    pipeline_id = data.get("pipeline_id")
    if isinstance(pipeline_id, str) and pipeline_id:
        return "GetPipeline", Resource.pipeline(pipeline_id)
    return "WatchFeed", Resource.platform()


def _payload(detail_type: str, model_id: str | None, detail: EventDetail) -> bytes:
    notice = FeedNotice(
        type=detail_type,
        model_id=model_id,
        occurred_at=detail.metadata.occurred_at,
        data=detail.data,
        correlation_id=detail.metadata.correlation_id,
    )
    payload = notice.model_dump_json().encode("utf-8")
    if len(payload) > MAX_NOTICE_BYTES:
        payload = notice.model_copy(update={"data": None, "truncated": True}).model_dump_json().encode()
    return payload
