"""The stepfunctions hook: unique execution names, and SageMaker .sync tasks that wait for the job.

The .sync tests drive moto's stock SageMaker backend (no sagemaker_jobs hook here), whose jobs are
Completed at once; the failure and the wait are produced by setting the stored job's status, the
way a real job's status changes under the sagemaker_jobs hook.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto.sagemaker import models as sagemaker_models

from cirrus.localcloud.emulator import Emulator
from tests.unit.localcloud.conftest import Deployer
from tests.unit.localcloud.helpers import unique, wait_for

EMULATOR_HOOKS = ("cirrus.localcloud.hooks.lambda_runtime", "cirrus.localcloud.hooks.stepfunctions")
SFN_ROLE = "arn:aws:iam::123456789012:role/cirrus-states"
SAGEMAKER_ROLE = "arn:aws:iam::123456789012:role/cirrus-sagemaker"


def create_machine(emulator: Emulator, definition: dict[str, Any]) -> str:
    response = emulator.client("stepfunctions").create_state_machine(
        name=unique("machine"), definition=json.dumps(definition), roleArn=SFN_ROLE
    )
    return str(response["stateMachineArn"])


def finished(emulator: Emulator, execution_arn: str) -> dict[str, Any]:
    sfn = emulator.client("stepfunctions")

    def probe() -> dict[str, Any] | None:
        described = dict(sfn.describe_execution(executionArn=execution_arn))
        return None if described["status"] == "RUNNING" else described

    return wait_for(probe, f"execution {execution_arn} to finish")


def history(emulator: Emulator, execution_arn: str) -> list[dict[str, Any]]:
    events = emulator.client("stepfunctions").get_execution_history(executionArn=execution_arn)["events"]
    return [dict(event) for event in events]


def run(emulator: Emulator, machine_arn: str, execution_input: dict[str, Any]) -> dict[str, Any]:
    started = emulator.client("stepfunctions").start_execution(
        stateMachineArn=machine_arn, input=json.dumps(execution_input)
    )
    return finished(emulator, started["executionArn"])


@pytest.fixture(scope="module")
def counters(emulator: Emulator) -> str:
    """A DynamoDB table where test functions count their attempts."""
    name = unique("attempts")
    emulator.client("dynamodb").create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def test_a_lambda_task_that_fails_twice_is_retried_until_it_succeeds(
    emulator: Emulator, deploy: Deployer, counters: str
) -> None:
    name = deploy.function(
        {
            "app.py": """
            import os
            import boto3

            class TransientScoringError(Exception):
                pass

            def handler(event, context):
                table = boto3.resource("dynamodb").Table(os.environ["COUNTERS"])
                attempt = int(
                    table.update_item(
                        Key={"id": event["run"]},
                        UpdateExpression="ADD attempts :one",
                        ExpressionAttributeValues={":one": 1},
                        ReturnValues="UPDATED_NEW",
                    )["Attributes"]["attempts"]
                )
                if attempt < 3:
                    raise TransientScoringError(f"attempt {attempt} failed")
                return {"attempts": attempt}
            """
        },
        Environment={"Variables": {"COUNTERS": counters}},
        Timeout=30,
    )
    function_arn = emulator.client("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    machine = create_machine(
        emulator,
        {
            "StartAt": "Score",
            "States": {
                "Score": {
                    "Type": "Task",
                    "Resource": function_arn,
                    "Retry": [
                        {
                            "ErrorEquals": ["TransientScoringError"],
                            "IntervalSeconds": 1,
                            "MaxAttempts": 3,
                            "BackoffRate": 1.0,
                        }
                    ],
                    "End": True,
                }
            },
        },
    )

    execution = run(emulator, machine, {"run": unique("run")})

    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"]) == {"attempts": 3}
    failures = [
        event
        for event in history(emulator, execution["executionArn"])
        if event["type"] == "LambdaFunctionFailed"
    ]
    assert [event["lambdaFunctionFailedEventDetails"]["error"] for event in failures] == [
        "TransientScoringError"
    ] * 2


def test_a_named_error_is_caught_by_its_catcher(emulator: Emulator, deploy: Deployer) -> None:
    name = deploy.function(
        {
            "app.py": """
            class ModelNotFound(Exception):
                pass

            def handler(event, context):
                raise ModelNotFound(f"no model {event['model_id']}")
            """
        }
    )
    function_arn = emulator.client("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    machine = create_machine(
        emulator,
        {
            "StartAt": "Load",
            "States": {
                "Load": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": function_arn, "Payload.$": "$"},
                    "Catch": [
                        {"ErrorEquals": ["SomethingElse"], "Next": "Wrong"},
                        {"ErrorEquals": ["ModelNotFound"], "ResultPath": "$.error", "Next": "Fallback"},
                    ],
                    "End": True,
                },
                "Wrong": {"Type": "Fail", "Error": "WrongCatcher"},
                "Fallback": {"Type": "Pass", "End": True},
            },
        },
    )

    execution = run(emulator, machine, {"model_id": "churn"})

    assert execution["status"] == "SUCCEEDED"
    output = json.loads(execution["output"])
    assert output["model_id"] == "churn"
    assert output["error"]["Error"] == "ModelNotFound"
    assert json.loads(output["error"]["Cause"])["errorMessage"] == "no model churn"


def test_executions_started_without_a_name_get_distinct_arns(emulator: Emulator) -> None:
    machine = create_machine(emulator, {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})
    sfn = emulator.client("stepfunctions")

    first = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    second = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    named = sfn.start_execution(stateMachineArn=machine, name="nightly-2024-06-01")["executionArn"]

    assert first != second
    assert not first.endswith(":None")
    assert named.endswith(":nightly-2024-06-01")
    assert {finished(emulator, arn)["status"] for arn in (first, second, named)} == {"SUCCEEDED"}


def test_a_nested_execution_runs_to_its_end_and_answers_in_aws_field_names(emulator: Emulator) -> None:
    child = create_machine(
        emulator,
        {
            "StartAt": "Echo",
            "States": {"Echo": {"Type": "Pass", "Parameters": {"got.$": "$.value"}, "End": True}},
        },
    )
    parent = create_machine(
        emulator,
        {
            "StartAt": "Run child",
            "States": {
                "Run child": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::states:startExecution.sync:2",
                    "Parameters": {
                        "StateMachineArn": child,
                        "Name.$": "States.UUID()",
                        "Input": {"value.$": "$.x"},
                    },
                    "ResultSelector": {"name.$": "$.Name", "status.$": "$.Status", "output.$": "$.Output"},
                    "End": True,
                }
            },
        },
    )

    result = run(emulator, parent, {"x": 41})

    assert result["status"] == "SUCCEEDED"
    output = json.loads(result["output"])
    assert (output["status"], output["output"]) == ("SUCCEEDED", {"got": 41})
    assert len(output["name"]) == 36


def test_a_failed_nested_execution_fails_the_task(emulator: Emulator) -> None:
    child = create_machine(
        emulator,
        {"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "Broken", "Cause": "on purpose"}}},
    )
    parent = create_machine(
        emulator,
        {
            "StartAt": "Run child",
            "States": {
                "Run child": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::states:startExecution.sync:2",
                    "Parameters": {"StateMachineArn": child},
                    "End": True,
                }
            },
        },
    )

    result = run(emulator, parent, {})

    assert (result["status"], result.get("error")) == ("FAILED", "States.TaskFailed")


def training_machine(emulator: Emulator) -> str:
    return create_machine(
        emulator,
        {
            "StartAt": "Train",
            "States": {
                "Train": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
                    "Parameters": {
                        "TrainingJobName.$": "$.job",
                        "RoleArn": SAGEMAKER_ROLE,
                        "AlgorithmSpecification": {
                            "TrainingImage": "train:latest",
                            "TrainingInputMode": "File",
                        },
                        "OutputDataConfig": {"S3OutputPath": "s3://cirrus-models/out"},
                        "ResourceConfig": {
                            "InstanceType": "ml.m5.large",
                            "InstanceCount": 1,
                            "VolumeSizeInGB": 1,
                        },
                        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
                    },
                    "End": True,
                }
            },
        },
    )


@pytest.fixture
def new_training_jobs(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Set `status` (and `reason`) in the returned dict to give new training jobs that status."""
    settings: dict[str, Any] = {}
    original = sagemaker_models.SageMakerModelBackend.create_training_job

    def create_training_job(self: Any, *args: Any, **kwargs: Any) -> Any:
        job = original(self, *args, **kwargs)
        if "status" in settings:
            job.training_job_status = settings["status"]
            job.failure_reason = settings.get("reason")
        return job

    monkeypatch.setattr(sagemaker_models.SageMakerModelBackend, "create_training_job", create_training_job)
    return settings


