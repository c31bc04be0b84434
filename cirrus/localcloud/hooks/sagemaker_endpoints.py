"""Hook: `sagemaker-runtime:InvokeEndpoint` runs the model's own inference script.

Stock moto 5.2.5 answers every InvokeEndpoint with canned data (`b"body"`), even for an endpoint
that does not exist. This hook replaces `moto.sagemakerruntime.responses.SageMakerRuntimeResponse
.invoke_endpoint` (moto 5.2.5) and resolves the request as SageMaker hosting does:

endpoint -> its endpoint config -> a production variant (the `TargetVariant` header, else chosen by
weight) -> the variant's model -> `ModelDataUrl` and the `SAGEMAKER_PROGRAM` /
`SAGEMAKER_SUBMIT_DIRECTORY` environment, loaded once per model and artifact ETag by
`cirrus.localcloud.sagemaker_inference`. Real-time and serverless variants are served alike.

Errors are AWS's: a missing endpoint is `ValidationError` (400) "Endpoint <name> of account <id> not
found.", an endpoint that cannot serve (Creating, OutOfService, Failed, Deleting; an Updating one
still serves, as in AWS) is refused with `ValidationError`, and a script that fails (to load or to
answer) is `ModelError` (424) carrying the container's status and message.

Resource metrics: after each answered request, the endpoint's variant publishes `CPUUtilization` and
`MemoryUtilization` (percent, psutil's `cpu_percent` and `memory_percent` of the process that runs the
model: the emulator's own, since models are served in-process) to the emulator's CloudWatch in the
namespace `/aws/sagemaker/Endpoints` with dimensions EndpointName and VariantName, at most once per
`RESOURCE_METRICS_PERIOD` seconds per variant, as SageMaker publishes them once a minute. The
platform's collector then reads them with the same GetMetricData calls as on AWS.

With the endpoint config's `DataCaptureConfig` enabled, sampled requests are written to
`<DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/<mm>-<ss>-<ms>-<uuid>.jsonl` in SageMaker's
capture format (one JSON line per request, written synchronously, one file per request).

moto 5.2.5 internals touched: `SageMakerRuntimeResponse.invoke_endpoint` (replaced),
`SageMakerRuntimeResponse.use_raw_body` (set, so binary bodies reach us undecoded),
`moto.sagemaker.models.sagemaker_backends` (endpoints, endpoint configs and models are read from
`SageMakerModelBackend.endpoints`, `.endpoint_configs` and `._models`), and
`moto.s3.models.s3_backends` (`head_object`, for the artifact's ETag on every request without an
HTTP round trip). moto reports endpoints InService as soon as they are created; the
sagemaker_hosting hook gives them a Creating phase, loading their models through `running_runtime()`
into this hook's model cache, so the first request finds them loaded.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from moto.s3.models import s3_backends
from moto.sagemaker.models import sagemaker_backends
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

from cirrus.localcloud.clients import new_client
from cirrus.localcloud.hooks._patching import combine, patch_attribute
from cirrus.localcloud.sagemaker_common import S3Uri, utc_now
from cirrus.localcloud.sagemaker_inference import (
    ContainerDefinition,
    InferenceError,
    InferenceModel,
    InferenceResult,
    ModelCache,
    load_inference_model,
    media_type,
)

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from cirrus.localcloud.hooks import HookContext, Undo

# An endpoint serves in these statuses: during an update it keeps serving its current config.
SERVING_STATUSES = frozenset(
    {"InService", "Updating", "SystemUpdating", "RollingBack", "UpdateRollbackFailed"}
)
CAPTURE_EVENT_VERSION = "0"
RESOURCE_NAMESPACE = "/aws/sagemaker/Endpoints"
RESOURCE_METRICS_PERIOD = 60.0


class RuntimeApiError(Exception):
    """An InvokeEndpoint error as SageMaker Runtime sends it (rest-json: `x-amzn-ErrorType` + body)."""

    def __init__(self, status: int, code: str, message: str, **fields: object) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields

    def http_response(self) -> tuple[int, dict[str, Any], bytes]:
        """The (status, headers, body) moto sends; moto reads the status from `headers["status"]`."""
        body = {"message": self.message, **self.fields}
        headers = {"status": self.status, "x-amzn-ErrorType": self.code, "Content-Type": "application/json"}
        return self.status, headers, json.dumps(body).encode("utf-8")


@dataclass(frozen=True)
class Invocation:
    """One InvokeEndpoint request."""

    account_id: str
    region: str
    endpoint_name: str
    body: bytes
    content_type: str | None = None
    accept: str | None = None
    target_variant: str | None = None
    inference_id: str | None = None


@dataclass(frozen=True)
class InvocationResult:
    """What InvokeEndpoint returns: the model's answer and the variant that gave it."""

    body: bytes
    content_type: str
    variant_name: str


