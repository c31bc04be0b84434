"""The sqs_event_sources hook: SQS event source mappings polled, batched and settled as Lambda does.

Each test wires a queue to a function whose handler records every record it gets on a "tap" queue
and follows the orders in the message body: report itself failed while its receive count is below
`fail_until`, raise while below `raise_until`, set its own visibility timeout on its first receive.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from moto.sqs.models import sqs_backends

from cirrus.localcloud.emulator import Emulator
from cirrus.localcloud.hooks import sqs_event_sources
from cirrus.localcloud.hooks.sqs_event_sources import EventSourcePoller, Settled
from cirrus.localcloud.provisioner import TemplateError, deploy
from tests.unit.localcloud.conftest import Deployer
from tests.unit.localcloud.deploy_fixtures import write_project
from tests.unit.localcloud.helpers import unique, wait_for

EMULATOR_HOOKS = ("cirrus.localcloud.hooks.lambda_runtime", "cirrus.localcloud.hooks.sqs_event_sources")

HANDLER = """
    import json
    import os
    import time

    import boto3

    SQS = boto3.client("sqs")


    def handler(event, context):
        failures = []
        crash = False
        for record in event["Records"]:
            order = json.loads(record["body"])
            count = int(record["attributes"]["ApproximateReceiveCount"])
            note = {"record": record, "seen_at": time.time() * 1000}
            if order.get("visibility") and count == 1:
                account, name = record["eventSourceARN"].split(":")[4:6]
                url = SQS.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
                SQS.change_message_visibility(
                    QueueUrl=url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=order["visibility"]
                )
                note["changed_at"] = time.time() * 1000
                failures.append(record["messageId"])
            if count < order.get("fail_until", 0):
                failures.append(record["messageId"])
            if count < order.get("raise_until", 0):
                crash = True
            SQS.send_message(QueueUrl=os.environ["TAP"], MessageBody=json.dumps(note))
        if crash:
            raise RuntimeError("the handler failed the batch")
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}
"""


@dataclass
class Wiring:
    """A queue mapped to the recording function, and what the function recorded."""

    emulator: Emulator
    queue_url: str
    queue_arn: str
    tap_url: str
    function: str
    uuid: str = ""
    notes: list[dict[str, Any]] = field(default_factory=list)

    def send(self, key: str, **order: Any) -> str:
        """Send an order; returns its message id."""
        body = json.dumps({"key": key, **order})
        return str(
            self.emulator.client("sqs").send_message(QueueUrl=self.queue_url, MessageBody=body)["MessageId"]
        )

    def send_batch(self, orders: dict[str, dict[str, Any]]) -> dict[str, str]:
        """Send orders in one SendMessageBatch; returns key -> message id."""
        entries = [
            {"Id": key, "MessageBody": json.dumps({"key": key, **order})} for key, order in orders.items()
        ]
        answer = self.emulator.client("sqs").send_message_batch(QueueUrl=self.queue_url, Entries=entries)
        return {item["Id"]: str(item["MessageId"]) for item in answer["Successful"]}

    def read_tap(self) -> list[dict[str, Any]]:
        """Every note the function wrote so far, in order of arrival."""
        sqs = self.emulator.client("sqs")
        while True:
            messages = sqs.receive_message(QueueUrl=self.tap_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return self.notes
            for message in messages:
                self.notes.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.tap_url, ReceiptHandle=message["ReceiptHandle"])

    def counts(self, message_id: str) -> list[int]:
        """The ApproximateReceiveCount of each delivery of a message, in order."""
        return [
            int(note["record"]["attributes"]["ApproximateReceiveCount"])
            for note in self.read_tap()
            if note["record"]["messageId"] == message_id
        ]

    def queue_depth(self) -> tuple[int, int]:
        """(visible, in flight) messages on the mapped queue."""
        attributes = self.emulator.client("sqs").get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]), int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )


def poller() -> EventSourcePoller:
    active = sqs_event_sources.active_poller()
    assert active is not None
    return active


def settled_with(message_id: str) -> list[Settled]:
    return [item for item in poller().settled if message_id in (*item.delivered, *item.kept)]


def wait_delivered(message_id: str) -> Settled:
    """The batch in which the message was finally delivered (and deleted)."""

    def probe() -> Settled | None:
        return next((item for item in settled_with(message_id) if message_id in item.delivered), None)

    return wait_for(probe, f"message {message_id} to be delivered")


def wire(
    emulator: Emulator, deploy: Deployer, queue_attributes: dict[str, str] | None = None, **mapping: Any
) -> Wiring:
    sqs = emulator.client("sqs")
    queue_url = sqs.create_queue(QueueName=unique("source"), Attributes=queue_attributes or {})["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    tap_url = sqs.create_queue(QueueName=unique("tap"))["QueueUrl"]
    function = deploy.function({"app.py": HANDLER}, Timeout=30, Environment={"Variables": {"TAP": tap_url}})
    wiring = Wiring(emulator, queue_url, queue_arn, tap_url, function)
    created = emulator.client("lambda").create_event_source_mapping(
        FunctionName=function, EventSourceArn=queue_arn, **mapping
    )
    wiring.uuid = str(created["UUID"])
    return wiring


REPORTING = {"FunctionResponseTypes": ["ReportBatchItemFailures"]}


# ---------------------------------------------------------------------------------------- delivery


def test_a_sent_message_reaches_the_function_once_as_an_sqs_event_and_is_deleted(
    emulator: Emulator, deploy: Deployer
) -> None:
    wiring = wire(emulator, deploy)
    body = json.dumps({"key": "hello"})
    message_id = emulator.client("sqs").send_message(
        QueueUrl=wiring.queue_url,
        MessageBody=body,
        MessageAttributes={
            "kind": {"DataType": "String", "StringValue": "greeting"},
            "raw": {"DataType": "Binary", "BinaryValue": b"\x01\x02"},
        },
    )["MessageId"]

    wait_delivered(message_id)

    (note,) = wiring.read_tap()
    record = note["record"]
    assert record["messageId"] == message_id
    assert record["body"] == body
    assert record["md5OfBody"] == hashlib.md5(body.encode(), usedforsecurity=False).hexdigest()
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == wiring.queue_arn
    assert record["awsRegion"] == emulator.region
    assert record["receiptHandle"]
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= set(record["attributes"])
    assert record["messageAttributes"] == {
        "kind": {
            "stringValue": "greeting",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        },
        "raw": {"binaryValue": "AQI=", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"},
    }
    assert wiring.queue_depth() == (0, 0)


def test_send_message_no_longer_invokes_the_function_itself(emulator: Emulator, deploy: Deployer) -> None:
    wiring = wire(emulator, deploy)
    queue_name = wiring.queue_arn.split(":")[5]

    queue = sqs_backends[emulator_account(emulator)][emulator.region].queues[queue_name]

    assert queue.lambda_event_source_mappings == {}  # moto's SendMessage loop has nothing to call
    listed = emulator.client("lambda").list_event_source_mappings(FunctionName=wiring.function)
    assert [item["UUID"] for item in listed["EventSourceMappings"]] == [wiring.uuid]
    assert emulator.client("lambda").get_event_source_mapping(UUID=wiring.uuid)["State"] == "Enabled"
    assert wiring.uuid in poller().polling


def emulator_account(emulator: Emulator) -> str:
    return str(emulator.client("sts").get_caller_identity()["Account"])


# ---------------------------------------------------------------------------------------- settling


def test_a_reported_item_failure_keeps_only_that_message_until_its_visibility_timeout(
    emulator: Emulator, deploy: Deployer
) -> None:
    wiring = wire(
        emulator,
        deploy,
        {"VisibilityTimeout": "3"},  # outlasts the batching window and a cold start
        BatchSize=10,
        MaximumBatchingWindowInSeconds=1,
        **REPORTING,
    )

    ids = wiring.send_batch({"first": {}, "failing": {"fail_until": 2}, "last": {}})
    wait_delivered(ids["failing"])

    (failed_batch,) = [item for item in settled_with(ids["failing"]) if item.kept]
    assert failed_batch.kept == (ids["failing"],)
    assert wiring.counts(ids["failing"])[-1] == 2
    for key in ("first", "last"):
        assert wiring.counts(ids[key])[0] == 1
        assert all(ids[key] not in item.kept for item in settled_with(ids[key]))
    assert wiring.queue_depth() == (0, 0)


def test_item_failures_are_ignored_without_report_batch_item_failures(
    emulator: Emulator, deploy: Deployer
) -> None:
    wiring = wire(emulator, deploy, {"VisibilityTimeout": "1"})

    message_id = wiring.send("failing", fail_until=2)
    settled = wait_delivered(message_id)

    assert settled.kept == ()
    assert wiring.counts(message_id) == [1]
    assert wiring.queue_depth() == (0, 0)


def test_a_visibility_timeout_the_handler_sets_is_kept(emulator: Emulator, deploy: Deployer) -> None:
    wiring = wire(emulator, deploy, {"VisibilityTimeout": "20"}, **REPORTING)

    message_id = wiring.send("backing-off", visibility=2)
    wait_delivered(message_id)

    first, second = [note for note in wiring.read_tap() if note["record"]["messageId"] == message_id]
    assert second["record"]["attributes"]["ApproximateReceiveCount"] == "2"
    # Not made visible again when the batch settled: it stayed away the 2 s the handler asked for,
    # not the queue's 20 s. A lower bound, so a slow machine cannot fail it.
    assert second["seen_at"] - first["changed_at"] >= 1900


def test_an_errored_invoke_keeps_every_message_of_the_batch(emulator: Emulator, deploy: Deployer) -> None:
    wiring = wire(
        emulator, deploy, {"VisibilityTimeout": "3"}, BatchSize=10, MaximumBatchingWindowInSeconds=1
    )

    ids = wiring.send_batch({"crashing": {"raise_until": 2}, "innocent": {}})
    wait_delivered(ids["crashing"])
    wait_delivered(ids["innocent"])

    (errored,) = [item for item in poller().settled if item.errored and ids["crashing"] in item.kept]
    assert set(errored.kept) == set(ids.values())
    assert errored.delivered == ()
    assert wiring.counts(ids["innocent"])[:2] == [1, 2]
    assert wiring.queue_depth() == (0, 0)


def test_a_message_received_max_receive_count_times_goes_to_the_dead_letter_queue(
    emulator: Emulator, deploy: Deployer
) -> None:
    sqs = emulator.client("sqs")
    dlq_url = sqs.create_queue(QueueName=unique("dlq"))["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})
    wiring = wire(emulator, deploy, {"VisibilityTimeout": "1", "RedrivePolicy": redrive})

    message_id = wiring.send("poison", raise_until=99)

    def dead_lettered() -> dict[str, Any] | None:
        messages = sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=1).get("Messages", [])
        return messages[0] if messages else None

    dead = wait_for(dead_lettered, "the message to reach the dead-letter queue")
    assert dead["MessageId"] == message_id
    assert wiring.counts(message_id) == [1, 2]
    assert wiring.queue_depth() == (0, 0)


# ---------------------------------------------------------------------------------------- mapping state


def test_a_disabled_mapping_delivers_nothing_until_it_is_enabled(
    emulator: Emulator, deploy: Deployer
) -> None:
    disabled = wire(emulator, deploy, Enabled=False)
    enabled = wire(emulator, deploy)  # created later: the pass that polls it has seen the disabled one
    held = disabled.send("held")
    wait_for(lambda: True if enabled.uuid in poller().polling else None, "the enabled mapping to be polled")

    wait_delivered(enabled.send("passing"))

    assert disabled.uuid not in poller().polling
    assert settled_with(held) == []
    assert disabled.queue_depth() == (1, 0)

    emulator.client("lambda").update_event_source_mapping(UUID=disabled.uuid, Enabled=True)
    wait_delivered(held)
    assert disabled.counts(held) == [1]


# ---------------------------------------------------------------------------------------- provisioning


SAM_TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Work:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 30
  Tap:
    Type: AWS::SQS::Queue
  Consumer:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code/
      Handler: app.handler
      Runtime: python3.13
      Timeout: 20
      Environment:
        Variables:
          TAP: !Ref Tap
      Events:
        Work:
          Type: SQS
          Properties:
            Queue: !GetAtt Work.Arn
            BatchSize: 5
            MaximumBatchingWindowInSeconds: 1
            FunctionResponseTypes: [ReportBatchItemFailures]
            ScalingConfig:
              MaximumConcurrency: 3
            Enabled: true
"""