def test_create_training_job_sync_returns_the_completed_job(emulator: Emulator) -> None:
    job = unique("train")

    execution = run(emulator, training_machine(emulator), {"job": job})

    assert execution["status"] == "SUCCEEDED"
    output = json.loads(execution["output"])
    assert output["TrainingJobName"] == job
    assert output["TrainingJobStatus"] == "Completed"
    assert isinstance(output["CreationTime"], int)  # epoch milliseconds, as Step Functions outputs them
    assert output["ModelArtifacts"]["S3ModelArtifacts"].endswith(f"{job}/output/model.tar.gz")
    types = [event["type"] for event in history(emulator, execution["executionArn"])]
    assert types.index("TaskSubmitted") < types.index("TaskSucceeded")


def test_a_failed_training_job_fails_the_state_with_its_reason(
    emulator: Emulator, new_training_jobs: dict[str, Any]
) -> None:
    new_training_jobs.update(status="Failed", reason="AlgorithmError: loss diverged at epoch 3")

    execution = run(emulator, training_machine(emulator), {"job": unique("train")})

    assert execution["status"] == "FAILED"
    assert execution["error"] == "States.TaskFailed"
    cause = json.loads(execution["cause"])
    assert cause["TrainingJobStatus"] == "Failed"
    assert cause["FailureReason"] == "AlgorithmError: loss diverged at epoch 3"


