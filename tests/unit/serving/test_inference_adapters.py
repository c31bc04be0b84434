"""The predict route's adapters: InvokeEndpoint as SageMaker Runtime takes and refuses it, EMF metrics."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pytest
from aws_lambda_powertools import Metrics
from botocore.response import StreamingBody
from botocore.stub import Stubber

from cirrus_core.serving.inference import InvocationError
from cirrus_core.serving.inference_adapters import InferenceMetricsRecorder, SageMakerRuntimeInvoker

ENDPOINT = "fraud-detection-v2-prod"
INFERENCE_ID = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def runtime() -> Any:
    return boto3.client("sagemaker-runtime", region_name="us-east-1")


def _answer(body: bytes, content_type: str) -> dict[str, Any]:
    return {"Body": StreamingBody(io.BytesIO(body), len(body)), "ContentType": content_type}


def test_the_request_carries_the_body_types_and_inference_id(runtime: Any) -> None:
    with Stubber(runtime) as stub:
        stub.add_response(
            "invoke_endpoint",
            _answer(b"0.9\n", "text/csv"),
            {
                "EndpointName": ENDPOINT,
                "Body": b"1.0,2.0\n",
                "ContentType": "text/csv",
                "Accept": "text/csv",
                "InferenceId": INFERENCE_ID,
            },
        )
        answer = SageMakerRuntimeInvoker(runtime).invoke(
            ENDPOINT, b"1.0,2.0\n", "text/csv", "text/csv", INFERENCE_ID
        )

    assert (answer.body, answer.content_type) == (b"0.9\n", "text/csv")


def test_no_accept_is_sent_when_the_caller_left_it_to_the_model(runtime: Any) -> None:
    with Stubber(runtime) as stub:
        stub.add_response(
            "invoke_endpoint",
            _answer(b"[1]", "application/json"),
            {
                "EndpointName": ENDPOINT,
                "Body": b"[1]",
                "ContentType": "application/json",
                "InferenceId": INFERENCE_ID,
            },
        )
        SageMakerRuntimeInvoker(runtime).invoke(ENDPOINT, b"[1]", "application/json", None, INFERENCE_ID)


def test_a_model_error_carries_the_containers_message_and_status(runtime: Any) -> None:
    with Stubber(runtime) as stub:
        stub.add_client_error(
            "invoke_endpoint",
            service_error_code="ModelError",
            service_message='Received client error (400) from AllTraffic with message "bad input". See ...',
            http_status_code=424,
            modeled_fields={"OriginalStatusCode": 400, "OriginalMessage": "bad input"},
        )
        with pytest.raises(InvocationError) as raised:
            SageMakerRuntimeInvoker(runtime).invoke(ENDPOINT, b"x", "text/csv", None, INFERENCE_ID)

    assert (raised.value.model_error, raised.value.message, raised.value.original_status) == (
        True,
        "bad input",
        400,
    )


def test_a_missing_endpoint_is_not_a_model_error(runtime: Any) -> None:
    with Stubber(runtime) as stub:
        stub.add_client_error(
            "invoke_endpoint",
            service_error_code="ValidationError",
            service_message=f"Endpoint {ENDPOINT} of account 123456789012 not found.",
            http_status_code=400,
        )
        with pytest.raises(InvocationError) as raised:
            SageMakerRuntimeInvoker(runtime).invoke(ENDPOINT, b"x", "text/csv", None, INFERENCE_ID)

    assert raised.value.model_error is False
    assert raised.value.retry is False
    assert raised.value.message == f"ValidationError: Endpoint {ENDPOINT} of account 123456789012 not found."


def test_throttling_is_marked_retryable(runtime: Any) -> None:
    with Stubber(runtime) as stub:
        stub.add_client_error(
            "invoke_endpoint",
            service_error_code="ThrottlingException",
            service_message="slow down",
            http_status_code=400,
        )
        with pytest.raises(InvocationError) as raised:
            SageMakerRuntimeInvoker(runtime).invoke(ENDPOINT, b"x", "text/csv", None, INFERENCE_ID)

    assert (raised.value.model_error, raised.value.retry) == (False, True)


def test_metrics_count_invocations_latency_and_errors_by_model_and_environment(
    capsys: pytest.CaptureFixture[str],
) -> None:
    metrics = Metrics(namespace="Cirrus", service="cirrus-serving")
    metrics.add_dimension(name="model_id", value="fraud_detection_v2")
    metrics.add_dimension(name="environment", value="prod")
    recorder = InferenceMetricsRecorder(metrics)

    recorder.invoked(12.5)
    recorder.model_error()
    recorder.endpoint_error()
    metrics.flush_metrics()

    blob = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    (directive,) = blob["_aws"]["CloudWatchMetrics"]
    assert {"model_id", "environment"} <= set(directive["Dimensions"][0])
    assert {metric["Name"]: metric["Unit"] for metric in directive["Metrics"]} == {
        "Invocations": "Count",
        "ModelLatency": "Milliseconds",
        "ModelErrors": "Count",
        "EndpointErrors": "Count",
    }
    assert (blob["Invocations"], blob["ModelLatency"], blob["ModelErrors"]) == ([1.0, 1.0], [12.5], [1.0])
