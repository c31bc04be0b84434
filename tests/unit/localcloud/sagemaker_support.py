"""What the SageMaker hook tests share: the emulator world, code and model archives, bounded waits."""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from cirrus.localcloud.emulator import Emulator
from tests.unit.localcloud.helpers import unique

T = TypeVar("T")

CODE_DIR = Path(__file__).parent / "sagemaker_code"
ROLE_ARN = "arn:aws:iam::123456789012:role/cirrus-sagemaker-execution"
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
SAGEMAKER_HOOKS = ("cirrus.localcloud.hooks.sagemaker_jobs", "cirrus.localcloud.hooks.sagemaker_endpoints")
TERMINAL = frozenset({"Completed", "Failed", "Stopped"})
# Every wait is bounded; a healthy job here takes well under a second.
WAIT_SECONDS = 30.0

# y = 2x + 1, with a little deterministic noise so that the fit and its RMSE are not trivial.
Rows = list[tuple[float, float]]
TRAIN_ROWS: Rows = [(float(x), 2 * x + 1 + (0.1 if x % 2 else -0.1)) for x in range(1, 11)]
VALIDATION_ROWS: Rows = [(x + 0.5, 2 * (x + 0.5) + 1 + (0.05 if x % 3 else -0.05)) for x in range(1, 6)]


def csv_of(rows: list[tuple[float, float]]) -> bytes:
    """Rows as `x,y` CSV lines."""
    return "".join(f"{x},{y}\n" for x, y in rows).encode()


def tarball(files: Mapping[str, bytes]) -> bytes:
    """A gzipped tar holding `files` (name -> content)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def untar(data: bytes) -> dict[str, bytes]:
    """The regular files of a (gzipped) tar, by name."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
        return {
            member.name: archive.extractfile(member).read()  # type: ignore[union-attr]
            for member in archive.getmembers()
            if member.isfile()
        }


def code_files() -> dict[str, bytes]:
    """The test scripts, as a sourcedir.tar.gz holds them."""
    return {path.name: path.read_bytes() for path in sorted(CODE_DIR.glob("*.py"))}


def wait_until(probe: Callable[[], T], done: Callable[[T], bool], timeout: float = WAIT_SECONDS) -> T:
    """Call `probe` until `done` holds for its result; AssertionError with the last result after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if done(value):
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"still waiting after {timeout} s; last: {value!r}")
        time.sleep(0.05)


@dataclass
class SageMakerWorld:
    """An emulator with the SageMaker hooks, a bucket holding the test code, and clients."""

    emulator: Emulator
    bucket: str = field(default_factory=lambda: unique("cirrus-sagemaker-tests"))

    def __post_init__(self) -> None:
        self.s3 = self.emulator.client("s3")
        self.sagemaker = self.emulator.client("sagemaker")
        self.runtime = self.emulator.client("sagemaker-runtime")
        self.logs = self.emulator.client("logs")
        self.s3.create_bucket(Bucket=self.bucket)
        self.put("code/sourcedir.tar.gz", tarball(code_files()))
        self.put("data/train/train.csv", csv_of(TRAIN_ROWS))
        self.put("data/validation/validation.csv", csv_of(VALIDATION_ROWS))

    @property
    def sourcedir(self) -> str:
        """The S3 URI of the test scripts' sourcedir.tar.gz."""
        return self.uri("code/sourcedir.tar.gz")

    def uri(self, key: str) -> str:
        """`s3://<bucket>/<key>`."""
        return f"s3://{self.bucket}/{key}"

    def put(self, key: str, body: bytes) -> str:
        """Store an object; returns its URI."""
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        return self.uri(key)

    def get(self, key: str) -> bytes:
        """An object's content."""
        return bytes(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def keys(self, prefix: str) -> list[str]:
        """Every key under `prefix`."""
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return sorted(item["Key"] for item in listed.get("Contents", []))

    def log_messages(self, group: str, stream_prefix: str) -> list[str]:
        """Every message in the group's streams under `stream_prefix` (none if the group is missing)."""
        if not self.logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
            return []
        streams = self.logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=stream_prefix)
        return [
            event["message"]
            for stream in streams["logStreams"]
            for event in self.logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"])[
                "events"
            ]
        ]

    def start_training(
        self,
        program: str,
        *,
        name: str | None = None,
        hyperparameters: Mapping[str, str] | None = None,
        max_runtime: int = 600,
        metric_definitions: list[dict[str, str]] | None = None,
    ) -> str:
        """Start a script-mode training job running `program` from the test code; returns its name."""
        name = name or unique("train")
        self.sagemaker.create_training_job(
            TrainingJobName=name,
            HyperParameters={
                # As the SageMaker Python SDK sends them: JSON-encoded strings.
                "sagemaker_program": json.dumps(program),
                "sagemaker_submit_directory": json.dumps(self.sourcedir),
                **(hyperparameters or {}),
            },
            AlgorithmSpecification={
                "TrainingImage": SKLEARN_IMAGE,
                "TrainingInputMode": "File",
                "MetricDefinitions": metric_definitions or [],
            },
            RoleArn=ROLE_ARN,
            InputDataConfig=[
                {
                    "ChannelName": channel,
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "S3Prefix",
                            "S3Uri": self.uri(f"data/{channel}/"),
                            "S3DataDistributionType": "FullyReplicated",
                        }
                    },
                    "ContentType": "text/csv",
                }
                for channel in ("train", "validation")
            ],
            OutputDataConfig={"S3OutputPath": self.uri("output")},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
            StoppingCondition={"MaxRuntimeInSeconds": max_runtime},
        )
        return name

    def wait_training(self, name: str) -> dict[str, Any]:
        """DescribeTrainingJob once the job has ended."""
        return wait_until(
            lambda: self.sagemaker.describe_training_job(TrainingJobName=name),
            lambda described: described["TrainingJobStatus"] in TERMINAL,
        )

    def create_model(self, name: str, model_data_url: str, environment: Mapping[str, str]) -> str:
        """A SageMaker model serving `model_data_url` with the scikit-learn image's environment."""
        self.sagemaker.create_model(
            ModelName=name,
            ExecutionRoleArn=ROLE_ARN,
            PrimaryContainer={
                "Image": SKLEARN_IMAGE,
                "ModelDataUrl": model_data_url,
                "Environment": dict(environment),
            },
        )
        return name

    def linear_model(self, slope: float, intercept: float, program: str = "inference.py") -> str:
        """A model archive with `model.json` and the test code in `code/`, as train.py writes it, and
        a SageMaker model serving it with `program`; returns the model's name."""
        name = unique("linear")
        files = {"model.json": json.dumps({"a": slope, "b": intercept}).encode()}
        files.update({f"code/{file}": content for file, content in code_files().items()})
        url = self.put(f"models/{name}/model.tar.gz", tarball(files))
        return self.create_model(
            name, url, {"SAGEMAKER_PROGRAM": program, "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}
        )
