"""The sender: at most one attempt at one delivery request per receive of its SQS message.

Per request: load the channel (deleted meanwhile: dead-lettered at once, no retry) and the version of
its secret the channel names; render the notification for the channel's kind; send it (HTTPS to the
checked address, or SNS for email); append the attempt to the delivery log. A failure before the last
attempt asks for a retry after `backoff_seconds * 2^(attempt-1)` (at most 15 minutes); the last one
puts the request and its history on the dead-letter queue. A request already delivered or
dead-lettered (SQS delivers at least once) is not sent again.

An attempt's number counts the attempts the log holds, not SQS's receive count: a receive that made no
attempt (a record left untried because the function was near its timeout, a crash before the attempt
was logged) costs the request none of its attempts. The queue's redrive (two receives more than the
attempts) stays the safety net for a request that keeps failing that way.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Protocol

from cirrus_core.alerting.channels import ChannelRecord, ChannelType
from cirrus_core.alerting.formatting import email_message, pagerduty_event, slack_message, webhook_body
from cirrus_core.alerting.notification import DeliveryRequest
from cirrus_core.alerting.records import FINAL_STATUSES, DeliveryAttempt, DeliveryStatus
from cirrus_core.alerting.transport import SendResult
from cirrus_core.monitoring.destinations import signed_headers
from cirrus_core.observability import logger

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

MAX_BACKOFF_SECONDS: Final = 900


def backoff_seconds(attempt: int, base: int) -> int:
    """The wait after failed attempt `attempt` (1-based): base * 2^(attempt-1), at most 15 minutes."""
    return int(min(MAX_BACKOFF_SECONDS, base * 2 ** max(0, attempt - 1)))


# -- ports ------------------------------------------------------------------------------------------


class ChannelsPort(Protocol):
    def channel(self, name: str) -> ChannelRecord | None: ...


class SecretsPort(Protocol):
    def read(self, channel: str, version_id: str) -> dict[str, str]: ...


class TransportPort(Protocol):
    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> SendResult: ...


class EmailPort(Protocol):
    def publish(self, channel: str, subject: str, text: str) -> str: ...


class DeliveryLogPort(Protocol):
    def status(self, request: DeliveryRequest) -> DeliveryStatus | None: ...

    def attempts(self, request: DeliveryRequest) -> list[DeliveryAttempt]: ...

    def record_attempt(
        self,
        request: DeliveryRequest,
        attempt: DeliveryAttempt | None,
        status: DeliveryStatus,
        *,
        kind: str | None,
        at: datetime,
        reason: str | None = None,
    ) -> None: ...


class DeadLetterPort(Protocol):
    def send(self, document: dict[str, Any]) -> None: ...


class VisibilityPort(Protocol):
    def delay(self, receipt_handle: str, seconds: int) -> None: ...


# -- the sender ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What became of one attempt: its status, and the wait before the next one when it is retried."""

    status: DeliveryStatus
    retry_after: int | None = None


