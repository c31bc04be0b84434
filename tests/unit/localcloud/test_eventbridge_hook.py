"""The eventbridge hook: rules deliver to Lambda, Step Functions, SNS and SQS, as EventBridge does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from cirrus.localcloud.emulator import Emulator
from cirrus.localcloud.hooks.eventbridge import (
    MISSING,
    backoff_seconds,
    classify,
    delivered_event,
    json_path,
    render_template,
    target_input,
)
from tests.unit.localcloud.conftest import Deployer
from tests.unit.localcloud.helpers import unique, wait_for

EMULATOR_HOOKS = (
    "cirrus.localcloud.hooks.lambda_runtime",
    "cirrus.localcloud.hooks.eventbridge",
    "cirrus.localcloud.hooks.stepfunctions",
)
SOURCE = "cirrus.registry"
DETAIL = {"model_id": "churn", "version": 3, "stage": "staging", "tags": ["a", "b"]}


class Bus:
    """An event bus with helpers to add rules and targets."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.events = emulator.client("events")
        self.sqs = emulator.client("sqs")
        self.name = unique("bus")
        self.events.create_event_bus(Name=self.name)

    def rule(self, *targets: dict[str, Any], detail_type: str) -> str:
        name = unique("rule")
        arn = self.events.put_rule(
            Name=name,
            EventBusName=self.name,
            EventPattern=json.dumps({"source": [SOURCE], "detail-type": [detail_type]}),
        )["RuleArn"]
        self.events.put_targets(
            Rule=name, EventBusName=self.name, Targets=[{"Id": f"t{i}", **t} for i, t in enumerate(targets)]
        )
        return str(arn)

    def put(self, detail_type: str, detail: dict[str, Any] = DETAIL) -> None:
        entries = self.events.put_events(
            Entries=[
                {
                    "Source": SOURCE,
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail),
                    "EventBusName": self.name,
                }
            ]
        )
        assert entries["FailedEntryCount"] == 0

    def queue(self) -> tuple[str, str]:
        url = self.sqs.create_queue(QueueName=unique("queue"))["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        return str(url), str(arn)

    def receive(self, url: str, what: str) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            messages = self.sqs.receive_message(
                QueueUrl=url, WaitTimeSeconds=1, MessageAttributeNames=["All"]
            ).get("Messages", [])
            return dict(messages[0]) if messages else None

        return wait_for(probe, what)


@pytest.fixture
def bus(emulator: Emulator) -> Bus:
    return Bus(emulator)


def function_arn(emulator: Emulator, name: str) -> str:
    return str(emulator.client("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"])


def recording_function(deploy: Deployer, seen: Path) -> str:
    """A function that writes the event it receives to `seen`."""
    return deploy.function(
        {
            "app.py": f"""
            import json
            import os

            def handler(event, context):
                partial = {str(seen)!r} + ".partial"
                with open(partial, "w") as out:
                    json.dump(event, out)
                os.replace(partial, {str(seen)!r})  # the test never reads a half-written file
            """
        }
    )


def read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.exists() else None


def test_a_rule_delivers_the_event_to_a_lambda_function(
    emulator: Emulator, deploy: Deployer, bus: Bus, tmp_path: Path
) -> None:
    seen = tmp_path / "event.json"
    name = recording_function(deploy, seen)
    bus.rule({"Arn": function_arn(emulator, name)}, detail_type="model.registered")

    bus.put("model.registered")

    event = wait_for(lambda: read_json(seen), "the function to receive the event")
    assert event["source"] == SOURCE
    assert event["detail-type"] == "model.registered"
    assert event["detail"] == DETAIL
    assert event["time"].endswith("Z")  # ISO 8601, as EventBridge sends it
    assert "ingestion-time" not in event


@pytest.mark.parametrize(
    ("target_input_config", "expected"),
    [
        (
            {
                "InputTransformer": {
                    "InputPathsMap": {"model": "$.detail.model_id", "version": "$.detail.version"},
                    "InputTemplate": (
                        '{"text": "<model> v<version> is ready", "model": <model>, "version": <version>}'
                    ),
                }
            },
            {"text": "churn v3 is ready", "model": "churn", "version": 3},
        ),
        ({"InputPath": "$.detail.tags"}, ["a", "b"]),
        ({"Input": '{"constant": true}'}, {"constant": True}),
    ],
)
def test_the_target_input_reshapes_the_event(
    bus: Bus, target_input_config: dict[str, Any], expected: Any
) -> None:
    url, arn = bus.queue()
    bus.rule({"Arn": arn, **target_input_config}, detail_type="model.promoted")

    bus.put("model.promoted")

    assert json.loads(bus.receive(url, "the transformed event")["Body"]) == expected


def test_an_undeliverable_event_goes_to_the_dead_letter_queue(bus: Bus, deploy: Deployer) -> None:
    dlq_url, dlq_arn = bus.queue()
    missing = f"arn:aws:lambda:us-east-1:123456789012:function:{unique('deleted')}"
    rule_arn = bus.rule(
        {"Arn": missing, "RetryPolicy": {"MaximumRetryAttempts": 0}, "DeadLetterConfig": {"Arn": dlq_arn}},
        detail_type="model.retired",
    )

    bus.put("model.retired")

    message = bus.receive(dlq_url, "the dead-lettered event")
    attributes = {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}
    assert attributes["ERROR_CODE"] == "RESOURCE_NOT_FOUND"
    assert attributes["RULE_ARN"] == rule_arn
    assert attributes["TARGET_ARN"] == missing
    assert attributes["RETRY_ATTEMPTS"] == "0"
    assert attributes["ERROR_MESSAGE"]
    body = json.loads(message["Body"])
    assert (body["detail-type"], body["detail"]) == ("model.retired", DETAIL)


def test_a_raising_function_is_handled_by_lambda_not_by_the_rule(
    emulator: Emulator, bus: Bus, deploy: Deployer
) -> None:
    # EventBridge invokes functions asynchronously: the delivery succeeds when Lambda accepts the
    # event, and a handler's exception goes to the function's own OnFailure destination.
    dlq_url, dlq_arn = bus.queue()
    on_failure_url, on_failure_arn = bus.queue()
    name = deploy.function(
        {
            "app.py": """
            class DriftCheckFailed(Exception):
                pass

            def handler(event, context):
                raise DriftCheckFailed(event["detail"]["model_id"])
            """
        }
    )
    emulator.client("lambda").put_function_event_invoke_config(
        FunctionName=name,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": on_failure_arn}},
    )
    bus.rule(
        {
            "Arn": function_arn(emulator, name),
            "RetryPolicy": {"MaximumRetryAttempts": 0},
            "DeadLetterConfig": {"Arn": dlq_arn},
        },
        detail_type="drift.detected",
    )

    bus.put("drift.detected")

    record = json.loads(bus.receive(on_failure_url, "the function's OnFailure record")["Body"])
    assert record["requestPayload"]["detail"] == DETAIL
    assert record["responsePayload"]["errorType"] == "DriftCheckFailed"
    assert "Messages" not in bus.sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=0)


