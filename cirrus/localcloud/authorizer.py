"""The checks API Gateway's Cognito user pool authorizer makes, against the emulator's user pools.

A token is accepted when it is an RS256 JWT signed by a key of the issuing pool's JWKS (fetched
from the emulator, as moto serves it at `/<pool id>/.well-known/jwks.json`), its `iss` is the
issuer URL of one of the authorizer's pools, it has not expired, and its audience is an app client
of that pool. Without OAuth scopes on the method only ID tokens pass; with scopes, only access
tokens carrying one of them (API Gateway's rule: "If there are no scopes defined the Cognito
authorizer will require the ID token").

Claims reach the handler as a REST API passes them: every value a string. `exp` and `iat` are
written as Java's Date.toString() does ("Mon Apr 17 23:12:49 UTC 2017", as in AWS's sample
events), and a list claim such as `cognito:groups` is joined with commas ("admin,ml_engineer").
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

if TYPE_CHECKING:
    from cirrus.localcloud.restapi import CognitoAuthorizer

EXPIRED_MESSAGE: Final = "The incoming token has expired"
_JWKS_TIMEOUT_SECONDS: Final = 5.0
_DATE_CLAIMS: Final = frozenset({"exp", "iat"})


class Unauthorized(Exception):
    """A token the authorizer refuses; the message is what API Gateway answers with (401)."""

    def __init__(self, message: str = "Unauthorized") -> None:
        super().__init__(message)
        self.message = message


def _b64url(segment: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise Unauthorized() from None


def _json_segment(segment: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64url(segment))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise Unauthorized() from None
    if not isinstance(value, dict):
        raise Unauthorized()
    return value


def _pool_of(user_pool_arn: str) -> tuple[str, str]:
    """(region, pool id) of `arn:aws:cognito-idp:<region>:<account>:userpool/<pool id>`."""
    parts = user_pool_arn.split(":", 5)
    if len(parts) != 6 or not parts[5].startswith("userpool/"):
        raise ValueError(f"Not a user pool ARN: {user_pool_arn!r}")
    return parts[3], parts[5].removeprefix("userpool/")


def issuer_of(user_pool_arn: str) -> str:
    """The `iss` of the tokens a user pool issues (moto writes AWS's URL, not its own endpoint)."""
    region, pool_id = _pool_of(user_pool_arn)
    return f"https://cognito-idp.{region}.amazonaws.com/{pool_id}"


class CognitoVerifier:
    """Verifies bearer tokens for Cognito authorizers, caching each pool's keys and app clients."""

    def __init__(
        self,
        endpoint_url: str,
        cognito: Any,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`cognito` is a cognito-idp client for the emulator at `endpoint_url`."""
        self._endpoint_url = endpoint_url.rstrip("/")
        self._cognito = cognito
        self._clock = clock
        self._keys: dict[str, dict[str, rsa.RSAPublicKey]] = {}
        self._clients: dict[str, frozenset[str]] = {}
        self._lock = threading.Lock()

    def verify(
        self, header_value: str | None, authorizer: CognitoAuthorizer, scopes: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        """The token's claims when the authorizer accepts it; `Unauthorized` otherwise."""
        token = (header_value or "").strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        if not token:
            raise Unauthorized()
        parts = token.split(".")
        if len(parts) != 3:
            raise Unauthorized()
        header, claims = _json_segment(parts[0]), _json_segment(parts[1])
        if header.get("alg") != "RS256":
            raise Unauthorized()
        pools = {issuer_of(arn): _pool_of(arn)[1] for arn in authorizer.user_pool_arns}
        pool_id = pools.get(str(claims.get("iss", "")))
        if pool_id is None:
            raise Unauthorized()
        key = self._key(pool_id, str(header.get("kid", "")))
        try:
            key.verify(
                _b64url(parts[2]),
                f"{parts[0]}.{parts[1]}".encode("ascii"),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except (InvalidSignature, UnicodeEncodeError):
            raise Unauthorized() from None
        expires = claims.get("exp")
        if not isinstance(expires, int | float) or self._clock() >= float(expires):
            raise Unauthorized(EXPIRED_MESSAGE)
        self._check_use(claims, scopes)
        audience = claims.get("aud") if claims.get("token_use") == "id" else claims.get("client_id")
        if str(audience) not in self._app_clients(pool_id, str(audience)):
            raise Unauthorized()
        return claims

    @staticmethod
    def _check_use(claims: Mapping[str, Any], scopes: tuple[str, ...]) -> None:
        if not scopes:
            if claims.get("token_use") != "id":
                raise Unauthorized()
            return
        granted = set(str(claims.get("scope", "")).split())
        if claims.get("token_use") != "access" or not granted & set(scopes):
            raise Unauthorized()

    def _key(self, pool_id: str, kid: str) -> rsa.RSAPublicKey:
        with self._lock:
            keys = self._keys.get(pool_id)
        if keys is None or kid not in keys:
            # Unknown kid: fetch again once, as a relying party does when a pool rotates keys.
            keys = self._fetch_keys(pool_id)
            with self._lock:
                self._keys[pool_id] = keys
        if kid not in keys:
            raise Unauthorized()
        return keys[kid]

    def _fetch_keys(self, pool_id: str) -> dict[str, rsa.RSAPublicKey]:
        response = requests.get(
            f"{self._endpoint_url}/{pool_id}/.well-known/jwks.json", timeout=_JWKS_TIMEOUT_SECONDS
        )
        response.raise_for_status()
        document = response.json()
        keys = {}
        for jwk in document.get("keys", ()):
            if jwk.get("kty") != "RSA":
                continue
            numbers = rsa.RSAPublicNumbers(
                e=int.from_bytes(_b64url(jwk["e"]), "big"), n=int.from_bytes(_b64url(jwk["n"]), "big")
            )
            keys[str(jwk.get("kid", ""))] = numbers.public_key()
        return keys

    def _app_clients(self, pool_id: str, wanted: str) -> frozenset[str]:
        with self._lock:
            clients = self._clients.get(pool_id)
        if clients is None or wanted not in clients:
            # A client created after the gateway started is found on the next miss.
            found: set[str] = set()
            paginator = self._cognito.get_paginator("list_user_pool_clients")
            for page in paginator.paginate(UserPoolId=pool_id, PaginationConfig={"PageSize": 60}):
                found.update(str(client["ClientId"]) for client in page.get("UserPoolClients", ()))
            clients = frozenset(found)
            with self._lock:
                self._clients[pool_id] = clients
        return clients


def rest_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """Claims as a REST API's Cognito authorizer hands them to the integration: all strings."""
    return {str(name): _claim_text(str(name), value) for name, value in claims.items()}


def _claim_text(name: str, value: Any) -> str:
    if name in _DATE_CLAIMS and isinstance(value, int | float):
        # Java's Date.toString() in UTC, e.g. "Mon Apr 17 23:12:49 UTC 2017".
        return time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(float(value)))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(_claim_text("", item) for item in value)
    if isinstance(value, Mapping):
        return json.dumps(value, separators=(",", ":"))
    return str(value)
