"""SageMaker job requests, complete, as the pipeline's Task states pass them on (docs/pipelines.md).

Processing jobs run `python3 /opt/ml/processing/input/code/<script>` with their config, data, and
(evaluation) model and sourcedir as inputs under `/opt/ml/processing/input/`, and upload
`/opt/ml/processing/output/`. Training jobs run script mode: the entry point and its
`sourcedir.tar.gz` in the `sagemaker_*` hyperparameters, one channel per upstream data step, the
script's own hyperparameters JSON-encoded as the SageMaker Python SDK sends them.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cirrus_core.errors import InvalidRunParameters

if TYPE_CHECKING:
    from collections.abc import Mapping

    from cirrus_core.pipelines.definition import StepResources

JOB_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
MAX_JOB_NAME = 63
_HASH_CHARS = 8

PROCESSING_ROOT = "/opt/ml/processing"
CODE_DIR = f"{PROCESSING_ROOT}/input/code"
CONFIG_DIR = f"{PROCESSING_ROOT}/input/config"
DATA_DIR = f"{PROCESSING_ROOT}/input/data"
MODEL_DIR = f"{PROCESSING_ROOT}/input/model"
SOURCEDIR_DIR = f"{PROCESSING_ROOT}/input/sourcedir"
OUTPUT_DIR = f"{PROCESSING_ROOT}/output"
SOURCE_CHANNEL = "source"
CSV = "text/csv"
# SageMaker's limits on a training job's hyperparameters.
MAX_HYPERPARAMETERS = 100
MAX_HYPERPARAMETER_KEY = 256
MAX_HYPERPARAMETER_VALUE = 2500
CONTAINER_LOG_LEVEL = 20
_FRAMEWORK_TAG = re.compile(r":(?P<version>\d+(?:\.\d+)*(?:-\d+)?)(?:-|$)")


def job_name(pipeline_id: str, run_id: str, step_id: str) -> str:
    """A SageMaker job name unique to the run and step: `<pipeline>-<step>-<run>`, `_` as `-`.

    Anything else outside `[A-Za-z0-9-]` becomes `-` too; a name longer than SageMaker's 63
    characters keeps its start and ends with a hash of the whole, so two names never collide.
    """
    full = f"{pipeline_id}-{step_id}-{run_id}"
    name = re.sub(r"[^A-Za-z0-9-]", "-", full).strip("-") or "job"
    if len(name) <= MAX_JOB_NAME and name == full.replace("_", "-"):
        return name
    digest = hashlib.sha256(full.encode()).hexdigest()[:_HASH_CHARS]
    head = name[: MAX_JOB_NAME - _HASH_CHARS - 1].rstrip("-")
    return f"{head}-{digest}"


def framework_version(image_uri: str) -> str:
    """The framework version an image's tag names: `sagemaker-xgboost:1.7-1` is `1.7-1`."""
    match = _FRAMEWORK_TAG.search(image_uri.rsplit("/", 1)[-1])
    if match:
        return match["version"]
    tag = image_uri.rsplit(":", 1)[-1] if ":" in image_uri.rsplit("/", 1)[-1] else "unknown"
    cleaned = re.sub(r"[^A-Za-z0-9._+-]", "-", tag).lstrip("._+-")[:32]
    return cleaned or "unknown"


def encode_hyperparameter(value: Any) -> str:
    """A hyperparameter value as the SageMaker Python SDK sends it: JSON (`"train.py"`, `0.1`, `true`)."""
    return json.dumps(value)


@dataclass(frozen=True, slots=True)
class DataInput:
    """One upstream data location: a processing input directory or a training channel."""

    name: str
    uri: str


@dataclass(frozen=True)
class ProcessingSpec:
    job_name: str
    image_uri: str
    script: str
    code_uri: str
    config_uri: str
    inputs: list[DataInput]
    output_uri: str
    resources: StepResources
    environment: dict[str, str] = field(default_factory=dict)
    model_uri: str | None = None
    sourcedir_uri: str | None = None


def _s3_input(name: str, uri: str, local_path: str) -> dict[str, Any]:
    return {
        "InputName": name,
        "S3Input": {
            "S3Uri": uri,
            "LocalPath": local_path,
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
            "S3DataDistributionType": "FullyReplicated",
        },
    }


