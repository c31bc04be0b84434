"""AWS adapters of deployments: SageMaker hosting, SageMaker Runtime, Application Auto Scaling,
CloudWatch alarms and Step Functions. Each wraps one injected boto3 client; no rules live here."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from cirrus_core.arns import execution_arn_of

if TYPE_CHECKING:
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_stepfunctions import SFNClient

    from cirrus_core.serving.deployment_models import AutoscalingConfig, DeploymentConfig

VARIANT_NAME = "AllTraffic"
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
# Blue/green: all traffic at once after the new fleet is up, then a bake period watched by the
# rollback alarms before the old fleet goes.
MAX_UPDATE_SECONDS = 3600
ALARM_METRICS = ("Invocation5XXErrors", "ModelError")


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", ""))


def _not_found(error: ClientError) -> bool:
    """SageMaker says ValidationException "Could not find ..."; Auto Scaling ObjectNotFoundException."""
    message = _message(error)
    return _code(error) == "ObjectNotFoundException" or (
        _code(error) in {"ValidationException", "ResourceNotFound"}
        and ("not find" in message or "No scalable target" in message)
    )


@dataclass(frozen=True)
class EndpointState:
    """An endpoint as DescribeEndpoint reports it."""

    name: str
    status: str
    config_name: str
    failure_reason: str | None = None
    pending_config_name: str | None = None  # the config a running update moves to


@dataclass(frozen=True)
class Answer:
    """What an endpoint answered one request (`status` is the HTTP status; `error` SageMaker's code)."""

    status: int
    body: str
    error: str | None = None


class Endpoints:
    """SageMaker endpoint configs and endpoints."""

    def __init__(self, client: SageMakerClient) -> None:
        self._client = client

    def describe(self, name: str) -> EndpointState | None:
        try:
            found = self._client.describe_endpoint(EndpointName=name)
        except ClientError as error:
            if _not_found(error):
                return None
            raise
        return EndpointState(
            name=name,
            status=str(found["EndpointStatus"]),
            config_name=str(found["EndpointConfigName"]),
            failure_reason=found.get("FailureReason"),
            pending_config_name=found.get("PendingDeploymentSummary", {}).get("EndpointConfigName"),
        )

    def create_config(
        self,
        name: str,
        model_name: str,
        config: DeploymentConfig,
        capture_uri: str,
        tags: dict[str, str],
    ) -> None:
        """Create the endpoint config (one variant); an existing config of that name is kept."""
        variant: dict[str, Any] = {
            "VariantName": VARIANT_NAME,
            "ModelName": model_name,
            "InitialVariantWeight": 1.0,
        }
        request: dict[str, Any] = {"EndpointConfigName": name, "Tags": _tags(tags)}
        if config.serverless is not None:
            variant["ServerlessConfig"] = {
                "MemorySizeInMB": config.serverless.memory_size_mb,
                "MaxConcurrency": config.serverless.max_concurrency,
            }
        else:
            variant["InstanceType"] = config.instance_type
            variant["InitialInstanceCount"] = config.initial_instance_count
            # SageMaker refuses data capture on serverless variants.
            request["DataCaptureConfig"] = {
                "EnableCapture": config.data_capture_percentage > 0,
                "InitialSamplingPercentage": config.data_capture_percentage,
                "DestinationS3Uri": capture_uri,
                "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                "CaptureContentTypeHeader": {
                    "CsvContentTypes": ["text/csv"],
                    "JsonContentTypes": ["application/json"],
                },
            }
        request["ProductionVariants"] = [variant]
        try:
            self._client.create_endpoint_config(**request)
        except ClientError as error:
            if "already exist" not in _message(error):
                raise

    def create(self, name: str, config_name: str, tags: dict[str, str]) -> None:
        self._client.create_endpoint(EndpointName=name, EndpointConfigName=config_name, Tags=_tags(tags))  # type: ignore[arg-type]

    def update(self, name: str, config_name: str, *, alarms: list[str] | None, bake_seconds: int) -> None:
        """Blue/green update; with alarms, guarded by them (AWS refuses guardrails for serverless)."""
        request: dict[str, Any] = {"EndpointName": name, "EndpointConfigName": config_name}
        if alarms is not None:
            request["DeploymentConfig"] = {
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {
                        "Type": "ALL_AT_ONCE",
                        "WaitIntervalInSeconds": bake_seconds,
                    },
                    "TerminationWaitInSeconds": 0,
                    "MaximumExecutionTimeoutInSeconds": MAX_UPDATE_SECONDS,
                },
                "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": alarm} for alarm in alarms]},
            }
        self._client.update_endpoint(**request)

    def delete(self, name: str) -> bool:
        """Delete the endpoint; False when there was none."""
        try:
            self._client.delete_endpoint(EndpointName=name)
        except ClientError as error:
            if _not_found(error):
                return False
            raise
        return True


