"""next_token is opaque to callers, and only tokens this API issued for this listing come back in."""

from __future__ import annotations

import base64
import json

import pytest

from cirrus_core.errors import InvalidPaginationToken
from cirrus_core.pagination import MAX_TOKEN_LENGTH, decode_token, encode_token

MODEL_KEYS = frozenset({"m"})


def test_a_token_decodes_to_the_position_it_was_made_from() -> None:
    position = {"m": "fraud_detection_v2"}

    assert decode_token(encode_token(position), MODEL_KEYS) == position


def test_a_token_is_url_safe_without_padding() -> None:
    token = encode_token({"m": "a?b>c~" * 5})

    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_a_tampered_token_is_refused() -> None:
    token = encode_token({"m": "fraud_detection_v2"})
    tampered = ("A" if token[0] != "A" else "B") + token[1:]

    with pytest.raises(InvalidPaginationToken):
        decode_token(tampered, MODEL_KEYS)


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("not a token!", id="not-base64"),
        pytest.param(base64.urlsafe_b64encode(b"\xff\xfe").decode(), id="not-utf8"),
        pytest.param(base64.urlsafe_b64encode(b"{not json").decode(), id="not-json"),
    ],
)
def test_garbage_is_refused(token: str) -> None:
    with pytest.raises(InvalidPaginationToken):
        decode_token(token, MODEL_KEYS)


def test_a_token_longer_than_the_limit_is_refused_before_decoding() -> None:
    token = encode_token({"m": "x" * MAX_TOKEN_LENGTH})
    assert len(token) > MAX_TOKEN_LENGTH

    with pytest.raises(InvalidPaginationToken, match="too long"):
        decode_token(token, MODEL_KEYS)


@pytest.mark.parametrize(
    "position",
    [
        pytest.param({"v": 3}, id="another-listings-key"),
        pytest.param({"m": "a", "v": 3}, id="an-extra-key"),
        pytest.param({}, id="no-key"),
    ],
)
def test_a_token_of_another_listing_is_refused(position: dict[str, object]) -> None:
    with pytest.raises(InvalidPaginationToken, match="does not belong"):
        decode_token(encode_token(position), MODEL_KEYS)


@pytest.mark.parametrize("document", [["m"], "m", 7, None], ids=["list", "string", "number", "null"])
def test_json_that_is_not_an_object_is_refused(document: object) -> None:
    token = base64.urlsafe_b64encode(json.dumps(document).encode()).decode()

    with pytest.raises(InvalidPaginationToken):
        decode_token(token, MODEL_KEYS)