def test_a_rule_starts_a_state_machine_execution(emulator: Emulator, bus: Bus) -> None:
    sfn = emulator.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=unique("on-event"),
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/cirrus-states",
    )["stateMachineArn"]
    bus.rule({"Arn": machine, "InputPath": "$.detail"}, detail_type="pipeline.requested")

    bus.put("pipeline.requested")
    bus.put("pipeline.requested", {**DETAIL, "version": 4})

    def two_done() -> list[dict[str, Any]] | None:
        executions = sfn.list_executions(stateMachineArn=machine)["executions"]
        done = [e for e in executions if e["status"] == "SUCCEEDED"]
        return done if len(done) == 2 else None

    executions = wait_for(two_done, "two executions")
    inputs = [json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"]) for e in executions]
    assert sorted(item["version"] for item in inputs) == [3, 4]


def test_a_rule_publishes_to_an_sns_topic(emulator: Emulator, bus: Bus) -> None:
    sns = emulator.client("sns")
    topic = sns.create_topic(Name=unique("alerts"))["TopicArn"]
    url, arn = bus.queue()
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    bus.rule({"Arn": topic, "InputPath": "$.detail"}, detail_type="alert.triggered")

    bus.put("alert.triggered")

    assert json.loads(bus.receive(url, "the SNS notification")["Body"]) == DETAIL


# -- the pure parts: input transformation, retry classification ----------------------------------

EVENT = delivered_event(
    {
        "version": "0",
        "id": "e-1",
        "detail-type": "model.registered",
        "source": SOURCE,
        "account": "123456789012",
        "time": 1717200000.0,
        "region": "us-east-1",
        "resources": ["arn:aws:s3:::models/churn"],
        "detail": {"model": {"id": "churn", "metrics": {"auc": 0.91}}, "note": 'say "hi"'},
        "ingestion-time": 1717200000.5,
    }
)


def test_delivered_events_carry_iso_time_and_no_internal_fields() -> None:
    assert EVENT["time"] == "2024-06-01T00:00:00Z"
    assert "ingestion-time" not in EVENT


def test_json_path_selects_as_eventbridge_documents() -> None:
    assert json_path(EVENT, "$.detail.model.id") == ["churn"]
    assert json_path(EVENT, "$.detail-type") == ["model.registered"]
    assert json_path(EVENT, "$.resources[0]") == ["arn:aws:s3:::models/churn"]
    assert json_path(EVENT, "$.detail.model.*") == ["churn", {"auc": 0.91}]
    assert json_path(EVENT, "$.detail.absent") == []
    with pytest.raises(ValueError, match="not a JSONPath"):
        json_path(EVENT, "detail")


def test_templates_quote_values_by_context() -> None:
    variables = {"id": "churn", "auc": 0.91, "note": 'say "hi"', "gone": MISSING}
    assert json.loads(render_template('{"id": <id>, "auc": <auc>, "gone": <gone>}', variables)) == {
        "id": "churn",
        "auc": 0.91,
        "gone": None,
    }
    assert json.loads(render_template('{"text": "<id> scored <auc>: <note><gone>"}', variables)) == {
        "text": 'churn scored 0.91: say "hi"'
    }
    assert render_template('"<id> is in state <auc>"', variables) == '"churn is in state 0.91"'
    assert render_template("<id> is in state <unknown>", variables) == "churn is in state <unknown>"


def test_predefined_variables_are_available_to_templates() -> None:
    target = {
        "InputTransformer": {
            "InputPathsMap": {},
            "InputTemplate": '{"rule": <aws.events.rule-name>, "event": <aws.events.event.json>, '
            '"header": <aws.events.event>}',
        }
    }
    rendered = json.loads(target_input(target, EVENT, "arn:aws:events:us-east-1:123456789012:rule/r", "r"))
    assert rendered["rule"] == "r"
    assert rendered["event"] == EVENT
    assert "detail" not in rendered["header"]
    assert rendered["header"]["id"] == "e-1"


def test_missing_resources_are_not_retried_but_throttling_is() -> None:
    def client_error(code: str, status: int) -> ClientError:
        return ClientError(
            {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op"
        )

    assert classify(client_error("ResourceNotFoundException", 404)).code == "RESOURCE_NOT_FOUND"
    assert not classify(client_error("ResourceNotFoundException", 404)).retriable
    assert not classify(client_error("AccessDeniedException", 403)).retriable
    assert classify(client_error("ThrottlingException", 400)).retriable
    assert classify(client_error("InternalFailure", 500)).retriable
    assert classify(EndpointConnectionError(endpoint_url="http://127.0.0.1:1")).retriable
    delays = [backoff_seconds(retry) for retry in range(10)]
    assert delays == sorted(delays)
    assert delays[-1] <= 1.0
