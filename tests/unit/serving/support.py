"""Setting up deployments for the serving unit tests: artifacts, approved versions, the state machine."""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass
from typing import Any

import boto3

from tests.support.api import ApiResponse, call
from tests.support.aws import ARTIFACT_BUCKET, CAPTURE_BUCKET, AwsResources
from tests.support.registry import MODEL_ID, RegistryDriver

ARTIFACT_KEY = f"models/{MODEL_ID}/model.tar.gz"
ARTIFACT = f"s3://{ARTIFACT_BUCKET}/{ARTIFACT_KEY}"
SAMPLES_KEY = f"models/{MODEL_ID}/samples.jsonl"
STATE_MACHINE_NAME = "cirrus-test-model-deployment"
SAMPLES = [{"content_type": "text/csv", "body": "0.3,120.5,1"}]


def archive(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


SERVABLE = archive({"model.json": b"{}", "code/inference.py": b"def model_fn(model_dir):\n    return None\n"})


def registration(**fields: Any) -> dict[str, Any]:
    """A registration of the sample model that serves from its own archive (no training job)."""
    body: dict[str, Any] = {
        "model_name": MODEL_ID,
        "model_type": "xgboost",
        "framework_version": "1.7.6",
        "training_metadata": {"dataset_version": "2024-06-01"},
        "artifact_location": ARTIFACT,
    }
    return {**body, **fields}


@dataclass
class Serving:
    """The serving side of one moto-backed test: registry versions, the capture bucket, the machine."""

    aws: AwsResources
    registry: RegistryDriver
    state_machine_arn: str

    def register(self, *, approve: bool = True, **fields: Any) -> int:
        response = call("register_model", body=registration(**fields))
        assert response.status == 201, response.body
        version = int(response.body["version"])
        if approve:
            self.registry.approve(version)
        return version

    def deploy(self, body: dict[str, Any] | None = None, **parts: Any) -> ApiResponse:
        return call("deploy_model", package="serving", body=body or deploy_body(), **parts)

    def items(self) -> list[dict[str, Any]]:
        table = "cirrus-test-serving"
        return list(self.aws.dynamodb.scan(TableName=table, ConsistentRead=True)["Items"])

    def executions(self) -> list[dict[str, Any]]:
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        found = sfn.list_executions(stateMachineArn=self.state_machine_arn)["executions"]
        return [sfn.describe_execution(executionArn=item["executionArn"]) for item in found]

    def execution_input(self) -> dict[str, Any]:
        [execution] = self.executions()
        document: dict[str, Any] = json.loads(execution["input"])
        return document


def deploy_body(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"version": 1, "environment": "staging", "sample_payloads": SAMPLES}
    return {**body, **fields}


def create_serving(aws: AwsResources) -> Serving:
    aws.s3.create_bucket(Bucket=CAPTURE_BUCKET)
    aws.s3.put_object(Bucket=ARTIFACT_BUCKET, Key=ARTIFACT_KEY, Body=SERVABLE)
    aws.s3.put_object(
        Bucket=ARTIFACT_BUCKET,
        Key=SAMPLES_KEY,
        Body="\n".join(json.dumps(sample) for sample in SAMPLES).encode(),
    )
    iam = boto3.client("iam", region_name="us-east-1")
    role = iam.create_role(RoleName="cirrus-test-deployments", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    definition = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
    arn = sfn.create_state_machine(name=STATE_MACHINE_NAME, definition=definition, roleArn=role)[
        "stateMachineArn"
    ]
    return Serving(aws, RegistryDriver(aws), arn)
