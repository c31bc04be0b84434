"""What the channel and delivery unit tests share: the delivery queues, Secrets Manager and the email
topic under moto as the template declares them, a local HTTP receiver (allowed as the template's
LocalReceiverOrigins allows it on the local cloud), alert rule items, and the sender driven by real SQS
receives (ApproximateReceiveCount, receipt handles, visibility) as Lambda's poller would drive it.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from cirrus.localcloud.receiver import Receiver, start_receiver
from cirrus_core.alerting import wiring as alerting_wiring
from cirrus_core.alerting.notification import DeliveryRequest, Notification, NotificationKind, Severity
from cirrus_core.alerting.settings import get_alerting_settings
from tests.support.api import ApiResponse, LambdaContextStub, build_event, call
from tests.support.aws import TABLE_NAMES, AwsResources

REGION = "us-east-1"
ACCOUNT = "123456789012"
MONITORING_TABLE = TABLE_NAMES["MonitoringTable"]
QUEUE = "cirrus-test-alert-delivery"
DLQ = "cirrus-test-alert-delivery-dlq"
QUEUE_URL = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{QUEUE}"
DLQ_URL = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{DLQ}"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:cirrus-test-alert-email"
MAX_ATTEMPTS = 3
BACKOFF_SECONDS = 30
SECRET = "whsec_" + base64.b64encode(b"s" * 32).decode()
ALERT_ID = "0123456789abcdef0123456789abcdef"
PUBLIC = "93.184.216.34"  # what the test resolver answers for public names
_SESSION = boto3.session.Session()


def clear_alerting_wiring() -> None:
    get_alerting_settings.cache_clear()
    alerting_wiring.channel_service.cache_clear()
    alerting_wiring.delivery_service.cache_clear()
    alerting_wiring.sender.cache_clear()


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    server = start_receiver()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def delivery(
    aws: AwsResources, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DeliveryWorld]:
    """The delivery side of one moto-backed test, its functions' environment as the template gives it."""
    for name, value in {
        "POWERTOOLS_SERVICE_NAME": "cirrus-monitoring",
        "LOCAL_RECEIVER_ORIGINS": receiver.origin,
        "ALERT_DELIVERY_QUEUE_URL": QUEUE_URL,
        "ALERT_DELIVERY_DLQ_URL": DLQ_URL,
        "ALERT_EMAIL_TOPIC_ARN": TOPIC_ARN,
        "ALERT_DELIVERY_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
        "ALERT_DELIVERY_BACKOFF_SECONDS": str(BACKOFF_SECONDS),
        "ALERT_DELIVERY_TIMEOUT_SECONDS": "5",
    }.items():
        monkeypatch.setenv(name, value)
    clear_alerting_wiring()
    yield DeliveryWorld(aws, receiver)
    clear_alerting_wiring()


def api(route: str, **parts: Any) -> ApiResponse:
    return call(route, package="monitoring", **parts)


def ok(response: ApiResponse, status: int = 200) -> dict[str, Any]:
    assert response.status == status, f"{response.status} {response.body}"
    return dict(response.body)


def notification(kind: NotificationKind = NotificationKind.TRIGGER, **changes: Any) -> Notification:
    fields: dict[str, Any] = {
        "notification_id": uuid.uuid4().hex,
        "alert_id": ALERT_ID,
        "kind": kind,
        "alert_type": "drift_detection",
        "severity": Severity.WARNING,
        "dedup_key": f"cirrus-{ALERT_ID}",
        "model_id": "fraud_detection_v2",
        "environment": "prod",
        "summary": "3 of 8 features of fraud_detection_v2 drifted in prod",
        "condition": "share of drifted features >= 0.25",
        "values": {"observed": 0.375, "threshold": 0.25, "drifted_features": ["amount", "age", "channel"]},
        "report_url": "https://cirrus.example.com/api/v1/monitoring/models/fraud_detection_v2/drift-runs/r/report",
        "links": {"run": "/api/v1/monitoring/models/fraud_detection_v2/drift-runs/r"},
        "occurred_at": datetime(2024, 6, 1, 12, 0, tzinfo=UTC),
    }
    fields.update(changes)
    return Notification(**fields)


