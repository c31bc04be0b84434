"""Users and tokens for a deployed user pool: one user per role (group), signed in for real.

Machine clients get their tokens from `ClientCredentialsIssuer`, the client credentials grant of
Cognito's token endpoint, which the local gateway serves at `POST /oauth2/token`.

Users are created the way an administrator would (AdminCreateUser with the invitation suppressed,
then a permanent password), put in their groups, and signed in with USER_PASSWORD_AUTH. The ID
token moto 5.2.5 issues carries `cognito:groups` (a list) and `cognito:username`; in a pool whose
usernames are email addresses, `cognito:username` is the user's `sub` and `email` the address, as
in AWS.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import secrets
import string
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, unquote_plus

from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from moto.utilities.utils import load_resource

from cirrus.localcloud.authorizer import issuer_of

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from cirrus.localcloud.endpoint import ClientSource

DEFAULT_EMAIL_DOMAIN: Final = "cirrus.local"


@dataclass(frozen=True)
class LocalUser:
    """A user of the local user pool and the password to sign in with (local and throwaway)."""

    username: str
    password: str
    groups: tuple[str, ...]
    sub: str


@dataclass(frozen=True)
class Tokens:
    """What a successful sign-in returns."""

    id_token: str
    access_token: str
    refresh_token: str
    expires_in: int


class SignInError(RuntimeError):
    """Sign-in did not end with tokens (a challenge such as MFA or a new password was asked for)."""


def generate_password(length: int = 20) -> str:
    """A random password meeting the strictest Cognito policy: every character class, 20 long."""
    alphabet = string.ascii_letters + string.digits
    body = "".join(secrets.choice(alphabet) for _ in range(max(length - 4, 8)))
    return (
        body
        + secrets.choice(string.ascii_uppercase)
        + secrets.choice(string.ascii_lowercase)
        + (secrets.choice(string.digits) + secrets.choice("!#%+-=?@^_"))
    )


def _attributes(username: str, email: str | None) -> list[dict[str, str]]:
    address = email or (username if "@" in username else None)
    if address is None:
        return []
    return [{"Name": "email", "Value": address}, {"Name": "email_verified", "Value": "true"}]


def create_user(
    source: ClientSource,
    user_pool_id: str,
    username: str,
    password: str,
    *,
    groups: Iterable[str] = (),
    email: str | None = None,
) -> LocalUser:
    """Create (or reset) a confirmed user with a permanent password, in `groups`.

    Idempotent: an existing user gets the password and the groups again.
    """
    cognito = source.client("cognito-idp")
    try:
        cognito.admin_create_user(
            UserPoolId=user_pool_id,
            Username=username,
            UserAttributes=_attributes(username, email),
            MessageAction="SUPPRESS",
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "UsernameExistsException":
            raise
    cognito.admin_set_user_password(
        UserPoolId=user_pool_id, Username=username, Password=password, Permanent=True
    )
    group_names = tuple(groups)
    for group in group_names:
        cognito.admin_add_user_to_group(UserPoolId=user_pool_id, Username=username, GroupName=group)
    user = cognito.admin_get_user(UserPoolId=user_pool_id, Username=username)
    sub = next((item["Value"] for item in user.get("UserAttributes", ()) if item["Name"] == "sub"), "")
    return LocalUser(username=username, password=password, groups=group_names, sub=str(sub))


def pool_groups(source: ClientSource, user_pool_id: str) -> list[str]:
    """The names of the pool's groups, in the order Cognito lists them."""
    names: list[str] = []
    paginator = source.client("cognito-idp").get_paginator("list_groups")
    for page in paginator.paginate(UserPoolId=user_pool_id):
        names.extend(str(group["GroupName"]) for group in page.get("Groups", ()))
    return names


def create_role_users(
    source: ClientSource,
    user_pool_id: str,
    *,
    roles: Sequence[str] | None = None,
    email_domain: str = DEFAULT_EMAIL_DOMAIN,
) -> dict[str, LocalUser]:
    """One user per role (every group of the pool unless `roles` names some): `<role>@<domain>`."""
    chosen = list(roles) if roles is not None else pool_groups(source, user_pool_id)
    return {
        role: create_user(
            source,
            user_pool_id,
            f"{role.replace('_', '-')}@{email_domain}",
            generate_password(),
            groups=[role],
        )
        for role in chosen
    }