def test_a_sam_sqs_event_deploys_a_mapping_with_its_settings_that_delivers(
    emulator: Emulator, tmp_path: Path
) -> None:
    deployment = deploy(
        emulator, write_project(tmp_path, SAM_TEMPLATE, {"app.py": HANDLER}), stack_name=unique("sqs")
    )

    (resource,) = deployment.of_type("AWS::Lambda::EventSourceMapping")
    mapping = emulator.client("lambda").get_event_source_mapping(UUID=resource.physical_id)
    assert mapping["EventSourceArn"] == deployment.resource("Work").attributes["Arn"]
    assert mapping["FunctionArn"] == deployment.resource("Consumer").attributes["Arn"]
    assert mapping["BatchSize"] == 5
    assert mapping["MaximumBatchingWindowInSeconds"] == 1
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 3}
    assert mapping["State"] == "Enabled"
    assert resource.attributes["Id"] == resource.physical_id
    assert resource.notes == ()

    sent = emulator.client("sqs").send_message(
        QueueUrl=deployment.physical_id("Work"), MessageBody='{"key": "x"}'
    )
    wait_delivered(sent["MessageId"])


@pytest.mark.parametrize(
    ("event", "extra"),
    [
        pytest.param(
            """
          Type: DynamoDB
          Properties:
            Stream: !GetAtt Table.StreamArn
            StartingPosition: LATEST
        """,
            """
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      StreamSpecification: {StreamViewType: NEW_IMAGE}
        """,
            id="dynamodb-stream",
        ),
        pytest.param(
            """
          Type: SQS
          Properties:
            Queue: !GetAtt Table.Arn
            FilterCriteria:
              Filters: [{Pattern: '{"body": {"kind": ["a"]}}'}]
        """,
            """
  Table:
    Type: AWS::SQS::Queue
        """,
            id="filter-criteria",
        ),
    ],
)
def test_sources_the_local_cloud_cannot_poll_are_refused_before_anything_is_created(
    emulator: Emulator, tmp_path: Path, event: str, extra: str
) -> None:
    stack = unique("refused-source")
    template = (
        "Transform: AWS::Serverless-2016-10-31\nResources:\n"
        + extra.rstrip()
        + """
  Consumer:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code/
      Handler: app.handler
      Runtime: python3.13
      Events:
        Source:"""
        + event.rstrip()
        + "\n"
    )
    path = write_project(tmp_path, template, {"app.py": "def handler(event, context):\n    return None\n"})

    with pytest.raises(
        TemplateError, match=r"ConsumerSource \(AWS::Lambda::EventSourceMapping\).*SQS queues only"
    ):
        deploy(emulator, path, stack_name=stack)

    functions = emulator.client("lambda").list_functions()["Functions"]
    assert not [function for function in functions if function["FunctionName"].startswith(stack)]
