# ruff: noqa: F811 - the fixtures `delivery` and `receiver` come from tests/unit/alerting/delivery_world.py
"""The sender: one attempt per receive of a delivery request, logged under its alert; a failure before
the last attempt delays the message by its backoff and reports the item failed; the last failure puts
the request and its history on the dead-letter queue; a deleted channel is dead-lettered at once."""

from __future__ import annotations

import json
import socket
import time

import pytest

from cirrus.localcloud.receiver import Receiver
from cirrus_core.alerting.delivery import backoff_seconds
from cirrus_core.alerting.notification import DeliveryRequest, NotificationKind
from cirrus_core.alerting.transport import HttpTransport
from cirrus_core.monitoring.destinations import Destination, verify
from tests.unit.alerting.delivery_world import (  # noqa: F401 - fixtures
    ALERT_ID,
    BACKOFF_SECONDS,
    MAX_ATTEMPTS,
    SECRET,
    DeliveryWorld,
    RunningOutContext,
    api,
    clear_alerting_wiring,
    delivery,
    function_logs,
    notification,
    ok,
    receiver,
    tcp_server,
    trickling_answer,
)


@pytest.fixture(autouse=True)
def rule(delivery: DeliveryWorld) -> None:
    """The alert rule the deliveries hang off (its log is read through GET .../deliveries)."""
    delivery.put_rule(["team", "hook", "pd", "mail"])


def request(channel: str, kind: NotificationKind = NotificationKind.TRIGGER) -> DeliveryRequest:
    return DeliveryRequest(channel=channel, notification=notification(kind))


def test_a_webhook_delivery_is_signed_with_the_channel_secret(delivery: DeliveryWorld) -> None:
    path = delivery.receiver.mailbox()
    delivery.webhook("hook", path)
    sent = request("hook")
    delivery.enqueue(sent)

    answer = delivery.run_sender()

    (received,) = delivery.receiver.wait_for(path, 1)
    assert answer["batchItemFailures"] == []
    assert received.headers["webhook-id"] == sent.notification.notification_id
    assert received.headers["content-type"] == "application/json"
    assert verify(SECRET, received.headers, received.body, now=int(time.time()))
    assert received.json() == json.loads(sent.notification.model_dump_json())


def test_a_delivered_request_is_logged_with_its_attempt(delivery: DeliveryWorld) -> None:
    path = delivery.receiver.mailbox()
    delivery.slack("team", path)
    sent = request("team")
    delivery.enqueue(sent)

    delivery.run_sender()

    (record,) = delivery.delivery_log()
    assert (record["delivery_id"], record["channel"], record["kind"], record["status"]) == (
        sent.delivery_id,
        "team",
        "slack",
        "delivered",
    )
    (attempt,) = record["attempts"]
    assert (attempt["attempt"], attempt["status_code"], attempt["error"]) == (1, 200, None)
    assert attempt["latency_ms"] >= 0
    assert record["notification_id"] == sent.notification.notification_id


def test_a_failed_attempt_is_retried_after_its_backoff(delivery: DeliveryWorld) -> None:
    path = delivery.receiver.mailbox()
    delivery.receiver.fail_first(path, 1)
    delivery.slack("team", path)
    delivery.enqueue(request("team"))

    answer = delivery.run_sender()

    assert len(answer["batchItemFailures"]) == 1
    (wait,) = delivery.seconds_until_visible()
    assert BACKOFF_SECONDS - 5 < wait <= BACKOFF_SECONDS
    assert delivery.run_sender()["received"] == 0  # not visible before its backoff
    (record,) = delivery.delivery_log()
    assert record["status"] == "retrying"


