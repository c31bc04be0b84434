"""`Await approval` and `resume_pipeline`: a real execution waits on its token until the decision.

moto's Step Functions interpreter cannot invoke a Lambda here, so the waiting task is an SQS
`sendMessage.waitForTaskToken` that hands over the same payload the compiled task gives the Lambda
(`{"task_token", "state"}`); the test then invokes the handlers as Lambda would.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cirrus_core.caller import Caller
from cirrus_core.errors import PipelineStepError
from cirrus_core.pipelines.approvals import (
    Approvals,
    ApprovalWaits,
    RegistryDecision,
    StepFunctionsTokens,
    rejection_cause,
)
from cirrus_core.pipelines.run_state import read_state
from cirrus_core.principal import Principal
from cirrus_core.registry.bodies import RegisterModelRequest
from cirrus_core.registry.models import TrainingMetadata
from cirrus_core.registry.wiring import registry_service
from tests.support.api import LambdaContextStub
from tests.support.aws import AwsResources, create_resources, load_sample
from tests.support.events import assert_valid_event
from tests.support.registry import REVIEWER_CLAIMS
from tests.unit.pipelines.steps_support import (
    ACTOR,
    PIPELINE_ID,
    PIPELINES_TABLE,
    RUN_ID,
    execution_event,
    make_prepare,
    put_dataset,
    write_recipes,
)

REVIEWER = Principal(
    sub=REVIEWER_CLAIMS["sub"],
    username=REVIEWER_CLAIMS["cognito:username"],
    groups=frozenset({"model_reviewer"}),
)
STARTER = Principal(sub=ACTOR["sub"], username=ACTOR["username"], groups=frozenset(ACTOR["groups"]))
WAIT_KEY = {"pk": {"S": f"APPROVAL#{PIPELINE_ID}#1"}, "sk": {"S": "WAIT"}}
ROLE_ARN = "arn:aws:iam::123456789012:role/pipeline"


class Machine:
    """A state machine whose `Await approval` waits on its task token, as the compiled one does."""

    def __init__(self, aws: AwsResources) -> None:
        self.sfn = boto3.client("stepfunctions", region_name="us-east-1")
        self.sqs = aws.sqs
        self.queue = aws.sqs.create_queue(QueueName="approval-requests")["QueueUrl"]
        asl = {
            "StartAt": "Await approval",
            "States": {
                "Await approval": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                    "Parameters": {
                        "QueueUrl": self.queue,
                        "MessageBody": {"task_token.$": "$$.Task.Token", "state.$": "$"},
                    },
                    "TimeoutSecondsPath": "$.approval.timeout_seconds",
                    "ResultPath": "$.approval_decision",
                    "Next": "Deployment hand-off",
                },
                "Deployment hand-off": {"Type": "Pass", "End": True},
            },
        }
        self.arn = self.sfn.create_state_machine(
            name="approvals", definition=json.dumps(asl), roleArn=ROLE_ARN
        )["stateMachineArn"]

    def start(self, state: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Start an execution; returns its ARN and the payload its waiting task was given."""
        execution = self.sfn.start_execution(stateMachineArn=self.arn, name=RUN_ID, input=json.dumps(state))
        deadline = time.monotonic() + 10
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.queue, WaitTimeSeconds=0).get("Messages", [])
            if messages:
                return execution["executionArn"], json.loads(messages[0]["Body"])
            assert time.monotonic() < deadline, "the execution never reached Await approval"
            time.sleep(0.02)

    def outcome(self, arn: str) -> dict[str, Any]:
        deadline = time.monotonic() + 10
        while (described := self.sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            assert time.monotonic() < deadline, "the execution is still waiting"
            time.sleep(0.02)
        return dict(described)

    def stop_all(self) -> None:
        for execution in self.sfn.list_executions(stateMachineArn=self.arn, statusFilter="RUNNING")[
            "executions"
        ]:
            self.sfn.stop_execution(executionArn=execution["executionArn"])


@pytest.fixture
def sfn_aws() -> Iterator[AwsResources]:
    """The test resources, with moto's Step Functions interpreter running executions."""
    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield create_resources()


@pytest.fixture
def machine(sfn_aws: AwsResources) -> Iterator[Machine]:
    waiting = Machine(sfn_aws)
    yield waiting
    waiting.stop_all()


@pytest.fixture
def state(sfn_aws: AwsResources, tmp_path: Path) -> dict[str, Any]:
    """A run whose version 1 of `churn` is registered (pending) and which now awaits approval."""
    put_dataset(sfn_aws)
    prepared = make_prepare(sfn_aws, write_recipes(tmp_path / "recipes")).prepare(execution_event())
    registry_service().register(
        RegisterModelRequest(
            model_name=PIPELINE_ID,
            model_type="xgboost",
            framework_version="1.7-1",
            training_metadata=TrainingMetadata(dataset_version="v1"),
            artifact_location=prepared["jobs"]["train"]["output"]["model_uri"],
        ),
        Caller(STARTER),
    )
    prepared["registration"] = {
        "model_id": PIPELINE_ID,
        "version": 1,
        "approval_status": "PendingManualApproval",
    }
    return prepared


def await_approval(payload: dict[str, Any]) -> dict[str, Any]:
    from functions.pipelines.steps.await_approval import lambda_handler

    return dict(lambda_handler(payload, LambdaContextStub()))


def resume(envelope: dict[str, Any]) -> dict[str, Any]:
    from functions.pipelines.steps.resume_pipeline import lambda_handler

    return dict(lambda_handler(envelope, LambdaContextStub()))


def decide(aws: AwsResources, verb: str, comment: str) -> dict[str, Any]:
    """A reviewer decides on version 1; returns the registry's event, as EventBridge delivers it."""
    service = registry_service()
    decision = service.approve if verb == "approve" else service.reject
    decision(PIPELINE_ID, 1, comment, Caller(REVIEWER))
    [event] = [e for e in aws.published_events() if e["detail-type"] in ("model.approved", "model.rejected")]
    assert_valid_event(event)
    event.setdefault("account", "123456789012")  # EventBridge sends it; moto's SQS delivery leaves it out
    return event


def wait_item(aws: AwsResources) -> dict[str, Any] | None:
    return aws.dynamodb.get_item(TableName=PIPELINES_TABLE, Key=WAIT_KEY).get("Item")


# -- round trips -----------------------------------------------------------------------------------


def test_an_approval_resumes_the_waiting_run_with_the_decision(
    sfn_aws: AwsResources, machine: Machine, state: dict[str, Any]
) -> None:
    arn, payload = machine.start(state)
    await_approval(payload)

    resume(decide(sfn_aws, "approve", "Holdout looks right."))

    outcome = machine.outcome(arn)
    assert outcome["status"] == "SUCCEEDED"
    assert json.loads(outcome["output"])["approval_decision"] == {
        "decision": "approved",
        "by": "bob@example.com",
        "comment": "Holdout looks right.",
    }
    assert wait_item(sfn_aws) is None


def test_a_rejection_fails_the_waiting_run_with_approval_rejected(
    sfn_aws: AwsResources, machine: Machine, state: dict[str, Any]
) -> None:
    arn, payload = machine.start(state)
    await_approval(payload)

    resume(decide(sfn_aws, "reject", "Calibration is off."))

    outcome = machine.outcome(arn)
    assert (outcome["status"], outcome["error"]) == ("FAILED", "ApprovalRejected")
    assert wait_item(sfn_aws) is None


def test_waiting_stores_the_token_and_asks_for_a_review(
    sfn_aws: AwsResources, machine: Machine, state: dict[str, Any]
) -> None:
    _, payload = machine.start(state)
    before = int(time.time())

    outcome = await_approval(payload)

    assert outcome == {"model_id": PIPELINE_ID, "version": 1, "decision": None, "waiting": True}
    item = wait_item(sfn_aws)
    assert item is not None
    assert item["task_token"]["S"] == payload["task_token"]
    assert item["execution_arn"]["S"] == state["run"]["execution_arn"]
    assert (item["run_id"]["S"], item["pipeline_id"]["S"]) == (RUN_ID, PIPELINE_ID)
    assert before + 7 * 86400 <= int(item["expires_at"]["N"]) <= int(time.time()) + 7 * 86400
    [requested] = [e for e in sfn_aws.published_events() if e["detail-type"] == "model.approval_requested"]
    assert requested["detail"]["metadata"]["actor"] == ACTOR["username"]


def test_a_version_approved_before_the_wait_is_answered_at_once(
    sfn_aws: AwsResources, machine: Machine, state: dict[str, Any]
) -> None:
    decide(sfn_aws, "approve", "Already reviewed.")
    arn, payload = machine.start(state)

    outcome = await_approval(payload)

    assert outcome["decision"] == "approved"
    assert json.loads(machine.outcome(arn)["output"])["approval_decision"]["by"] == "bob@example.com"
    assert wait_item(sfn_aws) is None


def test_a_version_rejected_before_the_wait_fails_the_run_at_once(
    sfn_aws: AwsResources, machine: Machine, state: dict[str, Any]
) -> None:
    decide(sfn_aws, "reject", "No.")
    arn, payload = machine.start(state)

    await_approval(payload)

    assert machine.outcome(arn)["error"] == "ApprovalRejected"


def test_a_decision_no_run_waits_on_does_nothing(sfn_aws: AwsResources, state: dict[str, Any]) -> None:
    envelope = decide(sfn_aws, "approve", "fine")

    assert resume(envelope) == {"model_id": PIPELINE_ID, "version": 1, "resumed": False}


def test_a_wait_whose_execution_is_gone_is_cleared(sfn_aws: AwsResources, state: dict[str, Any]) -> None:
    sfn_aws.dynamodb.put_item(
        TableName=PIPELINES_TABLE,
        Item={**WAIT_KEY, "task_token": {"S": "token-of-a-timed-out-run"}, "expires_at": {"N": "1"}},
    )

    outcome = resume(decide(sfn_aws, "approve", "late"))

    assert outcome["resumed"] is False
    assert wait_item(sfn_aws) is None


def test_resume_ignores_events_that_are_not_decisions(sfn_aws: AwsResources) -> None:
    event = load_sample("eventbridge/model.registered")

    assert resume(event) == {"resumed": False}


def test_the_sample_decision_events_parse() -> None:
    for name in ("model.approved", "model.rejected"):
        detail = RegistryDecision.model_validate(load_sample(f"eventbridge/{name}")["detail"])
        assert detail.data.model_id == "fraud_detection_v2"


# -- what is sent ----------------------------------------------------------------------------------


class RecordingTokens:
    """TaskTokens that record what would be sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    def succeed(self, task_token: str, output: dict[str, Any]) -> bool:
        self.sent.append(("success", output))
        return True

    def fail(self, task_token: str, error: str, cause: str) -> bool:
        self.sent.append(("failure", (error, cause)))
        return True


def test_a_rejection_names_the_reviewer_and_their_comment(aws: AwsResources) -> None:
    tokens = RecordingTokens()
    waits = ApprovalWaits(aws.dynamodb, PIPELINES_TABLE)
    aws.dynamodb.put_item(TableName=PIPELINES_TABLE, Item={**WAIT_KEY, "task_token": {"S": "t"}})
    approvals = Approvals(waits, tokens, lambda *_: pytest.fail("not read"))
    envelope = load_sample("eventbridge/model.rejected")["detail"]
    envelope["data"].update(model_id=PIPELINE_ID, version=1)

    approvals.resume(RegistryDecision.model_validate(envelope))

    cause = (
        "Version 1 of 'churn' was rejected by bob@example.com: Calibration is off on the high-value segment."
    )
    assert tokens.sent == [("failure", ("ApprovalRejected", cause))]


def test_a_rejection_without_a_comment_says_so() -> None:
    assert rejection_cause("churn", 2, "bob", "") == "Version 2 of 'churn' was rejected by bob (no comment)"


def test_step_functions_tokens_report_a_gone_token_as_undelivered(sfn_aws: AwsResources) -> None:
    tokens = StepFunctionsTokens(boto3.client("stepfunctions", region_name="us-east-1"))

    assert tokens.succeed("no-such-token", {"decision": "approved"}) is False
    assert tokens.fail("no-such-token", "ApprovalRejected", "no") is False


def test_waiting_needs_the_registration(
    aws: AwsResources, state_without_registration: dict[str, Any]
) -> None:
    approvals = Approvals(
        ApprovalWaits(aws.dynamodb, PIPELINES_TABLE), RecordingTokens(), lambda *_: pytest.fail("not read")
    )

    with pytest.raises(PipelineStepError, match="registration"):
        approvals.await_decision("token", read_state({"state": state_without_registration}))


@pytest.fixture
def state_without_registration(aws: AwsResources, tmp_path: Path) -> dict[str, Any]:
    put_dataset(aws)
    return make_prepare(aws, write_recipes(tmp_path / "recipes")).prepare(execution_event())
