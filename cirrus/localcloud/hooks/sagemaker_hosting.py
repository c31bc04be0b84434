"""Hook: SageMaker hosting has a lifecycle: endpoints are Creating before InService, and update blue/green.

Stock moto 5.2.5 reports an endpoint InService the moment CreateEndpoint returns, loads nothing, lets
a second CreateEndpoint silently replace an endpoint of the same name, and has no UpdateEndpoint at
all. This hook deploys endpoints as SageMaker hosting does, on a background thread per deployment:

- **CreateEndpoint** returns at once with the endpoint `Creating`; each production variant's model is
  then loaded (artifact fetched, inference script imported, `model_fn` run) through the
  sagemaker_endpoints hook's runtime, so its model cache is warm for the first InvokeEndpoint. The
  endpoint becomes `InService`, or `Failed` with AWS's `FailureReason` ("The primary container for
  production variant <variant> did not pass the ping health check. ...", here followed by the
  script's error). A name already in use is refused ("Cannot create already existing endpoint").
- **UpdateEndpoint** (blue/green): the endpoint is `Updating` at once and keeps serving its current
  config (the runtime serves Updating endpoints from `endpoint_config_name`, which is only switched
  once the new fleet is up); the new config's models load in the background; on success the
  endpoint switches to the new config (EndpointConfigName, ProductionVariants, DataCaptureConfig)
  and is `InService` again; on failure it stays on its old config, `InService`, with
  `FailureReason`. `RetainAllVariantProperties` keeps the current weights, instance counts and data
  capture of the variants by name (less `ExcludeRetainedVariantProperties`). `DeploymentConfig` is
  validated (shape, enums, ranges) and shown as `LastDeploymentConfig` (kept by
  `RetainDeploymentConfig`); its `AutoRollbackConfiguration` alarms are read once the new fleet is
  up, and one in ALARM rolls the update back. DescribeEndpoint shows `PendingDeploymentSummary`
  while an update runs. Only InService endpoints can be updated ("Cannot update in-progress
  endpoint"); a Failed one can only be deleted, as in AWS.
- **UpdateEndpointWeightsAndCapacities** is refused unless the endpoint is InService, like
  UpdateEndpoint, and a variant's weight or instance count left out of the request keeps its value
  (moto 5.2.5 sets it to null, dropping CurrentWeight from DescribeEndpoint).
- **DescribeEndpoint** variants read as AWS reports them: `CurrentWeight`/`DesiredWeight` (1.0 by
  default, 0.0 kept), `CurrentInstanceCount`/`DesiredInstanceCount` for instance variants,
  `CurrentServerlessConfig`/`DesiredServerlessConfig` for serverless ones, and `DataCaptureConfig`
  as the summary AWS gives (`CaptureStatus`, `CurrentSamplingPercentage`).

Known differences from AWS: traffic shifting is all at once whatever the routing (canary and linear
steps, `WaitIntervalInSeconds`, `TerminationWaitInSeconds` and the execution timeouts are validated
and stored, not waited for), rolling updates behave as blue/green, alarms are read once rather than
watched through a baking period, and DeleteEndpoint is accepted in any status (moto deletes at once).
The runtime hook reads the endpoint config and model at every request, so deleting the config or
model an endpoint currently serves breaks its invocations (AWS keeps serving; its docs say not to);
a retained DataCaptureConfig shows in DescribeEndpoint, while capture follows the served config.
Autoscaling (RegisterScalableTarget, PutScalingPolicy) and CloudWatch alarms on AWS/SageMaker
metrics are moto's own, unhooked: they are stored as given (the endpoint is not checked) and nothing
scales or publishes metrics.

moto 5.2.5 internals touched:
- `moto.sagemaker.responses.SageMakerResponse.create_endpoint` (wrapped) and `.update_endpoint`
  (added: moto lacks the API); both read the request with `_get_param` and `sagemaker_backend`;
- `moto.sagemaker.models.SageMakerModelBackend.describe_endpoint` (wrapped, to add
  LastDeploymentConfig and PendingDeploymentSummary) and `.update_endpoint_weights_and_capacities`
  (wrapped: the status check, and the values it would null restored);
- moto's `FakeEndpoint` objects in `SageMakerModelBackend.endpoints`: `endpoint_status`,
  `failure_reason`, `endpoint_config_name`, `production_variants`, `data_capture_config` and
  `last_modified_time` are written (moto's Describe/List and the runtime hook read them; nothing
  else is added to them, since moto builds Describe output from every attribute), `arn` is read;
- `SageMakerModelBackend.endpoint_configs` (`production_variants`, `data_capture_config`) and
  `._models` (`primary_container`, `containers`) are read;
- `moto.cloudwatch.models.cloudwatch_backends[...].alarms` (`state_value`) is read for
  AutoRollbackConfiguration.
"""

