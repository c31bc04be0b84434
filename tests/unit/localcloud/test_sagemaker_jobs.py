"""The sagemaker_jobs hook: training, processing and batch transform jobs run for real."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.unit.localcloud.helpers import unique
from tests.unit.localcloud.sagemaker_support import (
    CODE_DIR,
    TRAIN_ROWS,
    VALIDATION_ROWS,
    SageMakerWorld,
    csv_of,
    untar,
    wait_until,
)

RMSE_METRIC = {"Name": "validation:rmse", "Regex": r"validation:rmse=([0-9.]+)"}


def _fit(rows: list[tuple[float, float]]) -> tuple[float, float]:
    n = len(rows)
    mean_x = sum(x for x, _ in rows) / n
    mean_y = sum(y for _, y in rows) / n
    slope = sum((x - mean_x) * (y - mean_y) for x, y in rows) / sum((x - mean_x) ** 2 for x, _ in rows)
    return slope, mean_y - slope * mean_x


def _rmse(model: tuple[float, float], rows: list[tuple[float, float]]) -> float:
    slope, intercept = model
    return math.sqrt(sum((slope * x + intercept - y) ** 2 for x, y in rows) / len(rows))


@pytest.fixture(scope="module")
def trained(sagemaker_world: SageMakerWorld) -> dict[str, Any]:
    """One completed run of train.py (three epochs), described once it ended."""
    name = sagemaker_world.start_training(
        "train.py",
        hyperparameters={"epochs": "3", "model_name": json.dumps("linear")},
        metric_definitions=[RMSE_METRIC],
    )
    return sagemaker_world.wait_training(name)


def test_training_runs_the_script_and_uploads_its_model(
    sagemaker_world: SageMakerWorld, trained: dict[str, Any]
) -> None:
    name = trained["TrainingJobName"]
    assert trained["TrainingJobStatus"] == "Completed", trained.get("FailureReason")
    assert [step["Status"] for step in trained["SecondaryStatusTransitions"]] == [
        "Starting",
        "Downloading",
        "Training",
        "Uploading",
        "Completed",
    ]
    key = f"output/{name}/output/model.tar.gz"
    assert trained["ModelArtifacts"]["S3ModelArtifacts"] == sagemaker_world.uri(key)
    model = untar(sagemaker_world.get(key))
    params = json.loads(model["model.json"])
    assert (params["a"], params["b"]) == pytest.approx(_fit(TRAIN_ROWS))
    assert "code/inference.py" in model
    assert trained["TrainingEndTime"] >= trained["TrainingStartTime"]


def test_training_reports_the_last_value_of_each_metric(trained: dict[str, Any]) -> None:
    # Epochs 1 and 2 fit on part of the data and print other values; the final model's comes last.
    expected = round(_rmse(_fit(TRAIN_ROWS), VALIDATION_ROWS), 6)
    [metric] = trained["FinalMetricDataList"]
    assert metric["MetricName"] == "validation:rmse"
    assert metric["Value"] == pytest.approx(expected)
    assert metric["Timestamp"] >= trained["TrainingStartTime"]
    # The caller's metric definitions, not moto's canned one.
    assert trained["AlgorithmSpecification"]["MetricDefinitions"] == [RMSE_METRIC]


def test_training_hands_the_script_what_the_framework_containers_do(
    sagemaker_world: SageMakerWorld, trained: dict[str, Any]
) -> None:
    name = trained["TrainingJobName"]
    output = untar(sagemaker_world.get(f"output/{name}/output/output.tar.gz"))
    seen = json.loads(output["invocation.json"])
    env = seen["environment"]

    assert seen["argv"] == ["--epochs", "3", "--model_name", "linear"]
    assert json.loads(env["SM_HPS"]) == {"epochs": 3, "model_name": "linear"}
    assert env["SM_HP_EPOCHS"] == "3"
    assert env["SM_HP_MODEL_NAME"] == "linear"
    assert json.loads(env["SM_USER_ARGS"]) == seen["argv"]
    assert json.loads(env["SM_CHANNELS"]) == ["train", "validation"]
    assert env["SM_CHANNEL_TRAIN"].endswith("/input/data/train")
    assert env["SM_CURRENT_HOST"] == "algo-1"
    assert json.loads(env["SM_HOSTS"]) == ["algo-1"]
    assert env["SM_NUM_GPUS"] == "0"
    assert int(env["SM_NUM_CPUS"]) >= 1
    assert json.loads(env["SM_TRAINING_ENV"])["job_name"] == name
    assert env["AWS_ENDPOINT_URL"] == sagemaker_world.emulator.endpoint_url
    # hyperparameters.json holds the values exactly as sent: strings, JSON-encoded by the SDK.
    assert seen["hyperparameters_json"] == {
        "epochs": "3",
        "model_name": '"linear"',
        "sagemaker_program": '"train.py"',
        "sagemaker_submit_directory": json.dumps(sagemaker_world.sourcedir),
    }
    assert seen["cwd"].endswith("/code")


def test_training_streams_the_script_output_to_cloudwatch_logs(
    sagemaker_world: SageMakerWorld, trained: dict[str, Any]
) -> None:
    group = "/aws/sagemaker/TrainingJobs"
    name = trained["TrainingJobName"]
    [stream] = sagemaker_world.logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=f"{name}/")[
        "logStreams"
    ]
    assert stream["logStreamName"].startswith(f"{name}/algo-1-")
    events = sagemaker_world.logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"])
    messages = [event["message"] for event in events["events"]]
    assert [message for message in messages if message.startswith("epoch")] == [
        message for message in messages if "validation:rmse=" in message
    ]
    assert len([message for message in messages if message.startswith("epoch")]) == 3


def test_a_failing_script_fails_the_job_with_the_reason_it_wrote(sagemaker_world: SageMakerWorld) -> None:
    described = sagemaker_world.wait_training(sagemaker_world.start_training("fail.py"))

    assert described["TrainingJobStatus"] == "Failed"
    assert described["SecondaryStatus"] == "Failed"
    assert described["FailureReason"] == "ValueError: column y is missing from train.csv"
    assert "ModelArtifacts" not in described


def test_a_crash_without_a_failure_file_reports_the_end_of_stderr(sagemaker_world: SageMakerWorld) -> None:
    described = sagemaker_world.wait_training(sagemaker_world.start_training("crash.py"))

    assert described["TrainingJobStatus"] == "Failed"
    assert described["FailureReason"].startswith("AlgorithmError: ExecuteUserScriptError:\nExitCode 1")
    assert "RuntimeError: boom: the optimiser diverged" in described["FailureReason"]


def test_max_runtime_stops_the_script(sagemaker_world: SageMakerWorld) -> None:
    described = sagemaker_world.wait_training(sagemaker_world.start_training("sleep.py", max_runtime=1))

    assert described["TrainingJobStatus"] == "Stopped"
    assert described["SecondaryStatus"] == "MaxRuntimeExceeded"
    assert "FailureReason" not in described


def test_stop_training_job_stops_the_script(sagemaker_world: SageMakerWorld) -> None:
    name = sagemaker_world.start_training("sleep.py")
    sagemaker = sagemaker_world.sagemaker
    # Stop once the script is running, so that it is the process that gets stopped.
    running = wait_until(
        lambda: sagemaker.describe_training_job(TrainingJobName=name),
        lambda described: described["SecondaryStatus"] == "Training",
    )
    assert running["TrainingJobStatus"] == "InProgress"
    assert "TrainingEndTime" not in running
    assert "ModelArtifacts" not in running

    sagemaker.stop_training_job(TrainingJobName=name)
    described = sagemaker_world.wait_training(name)

    assert described["TrainingJobStatus"] == "Stopped"
    assert described["SecondaryStatus"] == "Stopped"
    assert "Stopping" in [step["Status"] for step in described["SecondaryStatusTransitions"]]
    with pytest.raises(ClientError) as refused:
        sagemaker.stop_training_job(TrainingJobName=name)
    assert refused.value.response["Error"]["Code"] == "ValidationException"


def test_list_training_jobs_reports_and_filters_on_the_real_status(sagemaker_world: SageMakerWorld) -> None:
    failed = sagemaker_world.start_training("fail.py")
    sagemaker_world.wait_training(failed)

    listed = sagemaker_world.sagemaker.list_training_jobs(StatusEquals="Failed", MaxResults=100)
    names = {summary["TrainingJobName"] for summary in listed["TrainingJobSummaries"]}
    assert failed in names
    assert {summary["TrainingJobStatus"] for summary in listed["TrainingJobSummaries"]} == {"Failed"}


def test_a_training_job_name_is_used_once(sagemaker_world: SageMakerWorld) -> None:
    name = sagemaker_world.start_training("fail.py")

    with pytest.raises(ClientError) as refused:
        sagemaker_world.start_training("train.py", name=name)

    assert refused.value.response["Error"]["Code"] == "ResourceInUse"
    sagemaker_world.wait_training(name)


def test_training_without_script_mode_fails_with_a_client_error(sagemaker_world: SageMakerWorld) -> None:
    name = unique("builtin")
    sagemaker_world.sagemaker.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": "xgboost:1", "TrainingInputMode": "File"},
        RoleArn="arn:aws:iam::123456789012:role/x",
        OutputDataConfig={"S3OutputPath": sagemaker_world.uri("output")},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 60},
    )

    described = sagemaker_world.wait_training(name)

    assert described["TrainingJobStatus"] == "Failed"
    assert described["FailureReason"].startswith(
        "ClientError: the local cloud runs script-mode training only"
    )


def _processing_job(
    world: SageMakerWorld, name: str, program: str, scale: str, max_runtime: int = 60
) -> None:
    world.put(f"processing/{name}/raw/part-1.csv", b"1,2\n3,4\n")
    world.put(f"processing/{name}/raw/part-2.csv", b"5,6\n")
    world.sagemaker.create_processing_job(
        ProcessingJobName=name,
        RoleArn="arn:aws:iam::123456789012:role/x",
        AppSpecification={
            "ImageUri": "sagemaker-scikit-learn:1.2-1-cpu-py3",
            "ContainerEntrypoint": ["python3", f"/opt/ml/processing/input/code/{program}"],
            "ContainerArguments": [
                "--input",
                "/opt/ml/processing/input/data",
                "--output=/opt/ml/processing/output",
                "--message",
                "/opt/ml/output/message",
            ],
        },
        Environment={"SCALE": scale},
        ProcessingInputs=[
            {
                "InputName": "code",
                "S3Input": {
                    "S3Uri": world.put(
                        f"processing/{name}/code/{program}", (CODE_DIR / program).read_bytes()
                    ),
                    "LocalPath": "/opt/ml/processing/input/code",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            },
            {
                "InputName": "data",
                "S3Input": {
                    "S3Uri": world.uri(f"processing/{name}/raw/"),
                    "LocalPath": "/opt/ml/processing/input/data",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            },
        ],
        ProcessingOutputConfig={
            "Outputs": [
                {
                    "OutputName": "clean",
                    "S3Output": {
                        "S3Uri": world.uri(f"processing/{name}/clean"),
                        "LocalPath": "/opt/ml/processing/output",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
        ProcessingResources={
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1}
        },
        StoppingCondition={"MaxRuntimeInSeconds": max_runtime},
    )


def _wait_processing(world: SageMakerWorld, name: str) -> dict[str, Any]:
    return wait_until(
        lambda: world.sagemaker.describe_processing_job(ProcessingJobName=name),
        lambda described: described["ProcessingJobStatus"] in {"Completed", "Failed", "Stopped"},
    )


def test_processing_job_runs_the_entrypoint_and_uploads_its_outputs(sagemaker_world: SageMakerWorld) -> None:
    name = unique("preprocess")
    _processing_job(sagemaker_world, name, "preprocess.py", scale="10")

    described = _wait_processing(sagemaker_world, name)

    assert described["ProcessingJobStatus"] == "Completed", described.get("FailureReason")
    assert sagemaker_world.get(f"processing/{name}/clean/clean.csv") == b"10.0,20.0\n30.0,40.0\n50.0,60.0\n"
    assert described["ExitMessage"] == "scaled 3 rows"
    assert described["Environment"] == {"SCALE": "10"}
    assert described["ProcessingEndTime"] >= described["ProcessingStartTime"]


def test_a_failing_processing_job_uploads_nothing(sagemaker_world: SageMakerWorld) -> None:
    name = unique("preprocess")
    _processing_job(sagemaker_world, name, "preprocess.py", scale="not-a-number")

    described = _wait_processing(sagemaker_world, name)

    assert described["ProcessingJobStatus"] == "Failed"
    assert described["FailureReason"] == "AlgorithmError: See job logs for more information"
    assert sagemaker_world.keys(f"processing/{name}/clean/") == []


def test_a_processing_entrypoint_that_cannot_start_is_a_client_error(sagemaker_world: SageMakerWorld) -> None:
    name = unique("missing")
    sagemaker_world.sagemaker.create_processing_job(
        ProcessingJobName=name,
        RoleArn="arn:aws:iam::123456789012:role/x",
        AppSpecification={"ImageUri": "image", "ContainerEntrypoint": ["/opt/ml/processing/no-such-program"]},
        ProcessingResources={
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1}
        },
    )

    described = _wait_processing(sagemaker_world, name)

    assert described["ProcessingJobStatus"] == "Failed"
    assert described["FailureReason"].startswith("ClientError: cannot start ")


def test_stop_processing_job_stops_the_entrypoint(sagemaker_world: SageMakerWorld) -> None:
    name = unique("sleepy")
    _processing_job(sagemaker_world, name, "sleep.py", scale="1")
    sagemaker = sagemaker_world.sagemaker
    # Stop once the script has started (it prints first), so that it is the process that gets stopped.
    wait_until(lambda: sagemaker_world.log_messages("/aws/sagemaker/ProcessingJobs", f"{name}/"), bool)

    sagemaker.stop_processing_job(ProcessingJobName=name)
    described = _wait_processing(sagemaker_world, name)

    assert described["ProcessingJobStatus"] == "Stopped"
    assert sagemaker_world.keys(f"processing/{name}/clean/") == []


def test_processing_max_runtime_stops_the_entrypoint(sagemaker_world: SageMakerWorld) -> None:
    name = unique("sleepy")
    _processing_job(sagemaker_world, name, "sleep.py", scale="1", max_runtime=1)

    described = _wait_processing(sagemaker_world, name)

    assert described["ProcessingJobStatus"] == "Stopped"


def test_transform_job_writes_an_out_file_per_input_object(sagemaker_world: SageMakerWorld) -> None:
    model = sagemaker_world.linear_model(slope=2.0, intercept=1.0)
    name = unique("transform")
    sagemaker_world.put(f"batch/{name}/in/a.csv", b"1\n2\n")
    sagemaker_world.put(f"batch/{name}/in/more/b.csv", csv_of([]) + b"3\n")
    sagemaker_world.sagemaker.create_transform_job(
        TransformJobName=name,
        ModelName=model,
        BatchStrategy="MultiRecord",
        TransformInput={
            "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": sagemaker_world.uri(f"batch/{name}/in/")}
            },
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        TransformOutput={
            "S3OutputPath": sagemaker_world.uri(f"batch/{name}/out"),
            "Accept": "text/csv",
            "AssembleWith": "Line",
        },
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )

    described = wait_until(
        lambda: sagemaker_world.sagemaker.describe_transform_job(TransformJobName=name),
        lambda described: described["TransformJobStatus"] in {"Completed", "Failed", "Stopped"},
    )

    assert described["TransformJobStatus"] == "Completed", described.get("FailureReason")
    assert sagemaker_world.keys(f"batch/{name}/out/") == [
        f"batch/{name}/out/a.csv.out",
        f"batch/{name}/out/more/b.csv.out",
    ]
    assert sagemaker_world.get(f"batch/{name}/out/a.csv.out") == b"3.0\n5.0\n"
    assert sagemaker_world.get(f"batch/{name}/out/more/b.csv.out") == b"7.0\n"
    with pytest.raises(ClientError) as refused:  # moto has no StopTransformJob; the hook serves it
        sagemaker_world.sagemaker.stop_transform_job(TransformJobName=name)
    assert refused.value.response["Error"]["Code"] == "ValidationException"


def test_transform_job_fails_with_the_model_error(sagemaker_world: SageMakerWorld) -> None:
    model = sagemaker_world.linear_model(slope=2.0, intercept=1.0, program="broken_inference.py")
    name = unique("transform")
    sagemaker_world.put(f"batch/{name}/in/a.csv", b"1\n-2\n")
    sagemaker_world.sagemaker.create_transform_job(
        TransformJobName=name,
        ModelName=model,
        TransformInput={
            "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": sagemaker_world.uri(f"batch/{name}/in/")}
            },
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        TransformOutput={"S3OutputPath": sagemaker_world.uri(f"batch/{name}/out")},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )

    described = wait_until(
        lambda: sagemaker_world.sagemaker.describe_transform_job(TransformJobName=name),
        lambda described: described["TransformJobStatus"] in {"Completed", "Failed", "Stopped"},
    )

    assert described["TransformJobStatus"] == "Failed"
    assert "negative sizes are not supported" in described["FailureReason"]
    assert sagemaker_world.keys(f"batch/{name}/out/") == []
