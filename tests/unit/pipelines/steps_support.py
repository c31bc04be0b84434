"""Building blocks of the step Lambdas' tests: definitions, execution inputs, recipes, prepared runs."""

from __future__ import annotations

import copy
import functools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3

from cirrus_core.pipelines.cache import StepCache
from cirrus_core.pipelines.data_sources import DataSources
from cirrus_core.pipelines.prepare import PrepareRun
from cirrus_core.pipelines.recipes_upload import RecipeStore, load_recipes
from cirrus_core.pipelines.settings import PipelineSettings
from tests.support.aws import ALLOWLISTED_BUCKET, ARTIFACT_BUCKET, TABLE_NAMES, AwsResources, environment

PIPELINE_ID = "churn"
RUN_ID = "20240603T020000Z-7c1e9a2b"
STATE_MACHINE_ARN = f"arn:aws:states:us-east-1:123456789012:stateMachine:cirrus-test-pipeline-{PIPELINE_ID}"
EXECUTION_ARN = f"arn:aws:states:us-east-1:123456789012:execution:cirrus-test-pipeline-{PIPELINE_ID}:{RUN_ID}"
ACTOR = {
    "sub": "3f2b9c1e-1111-4c55-8f3e-5a2b7c9d1e2f",
    "username": "alice@example.com",
    "groups": ["ml_engineer"],
}
DATA_KEY = "datasets/churn/2024-06-02.csv"
DATA_URI = f"s3://{ARTIFACT_BUCKET}/{DATA_KEY}"
DATA_CSV = b"tenure,charges,label\n1,20.5,0\n30,80.1,1\n"
PIPELINES_TABLE = TABLE_NAMES["PipelinesTable"]
PROCESSING_IMAGE = environment()["SKLEARN_IMAGE_URI"]
XGBOOST_IMAGE = environment()["XGBOOST_IMAGE_URI"]

TRAIN_SOURCE = '''"""A test training recipe."""
METRIC_DEFINITIONS = [
    {"Name": "validation:accuracy", "Regex": r"validation:accuracy=([0-9.]+);"},
    {"Name": "train:accuracy", "Regex": r"train:accuracy=([0-9.]+);"},
]


def main() -> None:
    import sklearn  # never imported by the Lambdas
'''


def step(step_id: str, step_type: str, *depends_on: str, **fields: Any) -> dict[str, Any]:
    """A step of a definition, as the API takes it."""
    return {"id": step_id, "type": step_type, "depends_on": list(depends_on), **fields}


LINEAR = [
    step("preprocess", "data_preprocessing"),
    step("features", "feature_engineering", "preprocess"),
    step("train", "model_training", "features"),
    step("evaluate", "model_evaluation", "train", "features"),
    step("deploy", "model_deployment", "evaluate"),
]
# preprocess feeds two feature steps, both feed training; evaluation reads one of them directly.
DIAMOND = [
    step("preprocess", "data_preprocessing"),
    step("left", "feature_engineering", "preprocess"),
    step("right", "feature_engineering", "preprocess"),
    step("train", "model_training", "left", "right"),
    step("evaluate", "model_evaluation", "train", "right"),
    step("deploy", "model_deployment", "evaluate"),
]


def definition(steps: list[dict[str, Any]] | None = None, **defaults: Any) -> dict[str, Any]:
    """A pipeline definition (LINEAR unless told), with default parameters."""
    return {
        "pipeline_id": PIPELINE_ID,
        "steps": copy.deepcopy(steps if steps is not None else LINEAR),
        "default_parameters": defaults,
    }


def execution_event(
    pipeline: dict[str, Any] | None = None,
    parameters: dict[str, Any] | None = None,
    *,
    run_id: str = RUN_ID,
    trigger: str = "api",
) -> dict[str, Any]:
    """What `Prepare run` is invoked with: the execution input and the execution's context."""
    pipeline_definition = pipeline if pipeline is not None else definition()
    return {
        "input": {
            "pipeline": {
                "pipeline_id": pipeline_definition["pipeline_id"],
                "definition_version": 3,
                "definition": pipeline_definition,
            },
            "parameters": {"data_source": DATA_URI, **(parameters or {})},
            "actor": dict(ACTOR),
            "trigger": {"type": trigger, "detail": {}},
        },
        "execution": {
            "name": run_id,
            "arn": EXECUTION_ARN.replace(RUN_ID, run_id),
            "start_time": "2024-06-03T02:00:00.123Z",
            "state_machine_arn": STATE_MACHINE_ARN,
        },
    }


def write_recipes(root: Path, *, train_source: str = TRAIN_SOURCE) -> Path:
    """A recipe tree like the packaged one: processing scripts and two training recipes."""
    processing = root / "processing"
    processing.mkdir(parents=True, exist_ok=True)
    for name in ("preprocess.py", "features.py", "evaluate.py"):
        (processing / name).write_text(f"print({name!r})\n")
    for model_type in ("sklearn", "xgboost"):
        directory = root / model_type
        directory.mkdir(exist_ok=True)
        (directory / "train.py").write_text(train_source)
        (directory / "requirements.txt").write_text(f"# {model_type}\n")
    return root