class DeliveryWorld:
    """Queues, secrets, topic, rules and the sender of one test."""

    def __init__(self, aws: AwsResources, receiver: Receiver) -> None:
        self.aws = aws
        self.receiver = receiver
        self.sqs = aws.sqs
        self.secrets = _SESSION.client("secretsmanager", region_name=REGION)
        self.sns = _SESSION.client("sns", region_name=REGION)
        dlq = self.sqs.create_queue(QueueName=DLQ)["QueueUrl"]
        dlq_arn = self.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.sqs.create_queue(
            QueueName=QUEUE,
            Attributes={
                "VisibilityTimeout": "360",
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_ATTEMPTS + 2}
                ),
            },
        )
        self.sns.create_topic(Name=TOPIC_ARN.rpartition(":")[2])
        self.in_flight: list[str] = []

    # -- channels and rules ------------------------------------------------------------------------------

    def create_channel(self, body: dict[str, Any], **parts: Any) -> ApiResponse:
        return api("create_channel", body=body, **parts)

    def webhook(self, name: str, path: str, *, secret: str = SECRET) -> dict[str, Any]:
        body = {
            "name": name,
            "type": "webhook",
            "config": {"url": self.receiver.url(path), "signing_secret": secret},
        }
        return ok(self.create_channel(body), 201)

    def slack(self, name: str, path: str) -> dict[str, Any]:
        body = {"name": name, "type": "slack", "config": {"webhook_url": self.receiver.url(path)}}
        return ok(self.create_channel(body), 201)

    def pagerduty(self, name: str, path: str, routing_key: str = "R" * 32) -> dict[str, Any]:
        config = {"routing_key": routing_key, "events_url": self.receiver.url(path)}
        return ok(self.create_channel({"name": name, "type": "pagerduty", "config": config}), 201)

    def put_rule(
        self, channels: list[str], alert_id: str = ALERT_ID, model_id: str = "fraud_detection_v2"
    ) -> None:
        """An alert rule item as the alerts module stores it (ALERT#<id>/RULE, the rule as JSON)."""
        rule = {
            "alert_id": alert_id,
            "model_id": model_id,
            "alert_type": "drift_detection",
            "threshold": 0.25,
            "notification_channels": channels,
            "evaluation_window": "1h",
            "environment": "prod",
            "created_at": "2024-06-01T12:00:00+00:00",
            "created_by": "ada@example.com",
        }
        self.aws.dynamodb.put_item(
            TableName=MONITORING_TABLE,
            Item={"pk": {"S": f"ALERT#{alert_id}"}, "sk": {"S": "RULE"}, "rule": {"S": json.dumps(rule)}},
        )

    def secret_names(self) -> list[str]:
        return sorted(item["Name"] for item in self.secrets.list_secrets()["SecretList"])

    def secret(self, name: str) -> dict[str, str]:
        return dict(
            json.loads(
                self.secrets.get_secret_value(SecretId=f"cirrus/dev/alert-channels/{name}")["SecretString"]
            )
        )

    def subscriptions(self) -> list[dict[str, Any]]:
        listed = self.sns.list_subscriptions_by_topic(TopicArn=TOPIC_ARN)["Subscriptions"]
        return [
            {
                **item,
                **self.sns.get_subscription_attributes(SubscriptionArn=item["SubscriptionArn"])["Attributes"],
            }
            for item in listed
        ]

    def snapshot(self) -> dict[str, Any]:
        return {
            "tables": self.aws.table_items(),
            "secrets": self.secret_names(),
            "subscriptions": sorted(item["SubscriptionArn"] for item in self.subscriptions()),
        }

    # -- the queue and the sender ------------------------------------------------------------------------

    def enqueue(self, *requests: DeliveryRequest) -> None:
        for request in requests:
            self.sqs.send_message(QueueUrl=QUEUE_URL, MessageBody=request.model_dump_json())

    def run_sender(self, context: LambdaContextStub | None = None) -> dict[str, Any]:
        """Receive what is visible (as Lambda's poller does), call the sender with it (and `context`, a
        Lambda context with time to spare by default), delete what it reports done; the answer is the
        handler's (batchItemFailures)."""
        from functions.monitoring.steps import deliver_notifications

        messages = self.sqs.receive_message(
            QueueUrl=QUEUE_URL, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        if not messages:
            return {"batchItemFailures": [], "received": 0}
        records = [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message["Attributes"],
                "messageAttributes": {},
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{QUEUE}",
                "awsRegion": REGION,
            }
            for message in messages
        ]
        answer: dict[str, Any] = deliver_notifications.lambda_handler(
            {"Records": records}, context or LambdaContextStub()
        )
        failed = {item["itemIdentifier"] for item in answer["batchItemFailures"]}
        self.in_flight = []
        for message in messages:
            if message["MessageId"] in failed:
                self.in_flight.append(message["ReceiptHandle"])
            else:
                self.sqs.delete_message(QueueUrl=QUEUE_URL, ReceiptHandle=message["ReceiptHandle"])
        return {**answer, "received": len(messages)}

    def backoff_elapses(self) -> None:
        """The failed messages' backoff is over: the next receive is their next attempt."""
        for handle in self.in_flight:
            self.sqs.change_message_visibility(QueueUrl=QUEUE_URL, ReceiptHandle=handle, VisibilityTimeout=0)

    def seconds_until_visible(self) -> list[float]:
        """For each message on the delivery queue, how long it stays invisible (moto's own record)."""
        from moto.core.utils import unix_time_millis
        from moto.sqs.models import sqs_backends

        queue = sqs_backends[ACCOUNT][REGION].queues[QUEUE]
        now = unix_time_millis()
        return [max(0.0, (message.visible_at - now) / 1000) for message in queue._messages]

    def dead_letters(self) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(QueueUrl=DLQ_URL, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        return [json.loads(message["Body"]) for message in messages]

    def delivery_log(self, alert_id: str = ALERT_ID) -> list[dict[str, Any]]:
        return ok(api("list_alert_deliveries", path={"alert_id": alert_id}, query=None))["items"]


class RunningOutContext(LambdaContextStub):
    """A Lambda context whose remaining time is read from a script, one value per call (the last one
    repeats): an invocation running out of time as its batch goes on."""

    def __init__(self, *remaining_ms: int) -> None:
        super().__init__()
        object.__setattr__(self, "_script", list(remaining_ms))

    def get_remaining_time_in_millis(self) -> int:
        script: list[int] = object.__getattribute__(self, "_script")
        return script.pop(0) if len(script) > 1 else script[0]


@contextlib.contextmanager
def tcp_server(serve: Callable[[socket.socket], None]) -> Iterator[int]:
    """A TCP server on 127.0.0.1 handing each connection to `serve` on its own thread; yields the port."""
    listener = socket.create_server(("127.0.0.1", 0))
    stopped = threading.Event()

    def accept() -> None:
        while not stopped.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=_serve_and_close, args=(serve, connection), daemon=True).start()

    threading.Thread(target=accept, name="tcp-server", daemon=True).start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stopped.set()
        listener.close()


