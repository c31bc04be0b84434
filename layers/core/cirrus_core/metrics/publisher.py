"""The predict route's side of the metrics queue: one SendMessage per request, never fatal.

An observation that cannot be sent is logged and counted (EMF `MetricsPublishFailures`); the
prediction is answered all the same. The client has short timeouts and one retry, so a slow queue
costs a request at most a few seconds once and usually a few milliseconds.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from aws_lambda_powertools.metrics import MetricUnit

from cirrus_core.metrics.models import Observation, Outcome
from cirrus_core.metrics.store import MAX_STORED_PREDICTION_BYTES
from cirrus_core.observability import logger

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics

    from cirrus_core.registry.models import Environment

PUBLISH_FAILURE_METRIC: Final = "MetricsPublishFailures"


class SqsObservationPublisher:
    """Publishes the outcome of each predict request to the metrics queue."""

    def __init__(self, client: Any, queue_url: str, metrics: Metrics) -> None:
        """`client`: a boto3 SQS client (short timeouts); an empty `queue_url` publishes nothing."""
        self._client = client
        self._queue_url = queue_url
        self._metrics = metrics

    def observe(
        self,
        outcome: Outcome,
        model_id: str,
        environment: Environment,
        status: int,
        *,
        version: int | None = None,
        inference_id: str | None = None,
        latency_ms: float | None = None,
        prediction: Any = None,
    ) -> None:
        if not self._queue_url:
            return
        try:
            stored = outcome is Outcome.ANSWERED and _small(prediction)
            observation = Observation(
                outcome=outcome,
                model_id=model_id,
                environment=environment,
                at=datetime.now(UTC),
                status=status,
                version=version,
                inference_id=inference_id,
                latency_ms=latency_ms,
                prediction=prediction if stored else None,
                prediction_stored=stored,
            )
            self._client.send_message(QueueUrl=self._queue_url, MessageBody=observation.model_dump_json())
        except Exception:  # a lost observation must never fail the prediction
            logger.exception("Could not publish a metrics observation", extra={"outcome": outcome.value})
            self._metrics.add_metric(name=PUBLISH_FAILURE_METRIC, unit=MetricUnit.Count, value=1)


def _small(prediction: Any) -> bool:
    try:
        return (
            len(json.dumps(prediction, separators=(",", ":")).encode("utf-8")) <= MAX_STORED_PREDICTION_BYTES
        )
    except (TypeError, ValueError):
        return False
