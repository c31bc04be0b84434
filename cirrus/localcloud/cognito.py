"""Users and tokens for a deployed user pool: one user per role (group), signed in for real.

Users are created the way an administrator would (AdminCreateUser with the invitation suppressed,
then a permanent password), put in their groups, and signed in with USER_PASSWORD_AUTH. The ID
token moto 5.2.5 issues carries `cognito:groups` (a list) and `cognito:username`; in a pool whose
usernames are email addresses, `cognito:username` is the user's `sub` and `email` the address, as
in AWS.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

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
