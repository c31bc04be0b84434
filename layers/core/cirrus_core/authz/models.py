"""Request and response bodies of the policy API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

POLICY_ID_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"

PolicyStatement = Annotated[str, Field(min_length=1, max_length=10_000, description="One Cedar policy.")]


class Policy(BaseModel):
    """A policy in force: a baseline policy shipped with the code, or a custom one stored by an admin."""

    policy_id: str
    statement: str
    description: str = ""
    baseline: bool
    updated_at: datetime | None = None
    updated_by: str | None = None


class PolicyList(BaseModel):
    """Every policy in force, baseline first, each group in id order."""

    items: list[Policy]
    version: str = Field(description="Changes whenever a custom policy is stored or deleted.")


class PutPolicyRequest(BaseModel):
    """A custom policy to store under the path's id."""

    statement: PolicyStatement
    description: str = Field(default="", max_length=500)


class EvaluatePrincipal(BaseModel):
    """Who to evaluate as: a user with Cirrus roles as their groups."""

    sub: str = Field(min_length=1, max_length=128)
    username: str = Field(default="", max_length=128)
    groups: list[str] = Field(default_factory=list, max_length=20)


class EvaluateResource(BaseModel):
    """What to evaluate on; attributes as the schema declares them for the type."""

    type: Literal["Platform", "Model", "ModelVersion"]
    id: str = Field(min_length=1, max_length=256)
    attributes: dict[str, Any] = Field(default_factory=dict)


class EvaluateRequest(BaseModel):
    """A what-if question: would `principal` be allowed `action` on `resource` in `context`?"""

    principal: EvaluatePrincipal
    action: str = Field(pattern=r"^[A-Za-z_]{1,64}$")
    resource: EvaluateResource
    context: dict[str, Any] = Field(default_factory=dict)


class EvaluateResult(BaseModel):
    """Cedar's decision with the policies that determined it."""

    decision: Literal["allow", "deny"]
    action: str
    determining_policies: list[str]
    reason: str
    errors: list[str]