from __future__ import annotations

import copy
import logging
import threading
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from moto.cloudwatch.models import cloudwatch_backends
from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse

from cirrus.localcloud.clients import new_client
from cirrus.localcloud.hooks import sagemaker_endpoints
from cirrus.localcloud.hooks._patching import combine, patch_attribute
from cirrus.localcloud.sagemaker_inference import (
    ContainerDefinition,
    InferenceError,
    load_inference_model,
    unload,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from datetime import datetime

    from cirrus.localcloud.hooks import HookContext, Undo

LOG = logging.getLogger(__name__)

# Statuses in which an endpoint is being changed: UpdateEndpoint refuses them as "in-progress".
IN_PROGRESS = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})
VARIANT_PROPERTIES = frozenset({"DesiredInstanceCount", "DesiredWeight", "DataCaptureConfig"})
TRAFFIC_ROUTING_TYPES = frozenset({"ALL_AT_ONCE", "CANARY", "LINEAR"})
CAPACITY_SIZE_TYPES = frozenset({"INSTANCE_COUNT", "CAPACITY_PERCENT"})
# Undo waits this long for deployments still loading a model (their threads are daemons).
SHUTDOWN_WAIT_SECONDS = 10.0


# -- DeploymentConfig -----------------------------------------------------------------------------


def validate_deployment_config(config: Any) -> None:
    """Refuse a DeploymentConfig AWS would refuse (shape, enums, ranges); ValidationError says why."""
    if config is None:
        return
    _check(isinstance(config, dict), "DeploymentConfig must be a structure.")
    unknown = set(config) - {"BlueGreenUpdatePolicy", "RollingUpdatePolicy", "AutoRollbackConfiguration"}
    _check(not unknown, f"Unknown DeploymentConfig members: {', '.join(sorted(unknown))}.")
    blue_green, rolling = config.get("BlueGreenUpdatePolicy"), config.get("RollingUpdatePolicy")
    _check(
        blue_green is None or rolling is None,
        "Only one of BlueGreenUpdatePolicy and RollingUpdatePolicy can be specified in DeploymentConfig.",
    )
    if blue_green is not None:
        _check(isinstance(blue_green, dict), "BlueGreenUpdatePolicy must be a structure.")
        routing = blue_green.get("TrafficRoutingConfiguration")
        _check(
            isinstance(routing, dict),
            "BlueGreenUpdatePolicy.TrafficRoutingConfiguration is required.",
        )
        kind = routing.get("Type")
        _check(
            kind in TRAFFIC_ROUTING_TYPES,
            _enum_message(
                kind,
                "deploymentConfig.blueGreenUpdatePolicy.trafficRoutingConfiguration.type",
                TRAFFIC_ROUTING_TYPES,
            ),
        )
        _check_range(routing, "WaitIntervalInSeconds", 0, 3600, required=True)
        if kind == "CANARY":
            _check("CanarySize" in routing, "CanarySize must be specified for a CANARY traffic routing.")
        if kind == "LINEAR":
            _check(
                "LinearStepSize" in routing, "LinearStepSize must be specified for a LINEAR traffic routing."
            )
        for size in ("CanarySize", "LinearStepSize"):
            if size in routing:
                _check_capacity(routing[size], size)
        _check_range(blue_green, "TerminationWaitInSeconds", 0, 3600)
        _check_range(blue_green, "MaximumExecutionTimeoutInSeconds", 600, 14400)
    if rolling is not None:
        _check(isinstance(rolling, dict), "RollingUpdatePolicy must be a structure.")
        _check("MaximumBatchSize" in rolling, "RollingUpdatePolicy.MaximumBatchSize is required.")
        _check_capacity(rolling["MaximumBatchSize"], "MaximumBatchSize")
        _check_range(rolling, "WaitIntervalInSeconds", 0, 3600, required=True)
        _check_range(rolling, "MaximumExecutionTimeoutInSeconds", 600, 28800)
        if "RollbackMaximumBatchSize" in rolling:
            _check_capacity(rolling["RollbackMaximumBatchSize"], "RollbackMaximumBatchSize")
    rollback = config.get("AutoRollbackConfiguration")
    if rollback is not None:
        _check(isinstance(rollback, dict), "AutoRollbackConfiguration must be a structure.")
        alarms = rollback.get("Alarms", [])
        _check(
            isinstance(alarms, list) and 1 <= len(alarms) <= 10,
            "AutoRollbackConfiguration.Alarms must list 1 to 10 alarms.",
        )
        for alarm in alarms:
            _check(
                isinstance(alarm, dict) and bool(alarm.get("AlarmName")),
                "Every AutoRollbackConfiguration alarm needs an AlarmName.",
            )


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValidationError(message=message)


