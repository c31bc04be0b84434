"""Real-time inference: a request to a model's environment reaches the endpoint serving it.

The environment is resolved through its state item in the serving table (docs/serving.md): an
environment serves while it is `deployed`, or `deploying` (the endpoint keeps its previous config
until the new one is up). Every request gets an inference id, passed to SageMaker as `InferenceId`
so that the data capture record carries it and ground truth can later be joined on it.

The body is forwarded as it came; only its media type and size are checked. Nothing is written
here; each request's outcome (answered with its latency and prediction, refused, failed, or a model
error) is handed to the metrics observer, which puts it on the metrics queue (docs/monitoring.md).
A request for a model id that has no item for the environment in the serving table (never deployed
there, or a made-up id) is observed under the model `_unknown`: any signed-in caller can send such
requests, and each model id observed becomes aggregate items and Prometheus series.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, Field

from cirrus_core.authz import Resource, authorize
from cirrus_core.errors import (
    CirrusError,
    EndpointUnavailable,
    EnvironmentNotDeployed,
    ModelInvocationFailed,
    NotAcceptable,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from cirrus_core.metrics.models import UNKNOWN_MODEL, Outcome
from cirrus_core.observability import logger
from cirrus_core.registry.models import Environment, ModelId

if TYPE_CHECKING:
    from collections.abc import Callable

    from cirrus_core.caller import Caller
    from cirrus_core.serving.environments import ServingEndpoint

# Environment states in which the endpoint answers (docs/serving.md, "Serving table").
SERVING_STATUSES = frozenset({"deployed", "deploying"})
WILDCARDS = frozenset({"*/*", "application/*", "text/*"})


class PayloadType(StrEnum):
    """The request and response bodies the predict route forwards."""

    JSON = "application/json"
    CSV = "text/csv"


def media_type(header: str | None) -> str:
    """`text/csv; charset=utf-8` -> `text/csv`; empty for a missing header."""
    return (header or "").split(";", 1)[0].strip().lower()


class Prediction(BaseModel):
    """The endpoint's answer to one request."""

    model_id: ModelId
    environment: Environment
    version: int = Field(ge=1, description="The version the environment served the request with.")
    inference_id: str = Field(
        pattern=r"^[0-9a-f]{32}$",
        description="This request's id: the data capture record's `eventMetadata.inferenceId`, and the "
        "key to join ground truth on.",
    )
    content_type: str = Field(description="The media type the endpoint answered with.")
    predictions: Any = Field(
        description="The endpoint's answer: parsed when it is JSON, else its text (CSV, for instance)."
    )


@dataclass(frozen=True)
class EndpointAnswer:
    """What InvokeEndpoint returned."""

    body: bytes
    content_type: str


class InvocationError(Exception):
    """InvokeEndpoint failed: the model failed (`model_error`) or the endpoint could not serve."""

    def __init__(
        self, message: str, *, model_error: bool, original_status: int | None = None, retry: bool = False
    ) -> None:
        super().__init__(message)
        self.message = message
        self.model_error = model_error
        self.original_status = original_status
        self.retry = retry


class ServingDirectory(Protocol):
    def serving_endpoint(self, model_id: str, environment: str) -> ServingEndpoint | None: ...


class EndpointInvoker(Protocol):
    def invoke(
        self, endpoint_name: str, body: bytes, content_type: str, accept: str | None, inference_id: str
    ) -> EndpointAnswer: ...


class InferenceMetrics(Protocol):
    """Where the outcome of each invocation is counted (EMF metrics in Lambda)."""

    def invoked(self, latency_ms: float) -> None: ...

    def model_error(self) -> None: ...

    def endpoint_error(self) -> None: ...


class PredictionObserver(Protocol):
    """Where each request's outcome goes (the metrics queue); never raises."""

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
    ) -> None: ...


@dataclass
class _Lookup:
    """The environment's item as one request read it (`done` once read; `endpoint` None: no item)."""

    done: bool = False
    endpoint: ServingEndpoint | None = None


@dataclass(frozen=True)
class PredictRequest:
    """One predict call as the route received it; `body` is the raw bytes, decoded from base64."""

    model_id: str
    environment: Environment
    body: bytes
    content_type: str | None
    accept: str | None


def event_body(body: str | None, is_base64: bool) -> bytes:
    """An API Gateway proxy event's body as bytes (binary media types arrive base64-encoded)."""
    if not body:
        return b""
    return base64.b64decode(body) if is_base64 else body.encode("utf-8")


def choose_accept(accept: str | None) -> str | None:
    """The response type to ask the endpoint for: the first JSON or CSV type the caller accepts.

    None (the container's default) when the caller accepts anything; NotAcceptable when it accepts
    neither JSON nor CSV.
    """
    if accept is None or not accept.strip():
        return None
    offered = [media_type(part) for part in accept.split(",") if media_type(part)]
    for kind in offered:
        if kind in {item.value for item in PayloadType}:
            return kind
    if any(kind in WILDCARDS for kind in offered):
        return None
    raise NotAcceptable(
        "The model answers in application/json or text/csv; the Accept header allows neither.",
        [{"field": "Accept", "value": accept[:200], "supported": [item.value for item in PayloadType]}],
    )