@dataclass(frozen=True)
class _Route:
    """Where an invocation goes: the variant and the model serving it."""

    variant_name: str
    model_name: str
    container: ContainerDefinition
    capture: Mapping[str, Any]


class ResourceMetrics:
    """Publishes the model-serving process's CPU and memory per endpoint variant, throttled per variant."""

    def __init__(self, cloudwatch: Any, period: float = RESOURCE_METRICS_PERIOD) -> None:
        import psutil  # type: ignore[import-untyped]  # no stubs are installed

        self._cloudwatch = cloudwatch
        self._period = period
        self._process = psutil.Process()
        self._process.cpu_percent(interval=None)  # the first reading only starts the measurement
        self._last: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def invoked(self, endpoint_name: str, variant_name: str) -> None:
        """Publish now unless this variant published within the period; failures are not the caller's."""
        now = time.monotonic()
        with self._lock:
            last = self._last.get((endpoint_name, variant_name))
            if last is not None and now - last < self._period:
                return
            self._last[(endpoint_name, variant_name)] = now
            cpu = float(self._process.cpu_percent(interval=None))
            memory = float(self._process.memory_percent())
        dimensions = [
            {"Name": "EndpointName", "Value": endpoint_name},
            {"Name": "VariantName", "Value": variant_name},
        ]
        at = utc_now()
        try:
            self._cloudwatch.put_metric_data(
                Namespace=RESOURCE_NAMESPACE,
                MetricData=[
                    {
                        "MetricName": "CPUUtilization",
                        "Dimensions": dimensions,
                        "Timestamp": at,
                        "Value": cpu,
                        "Unit": "Percent",
                    },
                    {
                        "MetricName": "MemoryUtilization",
                        "Dimensions": dimensions,
                        "Timestamp": at,
                        "Value": memory,
                        "Unit": "Percent",
                    },
                ],
            )
        except Exception:  # a lost sample must not fail the invocation (SageMaker's would not either)
            with self._lock:
                self._last.pop((endpoint_name, variant_name), None)


