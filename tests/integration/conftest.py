"""The local cloud, started once per test session and deployed from the repository's template.yaml."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from cirrus.client import CirrusClient
from cirrus.localcloud.cloud import LocalCloud, LocalCloudState
from cirrus.localcloud.receiver import Receiver, start_receiver
from tests.support.aws import ROOT

ROLES = ("ml_engineer", "data_scientist", "model_reviewer", "admin")


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    """A local HTTP receiver for notifications, allowed as a destination by the local cloud."""
    server = start_receiver()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def local_cloud(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[LocalCloud]:
    """The whole platform on moto: template deployed, a user per role, the API on 127.0.0.1."""
    cloud = LocalCloud(
        ROOT,
        state_dir=tmp_path_factory.mktemp("local-cloud-state"),
        local_receivers=[receiver.origin],
    )
    cloud.start()
    try:
        yield cloud
    finally:
        cloud.stop()


@pytest.fixture(scope="session")
def state(local_cloud: LocalCloud) -> LocalCloudState:
    return local_cloud.state


@pytest.fixture(scope="session")
def clients(local_cloud: LocalCloud) -> dict[str, CirrusClient]:
    """An API client per role, each with its user's real Cognito ID token."""
    return {role: CirrusClient(local_cloud.state.api_url, local_cloud.token(role)) for role in ROLES}


@pytest.fixture
def model_id() -> str:
    """A model id no other test uses (the local cloud lives for the whole session)."""
    return f"it_{uuid.uuid4().hex[:12]}"


@dataclass
class EventTap:
    """An SQS queue subscribed to every Cirrus event on the deployed bus."""

    sqs: Any
    queue_url: str

    def drain(self) -> list[dict[str, Any]]:
        received: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            )
            messages = batch.get("Messages", [])
            if not messages:
                return received
            for message in messages:
                received.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture(scope="session")
def event_tap(local_cloud: LocalCloud) -> EventTap:
    """Lifecycle events as they arrive on the deployed bus, through a real rule and SQS target."""
    emulator = local_cloud.emulator
    sqs = emulator.client("sqs")
    events = emulator.client("events")
    queue_url = sqs.create_queue(QueueName="integration-event-tap")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    bus = "cirrus-dev"
    events.put_rule(
        Name="integration-event-tap",
        EventBusName=bus,
        EventPattern=json.dumps({"source": [{"prefix": "cirrus."}]}),
    )
    events.put_targets(
        Rule="integration-event-tap", EventBusName=bus, Targets=[{"Id": "tap", "Arn": queue_arn}]
    )
    return EventTap(sqs, queue_url)
