"""The delivery queue's producer side: alert evaluation puts `DeliveryRequest`s on it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Sequence

    from cirrus_core.alerting.notification import DeliveryRequest

SQS_BATCH_LIMIT: Final = 10


class DeliveryQueue:
    """SQS queue of delivery requests (AlertDeliveryQueue in template.yaml)."""

    def __init__(self, client: Any, queue_url: str) -> None:
        """`client`: a boto3 `sqs` client."""
        self._client = client
        self._queue_url = queue_url

    def send(self, requests: Sequence[DeliveryRequest]) -> None:
        """Queue every request; raises RuntimeError naming the ones SQS refused."""
        for start in range(0, len(requests), SQS_BATCH_LIMIT):
            chunk = requests[start : start + SQS_BATCH_LIMIT]
            response = self._client.send_message_batch(
                QueueUrl=self._queue_url,
                Entries=[
                    {"Id": str(index), "MessageBody": request.model_dump_json()}
                    for index, request in enumerate(chunk)
                ],
            )
            failed = response.get("Failed") or []
            if failed:
                ids = ", ".join(chunk[int(entry["Id"])].delivery_id for entry in failed)
                raise RuntimeError(f"SQS refused delivery requests {ids}: {failed[0].get('Message', '')}")