def test_fails_twice_then_succeeds_shows_three_attempts(delivery: DeliveryWorld) -> None:
    path = delivery.receiver.mailbox()
    delivery.receiver.fail_first(path, 2)
    delivery.pagerduty("pd", path)
    delivery.enqueue(request("pd"))

    for _ in range(3):
        delivery.run_sender()
        delivery.backoff_elapses()

    (record,) = delivery.delivery_log()
    assert record["status"] == "delivered"
    assert [(a["attempt"], a["status_code"]) for a in record["attempts"]] == [(1, 500), (2, 500), (3, 200)]
    assert [a["error"] for a in record["attempts"]] == ["HTTP 500", "HTTP 500", None]
    assert len(delivery.receiver.requests(path)) == 3
    assert delivery.dead_letters() == []


def test_the_backoff_doubles_per_attempt_up_to_15_minutes() -> None:
    assert [backoff_seconds(attempt, 30) for attempt in range(1, 8)] == [30, 60, 120, 240, 480, 900, 900]


def test_the_second_failure_waits_twice_as_long(delivery: DeliveryWorld) -> None:
    path = delivery.receiver.mailbox()
    delivery.receiver.always_fail(path)
    delivery.slack("team", path)
    delivery.enqueue(request("team"))
    delivery.run_sender()
    delivery.backoff_elapses()

    delivery.run_sender()

    (wait,) = delivery.seconds_until_visible()
    assert 2 * BACKOFF_SECONDS - 5 < wait <= 2 * BACKOFF_SECONDS


def test_the_last_failed_attempt_goes_to_the_dead_letter_queue_with_its_history(
    delivery: DeliveryWorld,
) -> None:
    path = delivery.receiver.mailbox()
    delivery.receiver.always_fail(path, status=503)
    delivery.webhook("hook", path)
    sent = request("hook")
    delivery.enqueue(sent)

    answers = []
    for _ in range(MAX_ATTEMPTS):
        answers.append(delivery.run_sender())
        delivery.backoff_elapses()

    assert [len(a["batchItemFailures"]) for a in answers] == [1] * (MAX_ATTEMPTS - 1) + [0]
    assert delivery.run_sender()["received"] == 0  # the last one was reported done: gone from the queue
    (letter,) = delivery.dead_letters()
    assert letter["request"]["delivery_id"] == sent.delivery_id
    assert [a["status_code"] for a in letter["attempts"]] == [503] * MAX_ATTEMPTS
    assert f"{MAX_ATTEMPTS} attempts failed" in letter["reason"]
    (record,) = delivery.delivery_log()
    assert record["status"] == "dead_lettered"
    assert len(record["attempts"]) == MAX_ATTEMPTS


def test_a_redirect_is_a_failure_and_not_followed(delivery: DeliveryWorld) -> None:
    path = delivery.receiver.mailbox()
    delivery.receiver.always_fail(path, status=302)
    delivery.slack("team", path)
    delivery.enqueue(request("team"))

    delivery.run_sender()

    (record,) = delivery.delivery_log()
    assert record["attempts"][0]["status_code"] == 302
    assert "redirects are not followed" in record["attempts"][0]["error"]
    assert len(delivery.receiver.requests(path)) == 1


def test_a_channel_deleted_after_queueing_is_dead_lettered_without_retries(delivery: DeliveryWorld) -> None:
    path = delivery.receiver.mailbox()
    delivery.slack("gone", path)
    sent = request("gone")
    delivery.enqueue(sent)
    assert api("delete_channel", path={"name": "gone"}).status == 204

    answer = delivery.run_sender()

    assert answer["batchItemFailures"] == []
    assert delivery.receiver.requests(path) == []
    (record,) = delivery.delivery_log()
    assert record["status"] == "dead_lettered"
    assert record["attempts"] == []
    assert "does not exist" in record["reason"]
    (letter,) = delivery.dead_letters()
    assert letter["request"]["delivery_id"] == sent.delivery_id


def test_a_request_delivered_already_is_not_sent_again(delivery: DeliveryWorld) -> None:
    path = delivery.receiver.mailbox()
    delivery.slack("team", path)
    sent = request("team")
    delivery.enqueue(sent, sent)  # SQS delivers at least once

    delivery.run_sender()

    assert len(delivery.receiver.requests(path)) == 1
    (record,) = delivery.delivery_log()
    assert len(record["attempts"]) == 1


