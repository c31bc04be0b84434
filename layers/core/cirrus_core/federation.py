"""Cirrus roles for federated users: the IdP's groups, mapped through a configured allowlist.

A user signing in through a SAML or OIDC identity provider (Active Directory through IAM Identity
Center or AD FS, Okta, Entra ID, ...) brings the IdP's group names in the `custom:groups` attribute,
mapped from the IdP's group claim. The pre-token-generation trigger turns them into Cognito groups
(the `cognito:groups` claim the API reads) through `IDP_GROUP_ROLE_MAP`: only groups named there
give a role, and only a Cirrus role; every other group is dropped, so a new group in the directory
never grants anything by accident.
"""

from __future__ import annotations

import functools
import json
import os
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from cirrus_core.principal import ROLES

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

GROUPS_ATTRIBUTE = "custom:groups"


def _parse_mapping(value: object) -> object:
    """`{"idp-group": "role"}` JSON, or `idp-group=role,...` for names without `,` or `=`."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        return {}
    if text.startswith("{"):
        return json.loads(text)
    pairs: dict[str, list[str]] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        group, separator, role = item.partition("=")
        if not separator:
            raise ValueError(f"{item.strip()!r} is not idp-group=role")
        pairs.setdefault(group.strip(), []).append(role.strip())
    return pairs


def _as_role_list(value: object) -> object:
    return [value] if isinstance(value, str) else value


RoleList = Annotated[tuple[str, ...], BeforeValidator(_as_role_list)]


class FederationSettings(BaseModel):
    """The allowlist from IdP group to Cirrus roles. Environment variable names are the aliases."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    group_roles: Annotated[dict[str, RoleList], BeforeValidator(_parse_mapping)] = Field(
        default_factory=dict, alias="IDP_GROUP_ROLE_MAP"
    )

    @field_validator("group_roles")
    @classmethod
    def _roles_are_cirrus_roles(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        # A typo in a deployment parameter must fail loudly at the first sign-in, not grant nothing
        # (or something else) silently for months.
        for group, roles in value.items():
            unknown = sorted(set(roles) - ROLES)
            if not group.strip():
                raise ValueError("an IdP group name is empty")
            if unknown:
                raise ValueError(f"{group!r} maps to {unknown}, not Cirrus roles ({sorted(ROLES)})")
        return value

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> FederationSettings:
        """Build settings from an environment mapping (the process environment by default)."""
        source = os.environ if environ is None else environ
        known = {field.alias for field in cls.model_fields.values() if field.alias}
        return cls.model_validate({key: value for key, value in source.items() if key in known})

    def roles_for(self, idp_groups: Iterable[str]) -> frozenset[str]:
        """The roles the allowlist gives these IdP groups (matched ignoring case, as AD does)."""
        folded = {group.casefold(): roles for group, roles in self.group_roles.items()}
        return frozenset(role for group in idp_groups for role in folded.get(group.strip().casefold(), ()))


@functools.cache
def federation_settings() -> FederationSettings:
    """The federation settings of this execution environment, read on first use."""
    return FederationSettings.from_environ()


def parse_idp_groups(raw: str | None) -> list[str]:
    """The group names in the `custom:groups` attribute.

    OIDC providers send a JSON array, which Cognito stores as its text; SAML multi-valued attributes
    arrive as `[a, b]`. Group names may hold spaces (`ML Engineers`), so only commas separate them.
    """
    if not raw or not raw.strip():
        return []
    text = raw.strip()
    if text.startswith("["):
        try:
            decoded: Any = json.loads(text)
        except ValueError:
            text = text[1:-1] if text.endswith("]") else text[1:]
        else:
            if isinstance(decoded, list):
                return [str(item).strip() for item in decoded if str(item).strip()]
    return [part.strip() for part in text.split(",") if part.strip()]


def token_groups(
    settings: FederationSettings, cognito_groups: Iterable[str], idp_groups: Iterable[str]
) -> list[str]:
    """The groups the token should carry: the user's Cognito groups that are Cirrus roles, plus the
    roles the allowlist gives the IdP's groups; sorted, so tokens are stable across sign-ins."""
    kept = {group for group in cognito_groups if group in ROLES}
    return sorted(kept | settings.roles_for(idp_groups))
