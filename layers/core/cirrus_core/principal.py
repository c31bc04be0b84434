"""Who is calling: taken from the claims API Gateway's Cognito authorizer passes on.

Two kinds of caller reach the API. People sign in and present an ID token: their roles are the
Cirrus roles among their Cognito groups. Machines (CI systems) use the OAuth client credentials
grant of an app client of their own and present an access token, which API Gateway accepts only
on methods that name OAuth scopes: such a token has `token_use` "access", no username, the app
client's id as `client_id` (and as `sub`) and the granted scopes in `scope`, space-separated. A
machine is named `client:<client_id>`, and its Cedar roles come from its scopes (`SCOPE_ROLES`),
never from groups, so it holds exactly what the scopes it was granted allow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel, Field

from cirrus_core.errors import Unauthenticated

if TYPE_CHECKING:
    from collections.abc import Mapping

ROLES = frozenset({"ml_engineer", "data_scientist", "model_reviewer", "admin"})

# The resource server's scopes a CI client may be granted, and the Cedar role each one gives.
SCOPE_ROLES: Final[Mapping[str, str]] = {
    "cirrus/pipelines.execute": "ci_pipeline_runner",
    "cirrus/pipelines.read": "ci_pipeline_reader",
}
MACHINE_ROLES = frozenset(SCOPE_ROLES.values())
MACHINE_PREFIX = "client:"

# REST APIs pass claims as strings; a group list may come as "a,b", "[a b]" or "[a, b]".
_GROUP_SEPARATORS = re.compile(r"[\s,\[\]]+")


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: a person (groups) or a machine client (scopes)."""

    sub: str
    username: str
    groups: frozenset[str]
    scopes: frozenset[str] = frozenset()
    client_id: str | None = None  # set for machine clients only

    @property
    def is_machine(self) -> bool:
        """True for an app client authenticated with the client credentials grant."""
        return self.client_id is not None

    @property
    def roles(self) -> frozenset[str]:
        """The Cirrus roles: a person's among their groups, a machine's from its scopes."""
        if self.is_machine:
            return frozenset(SCOPE_ROLES[scope] for scope in self.scopes if scope in SCOPE_ROLES)
        return self.groups & ROLES

    @property
    def actor(self) -> str:
        """How audit trails and events name this caller."""
        return self.username or self.sub


def _parse_groups(raw: Any) -> frozenset[str]:
    if raw is None:
        return frozenset()
    if isinstance(raw, list | tuple | set | frozenset):
        return frozenset(str(group) for group in raw if str(group))
    return frozenset(part for part in _GROUP_SEPARATORS.split(str(raw)) if part)


def _parse_scopes(raw: Any) -> frozenset[str]:
    if isinstance(raw, list | tuple | set | frozenset):
        return frozenset(str(scope) for scope in raw if str(scope))
    return frozenset(str(raw or "").split())


def _is_client_credentials(claims: Mapping[str, Any]) -> bool:
    """An access token issued to an app client itself: no user, so no username of any kind."""
    return (
        claims.get("token_use") == "access" and "username" not in claims and "cognito:username" not in claims
    )


def principal_from_claims(claims: Mapping[str, Any] | None) -> Principal:
    """Build the principal from authorizer claims; no claims, or no subject, is unauthenticated."""
    if not claims or not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise Unauthenticated("The request carries no authenticated identity.")
    if _is_client_credentials(claims):
        client_id = claims.get("client_id")
        if not isinstance(client_id, str) or not client_id:
            raise Unauthenticated("The access token names no app client.")
        return Principal(
            sub=claims["sub"],
            username=MACHINE_PREFIX + client_id,
            groups=frozenset(),
            scopes=_parse_scopes(claims.get("scope")),
            client_id=client_id,
        )
    username = claims.get("cognito:username") or claims.get("username") or ""
    return Principal(
        sub=claims["sub"],
        username=str(username),
        groups=_parse_groups(claims.get("cognito:groups")),
    )


class ActorRecord(BaseModel):
    """A principal as stored with long-running work (a run, a deployment, a batch job, an edge
    package), so that its later steps act for, audit and announce the person who asked."""

    sub: str
    username: str = ""
    groups: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, principal: Principal) -> ActorRecord:
        """The record of a request's principal."""
        return cls(sub=principal.sub, username=principal.username or "", groups=sorted(principal.groups))

    @property
    def name(self) -> str:
        """How audit records and events name the actor."""
        return self.username or self.sub

    def principal(self) -> Principal:
        """The principal to authorize the work's steps as."""
        return Principal(sub=self.sub, username=self.username, groups=frozenset(self.groups))