def put_dataset(
    aws: AwsResources, key: str = DATA_KEY, body: bytes = DATA_CSV, bucket: str = ARTIFACT_BUCKET
) -> str:
    aws.s3.put_object(Bucket=bucket, Key=key, Body=body)
    return f"s3://{bucket}/{key}"


def make_prepare(aws: AwsResources, recipes_root: Path) -> PrepareRun:
    """`Prepare run` over the test resources, with the recipes under `recipes_root`."""
    allowed = frozenset({ARTIFACT_BUCKET, ALLOWLISTED_BUCKET})
    return PrepareRun(
        settings=PipelineSettings.from_environ(environment()),
        artifact_bucket=ARTIFACT_BUCKET,
        allowed_buckets=allowed,
        region="us-east-1",
        s3=aws.s3,
        data_sources=DataSources(aws.s3, allowed),
        recipes=lambda: load_recipes(recipes_root),
        recipe_store=RecipeStore(aws.s3, ARTIFACT_BUCKET),
        cache=StepCache(aws.dynamodb, PIPELINES_TABLE),
    )


def read_json(aws: AwsResources, uri: str) -> Any:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return json.loads(aws.s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def put_json(aws: AwsResources, uri: str, document: Any) -> None:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    aws.s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(document).encode())


def finished_state(state: dict[str, Any], **later: Any) -> dict[str, Any]:
    """A prepared state as the machine has it further on: each job run (`steps`), plus `later`."""
    done = copy.deepcopy(state)
    for step_id, job in done["jobs"].items():
        if job["kind"] != "deployment":
            done["steps"][step_id] = {"job_name": job["job_name"], "status": "Completed"}
    done.update(later)
    return done


@functools.cache
def sagemaker_client() -> Any:
    """One SageMaker client for the session: building one takes most of a second (a large model);
    moto intercepts it under each test's mock all the same."""
    return boto3.client("sagemaker", region_name="us-east-1")


class History:
    """Execution history events written by hand, with the fields AWS documents for each type.

    Each method appends events and returns the id of the last, which the next state's first event
    names as its `previousEventId` (as in AWS; events of a Parallel's branches interleave).
    """

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._start = datetime(2024, 6, 3, 2, 0, tzinfo=UTC)
        self.add("ExecutionStarted", 0, executionStartedEventDetails={"input": "{}", "roleArn": "arn"})

    def add(self, kind: str, previous: int | None = None, **details: Any) -> int:
        event_id = len(self.events) + 1
        self.events.append(
            {
                "timestamp": self._start + timedelta(seconds=10 * event_id),
                "type": kind,
                "id": event_id,
                "previousEventId": event_id - 1 if previous is None else previous,
                **details,
            }
        )
        return event_id

    def enter(
        self, name: str, state_type: str = "Task", previous: int | None = None, state_input: Any = None
    ) -> int:
        details = {"name": name, "input": json.dumps(state_input or {}), "inputDetails": {"truncated": False}}
        return self.add(f"{state_type}StateEntered", previous, stateEnteredEventDetails=details)

    def exit(
        self, name: str, state_type: str = "Task", previous: int | None = None, output: Any = None
    ) -> int:
        details = {"name": name, "output": json.dumps(output or {}), "outputDetails": {"truncated": False}}
        return self.add(f"{state_type}StateExited", previous, stateExitedEventDetails=details)

    def task(
        self,
        name: str,
        *,
        previous: int | None = None,
        job: tuple[str, str] | None = None,
        outcome: str = "succeeded",
        error: str = "States.TaskFailed",
        cause: str = "",
        exits: bool = True,
    ) -> int:
        """A Task state: entered, scheduled, started, then succeeded, failed, timed out or still running.

        `job` is (parameter, job name) for a SageMaker task (`ProcessingJobName`, `churn-...`).
        """
        resource_type, resource = ("sagemaker", "createTrainingJob.sync") if job else ("lambda", "invoke")
        parameters = {job[0]: job[1]} if job else {"FunctionName": "arn", "Payload": {}}
        last = self.enter(name, "Task", previous)
        common = {"resourceType": resource_type, "resource": resource}
        last = self.add(
            "TaskScheduled",
            last,
            taskScheduledEventDetails={**common, "region": "us-east-1", "parameters": json.dumps(parameters)},
        )
        last = self.add("TaskStarted", last, taskStartedEventDetails=common)
        if outcome == "running":
            return last
        if outcome == "succeeded":
            last = self.add("TaskSucceeded", last, taskSucceededEventDetails={**common, "output": "{}"})
        elif outcome == "failed":
            last = self.add(
                "TaskFailed", last, taskFailedEventDetails={**common, "error": error, "cause": cause}
            )
            exits = False  # a caught failure moves straight to the Catch's next state
        elif outcome == "timed_out":
            last = self.add(
                "TaskTimedOut", last, taskTimedOutEventDetails={**common, "error": error, "cause": cause}
            )
            exits = False
        return self.exit(name, "Task", last) if exits else last

    def passes(
        self, name: str, state_type: str = "Pass", previous: int | None = None, output: Any = None
    ) -> int:
        return self.exit(name, state_type, self.enter(name, state_type, previous), output)

    def end(self, kind: str, previous: int | None = None, error: str = "", cause: str = "") -> int:
        key = kind[0].lower() + kind[1:] + "EventDetails"
        return self.add(kind, previous, **{key: {"error": error, "cause": cause}})
