"""SQS adapters of the sender: the delivery queue's visibility (backoff) and its dead-letter queue."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


class DeliveryVisibility:
    """Delays a received message of the delivery queue: its next receive is the next attempt."""

    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def delay(self, receipt_handle: str, seconds: int) -> None:
        self._client.change_message_visibility(
            QueueUrl=self._queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
        )


class DeadLetterQueue:
    """AlertDeliveryDeadLetterQueue: requests given up on, each with its attempts and the reason."""

    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def send(self, document: dict[str, Any]) -> None:
        self._client.send_message(
            QueueUrl=self._queue_url, MessageBody=json.dumps(document, separators=(",", ":"), default=str)
        )
