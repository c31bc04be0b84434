"""Cognito JWTs verified as API Gateway's Cognito authorizer verifies them, inside a function.

A WebSocket `$connect` carries its token in the query string (browsers cannot set headers on a
WebSocket), which a Cognito user pool authorizer cannot read, so the `$connect` handler verifies it:
an RS256 signature by a key of the pool's JWKS, the pool's issuer, an unexpired `exp`, `token_use`
`id` (audience `aud`) or `access` (audience `client_id`), and an audience among the app clients
named in the settings.

RSASSA-PKCS1-v1_5 with SHA-256 is verified here in pure Python (RFC 8017, 8.2.2): the signature is
raised to the public exponent and compared, whole, with the one encoding the digest may have, so
no parsing of the decrypted block can be fooled. Verification uses only public values; the core
layer needs no cryptography package for it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from cirrus_core.errors import InvalidFeedToken

# DER of DigestInfo for SHA-256, the prefix of the hash in an EMSA-PKCS1-v1_5 encoding.
_SHA256_DIGEST_INFO: Final = bytes.fromhex("3031300d060960864801650304020105000420")
_TOKEN_USES: Final = frozenset({"id", "access"})
_JWKS_TIMEOUT_SECONDS: Final = 5.0
_JWKS_REFRESH_SECONDS: Final = 60.0  # an unknown kid fetches the JWKS again at most this often
_MAX_TOKEN_CHARS: Final = 16_384


@dataclass(frozen=True, slots=True)
class RsaPublicKey:
    """An RSA public key from a JWK."""

    n: int
    e: int

    def verifies(self, message: bytes, signature: bytes) -> bool:
        """Whether `signature` is this key's RSASSA-PKCS1-v1_5 SHA-256 signature of `message`."""
        size = (self.n.bit_length() + 7) // 8
        if len(signature) != size or size < len(_SHA256_DIGEST_INFO) + 32 + 11:
            return False
        value = int.from_bytes(signature, "big")
        if value >= self.n:
            return False
        encoded = pow(value, self.e, self.n).to_bytes(size, "big")
        digest = _SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
        expected = b"\x00\x01" + b"\xff" * (size - len(digest) - 3) + b"\x00" + digest
        return hmac.compare_digest(encoded, expected)


class KeySource(Protocol):
    """Where a pool's signing keys come from (its JWKS document)."""

    def fetch(self) -> Mapping[str, Any]:
        """The JWKS document: `{"keys": [{"kid", "kty", "n", "e", ...}]}`."""
        ...


class HttpJwks:
    """A pool's JWKS over HTTPS (the emulator's over HTTP on the local cloud)."""

    def __init__(self, url: str) -> None:
        if not url.startswith(("https://", "http://")):
            raise ValueError(f"Not an HTTP(S) JWKS URL: {url!r}")
        self._url = url

    def fetch(self) -> Mapping[str, Any]:
        # The scheme is checked in __init__: http(s) only.
        request = urllib.request.Request(self._url, headers={"Accept": "application/json"})  # noqa: S310
        with urllib.request.urlopen(request, timeout=_JWKS_TIMEOUT_SECONDS) as response:  # noqa: S310  # nosec B310
            document = json.loads(response.read())
        if not isinstance(document, dict):
            raise ValueError("The JWKS document is not an object")
        return document


def _b64url(segment: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise InvalidFeedToken("The token is not a well-formed JWT.") from None


def _json_segment(segment: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64url(segment))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidFeedToken("The token is not a well-formed JWT.") from None
    if not isinstance(value, dict):
        raise InvalidFeedToken("The token is not a well-formed JWT.")
    return value


def bearer_token(value: str | None) -> str:
    """The token of an `Authorization` value (`Bearer <token>` or the bare token)."""
    token = (value or "").strip()
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    return token


class CognitoTokenVerifier:
    """Verifies a user pool's ID and access tokens; the pool's keys are cached between requests."""

    def __init__(
        self,
        *,
        issuer: str,
        audiences: Iterable[str],
        keys: KeySource,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`issuer` is `https://cognito-idp.<region>.amazonaws.com/<pool id>`; `audiences` the app
        client ids whose tokens are accepted."""
        self._issuer = issuer
        self._audiences = frozenset(audiences)
        self._source = keys
        self._clock = clock
        self._keys: dict[str, RsaPublicKey] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims when it passes every check; `InvalidFeedToken` (401) otherwise."""
        if not token:
            raise InvalidFeedToken("No token: pass a Cognito token as `?token=` or an Authorization header.")
        parts = token.split(".")
        if len(token) > _MAX_TOKEN_CHARS or len(parts) != 3:
            raise InvalidFeedToken("The token is not a well-formed JWT.")
        header, claims = _json_segment(parts[0]), _json_segment(parts[1])
        if header.get("alg") != "RS256":
            raise InvalidFeedToken("The token is not signed with RS256.")
        if claims.get("iss") != self._issuer:
            raise InvalidFeedToken("The token was not issued by this platform's user pool.")
        key = self._key(str(header.get("kid", "")))
        if key is None or not key.verifies(f"{parts[0]}.{parts[1]}".encode("ascii"), _b64url(parts[2])):
            raise InvalidFeedToken("The token's signature does not verify.")
        expires = claims.get("exp")
        if not isinstance(expires, int | float) or isinstance(expires, bool) or self._clock() >= expires:
            raise InvalidFeedToken("The token has expired.")
        use = claims.get("token_use")
        if use not in _TOKEN_USES:
            raise InvalidFeedToken("The token is neither an ID token nor an access token.")
        audience = claims.get("aud") if use == "id" else claims.get("client_id")
        if not isinstance(audience, str) or audience not in self._audiences:
            raise InvalidFeedToken("The token was issued to another app client.")
        return claims

    def _key(self, kid: str) -> RsaPublicKey | None:
        with self._lock:
            if kid in self._keys:
                return self._keys[kid]
            now = time.monotonic()
            if self._fetched_at is not None and now - self._fetched_at < _JWKS_REFRESH_SECONDS:
                return None
            # First use, or an unknown kid after a while: the pool may have rotated its keys.
            self._keys = _rsa_keys(self._source.fetch())
            self._fetched_at = now
            return self._keys.get(kid)


def _rsa_keys(document: Mapping[str, Any]) -> dict[str, RsaPublicKey]:
    keys = {}
    for jwk in document.get("keys", ()):
        if not isinstance(jwk, Mapping) or jwk.get("kty") != "RSA" or jwk.get("use", "sig") != "sig":
            continue
        keys[str(jwk.get("kid", ""))] = RsaPublicKey(
            n=int.from_bytes(_b64url(str(jwk["n"])), "big"), e=int.from_bytes(_b64url(str(jwk["e"])), "big")
        )
    return keys
