"""What the recipe tests share: an emulated SageMaker that runs the recipes as a pipeline would.

Jobs are requested exactly as docs/pipelines.md lays them out: processing scripts under
`/opt/ml/processing/input/code/`, `parameters.json` under `input/config/`, one input per upstream
step under `input/data/<step_id>/`, the model and sourcedir for evaluation, the output prefix per
step; training in script mode with JSON-encoded hyperparameters, one channel per upstream step,
and the recipe's METRIC_DEFINITIONS.
"""

from __future__ import annotations

import importlib.util
import io
import json
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd

import cirrus_core.pipelines
from cirrus.localcloud.emulator import Emulator
from cirrus_core.pipelines.recipes_upload import COMMON_DIR, load_recipes
from tests.unit.localcloud.helpers import unique
from tests.unit.localcloud.sagemaker_support import SKLEARN_IMAGE, tarball, untar

RECIPES = Path(cirrus_core.pipelines.__file__).parent / "recipes"
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
ROLE_ARN = "arn:aws:iam::123456789012:role/cirrus-sagemaker-execution"
XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
TERMINAL = frozenset({"Completed", "Failed", "Stopped"})
# Generous: a recipe job takes a few seconds, but the tests start several at once on few cores.
WAIT_SECONDS = 240.0
PROCESSING_ROOT = "/opt/ml/processing"
# Jobs take seconds: polling a few times a second leaves the cores to the jobs.
POLL_SECONDS = 0.2


