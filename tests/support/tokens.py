"""JWTs for authorizer tests: signed with the emulated pool's real key, or with one nobody trusts."""

from __future__ import annotations

import base64
import json
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey
from moto.utilities.utils import load_resource


class TokenMinter:
    """Signs JWTs with moto's Cognito key (the pool's real key) or with a key nobody trusts."""

    def __init__(self) -> None:
        self.pool_key = RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))
        self.forged_key = RSAKey.generate_key(2048)

    def sign(self, claims: dict[str, Any], *, forged: bool = False, kid: str = "dummy") -> str:
        """A compact RS256 JWT of `claims` (kid "dummy" is the kid moto's JWKS publishes)."""
        key = self.forged_key if forged else self.pool_key
        return jwt.encode({"alg": "RS256", "kid": kid, "typ": "JWT"}, claims, key)


def claims_of(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified (for building altered copies of a real token)."""
    segment = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return decoded
