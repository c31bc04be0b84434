"""AWS adapters of the predict route: the environment's state item, SageMaker Runtime, EMF metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from cirrus_core.serving.inference import EndpointAnswer, InvocationError

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics

# SageMaker Runtime errors that mean "try again shortly" rather than "this endpoint is broken".
_RETRYABLE = frozenset(
    {"ThrottlingException", "ServiceUnavailable", "InternalFailure", "ModelNotReadyException"}
)


class SageMakerRuntimeInvoker:
    """InvokeEndpoint, with SageMaker Runtime's errors turned into InvocationError."""

    def __init__(self, client: Any) -> None:
        """`client`: a boto3 `sagemaker-runtime` client (no stubs are installed for it)."""
        self._client = client

    def invoke(
        self, endpoint_name: str, body: bytes, content_type: str, accept: str | None, inference_id: str
    ) -> EndpointAnswer:
        params: dict[str, Any] = {
            "EndpointName": endpoint_name,
            "Body": body,
            "ContentType": content_type,
            "InferenceId": inference_id,
        }
        if accept is not None:
            params["Accept"] = accept
        try:
            response = self._client.invoke_endpoint(**params)
        except ClientError as error:
            raise _invocation_error(error) from error
        return EndpointAnswer(
            body=response["Body"].read(),
            content_type=response.get("ContentType") or "application/octet-stream",
        )


def _invocation_error(error: ClientError) -> InvocationError:
    details: dict[str, Any] = dict(error.response.get("Error") or {})
    code = str(details.get("Code", ""))
    message = str(details.get("Message", "")) or str(error)
    if code == "ModelError":
        # The container's own words, without SageMaker's wrapper (which names the log group).
        fields: dict[str, Any] = dict(error.response)
        original = fields.get("OriginalMessage") or message
        status = fields.get("OriginalStatusCode")
        return InvocationError(
            str(original), model_error=True, original_status=int(status) if status is not None else None
        )
    return InvocationError(
        f"{code}: {message}" if code else message, model_error=False, retry=code in _RETRYABLE
    )


class InferenceMetricsRecorder:
    """Counts invocations as EMF metrics (namespace Cirrus), dimensioned by model and environment.

    The dimensions are set by the route before the request is handled, so the entry point's Http4xx
    and Http5xx counts carry them too.
    """

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def invoked(self, latency_ms: float) -> None:
        self._metrics.add_metric(name="Invocations", unit=MetricUnit.Count, value=1)
        self._metrics.add_metric(name="ModelLatency", unit=MetricUnit.Milliseconds, value=latency_ms)

    def model_error(self) -> None:
        self._metrics.add_metric(name="Invocations", unit=MetricUnit.Count, value=1)
        self._metrics.add_metric(name="ModelErrors", unit=MetricUnit.Count, value=1)

    def endpoint_error(self) -> None:
        self._metrics.add_metric(name="EndpointErrors", unit=MetricUnit.Count, value=1)