class EndpointRuntime:
    """InvokeEndpoint through SageMaker Runtime (a `sagemaker-runtime` client; no stubs exist for it)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def invoke(self, endpoint_name: str, content_type: str, body: str) -> Answer:
        try:
            response = self._client.invoke_endpoint(
                EndpointName=endpoint_name, ContentType=content_type, Accept="*/*", Body=body.encode("utf-8")
            )
        except ClientError as error:
            # A model's own error comes as ModelError with the container's status as OriginalStatusCode.
            original: Any = error.response.get("OriginalStatusCode")
            status = int(original or error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 500)
            return Answer(status=status, body=_message(error)[:1024], error=_code(error))
        payload = response["Body"].read()
        return Answer(status=200, body=payload[:1024].decode("utf-8", errors="replace"))


class Autoscaling:
    """Application Auto Scaling of an endpoint's variant (no stubs are installed for its client)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    @staticmethod
    def resource_id(endpoint_name: str) -> str:
        return f"endpoint/{endpoint_name}/variant/{VARIANT_NAME}"

    def register(self, endpoint_name: str, config: AutoscalingConfig) -> None:
        """Register the variant (min/max) and its target-tracking policy; both are upserts."""
        resource = self.resource_id(endpoint_name)
        self._client.register_scalable_target(
            ServiceNamespace="sagemaker",
            ResourceId=resource,
            ScalableDimension=SCALABLE_DIMENSION,
            MinCapacity=config.min_capacity,
            MaxCapacity=config.max_capacity,
        )
        self._client.put_scaling_policy(
            PolicyName=f"{endpoint_name}-invocations",
            ServiceNamespace="sagemaker",
            ResourceId=resource,
            ScalableDimension=SCALABLE_DIMENSION,
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": config.target_invocations_per_instance,
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
                },
                "ScaleInCooldown": 300,
                "ScaleOutCooldown": 60,
            },
        )

    def is_registered(self, endpoint_name: str) -> bool:
        response = self._client.describe_scalable_targets(
            ServiceNamespace="sagemaker",
            ResourceIds=[self.resource_id(endpoint_name)],
            ScalableDimension=SCALABLE_DIMENSION,
        )
        return bool(response.get("ScalableTargets"))

    def deregister(self, endpoint_name: str) -> bool:
        """Deregister the variant (its policies go with it); False when it was not registered."""
        try:
            self._client.deregister_scalable_target(
                ServiceNamespace="sagemaker",
                ResourceId=self.resource_id(endpoint_name),
                ScalableDimension=SCALABLE_DIMENSION,
            )
        except ClientError as error:
            if _not_found(error):
                return False
            raise
        return True


class EndpointAlarms:
    """The CloudWatch alarms that roll a blue/green update back (no stubs are installed for its client)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    @staticmethod
    def names(endpoint_name: str) -> list[str]:
        return [f"{endpoint_name}-{metric}" for metric in ALARM_METRICS]

    def ensure(self, endpoint_name: str) -> list[str]:
        """Create (or update) the endpoint's alarms; their names."""
        for metric, name in zip(ALARM_METRICS, self.names(endpoint_name), strict=True):
            self._client.put_metric_alarm(
                AlarmName=name,
                AlarmDescription=f"Cirrus: {metric} on {endpoint_name} rolls its blue/green updates back.",
                Namespace="AWS/SageMaker",
                MetricName=metric,
                Dimensions=[
                    {"Name": "EndpointName", "Value": endpoint_name},
                    {"Name": "VariantName", "Value": VARIANT_NAME},
                ],
                Statistic="Sum",
                Period=60,
                EvaluationPeriods=1,
                Threshold=1.0,
                ComparisonOperator="GreaterThanOrEqualToThreshold",
                TreatMissingData="notBreaching",
            )
        return self.names(endpoint_name)

    def delete(self, endpoint_name: str) -> None:
        self._client.delete_alarms(AlarmNames=self.names(endpoint_name))


class DeploymentExecutions:
    """Starts the deployment state machine's executions, named by their deployment id."""

    def __init__(self, client: SFNClient, state_machine_arn: str) -> None:
        self._client = client
        self._arn = state_machine_arn

    def execution_arn(self, deployment_id: str) -> str:
        return execution_arn_of(self._arn, deployment_id)

    def start(self, deployment_id: str, execution_input: dict[str, Any]) -> str:
        response = self._client.start_execution(
            stateMachineArn=self._arn,
            name=deployment_id,
            input=json.dumps(execution_input, separators=(",", ":")),
        )
        return str(response["executionArn"])


def _tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]
