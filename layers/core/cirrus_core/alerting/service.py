"""The channels API and the deliveries API: use cases on behalf of a `Caller`.

Every refusal (a destination that is not public https, a bad secret, a duplicate name, a channel
still named by a rule) happens before anything is written: no secret, subscription or item.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from cirrus_core.alerting.channels import ChannelPage, ChannelRecord, ChannelSettings, ChannelView
from cirrus_core.alerting.notification import DeliveryRequest, Notification, NotificationKind, Severity
from cirrus_core.alerting.records import DeliveryPage, QueuedDelivery, TestAlertResponse
from cirrus_core.alerting.rules import rule_resource
from cirrus_core.audit.entries import entry_for
from cirrus_core.audit.models import AuditCategory
from cirrus_core.audit.transact import ChangeConditionFailed
from cirrus_core.authz import Resource, authorize, determining_policies
from cirrus_core.errors import (
    ChannelExists,
    ChannelInUse,
    ChannelNotFound,
    DeliveryAlertNotFound,
    DestinationRefusedError,
    InvalidPaginationToken,
)
from cirrus_core.monitoring.destinations import DestinationRefused
from cirrus_core.pagination import decode_token, encode_token

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from cirrus_core.alerting.channels import CreateChannelRequest
    from cirrus_core.alerting.records import DeliveryRecord
    from cirrus_core.audit.models import AuditEntry
    from cirrus_core.caller import Caller
    from cirrus_core.monitoring.destinations import Destination


# -- ports ------------------------------------------------------------------------------------------


class ChannelStorePort(Protocol):
    def channel(self, name: str) -> ChannelRecord | None: ...

    def create(self, record: ChannelRecord, audit: AuditEntry | None) -> None: ...

    def replace(self, record: ChannelRecord, audit: AuditEntry | None) -> None: ...

    def delete(self, name: str, audit: AuditEntry | None) -> None: ...

    def channels(self, *, limit: int, after: str | None) -> tuple[list[ChannelRecord], str | None]: ...

    def rules_naming(self, name: str) -> list[str]: ...


class VaultPort(Protocol):
    def put(self, channel: str, secret: dict[str, str]) -> str: ...

    def delete(self, channel: str) -> None: ...


class SubscriptionsPort(Protocol):
    def subscribe(self, channel: str, address: str) -> str: ...

    def unsubscribe(self, subscription_arn: str) -> None: ...


class DestinationCheck(Protocol):
    def __call__(self, url: str) -> Destination: ...


class RulesPort(Protocol):
    def rule(self, alert_id: str) -> dict[str, Any] | None: ...


class DeliveryLogPort(Protocol):
    def queued(
        self, requests: Sequence[DeliveryRequest], channel_kinds: dict[str, str], at: datetime
    ) -> None: ...

    def page(
        self, alert_id: str, *, limit: int, before: str | None
    ) -> tuple[list[DeliveryRecord], str | None]: ...


class QueuePort(Protocol):
    def send(self, requests: Sequence[DeliveryRequest]) -> None: ...


# -- channels -----------------------------------------------------------------------------------------


class ChannelService:
    """Channels CRUD (system_config)."""

    def __init__(
        self,
        store: ChannelStorePort,
        vault: VaultPort,
        subscriptions: Callable[[], SubscriptionsPort],
        check: DestinationCheck,
        *,
        audit_enabled: bool = True,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._vault = vault
        self._subscriptions = subscriptions
        self._check = check
        self._audit_enabled = audit_enabled
        self._clock = clock

    def create(self, request: CreateChannelRequest, caller: Caller) -> ChannelView:
        authorize(caller.principal, "CreateChannel", Resource.platform())
        host = self._checked_host(request)
        if self._store.channel(request.name) is not None:
            raise ChannelExists(
                f"A channel named '{request.name}' exists; PUT /channels/{request.name} changes it."
            )
        now = self._clock()
        secret = request.secret()
        version = self._vault.put(request.name, secret) if secret is not None else None
        subscriptions = self._subscribe(request.name, request.addresses())
        record = ChannelRecord(
            name=request.name,
            type=request.type,
            description=request.description,
            host=host,
            addresses=request.addresses(),
            secret_version=version,
            subscriptions=subscriptions,
            created_at=now,
            created_by=caller.actor,
            updated_at=now,
            updated_by=caller.actor,
        )
        try:
            self._store.create(record, self._audit(caller, "create_channel", request.name, now))
        except ChangeConditionFailed as error:
            self._unsubscribe(subscriptions.values())
            raise ChannelExists(f"A channel named '{request.name}' exists.") from error
        except Exception:
            self._unsubscribe(subscriptions.values())
            raise
        return record.view()

    def update(self, name: str, request: ChannelSettings, caller: Caller) -> ChannelView:
        authorize(caller.principal, "UpdateChannel", Resource.platform())
        host = self._checked_host(request)
        existing = self._existing(name)
        now = self._clock()
        secret = request.secret()
        version = self._vault.put(name, secret) if secret is not None else None
        kept = {a: arn for a, arn in existing.subscriptions.items() if a in request.addresses()}
        added = self._subscribe(name, [a for a in request.addresses() if a not in kept])
        record = ChannelRecord(
            name=name,
            type=request.type,
            description=request.description,
            host=host,
            addresses=request.addresses(),
            secret_version=version,
            subscriptions={**kept, **added},
            created_at=existing.created_at,
            created_by=existing.created_by,
            updated_at=now,
            updated_by=caller.actor,
        )
        try:
            self._store.replace(record, self._audit(caller, "update_channel", name, now))
        except ChangeConditionFailed as error:
            self._unsubscribe(added.values())
            raise ChannelNotFound(f"No channel named '{name}'.") from error
        except Exception:
            self._unsubscribe(added.values())
            raise
        self._unsubscribe(arn for address, arn in existing.subscriptions.items() if address not in kept)
        if secret is None and existing.secret_version is not None:
            self._vault.delete(name)
        return record.view()

    def delete(self, name: str, caller: Caller) -> None:
        authorize(caller.principal, "DeleteChannel", Resource.platform())
        existing = self._existing(name)
        rules = self._store.rules_naming(name)
        if rules:
            raise ChannelInUse(
                f"Alert rules still name the channel '{name}': remove it from them first.",
                [{"alert_ids": rules[:50]}],
            )
        try:
            self._store.delete(name, self._audit(caller, "delete_channel", name, self._clock()))
        except ChangeConditionFailed as error:
            raise ChannelNotFound(f"No channel named '{name}'.") from error
        if existing.secret_version is not None:
            self._vault.delete(name)
        self._unsubscribe(existing.subscriptions.values())

    def get(self, name: str, caller: Caller) -> ChannelView:
        authorize(caller.principal, "GetChannel", Resource.platform())
        return self._existing(name).view()

    def list(self, limit: int, next_token: str | None, caller: Caller) -> ChannelPage:
        authorize(caller.principal, "ListChannels", Resource.platform())
        after: str | None = None
        if next_token:
            position = decode_token(next_token, frozenset({"c"}))
            if not isinstance(position["c"], str):
                raise InvalidPaginationToken("next_token does not belong to this listing.")
            after = position["c"]
        records, last = self._store.channels(limit=limit, after=after)
        return ChannelPage(
            items=[record.view() for record in records],
            next_token=encode_token({"c": last}) if last else None,
        )

    # -- internals -------------------------------------------------------------------------------------

    def _existing(self, name: str) -> ChannelRecord:
        record = self._store.channel(name)
        if record is None:
            raise ChannelNotFound(f"No channel named '{name}'.")
        return record

    def _checked_host(self, request: ChannelSettings) -> str | None:
        """Check every destination URL of the config; the host shown for it."""
        host: str | None = None
        for field, url in request.destination_urls().items():
            try:
                destination = self._check(url)
            except DestinationRefused as error:
                raise DestinationRefusedError(
                    f"config.{field} is refused: {error}.",
                    [{"field": f"config.{field}", "reason": str(error), "host": urlsplit(url).hostname}],
                ) from None
            host = destination.host
        return host

    def _subscribe(self, channel: str, addresses: Sequence[str]) -> dict[str, str]:
        made: dict[str, str] = {}
        if not addresses:
            return made
        topic = self._subscriptions()
        try:
            for address in addresses:
                made[address] = topic.subscribe(channel, address)
        except Exception:
            self._unsubscribe(made.values())
            raise
        return made

    def _unsubscribe(self, arns: Any) -> None:
        arns = list(arns)
        if arns:
            topic = self._subscriptions()
            for arn in arns:
                topic.unsubscribe(arn)

    def _audit(self, caller: Caller, action: str, name: str, at: datetime) -> AuditEntry | None:
        if not self._audit_enabled:
            return None
        return entry_for(
            caller,
            action,
            f"monitoring/channel/{name}",
            AuditCategory.CHANGE,
            at,
            policies=determining_policies(),
        )


# -- deliveries ---------------------------------------------------------------------------------------


class DeliveryService:
    """An alert's delivery log, and test notifications to its channels."""

    def __init__(
        self,
        rules: RulesPort,
        channels: Callable[[str], ChannelRecord | None],
        log: DeliveryLogPort,
        queue: Callable[[], QueuePort],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._rules = rules
        self._channels = channels
        self._log = log
        self._queue = queue
        self._clock = clock
        self._new_id = new_id

    def deliveries(self, alert_id: str, limit: int, next_token: str | None, caller: Caller) -> DeliveryPage:
        rule = self._rule(alert_id)
        # A platform-wide rule (no model) on the model `*`, as the rules API authorizes it.
        model_id = str(rule.get("model_id") or "")
        authorize(caller.principal, "ListAlertDeliveries", rule_resource(model_id or None))
        before: str | None = None
        if next_token:
            position = decode_token(next_token, frozenset({"a", "k"}))
            if position["a"] != alert_id or not isinstance(position["k"], str):
                raise InvalidPaginationToken("next_token does not belong to this listing.")
            before = position["k"]
        items, last = self._log.page(alert_id, limit=limit, before=before)
        token = encode_token({"a": alert_id, "k": last}) if last else None
        return DeliveryPage(items=items, next_token=token)

    def test(self, alert_id: str, caller: Caller) -> TestAlertResponse:
        """Queue a `test` notification to each channel the rule names (202)."""
        rule = self._rule(alert_id)
        model_id = str(rule.get("model_id") or "")
        authorize(caller.principal, "TestAlert", rule_resource(model_id or None))
        now = self._clock()
        notification_id = self._new_id()
        environment = rule.get("environment")
        threshold = rule.get("threshold")
        notification = Notification(
            notification_id=notification_id,
            alert_id=alert_id,
            kind=NotificationKind.TEST,
            alert_type=str(rule.get("alert_type") or "unknown"),
            severity=Severity.INFO,
            dedup_key=f"cirrus-test-{alert_id}-{notification_id}",
            model_id=model_id or None,
            environment=str(environment) if environment else None,
            summary=f"Test of alert {alert_id} ({rule.get('alert_type')}) on {model_id or 'the platform'}, "
            f"sent by {caller.actor}",
            condition=_condition(rule),
            values={"threshold": threshold, "test": True} if threshold is not None else {"test": True},
            links={"alert": f"/api/v1/monitoring/alerts/{alert_id}"},
            occurred_at=now,
        )
        names = [str(name) for name in rule.get("notification_channels") or []]
        requests = [
            DeliveryRequest(delivery_id=self._new_id(), channel=name, notification=notification)
            for name in names
        ]
        kinds = {name: record.type.value for name in names if (record := self._channels(name)) is not None}
        if requests:
            self._log.queued(requests, kinds, now)
            self._queue().send(requests)
        return TestAlertResponse(
            alert_id=alert_id,
            notification_id=notification_id,
            deliveries=[QueuedDelivery(delivery_id=r.delivery_id, channel=r.channel) for r in requests],
        )

    def _rule(self, alert_id: str) -> dict[str, Any]:
        rule = self._rules.rule(alert_id)
        if rule is None:
            raise DeliveryAlertNotFound(f"No alert rule '{alert_id}'.")
        return rule


def _condition(rule: dict[str, Any]) -> str:
    alert_type = rule.get("alert_type")
    threshold = rule.get("threshold")
    window = rule.get("evaluation_window")
    if alert_type == "drift_detection":
        return f"share of drifted features >= {threshold} per {window} window"
    if alert_type == "performance_degradation":
        return f"{rule.get('metric')} {rule.get('comparison')} {threshold} over {window}"
    return f"{alert_type} (threshold {threshold})"
