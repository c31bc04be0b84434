"""The live feed on the local cloud: a real WebSocket client with a local user's Cognito token
connects to the API Gateway WebSocket API's local twin, subscribes to a served model and receives
`drift.detected` when a drift monitor run on shifted traffic flags it; refusals close the handshake
or answer on the socket."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import requests
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.support.endpoints import ServedModel, serve_model, wait_for

if TYPE_CHECKING:
    from collections.abc import Iterator

    from cirrus.client import CirrusClient
    from cirrus.localcloud.cloud import LocalCloud

RECEIVE_SECONDS = 60.0  # a drift run's state machine on a loaded 2-core runner; a pass waits far less


def shifted_rows(seed: int, shift: float, n: int = 400) -> list[list[float]]:
    generator = np.random.default_rng(seed)
    a = generator.normal(2.0, 1.0, n)
    b = generator.normal(1.0, 0.5, n) + shift
    return [[round(float(x), 4), round(float(y), 4)] for x, y in zip(a, b, strict=True)]


def feed(local_cloud: LocalCloud, role: str) -> ClientConnection:
    """A socket opened with the role's ID token in the query string, as a browser would."""
    return connect(f"{local_cloud.state.websocket_url}?token={local_cloud.token(role)}", open_timeout=30)


def ask(socket: ClientConnection, message: dict[str, Any]) -> dict[str, Any]:
    socket.send(json.dumps(message))
    answer: dict[str, Any] = json.loads(socket.recv(timeout=30))
    return answer


def next_notice(socket: ClientConnection, detail_type: str) -> dict[str, Any]:
    """The next notice of `detail_type` (others, such as pipeline events of other tests, are skipped)."""
    while True:
        notice: dict[str, Any] = json.loads(socket.recv(timeout=RECEIVE_SECONDS))
        if notice.get("type") == detail_type:
            return notice


@pytest.fixture(scope="module")
def monitored(local_cloud: LocalCloud, clients: dict[str, CirrusClient]) -> ServedModel:
    """A served model whose version has a drift baseline built from its training data."""
    served = serve_model(local_cloud, clients, f"it_feed_{uuid.uuid4().hex[:10]}")
    bucket = local_cloud.state.artifact_bucket
    key = f"datasets/{served.model_id}/train.csv"
    training = "a,b,y\n" + "".join(f"{a},{b},{2 * a + 3 * b + 1}\n" for a, b in shifted_rows(1, 0.0, 4000))
    local_cloud.emulator.client("s3").put_object(Bucket=bucket, Key=key, Body=training.encode())
    clients["data_scientist"].create_baseline(
        served.model_id, served.version, f"s3://{bucket}/{key}", target_column="y"
    )
    return served


@pytest.fixture
def reviewer_feed(local_cloud: LocalCloud) -> Iterator[ClientConnection]:
    with feed(local_cloud, "model_reviewer") as socket:
        yield socket


def test_the_local_cloud_says_where_the_feed_listens(local_cloud: LocalCloud) -> None:
    assert local_cloud.state.websocket_url.startswith("ws://127.0.0.1:")
    assert local_cloud.state.websocket_url.endswith("/dev")


def test_a_subscriber_receives_drift_detected_after_a_monitor_run(
    monitored: ServedModel, clients: dict[str, CirrusClient], reviewer_feed: ClientConnection
) -> None:
    ack = ask(reviewer_feed, {"action": "subscribe", "models": [monitored.model_id]})
    assert ack["type"] == "subscribed"
    assert ack["models"] == [monitored.model_id]
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    for seed in range(8):
        clients["data_scientist"].predict(monitored.model_id, shifted_rows(100 + seed, 0.75, 50))
    end = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    wait_for(lambda: datetime.now(UTC), lambda now: now >= end)

    run = clients["data_scientist"].start_drift_run(monitored.model_id, window_start=start, window_end=end)
    notice = next_notice(reviewer_feed, "drift.detected")

    assert notice["model_id"] == monitored.model_id
    assert notice["data"]["run_id"] == run.run_id
    assert [feature["name"] for feature in notice["data"]["drifted_features"]] == ["b"]
    assert datetime.fromisoformat(notice["occurred_at"]) >= start


def test_a_bad_token_is_refused_at_the_handshake(local_cloud: LocalCloud) -> None:
    token = local_cloud.token("model_reviewer")
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[::-1]}"

    with pytest.raises(InvalidStatus) as refused:
        connect(f"{local_cloud.state.websocket_url}?token={forged}", open_timeout=30)

    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body)["error"]["code"] == "invalid_token"


def test_a_connection_without_a_token_is_refused(local_cloud: LocalCloud) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(local_cloud.state.websocket_url, open_timeout=30)

    assert refused.value.response.status_code == 401


def test_the_token_may_come_in_the_authorization_header(
    local_cloud: LocalCloud, monitored: ServedModel
) -> None:
    token = local_cloud.token("ml_engineer")
    with connect(
        local_cloud.state.websocket_url,
        additional_headers={"Authorization": f"Bearer {token}"},
        open_timeout=30,
    ) as socket:
        ack = ask(socket, {"action": "subscribe", "models": "*"})

    assert ack == {"type": "subscribed", "models": ["*"], "request_id": ack["request_id"]}


def test_a_subscription_to_a_model_the_caller_may_not_read_is_refused(
    local_cloud: LocalCloud, monitored: ServedModel
) -> None:
    policy_id = f"it_feed_forbid_{uuid.uuid4().hex[:8]}"
    statement = (
        "forbid (\n"
        '  principal in Cirrus::Role::"data_scientist",\n'
        '  action == Cirrus::Action::"GetModel",\n'
        f'  resource == Cirrus::Model::"{monitored.model_id}"\n'
        ");"
    )
    admin = {"Authorization": f"Bearer {local_cloud.token('admin')}"}
    stored = requests.put(
        f"{local_cloud.state.api_url}/policies/{policy_id}",
        json={"statement": statement, "description": "Data scientists do not see this model."},
        headers=admin,
        timeout=30,
    )
    assert stored.status_code == 200, stored.text
    try:
        with feed(local_cloud, "data_scientist") as socket:
            refused = ask(socket, {"action": "subscribe", "models": [monitored.model_id]})
            followed = ask(socket, {"action": "unsubscribe", "models": [monitored.model_id]})
    finally:
        requests.delete(f"{local_cloud.state.api_url}/policies/{policy_id}", headers=admin, timeout=30)

    assert refused["type"] == "error"
    assert refused["error"]["code"] == "access_denied"
    assert followed["models"] == []


def test_a_subscription_to_an_unknown_model_is_refused(reviewer_feed: ClientConnection) -> None:
    answer = ask(reviewer_feed, {"action": "subscribe", "models": ["it_no_such_model"]})

    assert answer["type"] == "error"
    assert answer["error"]["code"] == "model_not_found"


def test_an_unknown_action_is_answered_with_an_error(reviewer_feed: ClientConnection) -> None:
    answer = ask(reviewer_feed, {"action": "shout", "models": ["x"]})

    assert answer["error"]["code"] == "unknown_action"