class Deliverer:
    """Sends delivery requests and keeps their log."""

    def __init__(
        self,
        channels: ChannelsPort,
        secrets: SecretsPort,
        transport: TransportPort,
        email: EmailPort | None,
        log: DeliveryLogPort,
        dead_letters: DeadLetterPort,
        *,
        max_attempts: int,
        backoff_base_seconds: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._channels = channels
        self._secrets = secrets
        self._transport = transport
        self._email = email
        self._log = log
        self._dead_letters = dead_letters
        self._max_attempts = max_attempts
        self._backoff = backoff_base_seconds
        self._clock = clock
        self._timer = timer

    def deliver(self, request: DeliveryRequest, receive_count: int = 1) -> Outcome:
        """Make the request's next attempt (its number: the attempts logged so far + 1); `receive_count`
        (SQS's ApproximateReceiveCount) is only logged."""
        context: dict[str, Any] = {
            "delivery_id": request.delivery_id,
            "alert_id": request.notification.alert_id,
            "channel": request.channel,
            "receive_count": receive_count,
        }
        previous = self._log.status(request)
        if previous in FINAL_STATUSES:
            logger.info("Delivery already settled; not sent again", extra={**context, "status": previous})
            return Outcome(previous)
        history = self._log.attempts(request)
        attempt = len(history) + 1
        context["attempt"] = attempt
        channel = self._channels.channel(request.channel)
        if channel is None:
            reason = f"the channel '{request.channel}' does not exist (deleted after the request was queued)"
            self._dead_letter(request, history, None, None, reason)
            logger.warning("Delivery dead-lettered: no such channel", extra=context)
            return Outcome(DeliveryStatus.DEAD_LETTERED)
        started = self._timer()
        try:
            result = self._send(channel, request)
        except Exception as error:  # a secret that cannot be read, SNS refusing: a failed attempt
            latency = max(0, round((self._timer() - started) * 1000))
            result = SendResult(None, latency, f"{type(error).__name__}: {error}"[:500])
        record = DeliveryAttempt(
            attempt=attempt,
            at=self._clock(),
            status_code=result.status_code,
            latency_ms=result.latency_ms,
            error=result.error,
        )
        kind = channel.type.value
        log_extra = {
            **context,
            "kind": kind,
            "status_code": result.status_code,
            "latency_ms": result.latency_ms,
            "error": result.error,
        }
        if result.delivered:
            self._log.record_attempt(request, record, DeliveryStatus.DELIVERED, kind=kind, at=record.at)
            logger.info("Notification delivered", extra=log_extra)
            return Outcome(DeliveryStatus.DELIVERED)
        if attempt >= self._max_attempts:
            reason = f"{attempt} attempts failed; the last: {result.error}"
            self._dead_letter(request, history, record, kind, reason)
            logger.warning("Delivery dead-lettered after its last attempt", extra=log_extra)
            return Outcome(DeliveryStatus.DEAD_LETTERED)
        self._log.record_attempt(request, record, DeliveryStatus.RETRYING, kind=kind, at=record.at)
        wait = backoff_seconds(attempt, self._backoff)
        logger.info("Delivery attempt failed; retrying", extra={**log_extra, "retry_after_seconds": wait})
        return Outcome(DeliveryStatus.RETRYING, retry_after=wait)

    def dead_letter_unreadable(self, body: str, problem: str) -> None:
        """A queue message that is not a delivery request: kept on the dead-letter queue as it came."""
        self._dead_letters.send({"unreadable_body": body[:200_000], "reason": problem[:1024]})
        logger.error("Unreadable delivery request dead-lettered", extra={"reason": problem[:1024]})

    # -- internals -------------------------------------------------------------------------------------

    def _send(self, channel: ChannelRecord, request: DeliveryRequest) -> SendResult:
        notification = request.notification
        if channel.type is ChannelType.EMAIL:
            if self._email is None:
                raise RuntimeError("no alert email topic is configured")
            subject, text = email_message(notification)
            started = self._timer()
            self._email.publish(channel.name, subject, text)
            return SendResult(None, max(0, round((self._timer() - started) * 1000)))
        if channel.secret_version is None:
            raise RuntimeError(f"the {channel.type.value} channel has no secret")
        secret = self._secrets.read(channel.name, channel.secret_version)
        if channel.type is ChannelType.SLACK:
            return self._transport.post(secret["webhook_url"], _json(slack_message(notification)), {})
        if channel.type is ChannelType.PAGERDUTY:
            event = pagerduty_event(notification, secret["routing_key"])
            return self._transport.post(secret["events_url"], _json(event), {})
        body = webhook_body(notification)
        headers = signed_headers(
            secret["signing_secret"], notification.notification_id, int(self._clock().timestamp()), body
        )
        return self._transport.post(secret["url"], body, headers)

    def _dead_letter(
        self,
        request: DeliveryRequest,
        history: list[DeliveryAttempt],
        last: DeliveryAttempt | None,
        kind: str | None,
        reason: str,
    ) -> None:
        attempts = [*history, *([last] if last is not None else [])]
        self._dead_letters.send(
            {
                "request": request.model_dump(mode="json"),
                "attempts": [item.model_dump(mode="json") for item in attempts],
                "reason": reason,
                "dead_lettered_at": self._clock().isoformat(),
            }
        )
        self._log.record_attempt(
            request, last, DeliveryStatus.DEAD_LETTERED, kind=kind, at=self._clock(), reason=reason
        )


def _json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), default=str).encode()


class DeliveryPostponed(Exception):
    """Raised for a batch item left untried (the invocation is near its timeout): reported failed, no
    attempt made or logged, visible again at once for another invocation."""


class Sender:
    """The SQS side: parse a message, deliver it, and turn a retry into a visibility change + failure."""

    def __init__(self, deliverer: Deliverer, visibility: VisibilityPort) -> None:
        self._deliverer = deliverer
        self._visibility = visibility

    def handle(self, body: str, receive_count: int, receipt_handle: str) -> Outcome | None:
        """Deliver one message; raises DeliveryRetry (after delaying the message) to have it retried."""
        from pydantic import ValidationError

        from cirrus_core.errors import DeliveryRetry

        try:
            request = DeliveryRequest.model_validate_json(body)
        except ValidationError as error:
            self._deliverer.dead_letter_unreadable(
                body, f"not a delivery request: {error.error_count()} errors"
            )
            return None
        outcome = self._deliverer.deliver(request, receive_count)
        if outcome.retry_after is not None:
            self._visibility.delay(receipt_handle, outcome.retry_after)
            raise DeliveryRetry(f"delivery {request.delivery_id}: the attempt failed")
        return outcome

    def postpone(self, message_id: str, receipt_handle: str, seconds_left: float) -> None:
        """Leave a message untried (too little time left for an attempt): visible again at once, and
        DeliveryPostponed raised to report it failed. No attempt is made, logged or counted."""
        self._visibility.delay(receipt_handle, 0)
        logger.warning(
            "Delivery postponed: too little time left in this invocation for an attempt",
            extra={"message_id": message_id, "seconds_left": round(seconds_left, 1)},
        )
        raise DeliveryPostponed(f"message {message_id}: postponed, {seconds_left:.1f} s left")
