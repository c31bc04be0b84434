"""`$connect`: a socket opens only with a valid Cognito token of a caller allowed WatchFeed."""

from __future__ import annotations

import time

import pytest

from tests.unit.feed.support import CLIENT_ID, FeedWorld, body, invoke, websocket_event


def connect(token: str | None, **changes: object) -> dict[str, object]:
    event = websocket_event("connect", "conn-1")
    event["queryStringParameters"] = {"token": token} if token is not None else None
    event.update(changes)
    return invoke("connect", event)


def test_a_valid_id_token_opens_the_connection_for_its_user(world: FeedWorld) -> None:
    result = connect(world.token())

    assert result["statusCode"] == 200
    connection = world.store.get_connection("conn-1")
    assert connection is not None
    assert connection.actor.username == "rui"
    assert connection.actor.groups == ["model_reviewer"]


def test_an_access_token_of_the_app_client_is_accepted(world: FeedWorld) -> None:
    token = world.token(token_use="access", aud=None, client_id=CLIENT_ID, username="rui")

    assert connect(token)["statusCode"] == 200


def test_the_token_may_come_in_the_authorization_header(world: FeedWorld) -> None:
    event = websocket_event("connect", "conn-1")
    event["queryStringParameters"] = None
    event["headers"]["Authorization"] = f"Bearer {world.token()}"

    assert invoke("connect", event)["statusCode"] == 200


@pytest.mark.parametrize(
    ("case", "changes"),
    [
        ("signed with a key nobody trusts", {"forged": True}),
        ("expired", {"exp": int(time.time()) - 1}),
        ("from another user pool", {"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"}),
        ("for another app client", {"aud": "someotherclient"}),
        ("neither an ID nor an access token", {"token_use": "refresh"}),
    ],
)
def test_a_bad_token_is_refused_with_401_and_nothing_is_stored(
    world: FeedWorld, case: str, changes: dict[str, object]
) -> None:
    result = connect(world.token(**changes))  # type: ignore[arg-type]

    assert result["statusCode"] == 401, case
    assert body(result)["error"]["code"] == "invalid_token"
    assert world.items() == []


@pytest.mark.parametrize("token", [None, "", "not-a-jwt", "a.b.c"])
def test_a_missing_or_malformed_token_is_refused_with_401(world: FeedWorld, token: str | None) -> None:
    result = connect(token)

    assert result["statusCode"] == 401
    assert body(result)["type"] == "error"
    assert world.items() == []


def test_a_tampered_payload_fails_the_signature(world: FeedWorld) -> None:
    header, _, signature = world.token(groups=("model_reviewer",)).split(".")
    _, admin_payload, _ = world.token(groups=("admin",)).split(".")

    result = connect(f"{header}.{admin_payload}.{signature}")

    assert result["statusCode"] == 401


def test_a_user_in_no_cirrus_role_is_refused_with_403(world: FeedWorld) -> None:
    result = connect(world.token(groups=("staff",)))

    assert result["statusCode"] == 403
    assert body(result)["error"]["code"] == "access_denied"
    assert world.items() == []


def test_disconnect_forgets_the_connection_and_its_subscriptions(world: FeedWorld) -> None:
    world.register("fraud_v2")
    world.open_connection("conn-1")
    world.store.add_subscriptions(world.store.get_connection("conn-1"), ["fraud_v2", "*"])  # type: ignore[arg-type]

    result = invoke("disconnect", websocket_event("disconnect", "conn-1"))

    assert result["statusCode"] == 200
    assert world.items() == []
