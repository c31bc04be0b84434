"""What the predict tests share: the environment items the deployments write, and a fake endpoint."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cirrus_core.serving.inference import EndpointAnswer, InvocationError
from tests.support.aws import TABLE_NAMES

MODEL_ID = "fraud_detection_v2"  # the model of the sample events
ENDPOINT = "fraud-detection-v2-prod"


def put_environment(
    aws: Any,
    environment: str = "prod",
    *,
    status: str = "deployed",
    version: int = 3,
    endpoint_name: str = ENDPOINT,
    model_id: str = MODEL_ID,
) -> None:
    """The environment state item docs/serving.md describes (what a deployment leaves behind)."""
    aws.dynamodb.put_item(
        TableName=TABLE_NAMES["ServingTable"],
        Item={
            "pk": {"S": f"MODEL#{model_id}"},
            "sk": {"S": f"ENV#{environment}"},
            "environment": {"S": environment},
            "status": {"S": status},
            "version": {"N": str(version)},
            "endpoint_name": {"S": endpoint_name},
            "endpoint_config_name": {"S": f"{endpoint_name}-v{version}-0a1b2c3d"},
            "serverless": {"BOOL": False},
            "deployment_id": {"S": "0a1b2c3d4e5f40718293a4b5c6d7e8f9"},
            "updated_at": {"S": "2024-06-01T12:00:00+00:00"},
        },
    )


@dataclass
class Invocation:
    endpoint_name: str
    body: bytes
    content_type: str
    accept: str | None
    inference_id: str


@dataclass
class FakeEndpoint:
    """Answers InvokeEndpoint with `answer`, or fails with `failure`; records every invocation."""

    answer: EndpointAnswer = field(default_factory=lambda: EndpointAnswer(b"[0.93]", "application/json"))
    failure: InvocationError | None = None
    invocations: list[Invocation] = field(default_factory=list)

    def invoke(
        self, endpoint_name: str, body: bytes, content_type: str, accept: str | None, inference_id: str
    ) -> EndpointAnswer:
        self.invocations.append(Invocation(endpoint_name, body, content_type, accept, inference_id))
        if self.failure is not None:
            raise self.failure
        return self.answer


@dataclass
class CountingMetrics:
    latencies: list[float] = field(default_factory=list)
    model_errors: int = 0
    endpoint_errors: int = 0

    def invoked(self, latency_ms: float) -> None:
        self.latencies.append(latency_ms)

    def model_error(self) -> None:
        self.model_errors += 1

    def endpoint_error(self) -> None:
        self.endpoint_errors += 1