def _enum_message(value: Any, member: str, allowed: frozenset[str]) -> str:
    return (
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: "
        f"Member must satisfy enum value set: [{', '.join(sorted(allowed))}]"
    )


def _check_range(
    owner: Mapping[str, Any], member: str, low: int, high: int, *, required: bool = False
) -> None:
    if member not in owner:
        _check(not required, f"{member} is required.")
        return
    value = owner[member]
    _check(
        isinstance(value, int) and low <= value <= high,
        f"Value '{value}' at '{member}' failed to satisfy constraint: Member must have value between "
        f"{low} and {high}.",
    )


def _check_capacity(size: Any, member: str) -> None:
    _check(isinstance(size, dict), f"{member} must be a structure with Type and Value.")
    _check(
        size.get("Type") in CAPACITY_SIZE_TYPES,
        _enum_message(size.get("Type"), f"{member}.type", CAPACITY_SIZE_TYPES),
    )
    value = size.get("Value")
    _check(isinstance(value, int) and value >= 1, f"{member}.Value must be at least 1.")
    if size["Type"] == "CAPACITY_PERCENT":
        _check(value <= 100, f"{member}.Value must be at most 100 for CAPACITY_PERCENT.")


# -- what an endpoint reports about its variants --------------------------------------------------


def variant_summaries(variants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """DescribeEndpoint's ProductionVariants for a config's variants, as AWS reports a fresh fleet."""
    summaries = []
    for variant in variants:
        weight = float(variant.get("InitialVariantWeight", 1.0))
        summary: dict[str, Any] = {
            "VariantName": variant["VariantName"],
            "CurrentWeight": weight,
            "DesiredWeight": weight,
        }
        serverless = variant.get("ServerlessConfig")
        if serverless:
            summary["CurrentServerlessConfig"] = dict(serverless)
            summary["DesiredServerlessConfig"] = dict(serverless)
        else:
            count = int(variant.get("InitialInstanceCount", 1))
            summary["CurrentInstanceCount"] = count
            summary["DesiredInstanceCount"] = count
        summaries.append(summary)
    return summaries


def capture_summary(capture: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """DescribeEndpoint's DataCaptureConfig (a DataCaptureConfigSummary) for a config's capture."""
    if not capture:
        return None
    enabled = bool(capture.get("EnableCapture", True))
    summary: dict[str, Any] = {
        "EnableCapture": enabled,
        "CaptureStatus": "Started" if enabled else "Stopped",
        "CurrentSamplingPercentage": int(capture.get("InitialSamplingPercentage", 0)),
        "DestinationS3Uri": capture.get("DestinationS3Uri"),
    }
    if capture.get("KmsKeyId"):
        summary["KmsKeyId"] = capture["KmsKeyId"]
    return summary


def _retained(
    current: list[dict[str, Any]], new: list[dict[str, Any]], excluded: frozenset[str]
) -> list[dict[str, Any]]:
    """`new` variant summaries keeping the current weights and instance counts of same-named variants."""
    by_name = {variant["VariantName"]: variant for variant in current}
    # (the property ExcludeRetainedVariantProperties names, the current and desired members it covers)
    properties = (
        ("DesiredWeight", "CurrentWeight", "DesiredWeight"),
        ("DesiredInstanceCount", "CurrentInstanceCount", "DesiredInstanceCount"),
    )
    out = []
    for summary in new:
        old = by_name.get(summary["VariantName"], {})
        summary = dict(summary)
        for prop, current_member, desired_member in properties:
            # Only what both fleets have: a serverless variant has no instance count to keep.
            if prop in excluded or current_member not in summary or old.get(current_member) is None:
                continue
            summary[current_member] = old[current_member]
            summary[desired_member] = old.get(desired_member) or old[current_member]
        out.append(summary)
    return out


# -- deployments ------------------------------------------------------------------------------------


@dataclass
class _Deployment:
    """One deployment of an endpoint: its creation or an update, loading a config's models."""

    kind: str  # "create" or "update"
    endpoint: Any  # moto's FakeEndpoint
    backend: Any  # moto's SageMakerModelBackend
    config_name: str
    variants: list[dict[str, Any]]  # the config's production variants
    summaries: list[dict[str, Any]]  # the endpoint's ProductionVariants once deployed
    capture: dict[str, Any] | None  # the endpoint's DataCaptureConfig once deployed
    alarms: tuple[str, ...] = ()
    start_time: datetime = field(default_factory=utcnow)

    def pending_summary(self) -> dict[str, Any]:
        """DescribeEndpoint's PendingDeploymentSummary for this (update) deployment."""
        by_name = {variant["VariantName"]: variant for variant in self.variants}
        pending = []
        for summary in self.summaries:
            row = dict(summary)
            variant = by_name[summary["VariantName"]]
            if variant.get("InstanceType"):
                row["InstanceType"] = variant["InstanceType"]
            row["VariantStatus"] = [{"Status": "Creating", "StartTime": self.start_time}]
            pending.append(row)
        return {
            "EndpointConfigName": self.config_name,
            "ProductionVariants": pending,
            "StartTime": self.start_time,
        }


@dataclass
class _Record:
    """What this hook knows of one moto endpoint beyond moto's own attributes."""

    endpoint: Any
    last_deployment_config: dict[str, Any] | None = None
    pending: _Deployment | None = None


class SageMakerHosting:
    """Deploys endpoints: loads their models on background threads and moves their status."""

    def __init__(self, context: HookContext) -> None:
        self._s3 = new_client("s3", context.endpoint_url, context.region)
        self._scratch = context.work_dir / "sagemaker" / "hosting"
        self._lock = threading.Lock()
        self._records: dict[tuple[str, str, str], _Record] = {}
        self._threads: list[threading.Thread] = []
        self._closed = False

    # -- the API ----------------------------------------------------------------------------------

    def created(self, backend: Any, endpoint: Any, deployment_config: dict[str, Any] | None) -> None:
        """moto has just stored `endpoint` (InService): make it Creating and deploy its config."""
        config = backend.endpoint_configs[endpoint.endpoint_config_name]
        variants = list(config.production_variants)
        deployment = _Deployment(
            "create",
            endpoint,
            backend,
            endpoint.endpoint_config_name,
            variants,
            variant_summaries(variants),
            capture_summary(config.data_capture_config),
        )
        with self._lock:
            endpoint.endpoint_status = "Creating"
            endpoint.failure_reason = None
            endpoint.production_variants = deployment.summaries
            endpoint.data_capture_config = deployment.capture
            self._records[_key(backend, endpoint.endpoint_name)] = _Record(
                endpoint, copy.deepcopy(deployment_config), deployment
            )
        self._start(deployment)

    def update(self, backend: Any, request: Mapping[str, Any]) -> str:
        """UpdateEndpoint: start a blue/green deployment of the request's config; the endpoint's ARN."""
        name = str(request.get("EndpointName"))
        endpoint = backend.endpoints.get(name)
        if endpoint is None:
            raise ValidationError(message=f'Could not find endpoint "{_arn(backend, "endpoint", name)}".')
        backend.describe_endpoint_config(request.get("EndpointConfigName"))  # moto's not-found error
        config = backend.endpoint_configs[request["EndpointConfigName"]]
        deployment_config = request.get("DeploymentConfig")
        validate_deployment_config(deployment_config)
        excluded = frozenset(
            str(item.get("VariantPropertyType"))
            for item in request.get("ExcludeRetainedVariantProperties") or []
        )
        for prop in excluded:
            _check(prop in VARIANT_PROPERTIES, _enum_message(prop, "variantPropertyType", VARIANT_PROPERTIES))
        retain = bool(request.get("RetainAllVariantProperties"))
        variants = list(config.production_variants)
        with self._lock:
            _check_updatable(endpoint)
            summaries = variant_summaries(variants)
            capture = capture_summary(config.data_capture_config)
            if retain:
                summaries = _retained(list(endpoint.production_variants or []), summaries, excluded)
                if "DataCaptureConfig" not in excluded:
                    capture = copy.deepcopy(endpoint.data_capture_config)
            record = self._record_of(backend, endpoint)
            if deployment_config is not None:
                record.last_deployment_config = copy.deepcopy(deployment_config)
            elif not request.get("RetainDeploymentConfig"):
                record.last_deployment_config = None
            active = record.last_deployment_config or {}
            alarms = tuple(
                alarm["AlarmName"] for alarm in active.get("AutoRollbackConfiguration", {}).get("Alarms", [])
            )
            deployment = _Deployment(
                "update", endpoint, backend, config.endpoint_config_name, variants, summaries, capture, alarms
            )
            record.pending = deployment
            endpoint.endpoint_status = "Updating"
            endpoint.failure_reason = None
            endpoint.last_modified_time = utcnow()
        self._start(deployment)
        return str(endpoint.arn)

    def update_weights(
        self,
        backend: Any,
        name: str,
        desired: list[dict[str, Any]],
        original: Callable[[Any, str, list[dict[str, Any]]], str],
    ) -> str:
        """UpdateEndpointWeightsAndCapacities: only on an InService endpoint, and what a variant's
        request leaves out keeps its value (moto 5.2.5 would set it to null)."""
        with self._lock:
            endpoint = backend.endpoints.get(name)
            if endpoint is None:
                return original(backend, name, desired)  # moto's not-found error
            _check_updatable(endpoint)
            before = {variant["VariantName"]: dict(variant) for variant in endpoint.production_variants or []}
            arn = original(backend, name, desired)
            for variant in endpoint.production_variants:
                previous = before.get(variant["VariantName"], {})
                for member in (
                    "CurrentWeight",
                    "DesiredWeight",
                    "CurrentInstanceCount",
                    "DesiredInstanceCount",
                ):
                    if variant.get(member) is not None:
                        continue
                    if previous.get(member) is None:
                        variant.pop(member, None)  # a serverless variant has no instance count
                    else:
                        variant[member] = previous[member]
            endpoint.last_modified_time = utcnow()
            return arn

    def describe(self, backend: Any, name: str, described: dict[str, Any]) -> dict[str, Any]:
        """moto's DescribeEndpoint output with this hook's LastDeploymentConfig and pending update."""
        with self._lock:
            record = self._records.get(_key(backend, name))
            if record is None or backend.endpoints.get(name) is not record.endpoint:
                return described
            out = dict(described)
            if record.last_deployment_config is not None:
                out["LastDeploymentConfig"] = copy.deepcopy(record.last_deployment_config)
            if record.pending is not None and record.pending.kind == "update":
                out["PendingDeploymentSummary"] = record.pending.pending_summary()
            return out

    def shutdown(self) -> None:
        """Stop finishing deployments and wait (briefly) for the threads still loading models."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=SHUTDOWN_WAIT_SECONDS)

    # -- deploying --------------------------------------------------------------------------------

    def _record_of(self, backend: Any, endpoint: Any) -> _Record:
        key = _key(backend, endpoint.endpoint_name)
        record = self._records.get(key)
        if record is None or record.endpoint is not endpoint:
            record = self._records[key] = _Record(endpoint)
        return record

    def _start(self, deployment: _Deployment) -> None:
        thread = threading.Thread(
            target=self._run,
            args=(deployment,),
            name=f"sagemaker-endpoint-{deployment.endpoint.endpoint_name}",
            daemon=True,
        )
        with self._lock:
            self._threads = [running for running in self._threads if running.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _run(self, deployment: _Deployment) -> None:
        try:
            failure = self._load_fleet(deployment)
            if failure is None and deployment.kind == "update":
                failure = _alarm_failure(deployment)
        except Exception as error:  # a bug or moto surprise must not leave the endpoint Creating forever
            LOG.exception("deployment of endpoint %s failed", deployment.endpoint.endpoint_name)
            failure = f"Internal error while deploying the endpoint: {type(error).__name__}: {error}"
        self._finish(deployment, failure)

    def _load_fleet(self, deployment: _Deployment) -> str | None:
        """Load every variant's model; the FailureReason of the first that cannot load, else None."""
        backend = deployment.backend
        for variant in deployment.variants:
            variant_name, model_name = variant["VariantName"], variant["ModelName"]
            model = backend._models.get(model_name)
            if model is None:
                return f'Could not find model "{_arn(backend, "model", model_name)}".'
            container = ContainerDefinition.of_model(model.primary_container, model.containers)
            try:
                self._load(backend, model_name, container)
            except InferenceError as error:
                return (
                    f"The primary container for production variant {variant_name} did not pass the ping "
                    f"health check. Please check CloudWatch logs for this endpoint. {error.message}"
                )
        return None

    def _load(self, backend: Any, model_name: str, container: ContainerDefinition) -> None:
        runtime = sagemaker_endpoints.running_runtime()
        if runtime is not None:
            runtime.load(backend, model_name, container)  # warms the cache InvokeEndpoint uses
            return
        # Without the runtime hook nothing serves the model: loading it only proves that it loads.
        model = load_inference_model(self._s3, container, self._scratch / uuid.uuid4().hex)
        unload(model)

    def _finish(self, deployment: _Deployment, failure: str | None) -> None:
        endpoint, backend = deployment.endpoint, deployment.backend
        with self._lock:
            record = self._records.get(_key(backend, endpoint.endpoint_name))
            if (
                self._closed
                or record is None
                or record.pending is not deployment
                or backend.endpoints.get(endpoint.endpoint_name) is not endpoint  # deleted meanwhile
            ):
                return
            record.pending = None
            if deployment.kind == "create":
                endpoint.failure_reason = failure
                endpoint.endpoint_status = "Failed" if failure else "InService"
            elif failure is not None:
                # Blue/green: the old fleet never stopped serving; the endpoint stays on it.
                endpoint.failure_reason = failure
                endpoint.endpoint_status = "InService"
            else:
                endpoint.production_variants = deployment.summaries
                endpoint.data_capture_config = deployment.capture
                endpoint.endpoint_config_name = deployment.config_name
                endpoint.failure_reason = None
                endpoint.endpoint_status = "InService"
            endpoint.last_modified_time = utcnow()


def _check_updatable(endpoint: Any) -> None:
    """Refuse to change an endpoint that is not InService, as SageMaker does."""
    status = endpoint.endpoint_status
    if status in IN_PROGRESS:
        raise ValidationError(message=f'Cannot update in-progress endpoint "{endpoint.arn}".')
    if status != "InService":  # Failed: "DeleteEndpoint is the only operation that can be performed"
        raise ValidationError(message=f'Cannot update {status.lower()} endpoint "{endpoint.arn}".')


def _alarm_failure(deployment: _Deployment) -> str | None:
    """The FailureReason of an update rolled back because one of its rollback alarms is in ALARM."""
    if not deployment.alarms:
        return None
    backend = deployment.backend
    alarms = cloudwatch_backends[backend.account_id][backend.region_name].alarms
    for name in deployment.alarms:
        alarm = alarms.get(name)
        if alarm is not None and alarm.state_value == "ALARM":
            return (
                f"Deployment rolled back: the auto-rollback alarm {name} is in ALARM state. "
                f"The endpoint serves its previous configuration {deployment.endpoint.endpoint_config_name}."
            )
    return None


def _arn(backend: Any, kind: str, name: str) -> str:
    return f"arn:{backend.partition}:sagemaker:{backend.region_name}:{backend.account_id}:{kind}/{name}"


def _key(backend: Any, name: str) -> tuple[str, str, str]:
    return str(backend.account_id), str(backend.region_name), name


def _add_method(owner: type, name: str, method: Callable[..., Any]) -> Undo:
    """Give a moto class a method for an API it does not serve; refuses if moto has gained one."""
    if hasattr(owner, name):
        raise AttributeError(f"{owner.__name__} already has {name}: moto now serves it, review this hook")
    setattr(owner, name, method)
    return lambda: delattr(owner, name)


def install(context: HookContext) -> Undo:
    """Give endpoints a lifecycle and UpdateEndpoint; the returned callable restores moto."""
    hosting = SageMakerHosting(context)
    original_create = SageMakerResponse.create_endpoint
    original_describe = SageMakerModelBackend.describe_endpoint
    original_weights = SageMakerModelBackend.update_endpoint_weights_and_capacities

    def create_endpoint(response: Any) -> Any:
        """CreateEndpoint: refused for a name in use; otherwise Creating until the models load."""
        backend = response.sagemaker_backend
        name = response._get_param("EndpointName")
        existing = backend.endpoints.get(name)
        if existing is not None:
            raise ValidationError(message=f'Cannot create already existing endpoint "{existing.arn}".')
        deployment_config = response._get_param("DeploymentConfig")
        validate_deployment_config(deployment_config)
        result = original_create(response)
        hosting.created(backend, backend.endpoints[name], deployment_config)
        return result

    def update_endpoint(response: Any) -> ActionResult:
        """UpdateEndpoint, which moto 5.2.5 does not serve: a blue/green deployment."""
        request = {
            member: response._get_param(member)
            for member in (
                "EndpointName",
                "EndpointConfigName",
                "DeploymentConfig",
                "RetainAllVariantProperties",
                "ExcludeRetainedVariantProperties",
                "RetainDeploymentConfig",
            )
        }
        return ActionResult({"EndpointArn": hosting.update(response.sagemaker_backend, request)})

    def describe_endpoint(self: Any, endpoint_name: str) -> dict[str, Any]:
        """DescribeEndpoint with LastDeploymentConfig and PendingDeploymentSummary."""
        return hosting.describe(self, endpoint_name, original_describe(self, endpoint_name))

    def update_endpoint_weights_and_capacities(
        self: Any, endpoint_name: str, desired_weights_and_capacities: list[dict[str, Any]]
    ) -> str:
        """UpdateEndpointWeightsAndCapacities, refused unless InService, keeping what is left out."""
        return hosting.update_weights(self, endpoint_name, desired_weights_and_capacities, original_weights)

    return combine(
        [
            # First: it refuses (before anything is patched) if moto has gained the API.
            _add_method(SageMakerResponse, "update_endpoint", update_endpoint),
            patch_attribute(SageMakerResponse, "create_endpoint", create_endpoint),
            patch_attribute(SageMakerModelBackend, "describe_endpoint", describe_endpoint),
            patch_attribute(
                SageMakerModelBackend,
                "update_endpoint_weights_and_capacities",
                update_endpoint_weights_and_capacities,
            ),
        ],
        then=hosting.shutdown,
    )
