"""The predict route puts one observation per request on the metrics queue, and never fails for it."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from aws_lambda_powertools import Metrics

import functions.serving.predict as predict_module
from cirrus_core.metrics.publisher import SqsObservationPublisher
from cirrus_core.serving.environments import EnvironmentDirectory
from cirrus_core.serving.inference import InferenceService, InvocationError
from tests.support.api import ApiResponse, call
from tests.support.authz import claims
from tests.support.aws import TABLE_NAMES, AwsResources
from tests.unit.serving.inference_support import CountingMetrics, FakeEndpoint, put_environment


class Queue:
    def __init__(self) -> None:
        self.sqs = boto3.client("sqs", region_name="us-east-1")
        self.url = self.sqs.create_queue(QueueName="cirrus-test-metrics")["QueueUrl"]

    def observations(self) -> list[dict[str, Any]]:
        found = []
        while messages := self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages"):
            for message in messages:
                found.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        return found


@pytest.fixture
def queue(aws: AwsResources) -> Queue:
    return Queue()


def serve(monkeypatch: pytest.MonkeyPatch, aws: AwsResources, endpoint: FakeEndpoint, queue_url: str) -> None:
    put_environment(aws)
    service = InferenceService(
        EnvironmentDirectory(aws.dynamodb, TABLE_NAMES["ServingTable"]),
        endpoint,
        CountingMetrics(),
        max_payload_bytes=1024,
        observer=SqsObservationPublisher(
            boto3.client("sqs", region_name="us-east-1"), queue_url, Metrics(namespace="Cirrus")
        ),
    )
    monkeypatch.setattr(predict_module, "inference_service", lambda: service)


def predict(**parts: Any) -> ApiResponse:
    return call("predict", package="serving", **parts)


def test_an_answer_is_observed_with_its_latency_version_id_and_prediction(
    monkeypatch: pytest.MonkeyPatch, aws: AwsResources, queue: Queue
) -> None:
    serve(monkeypatch, aws, FakeEndpoint(), queue.url)

    response = predict()

    (observed,) = queue.observations()
    assert observed["outcome"] == "answered"
    assert (observed["model_id"], observed["environment"], observed["version"]) == (
        "fraud_detection_v2",
        "prod",
        3,
    )
    assert observed["inference_id"] == response.body["inference_id"]
    assert observed["prediction"] == [0.93]
    assert observed["prediction_stored"] is True
    assert observed["latency_ms"] >= 0


def test_a_model_error_is_observed_with_its_inference_id(
    monkeypatch: pytest.MonkeyPatch, aws: AwsResources, queue: Queue
) -> None:
    serve(
        monkeypatch,
        aws,
        FakeEndpoint(failure=InvocationError("boom", model_error=True, original_status=500)),
        queue.url,
    )

    assert predict().status == 424

    (observed,) = queue.observations()
    assert (observed["outcome"], observed["status"], observed["version"]) == ("model_error", 424, 3)
    assert observed["inference_id"]


def test_an_unavailable_endpoint_is_observed_as_a_platform_failure(
    monkeypatch: pytest.MonkeyPatch, aws: AwsResources, queue: Queue
) -> None:
    serve(monkeypatch, aws, FakeEndpoint(failure=InvocationError("down", model_error=False)), queue.url)

    assert predict().status == 503

    assert [(o["outcome"], o["status"]) for o in queue.observations()] == [("failed", 503)]


def test_a_refusal_is_observed_with_its_status_and_no_inference_id(
    monkeypatch: pytest.MonkeyPatch, aws: AwsResources, queue: Queue
) -> None:
    serve(monkeypatch, aws, FakeEndpoint(), queue.url)

    assert predict(headers={"Content-Type": "application/xml"}).status == 415
    assert predict(claims=claims("model_reviewer"), query={"environment": "staging"}).status in {403, 404}

    observed = queue.observations()
    assert [o["outcome"] for o in observed] == ["refused", "refused"]
    assert observed[0]["status"] == 415
    assert all(o["inference_id"] is None for o in observed)


@pytest.mark.parametrize(
    "parts",
    [{}, {"headers": {"Content-Type": "application/xml"}}],
    ids=["not deployed (404)", "refused before the lookup (415)"],
)
def test_a_refusal_for_a_model_id_with_no_environment_is_observed_under_one_unknown_model(
    parts: dict[str, Any], monkeypatch: pytest.MonkeyPatch, aws: AwsResources, queue: Queue
) -> None:
    serve(monkeypatch, aws, FakeEndpoint(), queue.url)

    for made_up in ("no-such-model-1", "no-such-model-2"):
        assert predict(path={"model_id": made_up}, **parts).status in {404, 415}

    assert [o["model_id"] for o in queue.observations()] == ["_unknown", "_unknown"]


def test_a_refusal_for_a_deployed_model_is_observed_under_its_model(
    monkeypatch: pytest.MonkeyPatch, aws: AwsResources, queue: Queue
) -> None:
    serve(monkeypatch, aws, FakeEndpoint(), queue.url)
    put_environment(aws, "staging", status="undeployed")

    assert predict(headers={"Content-Type": "application/xml"}).status == 415
    assert predict(query={"environment": "staging"}).status == 404

    assert [o["model_id"] for o in queue.observations()] == ["fraud_detection_v2"] * 2


def test_a_queue_that_cannot_be_reached_does_not_fail_the_prediction(
    monkeypatch: pytest.MonkeyPatch, aws: AwsResources
) -> None:
    serve(monkeypatch, aws, FakeEndpoint(), "https://sqs.us-east-1.amazonaws.com/123456789012/no-such-queue")

    response = predict()

    assert response.status == 200
    assert response.body["predictions"] == [0.93]
