"""Who is calling: taken from the claims API Gateway's Cognito authorizer passes on."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cirrus_core.errors import Unauthenticated

if TYPE_CHECKING:
    from collections.abc import Mapping

ROLES = frozenset({"ml_engineer", "data_scientist", "model_reviewer", "admin"})

# REST APIs pass claims as strings; a group list may come as "a,b", "[a b]" or "[a, b]".
_GROUP_SEPARATORS = re.compile(r"[\s,\[\]]+")


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller."""

    sub: str
    username: str
    groups: frozenset[str]

    @property
    def roles(self) -> frozenset[str]:
        """The Cirrus roles among the caller's groups."""
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


def principal_from_claims(claims: Mapping[str, Any] | None) -> Principal:
    """Build the principal from authorizer claims; no claims, or no subject, is unauthenticated."""
    if not claims or not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise Unauthenticated("The request carries no authenticated identity.")
    username = claims.get("cognito:username") or claims.get("username") or ""
    return Principal(
        sub=claims["sub"],
        username=str(username),
        groups=_parse_groups(claims.get("cognito:groups")),
    )
