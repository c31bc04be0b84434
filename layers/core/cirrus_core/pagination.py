"""Opaque pagination tokens: the last key a page returned, encoded, and checked when it comes back."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from cirrus_core.errors import InvalidPaginationToken

MAX_TOKEN_LENGTH = 1024


def encode_token(position: dict[str, Any]) -> str:
    """Encode a page position as a URL-safe token."""
    raw = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, expected_keys: frozenset[str]) -> dict[str, Any]:
    """Decode a token; anything not made by `encode_token` for this listing is refused."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidPaginationToken("next_token is too long.")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        position = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as error:
        raise InvalidPaginationToken("next_token is not a token this API issued.") from error
    if not isinstance(position, dict) or frozenset(position) != expected_keys:
        raise InvalidPaginationToken("next_token does not belong to this listing.")
    return position