def secret_hash(username: str, client_id: str, client_secret: str) -> str:
    """The SECRET_HASH an app client with a secret requires: HMAC-SHA256(username + client id)."""
    digest = hmac.new(client_secret.encode(), (username + client_id).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def sign_in(
    source: ClientSource, client_id: str, username: str, password: str, *, client_secret: str | None = None
) -> Tokens:
    """Sign in with USER_PASSWORD_AUTH (the app client must allow it) and return the tokens."""
    parameters = {"USERNAME": username, "PASSWORD": password}
    if client_secret:
        parameters["SECRET_HASH"] = secret_hash(username, client_id, client_secret)
    response: Mapping[str, Any] = source.client("cognito-idp").initiate_auth(
        ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH", AuthParameters=parameters
    )
    result = response.get("AuthenticationResult")
    if not result:
        raise SignInError(f"Sign-in of {username} asked for {response.get('ChallengeName', 'a challenge')}")
    return Tokens(
        id_token=str(result["IdToken"]),
        access_token=str(result["AccessToken"]),
        refresh_token=str(result.get("RefreshToken", "")),
        expires_in=int(result.get("ExpiresIn", 0)),
    )


def id_token(source: ClientSource, client_id: str, user: LocalUser) -> str:
    """A fresh ID token for a local user: what the API's Cognito authorizer wants."""
    return sign_in(source, client_id, user.username, user.password).id_token


# ---------------------------------------------------------------------------------------- OAuth 2.0


CLIENT_CREDENTIALS: Final = "client_credentials"
TOKEN_PATH: Final = "/oauth2/token"  # noqa: S105 - a URL path, not a secret
# OpenID Connect and Cognito's own scopes belong to users' tokens: the client credentials grant
# issues custom (resource server) scopes only.
_USER_SCOPES: Final = frozenset({"openid", "email", "phone", "profile", "aws.cognito.signin.user.admin"})
_VALIDITY_UNITS: Final = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
_DEFAULT_ACCESS_VALIDITY_SECONDS: Final = 3600
_ACCESS_USE: Final = "access"  # the `token_use` of access tokens
_BEARER: Final = "Bearer"  # the `token_type` of the answer


class OAuthError(Exception):
    """A refusal of the token endpoint: its HTTP status and OAuth 2.0 error code."""

    def __init__(self, status: int, error: str, *, basic_auth: bool = False) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.basic_auth = basic_auth  # a 401 then names the scheme the client tried (RFC 6749 5.2)

    def body(self) -> dict[str, str]:
        """What the endpoint answers: `{"error": "<code>"}`."""
        return {"error": self.error}


@dataclass(frozen=True)
class _ClientAuth:
    client_id: str
    client_secret: str
    basic: bool


class ClientCredentialsIssuer:
    """Cognito's token endpoint (`POST /oauth2/token`) for the client credentials grant.

    A machine client (an app client with a secret, `AllowedOAuthFlows: [client_credentials]` and
    `AllowedOAuthFlowsUserPoolClient: true`) authenticates with HTTP Basic (`client_id:client_secret`)
    or with the `client_id` and `client_secret` form fields, and gets an RS256 access token signed
    with the key moto's user pools publish in their JWKS, so the local API Gateway authorizer
    accepts it on methods that name one of its scopes. `scope` is optional: without it the token
    carries every custom scope the client is allowed. Refusals answer as Cognito does:
    `invalid_request` (400), `invalid_client` (401), `unauthorized_client` (400),
    `unsupported_grant_type` (400), `invalid_scope` (400).
    """

    def __init__(
        self,
        cognito: Any,
        user_pool_arns: Sequence[str],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`cognito` is a cognito-idp client of the emulator; `user_pool_arns` the pools it serves."""
        self._cognito = cognito
        self._pools = tuple(dict.fromkeys(user_pool_arns))
        self._clock = clock

    def issue(self, authorization: str | None, content_type: str | None, body: bytes) -> dict[str, Any]:
        """The token response (`access_token`, `expires_in`, `token_type`); OAuthError otherwise."""
        form = _form(content_type, body)
        grant = form.get("grant_type")
        if not grant:
            raise OAuthError(400, "invalid_request")
        if grant != CLIENT_CREDENTIALS:
            raise OAuthError(400, "unsupported_grant_type")
        auth = _client_auth(authorization, form)
        pool_arn, client = self._client(auth)
        secret = str(client.get("ClientSecret") or "")
        if not secret or not hmac.compare_digest(secret.encode(), auth.client_secret.encode()):
            raise OAuthError(401, "invalid_client", basic_auth=auth.basic)
        if not client.get("AllowedOAuthFlowsUserPoolClient") or CLIENT_CREDENTIALS not in client.get(
            "AllowedOAuthFlows", ()
        ):
            raise OAuthError(400, "unauthorized_client")
        scopes = _granted_scopes(form.get("scope"), client.get("AllowedOAuthScopes", ()))
        expires_in = _access_validity(client)
        now = int(self._clock())
        claims: dict[str, Any] = {
            "sub": auth.client_id,
            "scope": " ".join(scopes),
            "auth_time": now,
            "iss": issuer_of(pool_arn),
            "exp": now + expires_in,
            "iat": now,
            "version": 2,
            "jti": str(uuid.uuid4()),
            "client_id": auth.client_id,
        }
        claims["token_use"] = _ACCESS_USE
        return {"access_token": sign_jwt(claims), "expires_in": expires_in, "token_type": _BEARER}

    def _client(self, auth: _ClientAuth) -> tuple[str, dict[str, Any]]:
        for pool_arn in self._pools:
            pool_id = pool_arn.rsplit("/", 1)[-1]
            try:
                client = self._cognito.describe_user_pool_client(UserPoolId=pool_id, ClientId=auth.client_id)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                    continue
                raise
            return pool_arn, dict(client["UserPoolClient"])
        raise OAuthError(401, "invalid_client", basic_auth=auth.basic)


def _form(content_type: str | None, body: bytes) -> dict[str, str]:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        raise OAuthError(400, "invalid_request")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise OAuthError(400, "invalid_request") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise OAuthError(400, "invalid_request")  # RFC 6749 3.2: no parameter twice
        form[name] = value
    return form


def _client_auth(authorization: str | None, form: Mapping[str, str]) -> _ClientAuth:
    if authorization and authorization[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise OAuthError(401, "invalid_client", basic_auth=True) from None
        client_id, separator, client_secret = decoded.partition(":")
        if not separator or not client_id:
            raise OAuthError(401, "invalid_client", basic_auth=True)
        client_id, client_secret = unquote_plus(client_id), unquote_plus(client_secret)
        if form.get("client_id", client_id) != client_id:
            raise OAuthError(400, "invalid_request")
        return _ClientAuth(client_id, client_secret, basic=True)
    client_id = form.get("client_id", "")
    if not client_id:
        raise OAuthError(401, "invalid_client")
    return _ClientAuth(client_id, form.get("client_secret", ""), basic=False)


def _granted_scopes(requested: str | None, allowed: Iterable[str]) -> list[str]:
    custom = [scope for scope in allowed if scope not in _USER_SCOPES]
    if requested is None or not requested.strip():
        if not custom:
            raise OAuthError(400, "invalid_scope")
        return custom
    asked = list(dict.fromkeys(requested.split()))
    if any(scope not in custom for scope in asked):
        raise OAuthError(400, "invalid_scope")
    return asked


def _access_validity(client: Mapping[str, Any]) -> int:
    value = client.get("AccessTokenValidity")
    if not value:
        return _DEFAULT_ACCESS_VALIDITY_SECONDS
    unit = str((client.get("TokenValidityUnits") or {}).get("AccessToken") or "hours")
    return int(value) * _VALIDITY_UNITS.get(unit, 3600)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_of(segment: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)), "big")


@functools.cache
def _pool_signing_key() -> tuple[str, rsa.RSAPrivateKey]:
    """(kid, key) of moto's user pools: every pool signs with the key of this resource file."""
    jwk = load_resource("cognitoidp/resources/jwks-private.json")
    n, e, d = _int_of(jwk["n"]), _int_of(jwk["e"]), _int_of(jwk["d"])
    p, q = rsa.rsa_recover_prime_factors(n, e, d)
    numbers = rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=rsa.rsa_crt_dmp1(d, p),
        dmq1=rsa.rsa_crt_dmq1(d, q),
        iqmp=rsa.rsa_crt_iqmp(p, q),
        public_numbers=rsa.RSAPublicNumbers(e=e, n=n),
    )
    return str(jwk.get("kid", "dummy")), numbers.private_key()


def sign_jwt(claims: Mapping[str, Any]) -> str:
    """A compact RS256 JWT of `claims`, signed as the emulator's user pools sign their tokens."""
    kid, key = _pool_signing_key()
    header = {"kid": kid, "alg": "RS256"}
    signing_input = ".".join(
        _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, dict(claims))
    )
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64url(signature)}"
