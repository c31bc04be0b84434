"""`subscribe`, `unsubscribe` and `$default`: a socket follows models it may read; refusals store nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit.feed.support import FeedWorld, body, invoke, websocket_event


def send(message: Any, connection_id: str = "conn-1", route_key: str | None = None) -> dict[str, Any]:
    event = websocket_event("message", connection_id)
    event["body"] = message if isinstance(message, str) else json.dumps(message)
    if route_key is None and isinstance(message, dict):
        route_key = str(message.get("action"))
    event["requestContext"]["routeKey"] = route_key or "$default"
    return invoke("subscribe", event)


@pytest.fixture
def connected(world: FeedWorld) -> FeedWorld:
    world.register("fraud_v2")
    world.register("churn")
    world.open_connection("conn-1")
    return world


def subscribers(world: FeedWorld, model_id: str) -> list[str]:
    return [subscription.connection_id for subscription in world.store.subscribers(model_id)]


def test_subscribing_to_models_answers_with_every_model_followed(connected: FeedWorld) -> None:
    first = send({"action": "subscribe", "models": ["fraud_v2"]})
    second = send({"action": "subscribe", "models": ["churn", "fraud_v2"]})

    assert first["statusCode"] == 200
    assert body(first) == {"type": "subscribed", "models": ["fraud_v2"], "request_id": "ZfLYxHHsIAMFo3Q="}
    assert body(second)["models"] == ["churn", "fraud_v2"]
    assert subscribers(connected, "fraud_v2") == ["conn-1"]
    assert subscribers(connected, "churn") == ["conn-1"]


def test_a_star_follows_every_model(connected: FeedWorld) -> None:
    result = send({"action": "subscribe", "models": "*"})

    assert body(result)["models"] == ["*"]
    assert subscribers(connected, "*") == ["conn-1"]


def test_an_unknown_model_is_refused_and_nothing_is_stored(connected: FeedWorld) -> None:
    before = connected.items()

    result = send({"action": "subscribe", "models": ["fraud_v2", "no_such_model"]})

    assert result["statusCode"] == 404
    assert body(result)["type"] == "error"
    assert body(result)["error"]["code"] == "model_not_found"
    assert body(result)["error"]["details"] == [{"model_id": "no_such_model"}]
    assert connected.items() == before


def test_a_model_the_policies_hide_from_the_caller_is_refused_and_nothing_is_stored(
    connected: FeedWorld,
) -> None:
    connected.forbid(
        'forbid (principal in Cirrus::Role::"model_reviewer", action == Cirrus::Action::"GetModel", '
        'resource == Cirrus::Model::"churn");'
    )
    before = connected.items()

    result = send({"action": "subscribe", "models": ["fraud_v2", "churn"]})

    assert result["statusCode"] == 403
    assert body(result)["error"]["code"] == "access_denied"
    assert connected.items() == before


@pytest.mark.parametrize(
    ("message", "status", "code"),
    [
        ("{not json", 400, "malformed_json"),
        ([1, 2], 422, "invalid_message"),
        ({"action": "subscribe"}, 422, "invalid_message"),
        ({"action": "subscribe", "models": []}, 422, "invalid_message"),
        ({"action": "subscribe", "models": ["Bad Name"]}, 422, "invalid_message"),
        ({"action": "subscribe", "models": ["fraud_v2"], "extra": 1}, 422, "invalid_message"),
        ({"action": "shout", "models": ["fraud_v2"]}, 400, "unknown_action"),
    ],
)
def test_a_bad_message_is_answered_with_an_error_and_nothing_is_stored(
    connected: FeedWorld, message: Any, status: int, code: str
) -> None:
    before = connected.items()

    result = send(message)

    assert result["statusCode"] == status
    assert body(result)["error"]["code"] == code
    assert connected.items() == before


def test_a_connection_the_feed_does_not_know_is_told_to_connect_again(connected: FeedWorld) -> None:
    result = send({"action": "subscribe", "models": ["fraud_v2"]}, connection_id="never-connected")

    assert result["statusCode"] == 410
    assert body(result)["error"]["code"] == "connection_unknown"
    assert subscribers(connected, "fraud_v2") == []


def test_a_connection_follows_at_most_the_configured_number_of_models(connected: FeedWorld) -> None:
    for name in ("m1", "m2", "m3", "m4"):
        connected.register(name)
    send({"action": "subscribe", "models": ["m1", "m2"]})

    result = send({"action": "subscribe", "models": ["m3", "m4"]})

    assert result["statusCode"] == 422
    assert body(result)["error"]["code"] == "too_many_subscriptions"
    assert subscribers(connected, "m3") == []


def test_unsubscribing_stops_following_and_answers_with_what_remains(connected: FeedWorld) -> None:
    send({"action": "subscribe", "models": ["fraud_v2", "churn"]})

    result = send({"action": "unsubscribe", "models": ["churn"]})

    assert body(result) == {"type": "unsubscribed", "models": ["fraud_v2"], "request_id": "ZfLYxHHsIAMFo3Q="}
    assert subscribers(connected, "churn") == []
