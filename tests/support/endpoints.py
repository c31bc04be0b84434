"""An approved scikit-learn version served by a prod endpoint on the local cloud, as a deployment
leaves it (SageMaker model, endpoint config with data capture, endpoint, the serving table's item), made
through boto3 so that tests of inference and monitoring do not depend on the deployment API."""

from __future__ import annotations

import io
import tarfile
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import joblib
from sklearn.linear_model import LinearRegression

from cirrus_core.registry.naming import sagemaker_name

if TYPE_CHECKING:
    from cirrus.client import CirrusClient
    from cirrus.localcloud.cloud import LocalCloud

WAIT_SECONDS = 60
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
# model_fn only: the container's default handlers decode JSON and CSV and encode the answer.
INFERENCE_SCRIPT = b'''"""Inference for the integration tests' linear model."""

import os

import joblib


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))
'''


def model_archive() -> bytes:
    """model.tar.gz: y = 2a + 3b + 1 fitted by scikit-learn, with `code/inference.py` beside it."""
    rows = [[float(a), float(b)] for a in range(5) for b in range(5)]
    model = LinearRegression().fit(rows, [2 * a + 3 * b + 1 for a, b in rows])
    fitted = io.BytesIO()
    joblib.dump(model, fitted)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in {
            "model.joblib": fitted.getvalue(),
            "code/inference.py": INFERENCE_SCRIPT,
        }.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def wait_for(probe: Any, done: Any) -> Any:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        value = probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {WAIT_SECONDS} s: {value!r}")
        time.sleep(0.2)


@dataclass
class ServedModel:
    model_id: str
    version: int
    endpoint_name: str
    artifact_location: str


def serve_model(local_cloud: LocalCloud, clients: dict[str, CirrusClient], model_id: str) -> ServedModel:
    """Register and approve `model_id` (y = 2a + 3b + 1) and serve it on prod, capturing every request."""
    emulator, deployment = local_cloud.emulator, local_cloud.deployment
    bucket = local_cloud.state.artifact_bucket
    key = f"models/{model_id}/model.tar.gz"
    emulator.client("s3").put_object(Bucket=bucket, Key=key, Body=model_archive())
    artifact = f"s3://{bucket}/{key}"
    version = clients["ml_engineer"].register_model(
        {
            "model_name": model_id,
            "model_type": "sklearn",
            "framework_version": "1.2-1",
            "training_metadata": {"dataset_version": "it", "metrics": {"r2": 1.0}},
            "artifact_location": artifact,
        }
    )
    clients["model_reviewer"].approve(model_id, version.version, "fine")

    sagemaker = emulator.client("sagemaker")
    base = version.sagemaker.base_name
    endpoint = sagemaker_name(base, "prod")
    role = f"arn:aws:iam::{deployment.account_id}:role/{deployment.physical_id('SageMakerExecutionRole')}"
    sagemaker.create_model(
        ModelName=version.sagemaker.model_name,
        ExecutionRoleArn=role,
        PrimaryContainer={
            "Image": SKLEARN_IMAGE,
            "ModelDataUrl": artifact,
            "Environment": {
                "SAGEMAKER_PROGRAM": "inference.py",
                "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
            },
        },
    )
    config = sagemaker_name(base, f"prod-v{version.version}-{uuid.uuid4().hex[:8]}")
    sagemaker.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": version.sagemaker.model_name,
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": f"s3://{deployment.physical_id('CaptureBucket')}/capture",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {
                "CsvContentTypes": ["text/csv"],
                "JsonContentTypes": ["application/json"],
            },
        },
    )
    sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)
    wait_for(
        lambda: sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointStatus"],
        lambda status: status != "Creating",
    )
    assert sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"
    emulator.client("dynamodb").put_item(
        TableName=deployment.physical_id("ServingTable"),
        Item={
            "pk": {"S": f"MODEL#{model_id}"},
            "sk": {"S": "ENV#prod"},
            "environment": {"S": "prod"},
            "status": {"S": "deployed"},
            "version": {"N": str(version.version)},
            "endpoint_name": {"S": endpoint},
            "endpoint_config_name": {"S": config},
            "serverless": {"BOOL": False},
            "deployment_id": {"S": uuid.uuid4().hex},
            "updated_at": {"S": "2024-06-01T12:00:00+00:00"},
        },
    )
    return ServedModel(model_id, version.version, endpoint, artifact)