def test_the_sync_task_waits_while_the_job_is_in_progress(
    emulator: Emulator, new_training_jobs: dict[str, Any]
) -> None:
    new_training_jobs["status"] = "InProgress"
    job = unique("train")
    sfn = emulator.client("stepfunctions")
    execution_arn = sfn.start_execution(
        stateMachineArn=training_machine(emulator), input=json.dumps({"job": job})
    )["executionArn"]
    jobs = sagemaker_models.sagemaker_backends["123456789012"]["us-east-1"].training_jobs
    wait_for(lambda: jobs.get(job), "the training job to be created")
    # Polled at least once after the job exists: the task is still waiting on it.
    wait_for(
        lambda: True if any(e["type"] == "TaskSubmitted" for e in history(emulator, execution_arn)) else None,
        "TaskSubmitted",
    )
    assert sfn.describe_execution(executionArn=execution_arn)["status"] == "RUNNING"

    jobs[job].training_job_status = "Completed"

    execution = finished(emulator, execution_arn)
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"])["TrainingJobStatus"] == "Completed"


@pytest.mark.parametrize(
    ("resource", "parameters", "status_key"),
    [
        (
            "createTransformJob",
            {
                "TransformJobName.$": "$.job",
                "ModelName": "churn-model",
                "TransformInput": {
                    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://in/x"}}
                },
                "TransformOutput": {"S3OutputPath": "s3://out/x"},
                "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
            },
            "TransformJobStatus",
        ),
        (
            "createProcessingJob",
            {
                "ProcessingJobName.$": "$.job",
                "RoleArn": SAGEMAKER_ROLE,
                "AppSpecification": {"ImageUri": "process:latest"},
                "ProcessingResources": {
                    "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1}
                },
            },
            "ProcessingJobStatus",
        ),
    ],
)
def test_transform_and_processing_jobs_sync_too(
    emulator: Emulator, resource: str, parameters: dict[str, Any], status_key: str
) -> None:
    machine = create_machine(
        emulator,
        {
            "StartAt": "Job",
            "States": {
                "Job": {
                    "Type": "Task",
                    "Resource": f"arn:aws:states:::sagemaker:{resource}.sync",
                    "Parameters": parameters,
                    "End": True,
                }
            },
        },
    )

    execution = run(emulator, machine, {"job": unique("job")})

    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"])[status_key] == "Completed"


def test_a_failed_sagemaker_call_is_a_sagemaker_error(emulator: Emulator) -> None:
    machine = create_machine(
        emulator,
        {
            "StartAt": "Deploy",
            "States": {
                "Deploy": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::sagemaker:createEndpoint",
                    "Parameters": {"EndpointName": "churn", "EndpointConfigName": "no-such-config"},
                    "End": True,
                }
            },
        },
    )

    execution = run(emulator, machine, {})

    assert execution["status"] == "FAILED"
    assert execution["error"] == "SageMaker.AmazonSageMakerException"
    assert "Service: AmazonSageMaker; Status Code: 400; Error Code: ValidationException" in execution["cause"]


def waiting_machine(emulator: Emulator) -> tuple[str, str]:
    """A machine whose one task waits for a task token, handed out through an SQS message."""
    sqs = emulator.client("sqs")
    queue_url = sqs.create_queue(QueueName=unique("tokens"))["QueueUrl"]
    machine = create_machine(
        emulator,
        {
            "StartAt": "Await approval",
            "States": {
                "Await approval": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                    "Parameters": {"QueueUrl": queue_url, "MessageBody": {"token.$": "$$.Task.Token"}},
                    "TimeoutSeconds": 604800,
                    "End": True,
                }
            },
        },
    )
    return machine, queue_url


def handed_out_token(emulator: Emulator, queue_url: str) -> str:
    def probe() -> str | None:
        messages = emulator.client("sqs").receive_message(QueueUrl=queue_url).get("Messages", [])
        return str(json.loads(messages[0]["Body"])["token"]) if messages else None

    return wait_for(probe, "the task token")


def test_stopping_a_run_that_waits_for_a_task_token_aborts_it(emulator: Emulator) -> None:
    machine, queue_url = waiting_machine(emulator)
    sfn = emulator.client("stepfunctions")
    execution = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    handed_out_token(emulator, queue_url)

    sfn.stop_execution(executionArn=execution, error="Cancelled", cause="Cancelled by alice.")

    assert finished(emulator, execution)["status"] == "ABORTED"


def test_send_task_failure_keeps_its_cause(emulator: Emulator) -> None:
    machine, queue_url = waiting_machine(emulator)
    sfn = emulator.client("stepfunctions")
    execution = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    token = handed_out_token(emulator, queue_url)

    sfn.send_task_failure(taskToken=token, error="ApprovalRejected", cause="Recall is too low.")

    assert finished(emulator, execution)["status"] == "FAILED"
    failed = [event for event in history(emulator, execution) if event["type"] == "TaskFailed"]
    assert failed[0]["taskFailedEventDetails"]["cause"] == "Recall is too low."