def test_a_message_that_is_not_a_delivery_request_is_dead_lettered(delivery: DeliveryWorld) -> None:
    delivery.sqs.send_message(
        QueueUrl=delivery.sqs.get_queue_url(QueueName="cirrus-test-alert-delivery")["QueueUrl"],
        MessageBody='{"hello": 1}',
    )

    answer = delivery.run_sender()

    assert answer["batchItemFailures"] == []
    (letter,) = delivery.dead_letters()
    assert letter["unreadable_body"] == '{"hello": 1}'


def test_a_destination_refused_at_send_time_is_a_failed_attempt(
    delivery: DeliveryWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = delivery.receiver.mailbox()
    delivery.slack("team", path)
    monkeypatch.setenv("LOCAL_RECEIVER_ORIGINS", "http://127.0.0.1:1")  # the receiver is no longer allowed
    from tests.unit.alerting.delivery_world import clear_alerting_wiring

    clear_alerting_wiring()
    delivery.enqueue(request("team"))

    delivery.run_sender()

    assert delivery.receiver.requests(path) == []
    (record,) = delivery.delivery_log()
    assert record["attempts"][0]["status_code"] is None
    assert "destination refused" in record["attempts"][0]["error"]


def test_an_email_channel_publishes_to_the_topic_with_the_channel_attribute(delivery: DeliveryWorld) -> None:
    ok(
        delivery.create_channel(
            {"name": "mail", "type": "email", "config": {"addresses": ["a@example.com"]}}
        ),
        201,
    )
    queue_url = delivery.sqs.create_queue(QueueName="email-tap")["QueueUrl"]
    queue_arn = delivery.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    from tests.unit.alerting.delivery_world import TOPIC_ARN

    delivery.sns.subscribe(TopicArn=TOPIC_ARN, Protocol="sqs", Endpoint=queue_arn)
    delivery.enqueue(request("mail"))

    delivery.run_sender()

    (message,) = delivery.sqs.receive_message(QueueUrl=queue_url).get("Messages", [])
    published = json.loads(message["Body"])
    assert published["Subject"].startswith("Cirrus [WARNING] Alert firing")
    assert published["MessageAttributes"]["channel"] == {"Type": "String", "Value": "mail"}
    assert "Condition:  share of drifted features >= 0.25" in published["Message"]
    (record,) = delivery.delivery_log()
    assert record["status"] == "delivered"


def test_the_sender_never_logs_the_destination_or_secret(delivery: DeliveryWorld) -> None:
    path = f"/hooks/token-{ALERT_ID[:8]}"
    delivery.receiver.fail_first(path, 1)
    delivery.webhook("hook", path)
    delivery.enqueue(request("hook"))

    with function_logs() as logs:
        delivery.run_sender()
        delivery.backoff_elapses()
        delivery.run_sender()

    out = logs.getvalue()
    assert "Notification delivered" in out
    assert path not in out
    assert SECRET not in out


# -- the whole attempt within its timeout, the batch within the invocation -------------------------------


def test_a_receiver_trickling_its_answer_fails_the_attempt_at_the_timeout(
    delivery: DeliveryWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each header line arrives well within a per-read timeout; the whole answer takes about 6 s.
    with tcp_server(trickling_answer(header_lines=30, every_seconds=0.2)) as port:
        slow = f"http://127.0.0.1:{port}"
        monkeypatch.setenv("LOCAL_RECEIVER_ORIGINS", f"{delivery.receiver.origin},{slow}")
        monkeypatch.setenv("ALERT_DELIVERY_TIMEOUT_SECONDS", "1")
        clear_alerting_wiring()
        ok(
            delivery.create_channel(
                {"name": "team", "type": "slack", "config": {"webhook_url": slow + "/x"}}
            ),
            201,
        )
        delivery.enqueue(request("team"))

        answer = delivery.run_sender()

    assert len(answer["batchItemFailures"]) == 1
    (record,) = delivery.delivery_log()
    (attempt,) = record["attempts"]
    assert record["status"] == "retrying"
    assert attempt["status_code"] is None
    assert attempt["error"].startswith("timed out")
    assert "1 s" in attempt["error"]
    assert attempt["latency_ms"] < 4000  # the deadline (1 s), not the answer's 6 s


def test_records_are_taken_up_only_while_the_invocation_has_time_for_an_attempt(
    delivery: DeliveryWorld,
) -> None:
    path = delivery.receiver.mailbox()
    delivery.slack("team", path)
    first, second = request("team"), request("team")
    delivery.enqueue(first)
    delivery.enqueue(second)

    # 15 s left for the first record; then 3 s, less than one 5 s attempt and the calls around it.
    answer = delivery.run_sender(RunningOutContext(15_000, 3_000))

    assert answer["received"] == 2
    assert len(delivery.receiver.requests(path)) == 1
    assert len(answer["batchItemFailures"]) == 1
    (record,) = delivery.delivery_log()  # the untried one made no attempt: no log record
    assert record["delivery_id"] in {first.delivery_id, second.delivery_id}
    assert record["status"] == "delivered"


def test_a_record_left_untried_costs_no_attempt_and_is_visible_again_at_once(
    delivery: DeliveryWorld,
) -> None:
    path = delivery.receiver.mailbox()
    delivery.slack("team", path)
    delivery.enqueue(request("team"))

    untried = delivery.run_sender(RunningOutContext(3_000))
    delivery.run_sender()  # no backoff to wait for: the next invocation takes it up

    assert len(untried["batchItemFailures"]) == 1
    assert len(delivery.receiver.requests(path)) == 1
    (record,) = delivery.delivery_log()
    assert record["status"] == "delivered"
    assert [a["attempt"] for a in record["attempts"]] == [1]  # its second receive, its first attempt


# -- each checked address in turn -------------------------------------------------------------------------


class _ResolvedTo(HttpTransport):
    """The transport with the check's answer given: `hooks.example` resolving to `addresses`."""

    def __init__(self, *addresses: str) -> None:
        super().__init__(timeout_seconds=5)
        self._addresses = addresses

    def check(self, url: str) -> Destination:
        port = int(url.split(":")[2].split("/")[0])
        return Destination(url, "hooks.example", port, self._addresses)


def test_the_sender_tries_each_checked_address_until_one_connects(receiver: Receiver) -> None:
    path = receiver.mailbox()
    port = receiver.server.server_address[1]
    # Nothing listens on 127.0.0.2 (the receiver is bound to 127.0.0.1 only): the first one fails.
    transport = _ResolvedTo("127.0.0.2", "127.0.0.1")

    result = transport.post(f"http://hooks.example:{port}{path}", b"{}", {})

    assert (result.status_code, result.error) == (200, None)
    (arrived,) = receiver.requests(path)
    assert arrived.headers["host"] == f"hooks.example:{port}"


def test_when_no_checked_address_connects_the_last_failure_is_recorded(receiver: Receiver) -> None:
    port = receiver.server.server_address[1]
    transport = _ResolvedTo("127.0.0.2", "127.0.0.3")

    result = transport.post(f"http://hooks.example:{port}/x", b"{}", {})

    assert result.status_code is None
    assert result.error is not None
    assert result.error.startswith("ConnectionRefusedError")
    assert result.error.endswith("(the last of 2 addresses tried)")


def test_an_answer_whose_body_comes_after_its_headers_is_read_to_the_end() -> None:
    def serve(connection: socket.socket) -> None:
        connection.settimeout(30)
        request = b""
        while b"\r\n\r\n" not in request:  # the headers may come in more than one packet
            chunk = connection.recv(65536)
            if not chunk:
                return
            request += chunk
        connection.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n")
        time.sleep(0.2)  # the body in a later packet than the headers
        connection.sendall(b"hello")

    with tcp_server(serve) as port:
        origin = f"http://127.0.0.1:{port}"
        result = HttpTransport(local_receivers=[origin]).post(f"{origin}/x", b"{}", {})

    assert (result.status_code, result.error) == (200, None)