def wait_for(probe: Callable[[], dict[str, Any]], status_field: str) -> dict[str, Any]:
    """Call `probe` (a Describe call) until the job has ended; AssertionError after WAIT_SECONDS."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        described = probe()
        if described[status_field] in TERMINAL:
            return described
        if time.monotonic() >= deadline:
            raise AssertionError(f"still running after {WAIT_SECONDS} s: {described!r}")
        time.sleep(POLL_SECONDS)


def load_script(path: Path, name: str | None = None) -> ModuleType:
    """Import a recipe file as a module (they are scripts, not a package).

    A training recipe imports `script_mode` and `feature_transforms`, which its sourcedir holds beside
    it: they are registered under those names first, as the container's import path would find them."""
    if path.parent.parent == RECIPES and path.name == "train.py":
        for name, shared in (
            ("feature_transforms", RECIPES / "processing" / "feature_transforms.py"),
            ("script_mode", RECIPES / COMMON_DIR / "script_mode.py"),
        ):
            if name not in sys.modules:
                sys.modules[name] = load_script(shared, name)
    spec = importlib.util.spec_from_file_location(name or f"recipe_{path.parent.name}_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Job:
    """A started job: its name and where its output goes."""

    name: str
    step_id: str
    output_uri: str  # the step's output prefix (processing) or S3OutputPath (training)


@dataclass
class RecipeWorld:
    """An emulator with the SageMaker hooks and a bucket holding the recipes, as Prepare uploads them."""

    emulator: Emulator
    bucket: str = field(default_factory=lambda: unique("cirrus-recipes-tests"))
    run_id: str = field(default_factory=lambda: unique("run"))

    def __post_init__(self) -> None:
        self.s3 = self.emulator.client("s3")
        self.sagemaker = self.emulator.client("sagemaker")
        self.logs = self.emulator.client("logs")
        self.s3.create_bucket(Bucket=self.bucket)
        for script in sorted((RECIPES / "processing").glob("*.py")):
            self.put(f"recipes/processing/{script.name}", script.read_bytes())
        packed = dict(load_recipes(RECIPES).files)
        for model_type in ("sklearn", "xgboost"):
            # Packed as Prepare packs them: script_mode.py and feature_transforms.py beside train.py.
            self.put(f"recipes/{model_type}/sourcedir.tar.gz", packed[f"{model_type}/sourcedir.tar.gz"])
        self.put(
            "code/custom/sourcedir.tar.gz",
            tarball({"train.py": (EXAMPLES / "custom_training" / "train.py").read_bytes()}),
        )

    # -- S3 ---------------------------------------------------------------------------------------------

    def uri(self, key: str) -> str:
        """`s3://<bucket>/<key>`."""
        return f"s3://{self.bucket}/{key}"

    def key(self, uri: str) -> str:
        """The key of an `s3://<bucket>/...` URI."""
        prefix = f"s3://{self.bucket}/"
        assert uri.startswith(prefix), uri
        return uri[len(prefix) :]

    def put(self, key: str, body: bytes) -> str:
        """Store an object; returns its URI."""
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        return self.uri(key)

    def get(self, uri: str) -> bytes:
        """An object's content."""
        return bytes(self.s3.get_object(Bucket=self.bucket, Key=self.key(uri))["Body"].read())

    def keys(self, prefix_uri: str) -> list[str]:
        """The keys under a prefix, relative to it."""
        prefix = self.key(prefix_uri)
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return sorted(item["Key"][len(prefix) :] for item in listed.get("Contents", []))

    def put_frame(self, key: str, frame: pd.DataFrame) -> str:
        """A frame as a CSV object; returns its URI."""
        return self.put(key, frame.to_csv(index=False).encode())

    def put_splits(self, step_id: str, splits: Mapping[str, pd.DataFrame]) -> str:
        """Frames as a data step's output (`<split>.csv` under the step's prefix); returns the prefix."""
        for split, frame in splits.items():
            self.put_frame(f"pipelines/demo/runs/{self.run_id}/{step_id}/{split}.csv", frame)
        return self.step_prefix(step_id)

    def step_prefix(self, step_id: str) -> str:
        """A step's output prefix in this run."""
        return self.uri(f"pipelines/demo/runs/{self.run_id}/{step_id}/")

    def frame(self, uri: str) -> pd.DataFrame:
        """A CSV object as a frame."""
        return pd.read_csv(io.BytesIO(self.get(uri)))

    def json(self, uri: str) -> Any:
        """A JSON object."""
        return json.loads(self.get(uri))

    def model_files(self, job: Job) -> dict[str, bytes]:
        """The files of a training job's model.tar.gz."""
        return untar(self.get(f"{job.output_uri}{job.name}/output/model.tar.gz"))

    def model_uri(self, job: Job) -> str:
        """A training job's model.tar.gz."""
        return f"{job.output_uri}{job.name}/output/model.tar.gz"

    # -- jobs -------------------------------------------------------------------------------------------

    def start_processing(
        self,
        script: str,
        step_id: str,
        parameters: Mapping[str, Any],
        inputs: Mapping[str, str],
        *,
        model_uri: str | None = None,
        sourcedir_uri: str | None = None,
    ) -> Job:
        """A processing job running a recipe script, its inputs laid out as the pipeline lays them."""
        name = unique(step_id.replace("_", "-"))
        config = self.put(
            f"pipelines/demo/runs/{self.run_id}/config/{step_id}/parameters.json",
            json.dumps(
                {**parameters, "_step_id": step_id, "_pipeline_id": "demo", "_run_id": self.run_id}
            ).encode(),
        )
        locations = {
            "code": (self.uri("recipes/processing/"), f"{PROCESSING_ROOT}/input/code"),
            "config": (config, f"{PROCESSING_ROOT}/input/config"),
            **{
                f"data-{upstream}": (uri, f"{PROCESSING_ROOT}/input/data/{upstream}")
                for upstream, uri in inputs.items()
            },
        }
        if model_uri is not None:
            locations["model"] = (model_uri, f"{PROCESSING_ROOT}/input/model")
        if sourcedir_uri is not None:
            locations["sourcedir"] = (sourcedir_uri, f"{PROCESSING_ROOT}/input/sourcedir")
        output = self.step_prefix(step_id)
        self.sagemaker.create_processing_job(
            ProcessingJobName=name,
            RoleArn=ROLE_ARN,
            AppSpecification={
                "ImageUri": SKLEARN_IMAGE,
                "ContainerEntrypoint": ["python3", f"{PROCESSING_ROOT}/input/code/{script}"],
            },
            Environment={},
            ProcessingInputs=[
                {
                    "InputName": input_name,
                    "S3Input": {
                        "S3Uri": uri,
                        "LocalPath": local,
                        "S3DataType": "S3Prefix",
                        "S3InputMode": "File",
                    },
                }
                for input_name, (uri, local) in locations.items()
            ],
            ProcessingOutputConfig={
                "Outputs": [
                    {
                        "OutputName": "output",
                        "S3Output": {
                            "S3Uri": output,
                            "LocalPath": f"{PROCESSING_ROOT}/output",
                            "S3UploadMode": "EndOfJob",
                        },
                    }
                ]
            },
            ProcessingResources={
                "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1}
            },
            StoppingCondition={"MaxRuntimeInSeconds": 600},
        )
        return Job(name, step_id, output)

    def start_training(
        self,
        step_id: str,
        channels: Mapping[str, str],
        hyperparameters: Mapping[str, Any],
        *,
        model_type: str = "sklearn",
        sourcedir_uri: str | None = None,
        encode: bool = True,
    ) -> Job:
        """A script-mode training job of a recipe (or of `sourcedir_uri`'s train.py), one channel per
        upstream step. `encode` JSON-encodes the hyperparameters as the SageMaker SDK does."""
        name = unique(step_id.replace("_", "-"))
        sourcedir = sourcedir_uri or self.uri(f"recipes/{model_type}/sourcedir.tar.gz")
        values = {
            name: json.dumps(value) if encode else str(value) for name, value in hyperparameters.items()
        }
        output = self.step_prefix(step_id)
        self.sagemaker.create_training_job(
            TrainingJobName=name,
            HyperParameters={
                "sagemaker_program": json.dumps("train.py"),
                "sagemaker_submit_directory": json.dumps(sourcedir),
                **values,
            },
            AlgorithmSpecification={
                "TrainingImage": XGBOOST_IMAGE if model_type == "xgboost" else SKLEARN_IMAGE,
                "TrainingInputMode": "File",
                "MetricDefinitions": metric_definitions(model_type),
            },
            RoleArn=ROLE_ARN,
            InputDataConfig=[
                {
                    "ChannelName": channel,
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "S3Prefix",
                            "S3Uri": uri,
                            "S3DataDistributionType": "FullyReplicated",
                        }
                    },
                    "ContentType": "text/csv",
                }
                for channel, uri in channels.items()
            ],
            OutputDataConfig={"S3OutputPath": output},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
            StoppingCondition={"MaxRuntimeInSeconds": 600},
        )
        return Job(name, step_id, output)

    def wait_training(self, job: Job) -> dict[str, Any]:
        """DescribeTrainingJob once the job has ended."""
        return wait_for(
            lambda: self.sagemaker.describe_training_job(TrainingJobName=job.name), "TrainingJobStatus"
        )

    def wait_processing(self, job: Job) -> dict[str, Any]:
        """DescribeProcessingJob once the job has ended."""
        return wait_for(
            lambda: self.sagemaker.describe_processing_job(ProcessingJobName=job.name), "ProcessingJobStatus"
        )

    def log_lines(self, kind: str, job: Job) -> list[str]:
        """Every line a job printed (kind: TrainingJobs or ProcessingJobs)."""
        group = f"/aws/sagemaker/{kind}"
        streams = self.logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=f"{job.name}/")
        return [
            event["message"]
            for stream in streams["logStreams"]
            for event in self.logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"])[
                "events"
            ]
        ]


def metric_definitions(model_type: str) -> list[dict[str, str]]:
    """A recipe's METRIC_DEFINITIONS, read as the pipeline reads them (the module needs no numpy)."""
    if model_type not in ("sklearn", "xgboost"):
        return metric_definitions("sklearn")
    return list(load_script(RECIPES / model_type / "train.py").METRIC_DEFINITIONS)


def final_metrics(described: Mapping[str, Any]) -> dict[str, float]:
    """A training job's FinalMetricDataList as name -> value."""
    return {metric["MetricName"]: metric["Value"] for metric in described.get("FinalMetricDataList", [])}
