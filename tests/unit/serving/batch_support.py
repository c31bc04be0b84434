"""What the batch job tests share: the batch state machine in moto, approved versions, and a guard
that a refusal changed nothing.

moto's Step Functions here is its mock backend: executions are created RUNNING and never advance,
so these tests see what the API starts; the state machine's steps are tested by calling them.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import boto3
import pytest

from cirrus_core.serving import batch_wiring, inference_wiring
from cirrus_core.serving.settings import get_serving_settings
from tests.support.api import ApiResponse, call
from tests.support.aws import ARTIFACT_BUCKET, ROOT
from tests.support.registry import MODEL_ID, RegistryDriver

REGION = "us-east-1"
STATE_MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:cirrus-test-batch-transform"
ARTIFACT_KEY = f"models/{MODEL_ID}/model.tar.gz"
INPUT_URI = f"s3://{ARTIFACT_BUCKET}/batch/input/"
OUTPUT_URI = f"s3://{ARTIFACT_BUCKET}/batch/output/"
# One session for the harness's clients: a client from a warm session costs milliseconds.
_SESSION = boto3.session.Session()
JOB_NAME = re.compile(r"^fraud-detection-v2-batch-[0-9a-f]{12}$")


def clear_serving_wiring() -> None:
    get_serving_settings.cache_clear()
    batch_wiring.batch_service.cache_clear()
    batch_wiring.batch_steps.cache_clear()
    batch_wiring._serving_containers.cache_clear()
    inference_wiring.inference_service.cache_clear()


@pytest.fixture(scope="session")
def _serving_wiring_once() -> Iterator[None]:
    """The serving services are built once, as in one execution environment (their boto3 clients
    work under each test's own `mock_aws`); rebuilding them per test cost a tenth of a second each."""
    clear_serving_wiring()
    yield
    clear_serving_wiring()


@pytest.fixture
def serving_environment(monkeypatch: pytest.MonkeyPatch, _serving_wiring_once: None) -> None:
    """The batch functions' environment: the state machine the template deploys."""
    monkeypatch.setenv("BATCH_STATE_MACHINE_ARN", STATE_MACHINE_ARN)
    get_serving_settings.cache_clear()


def start_body(**changes: Any) -> dict[str, Any]:
    """A start request over the artifact bucket's batch/input/ with version 1, changed by `changes`."""
    body: dict[str, Any] = {
        "version": 1,
        "input_uri": INPUT_URI,
        "output_uri": OUTPUT_URI,
        "content_type": "text/csv",
        "split": "Line",
    }
    body.update(changes)
    return {key: value for key, value in body.items() if value is not None}


def start(body: dict[str, Any] | None = None, **parts: Any) -> ApiResponse:
    return call("start_batch_job", package="serving", body=start_body() if body is None else body, **parts)


def model_archive() -> bytes:
    """A model.tar.gz carrying `code/inference.py`, as a version not trained by a pipeline must."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in {
            "model.json": b'{"a": 2, "b": 1}',
            "code/inference.py": b"def model_fn(d): ...\n",
        }.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


class BatchWorld:
    """moto's Step Functions with the batch state machine, the registry driven through its API, and an
    sklearn version's archive (with its inference script) in the artifact bucket."""

    def __init__(self, aws: Any) -> None:
        self.aws = aws
        self.registry = RegistryDriver(aws)
        self.sfn = _SESSION.client("stepfunctions", region_name=REGION)
        self.sagemaker = _SESSION.client("sagemaker", region_name=REGION)
        definition = (ROOT / "statemachines" / "batch_transform.asl.json").read_text()
        for name in ("PrepareBatchJobFunctionArn", "RecordBatchResultFunctionArn"):
            definition = definition.replace(
                "${" + name + "}", f"arn:aws:lambda:us-east-1:123456789012:function:cirrus-test-{name}"
            )
        self.sfn.create_state_machine(
            name=STATE_MACHINE_ARN.rpartition(":")[2],
            definition=definition,
            roleArn="arn:aws:iam::123456789012:role/cirrus-test-batch",
        )
        aws.s3.put_object(Bucket=ARTIFACT_BUCKET, Key=ARTIFACT_KEY, Body=model_archive())

    def register(self, *, approved: bool = True) -> int:
        """Register an sklearn version whose archive carries its own inference script."""
        event_body = json.loads(_register_sample_body())
        event_body.pop("training_job_name")
        event_body["model_type"] = "sklearn"
        response = call("register_model", body=event_body)
        assert response.status == 201, response.body
        version = int(response.body["version"])
        if approved:
            self.registry.approve(version)
        return version

    def executions(self) -> list[dict[str, Any]]:
        """Every execution of the batch state machine, as DescribeExecution tells it."""
        listed = self.sfn.list_executions(stateMachineArn=STATE_MACHINE_ARN)["executions"]
        return [self.sfn.describe_execution(executionArn=item["executionArn"]) for item in listed]

    def snapshot(self) -> dict[str, Any]:
        return {
            "tables": self.aws.table_items(),
            "executions": [e["executionArn"] for e in self.executions()],
        }


def _register_sample_body() -> str:
    from tests.support.aws import load_sample

    return str(load_sample("api/register_model")["body"])


class Untouched:
    """`with untouched:` fails the test when the block writes an item or starts an execution."""

    def __init__(self, world: BatchWorld) -> None:
        self._world = world
        self._before: dict[str, Any] = {}

    def __enter__(self) -> None:
        self._before = self._world.snapshot()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is None:
            assert self._world.snapshot() == self._before, "the refused request changed something"