class EndpointRuntime:
    """Serves InvokeEndpoint for every endpoint in moto's SageMaker backends."""

    def __init__(self, context: HookContext) -> None:
        self._s3 = new_client("s3", context.endpoint_url, context.region)
        self.resources = ResourceMetrics(new_client("cloudwatch", context.endpoint_url, context.region))
        self._models = ModelCache()
        self._models_dir = context.work_dir / "sagemaker" / "endpoints"

    def close(self) -> None:
        """Drop every loaded model."""
        self._models.clear()

    # -- moto's request in, moto's response out ---------------------------------------------------

    def handle(self, response: Any) -> tuple[int, dict[str, Any], bytes]:
        """Answer moto's InvokeEndpoint request object (`SageMakerRuntimeResponse`, moto 5.2.5)."""
        headers = response.headers
        raw = response.raw_body
        invocation = Invocation(
            account_id=response.current_account,
            region=response.region,
            # The URL is /endpoints/<name>/invocations.
            endpoint_name=unquote(response.path.split("/")[2]),
            body=raw.encode("utf-8") if isinstance(raw, str) else bytes(raw or b""),
            content_type=headers.get("Content-Type"),
            accept=headers.get("Accept"),
            target_variant=headers.get("X-Amzn-SageMaker-Target-Variant"),
            inference_id=headers.get("X-Amzn-SageMaker-Inference-Id"),
        )
        try:
            result = self.invoke(invocation)
        except RuntimeApiError as error:
            return error.http_response()
        reply_headers = {
            "status": 200,
            "Content-Type": result.content_type,
            "x-Amzn-Invoked-Production-Variant": result.variant_name,
        }
        return 200, reply_headers, result.body

    # -- the service itself -----------------------------------------------------------------------

    def invoke(self, invocation: Invocation) -> InvocationResult:
        """Run one request against the endpoint's model; RuntimeApiError for what AWS refuses."""
        backend = sagemaker_backends[invocation.account_id][invocation.region]
        route = self._route(backend, invocation)
        model = self._model(backend, invocation, route)
        inference_time = utc_now()
        try:
            answer = model.invoke(invocation.body, invocation.content_type, invocation.accept)
        except InferenceError as error:
            raise self._model_error(invocation, route, error) from error
        self._capture(invocation, route, answer, inference_time)
        self.resources.invoked(invocation.endpoint_name, route.variant_name)
        return InvocationResult(answer.body, answer.content_type, route.variant_name)

    def _route(self, backend: Any, invocation: Invocation) -> _Route:
        name = invocation.endpoint_name
        endpoint = backend.endpoints.get(name)
        if endpoint is None:
            raise RuntimeApiError(
                400, "ValidationError", f"Endpoint {name} of account {invocation.account_id} not found."
            )
        if endpoint.endpoint_status not in SERVING_STATUSES:
            raise RuntimeApiError(
                400,
                "ValidationError",
                f"Endpoint {name} of account {invocation.account_id} is {endpoint.endpoint_status} "
                "and cannot serve requests until it is InService.",
            )
        config = backend.endpoint_configs.get(endpoint.endpoint_config_name)
        if config is None:
            raise RuntimeApiError(
                400, "ValidationError", f"Endpoint configuration {endpoint.endpoint_config_name} not found."
            )
        variants = {variant["VariantName"]: variant for variant in config.production_variants}
        if invocation.target_variant is not None:
            if invocation.target_variant not in variants:
                raise RuntimeApiError(
                    400,
                    "ValidationError",
                    f"Variant {invocation.target_variant} not found for endpoint {name}.",
                )
            variant_name = invocation.target_variant
        else:
            variant_name = _pick_by_weight(_weights(endpoint.production_variants, variants))
        model_name = variants[variant_name]["ModelName"]
        model = backend._models.get(model_name)
        if model is None:
            raise RuntimeApiError(400, "ValidationError", f"Model {model_name} of endpoint {name} not found.")
        container = ContainerDefinition.of_model(model.primary_container, model.containers)
        return _Route(variant_name, model_name, container, config.data_capture_config or {})

    def _model(self, backend: Any, invocation: Invocation, route: _Route) -> InferenceModel:
        try:
            return self.load(backend, route.model_name, route.container)
        except InferenceError as error:
            raise self._model_error(invocation, route, error) from error

    def load(self, backend: Any, model_name: str, container: ContainerDefinition) -> InferenceModel:
        """The model `model_name` of moto's `backend`, loaded once per artifact version; InferenceError
        when it cannot load. The sagemaker_hosting hook calls it to load an endpoint's models."""
        url = container.model_data_url
        etag = _artifact_etag(backend, url) if url else None
        account_id, region = str(backend.account_id), str(backend.region_name)
        slot = (account_id, region, model_name)
        # The directory is per artifact version, so a reload never overwrites files in use.
        version_dir = uuid.uuid5(uuid.NAMESPACE_URL, f"{url}#{etag}").hex
        target = self._models_dir / account_id / region / model_name / version_dir
        return self._models.get(slot, (url, etag), lambda: load_inference_model(self._s3, container, target))

    def _model_error(self, invocation: Invocation, route: _Route, error: InferenceError) -> RuntimeApiError:
        region, account, name = invocation.region, invocation.account_id, invocation.endpoint_name
        group = f"/aws/sagemaker/Endpoints/{name}"
        kind = "client" if error.status_code < 500 else "server"
        console = f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logEventViewer:group={group}"
        return RuntimeApiError(
            424,
            "ModelError",
            f"Received {kind} error ({error.status_code}) from {route.variant_name} with message "
            f'"{error.message}". See {console} in account {account} for more information.',
            OriginalStatusCode=error.status_code,
            OriginalMessage=error.message,
            LogStreamArn=f"arn:aws:logs:{region}:{account}:log-group:{group}",
        )

    # -- data capture -----------------------------------------------------------------------------

    def _capture(
        self, invocation: Invocation, route: _Route, answer: InferenceResult, inference_time: datetime
    ) -> None:
        config = route.capture
        if not config or not config.get("EnableCapture", True) or "DestinationS3Uri" not in config:
            return
        # secrets, not random: sampling needs no reproducibility, and bandit flags `random`.
        if secrets.randbelow(100) >= int(config.get("InitialSamplingPercentage", 0)):
            return
        modes = {option.get("CaptureMode") for option in config.get("CaptureOptions", [])}
        headers = config.get("CaptureContentTypeHeader") or {}
        capture: dict[str, Any] = {}
        if modes & {"Input", "InputAndOutput"}:
            content_type = invocation.content_type or "application/json"
            capture["endpointInput"] = _captured(content_type, "INPUT", invocation.body, headers)
        if modes & {"Output", "InputAndOutput"}:
            capture["endpointOutput"] = _captured(answer.content_type, "OUTPUT", answer.body, headers)
        metadata = {
            "eventId": str(uuid.uuid4()),
            "inferenceTime": inference_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        if invocation.inference_id:
            metadata["inferenceId"] = invocation.inference_id
        line = {"captureData": capture, "eventMetadata": metadata, "eventVersion": CAPTURE_EVENT_VERSION}
        destination = S3Uri.parse(config["DestinationS3Uri"]).child(
            invocation.endpoint_name,
            route.variant_name,
            inference_time.strftime("%Y/%m/%d/%H"),
            f"{inference_time:%M-%S}-{inference_time.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl",
        )
        body = (json.dumps(line, separators=(",", ":")) + "\n").encode("utf-8")
        kms_key = config.get("KmsKeyId")
        extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key} if kms_key else {}
        self._s3.put_object(Bucket=destination.bucket, Key=destination.key, Body=body, **extra)


