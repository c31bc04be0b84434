"""The publisher: an event reaches exactly the sockets that follow its model (or `*`) and may read it,
through API Gateway's management API (here the local cloud's, on loopback); gone sockets are removed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from cirrus.localcloud.provisioner import Deployment
from cirrus.localcloud.websocket import LocalWebSocketServer, WebSocketApi
from cirrus_core.feed import wiring
from tests.support.aws import load_sample
from tests.unit.feed.support import FeedWorld, invoke
from tests.unit.localcloud.helpers import wait_for

API = WebSocketApi(
    logical_id="FeedWebSocketApi", api_id="abcdef1234", stage="dev", route_selection_expression=""
)


class _NoEmulator:
    """The management API needs no emulator: its sockets have no routes to invoke."""

    endpoint_url = "http://127.0.0.1:9"
    region = "us-east-1"

    def client(self, service_name: str) -> Any:
        raise AssertionError(f"no {service_name} client is needed")


@pytest.fixture
def management(world: FeedWorld, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalWebSocketServer]:
    """API Gateway's management API for real sockets, on loopback; the publisher's callback URL."""
    deployment = Deployment(
        stack_name="feed-test",
        region="us-east-1",
        account_id="123456789012",
        parameters={},
        outputs={},
        resources={},
    )
    with LocalWebSocketServer(deployment, _NoEmulator(), api=API) as server:  # type: ignore[arg-type]
        monkeypatch.setenv("FEED_CALLBACK_URL", server.management_url)
        wiring.connection_pusher.cache_clear()
        from cirrus_core.feed.settings import get_feed_settings

        get_feed_settings.cache_clear()
        yield server
        wiring.connection_pusher.cache_clear()


class Client:
    """A real WebSocket client of the management API's server, known to the feed as `connection_id`."""

    def __init__(
        self, server: LocalWebSocketServer, world: FeedWorld, models: list[str], groups: tuple[str, ...]
    ):
        before = server.connection_ids()
        self.socket: ClientConnection = connect(server.url)
        (self.connection_id,) = server.connection_ids() - before
        world.open_connection(self.connection_id, groups=groups)
        connection = world.store.get_connection(self.connection_id)
        assert connection is not None
        if models:
            world.store.add_subscriptions(connection, models)

    def received(self) -> list[dict[str, Any]]:
        """Every message that arrived (the publisher has returned: nothing more is on its way)."""
        notices = []
        while True:
            try:
                notices.append(json.loads(self.socket.recv(timeout=0.2)))
            except TimeoutError:
                return notices


@pytest.fixture
def open_client(management: LocalWebSocketServer, world: FeedWorld) -> Iterator[Any]:
    opened: list[Client] = []

    def open_(*models: str, groups: tuple[str, ...] = ("model_reviewer",)) -> Client:
        opened.append(Client(management, world, list(models), groups))
        return opened[-1]

    yield open_
    for item in opened:
        item.socket.close()


def publish(detail_type: str, **data: Any) -> dict[str, Any]:
    event = load_sample(f"eventbridge/{detail_type}")
    event["detail"]["data"].update(data)
    result: dict[str, Any] = invoke("publish", event)
    return result


def test_an_event_reaches_the_followers_of_its_model_and_of_every_model_only(
    world: FeedWorld, open_client: Any
) -> None:
    follower = open_client("fraud_detection_v2")
    everything = open_client("*")
    both = open_client("fraud_detection_v2", "*")
    other = open_client("churn")

    report = publish("drift.detected")

    assert report["delivered"] == 3
    for receiver in (follower, everything, both):
        (notice,) = receiver.received()
        assert notice["type"] == "drift.detected"
        assert notice["model_id"] == "fraud_detection_v2"
        assert notice["occurred_at"].startswith("2024-06-04T03:00:12")
        assert notice["data"]["run_id"] == "20240604T030000Z-4d2a9c1e7b30"
    assert other.received() == []


def test_a_follower_the_policies_no_longer_let_read_the_model_gets_nothing(
    world: FeedWorld, open_client: Any
) -> None:
    allowed = open_client("*")
    roleless = open_client("*", groups=("staff",))

    report = publish("model.deployed")

    assert report["delivered"] == 1
    assert report["refused"] == 1
    assert [notice["type"] for notice in allowed.received()] == ["model.deployed"]
    assert roleless.received() == []


def test_a_closed_connection_is_removed_on_410(
    world: FeedWorld, open_client: Any, management: LocalWebSocketServer
) -> None:
    gone = open_client("fraud_detection_v2")
    gone.socket.close()
    wait_for(lambda: True if gone.connection_id not in management.connection_ids() else None, "the close")
    staying = open_client("fraud_detection_v2")

    report = publish("drift.detected")

    assert (report["delivered"], report["gone"]) == (1, 1)
    assert world.store.get_connection(gone.connection_id) is None
    assert world.store.subscriptions(gone.connection_id) == []
    assert world.store.get_connection(staying.connection_id) is not None


def test_a_pipeline_event_without_a_model_reaches_the_followers_of_every_model(
    world: FeedWorld, open_client: Any
) -> None:
    everything = open_client("*")
    follower = open_client("fraud")

    publish("pipeline.started")

    (notice,) = everything.received()
    assert notice["type"] == "pipeline.started"
    assert notice["model_id"] is None
    assert notice["data"]["pipeline_id"] == "fraud"
    assert follower.received() == []