def _serve_and_close(serve: Callable[[socket.socket], None], connection: socket.socket) -> None:
    with contextlib.suppress(OSError), connection:
        serve(connection)


def trickling_answer(header_lines: int, every_seconds: float) -> Callable[[socket.socket], None]:
    """A receiver that reads the request, then sends a 200 answer's headers one line every
    `every_seconds` (each read of the sender gets a byte well within any per-read timeout)."""

    def serve(connection: socket.socket) -> None:
        connection.settimeout(30)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = connection.recv(65536)
            if not chunk:
                return
            received += chunk
        connection.sendall(b"HTTP/1.1 200 OK\r\n")
        for index in range(header_lines):
            time.sleep(every_seconds)
            connection.sendall(f"X-Slow-{index}: 1\r\n".encode())
        connection.sendall(b"Content-Length: 0\r\nConnection: close\r\n\r\n")

    return serve


def sample_event(route: str, **parts: Any) -> dict[str, Any]:
    return build_event(route, **parts)


@contextlib.contextmanager
def function_logs() -> Iterator[io.StringIO]:
    """What the functions' Powertools logger writes (JSON lines, DEBUG and up) while the block runs."""
    from cirrus_core.observability import logger

    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    level = logger.log_level
    stream = io.StringIO()
    previous = handler.setStream(stream)
    logger.setLevel("DEBUG")
    try:
        yield stream
    finally:
        logger.setLevel(level)
        handler.setStream(previous)