def processing_request(spec: ProcessingSpec) -> dict[str, Any]:
    """CreateProcessingJob's request, every field the pipeline's Task passes filled."""
    inputs = [
        _s3_input("code", spec.code_uri, CODE_DIR),
        _s3_input("config", spec.config_uri, CONFIG_DIR),
    ]
    inputs += [_s3_input(f"data-{item.name}", item.uri, f"{DATA_DIR}/{item.name}") for item in spec.inputs]
    if spec.model_uri is not None:
        inputs.append(_s3_input("model", spec.model_uri, MODEL_DIR))
    if spec.sourcedir_uri is not None:
        inputs.append(_s3_input("sourcedir", spec.sourcedir_uri, SOURCEDIR_DIR))
    resources = spec.resources
    return {
        "ProcessingJobName": spec.job_name,
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": resources.instance_count,
                "InstanceType": resources.instance_type,
                "VolumeSizeInGB": resources.volume_size_gb,
            }
        },
        "AppSpecification": {
            "ImageUri": spec.image_uri,
            "ContainerEntrypoint": ["python3", f"{CODE_DIR}/{spec.script}"],
        },
        "Environment": dict(spec.environment),
        "ProcessingInputs": inputs,
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "output",
                    "S3Output": {
                        "S3Uri": spec.output_uri,
                        "LocalPath": OUTPUT_DIR,
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": resources.max_runtime_seconds},
    }


@dataclass(frozen=True)
class TrainingSpec:
    job_name: str
    image_uri: str
    region: str
    entry_point: str
    sourcedir_uri: str
    hyperparameters: Mapping[str, Any]
    channels: list[DataInput]
    output_uri: str
    checkpoint_uri: str
    resources: StepResources
    metric_definitions: list[dict[str, str]]


def training_hyperparameters(spec: TrainingSpec) -> dict[str, str]:
    """The job's HyperParameters: the script's, then the script-mode ones, each JSON-encoded."""
    framework = {
        "sagemaker_program": spec.entry_point,
        "sagemaker_submit_directory": spec.sourcedir_uri,
        "sagemaker_region": spec.region,
        "sagemaker_container_log_level": CONTAINER_LOG_LEVEL,
    }
    values = {**spec.hyperparameters, **framework}
    if len(values) > MAX_HYPERPARAMETERS:
        raise InvalidRunParameters(
            f"training step {spec.job_name}: {len(values)} hyperparameters, SageMaker takes "
            f"{MAX_HYPERPARAMETERS} (including {len(framework)} of its own).",
            [{"field": "hyperparameters", "count": len(values)}],
        )
    encoded = {name: encode_hyperparameter(value) for name, value in values.items()}
    for name, value in encoded.items():
        if len(name) > MAX_HYPERPARAMETER_KEY or len(value) > MAX_HYPERPARAMETER_VALUE:
            raise InvalidRunParameters(
                f"hyperparameter {name[:64]!r} is longer than SageMaker takes "
                f"({MAX_HYPERPARAMETER_KEY} characters for names, {MAX_HYPERPARAMETER_VALUE} for values).",
                [{"field": "hyperparameters", "name": name[:64]}],
            )
    return encoded


def training_request(spec: TrainingSpec) -> dict[str, Any]:
    """CreateTrainingJob's request, every field the pipeline's Task passes filled."""
    resources = spec.resources
    stopping: dict[str, int] = {"MaxRuntimeInSeconds": resources.max_runtime_seconds}
    if resources.spot:
        stopping["MaxWaitTimeInSeconds"] = resources.max_wait_seconds or resources.max_runtime_seconds
    request: dict[str, Any] = {
        "TrainingJobName": spec.job_name,
        "AlgorithmSpecification": {
            "TrainingImage": spec.image_uri,
            "TrainingInputMode": "File",
            "MetricDefinitions": list(spec.metric_definitions),
            "EnableSageMakerMetricsTimeSeries": True,
        },
        "HyperParameters": training_hyperparameters(spec),
        "InputDataConfig": [
            {
                "ChannelName": channel.name,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": channel.uri,
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "ContentType": CSV,
                "CompressionType": "None",
                "InputMode": "File",
            }
            for channel in spec.channels
        ],
        "OutputDataConfig": {"S3OutputPath": spec.output_uri},
        "ResourceConfig": {
            "InstanceType": resources.instance_type,
            "InstanceCount": resources.instance_count,
            "VolumeSizeInGB": resources.volume_size_gb,
        },
        "StoppingCondition": stopping,
        "EnableManagedSpotTraining": resources.spot,
    }
    if resources.spot:
        request["CheckpointConfig"] = {"S3Uri": spec.checkpoint_uri, "LocalPath": "/opt/ml/checkpoints"}
    return request


def model_artifact_uri(output_uri: str, job_name: str) -> str:
    """Where SageMaker puts a training job's model: `<S3OutputPath>/<job>/output/model.tar.gz`."""
    return f"{output_uri.rstrip('/')}/{job_name}/output/model.tar.gz"