class InferenceService:
    """Answers predict requests through the environment's endpoint."""

    def __init__(
        self,
        directory: ServingDirectory,
        invoker: EndpointInvoker,
        metrics: InferenceMetrics,
        *,
        max_payload_bytes: int,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        clock: Callable[[], float] = time.perf_counter,
        observer: PredictionObserver | None = None,
    ) -> None:
        self._observer = observer
        self._directory = directory
        self._invoker = invoker
        self._metrics = metrics
        self._max_payload_bytes = max_payload_bytes
        self._new_id = new_id
        self._clock = clock

    def predict(self, request: PredictRequest, caller: Caller) -> Prediction:
        """Invoke the environment's endpoint with the request's body as it came; observe the outcome."""
        lookup = _Lookup()
        try:
            return self._predict(request, caller, lookup)
        except (ModelInvocationFailed, EndpointUnavailable):
            raise  # observed where they are raised, with their inference id and version
        except CirrusError as error:
            outcome = Outcome.REFUSED if error.status < 500 else Outcome.FAILED
            self._observe(outcome, request, error.status, model_id=self._observed_model(request, lookup))
            raise
        except Exception:
            self._observe(Outcome.FAILED, request, 500, model_id=self._observed_model(request, lookup))
            raise

    def _observe(
        self,
        outcome: Outcome,
        request: PredictRequest,
        status: int,
        *,
        model_id: str | None = None,
        **fields: Any,
    ) -> None:
        if self._observer is not None:
            self._observer.observe(
                outcome, model_id or request.model_id, request.environment, status, **fields
            )

    def _observed_model(self, request: PredictRequest, lookup: _Lookup) -> str:
        """The model a request that did not reach an endpoint is counted under: its own when the
        environment has an item in the serving table (reading it when the refusal came first),
        UNKNOWN_MODEL otherwise, so that made-up model ids add no aggregates or series."""
        if self._observer is None:
            return request.model_id
        if not lookup.done:
            try:
                lookup.endpoint = self._directory.serving_endpoint(
                    request.model_id, request.environment.value
                )
            except Exception:  # the request failed already; its observation must not fail it otherwise
                logger.exception("Could not read the environment of a refused request")
                return UNKNOWN_MODEL
        return request.model_id if lookup.endpoint is not None else UNKNOWN_MODEL

    def _predict(self, request: PredictRequest, caller: Caller, lookup: _Lookup) -> Prediction:
        environment = request.environment.value
        authorize(
            caller.principal, "InvokeModel", Resource.model(request.model_id), {"environment": environment}
        )
        content_type = self._check_content_type(request.content_type)
        accept = choose_accept(request.accept)
        if len(request.body) > self._max_payload_bytes:
            raise PayloadTooLarge(
                f"The request body exceeds {self._max_payload_bytes} bytes.",
                [{"limit_bytes": self._max_payload_bytes, "size_bytes": len(request.body)}],
            )
        if not request.body:
            raise UnsupportedMediaType(
                "The request body is empty: send the model's input as JSON or CSV.",
                [{"field": "body", "size_bytes": 0}],
            )
        endpoint = self._directory.serving_endpoint(request.model_id, environment)
        lookup.done, lookup.endpoint = True, endpoint
        if endpoint is None or endpoint.status not in SERVING_STATUSES or not endpoint.endpoint_name:
            raise EnvironmentNotDeployed(
                f"Model '{request.model_id}' is not deployed to {environment}.",
                [{"model_id": request.model_id, "environment": environment}],
            )
        inference_id = self._new_id()
        started = self._clock()
        try:
            answer = self._invoker.invoke(
                endpoint.endpoint_name, request.body, content_type, accept, inference_id
            )
        except InvocationError as error:
            details = {
                "model_id": request.model_id,
                "environment": environment,
                "version": endpoint.version,
                "inference_id": inference_id,
            }
            failure: CirrusError
            if error.model_error:
                self._metrics.model_error()
                outcome = Outcome.MODEL_ERROR
                failure = ModelInvocationFailed(
                    f"The model failed to answer: {error.message}",
                    [{**details, "original_status_code": error.original_status}],
                )
            else:
                self._metrics.endpoint_error()
                outcome = Outcome.FAILED
                failure = EndpointUnavailable(
                    f"The {environment} endpoint of '{request.model_id}' cannot serve now: {error.message}",
                    [{**details, "retryable": error.retry}],
                )
            self._observe(
                outcome, request, failure.status, version=endpoint.version, inference_id=inference_id
            )
            raise failure from error
        latency_ms = (self._clock() - started) * 1000.0
        self._metrics.invoked(latency_ms)
        prediction = Prediction(
            model_id=request.model_id,
            environment=request.environment,
            version=endpoint.version,
            inference_id=inference_id,
            content_type=answer.content_type,
            predictions=_parsed(answer),
        )
        self._observe(
            Outcome.ANSWERED,
            request,
            200,
            version=endpoint.version,
            inference_id=inference_id,
            latency_ms=latency_ms,
            prediction=prediction.predictions,
        )
        return prediction

    @staticmethod
    def _check_content_type(header: str | None) -> str:
        kind = media_type(header)
        if kind not in {item.value for item in PayloadType}:
            raise UnsupportedMediaType(
                f"Content-Type {header or '(none)'} is not accepted: send application/json or text/csv.",
                [
                    {
                        "field": "Content-Type",
                        "value": (header or "")[:200],
                        "supported": [t.value for t in PayloadType],
                    }
                ],
            )
        return kind


def _parsed(answer: EndpointAnswer) -> Any:
    """JSON answers parsed; text answers as text; anything else base64 (never lost)."""
    try:
        text = answer.body.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(answer.body).decode("ascii")
    if media_type(answer.content_type) == PayloadType.JSON or media_type(answer.content_type).endswith(
        "+json"
    ):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text
