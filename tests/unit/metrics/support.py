"""Observations and SQS events as the predict route and Lambda's poller make them."""

from __future__ import annotations

import importlib
import uuid
from datetime import UTC, datetime
from typing import Any

from cirrus_core.metrics.models import Observation, Outcome
from cirrus_core.registry.models import Environment
from tests.support.api import LambdaContextStub

MODEL_ID = "fraud_detection_v2"
AT = datetime(2024, 6, 1, 12, 34, 56, tzinfo=UTC)


def observation(
    outcome: Outcome = Outcome.ANSWERED,
    *,
    latency_ms: float | None = 12.0,
    prediction: Any = 1,
    at: datetime = AT,
    version: int | None = 3,
    model_id: str = MODEL_ID,
    environment: Environment = Environment.PROD,
    inference_id: str | None = None,
) -> Observation:
    answered = outcome is Outcome.ANSWERED
    status = {Outcome.ANSWERED: 200, Outcome.REFUSED: 404, Outcome.FAILED: 503, Outcome.MODEL_ERROR: 424}[
        outcome
    ]
    return Observation(
        outcome=outcome,
        model_id=model_id,
        environment=environment,
        at=at,
        status=status,
        version=version if outcome is not Outcome.REFUSED else None,
        inference_id=(inference_id or uuid.uuid4().hex) if outcome is not Outcome.REFUSED else None,
        latency_ms=latency_ms if answered else None,
        prediction=prediction if answered else None,
        prediction_stored=answered,
    )


def sqs_record(body: str, message_id: str | None = None) -> dict[str, Any]:
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "AQEB" + uuid.uuid4().hex,
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1717245296000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1717245296001",
        },
        "messageAttributes": {},
        "md5OfBody": "0" * 32,
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:cirrus-dev-metrics",
        "awsRegion": "us-east-1",
    }


def sqs_event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


def records_of(*observations: Observation) -> list[dict[str, Any]]:
    return [sqs_record(item.model_dump_json()) for item in observations]


def record_metrics(event: dict[str, Any]) -> dict[str, Any]:
    module = importlib.import_module("functions.monitoring.steps.record_metrics")
    return dict(module.lambda_handler(event, LambdaContextStub()))