def _captured(content_type: str, mode: str, data: bytes, headers: Mapping[str, Any]) -> dict[str, str]:
    """One side of a capture record: CSV and JSON types (as configured) as text, others base64."""
    kind = media_type(content_type)
    encoding = "BASE64"
    if kind in {media_type(value) for value in headers.get("CsvContentTypes", [])}:
        encoding = "CSV"
    elif kind in {media_type(value) for value in headers.get("JsonContentTypes", [])}:
        encoding = "JSON"
    text: str | None = None
    if encoding != "BASE64":
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            encoding = "BASE64"
    if text is None:
        text = base64.b64encode(data).decode("ascii")
    return {"observedContentType": content_type, "mode": mode, "data": text, "encoding": encoding}


def _weights(endpoint_variants: list[dict[str, Any]], config_variants: Mapping[str, Any]) -> dict[str, float]:
    """Each variant's current weight: the endpoint's (moto keeps UpdateEndpointWeightsAndCapacities
    there), else the config's InitialVariantWeight (moto drops a weight of 0 from the endpoint), else 1."""
    current = {variant["VariantName"]: variant.get("CurrentWeight") for variant in endpoint_variants}
    weights = {}
    for name, variant in config_variants.items():
        weight = current.get(name)
        if weight is None:
            weight = variant.get("InitialVariantWeight", 1.0)
        weights[name] = float(weight)
    return weights


def _pick_by_weight(weights: Mapping[str, float]) -> str:
    """A variant chosen with probability proportional to its weight (uniformly if all are 0)."""
    names = list(weights)
    total = sum(weights.values())
    if total <= 0:
        return names[secrets.randbelow(len(names))]
    point = secrets.SystemRandom().uniform(0, total)
    for name in names:
        point -= weights[name]
        if point <= 0:
            return name
    return names[-1]


def _artifact_etag(backend: Any, url: str) -> str | None:
    """The ETag of the model artifact, read from moto's S3 backend in-process (None if absent)."""
    try:
        location = S3Uri.parse(url)
        key = s3_backends[backend.account_id][backend.partition].head_object(location.bucket, location.key)
    except Exception:  # a missing bucket or a bad URL: the load reports it properly
        return None
    return None if key is None else str(key.etag)


_running: list[EndpointRuntime] = []  # the installed hook's runtime (one emulator per process)


def running_runtime() -> EndpointRuntime | None:
    """The runtime of the installed hook, None when it is not installed."""
    return _running[-1] if _running else None


def install(context: HookContext) -> Undo:
    """Make InvokeEndpoint run real inference; the returned callable restores moto and drops models."""
    runtime = EndpointRuntime(context)
    _running.append(runtime)

    def close() -> None:
        _running.remove(runtime)
        runtime.close()

    def invoke_endpoint(response: Any) -> tuple[int, dict[str, Any], bytes]:
        """InvokeEndpoint, answered by the model's own inference script."""
        return runtime.handle(response)

    return combine(
        [
            patch_attribute(SageMakerRuntimeResponse, "invoke_endpoint", invoke_endpoint),
            # moto decodes request bodies as UTF-8 unless told not to; model inputs may be binary.
            patch_attribute(SageMakerRuntimeResponse, "use_raw_body", True),
        ],
        then=close,
    )
