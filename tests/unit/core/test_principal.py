"""The caller is taken from the Cognito authorizer's claims; no subject means no caller."""

from __future__ import annotations

from typing import Any

import pytest

from cirrus_core.errors import Unauthenticated
from cirrus_core.principal import principal_from_claims

ALICE = {"sub": "7d8f3a2e-1b4c-4e5f-9a6b-2c3d4e5f6a7b", "cognito:username": "alice@example.com"}


@pytest.mark.parametrize(
    "groups",
    [
        pytest.param("ml_engineer,model_reviewer", id="comma-separated"),
        pytest.param("ml_engineer, model_reviewer", id="comma-and-space"),
        pytest.param("[ml_engineer model_reviewer]", id="bracketed-space-separated"),
        pytest.param("[ml_engineer, model_reviewer]", id="bracketed-comma-separated"),
        pytest.param(["ml_engineer", "model_reviewer"], id="list"),
    ],
)
def test_groups_are_read_in_every_form_rest_apis_pass_them(groups: Any) -> None:
    principal = principal_from_claims({**ALICE, "cognito:groups": groups})

    assert principal.groups == {"ml_engineer", "model_reviewer"}


def test_a_single_group_is_one_group() -> None:
    assert principal_from_claims({**ALICE, "cognito:groups": "admin"}).groups == {"admin"}


def test_a_caller_without_groups_has_no_groups_and_no_roles() -> None:
    principal = principal_from_claims(ALICE)

    assert principal.groups == frozenset()
    assert principal.roles == frozenset()


def test_roles_are_the_cirrus_roles_among_the_groups() -> None:
    principal = principal_from_claims({**ALICE, "cognito:groups": "ml_engineer,beta-testers,[admins]"})

    assert principal.roles == {"ml_engineer"}
    assert "beta-testers" in principal.groups


def test_the_subject_and_username_are_taken_from_the_claims() -> None:
    principal = principal_from_claims(ALICE)

    assert principal.sub == ALICE["sub"]
    assert principal.username == "alice@example.com"
    assert principal.actor == "alice@example.com"


def test_the_plain_username_claim_is_used_when_cognito_username_is_absent() -> None:
    principal = principal_from_claims({"sub": ALICE["sub"], "username": "svc-trainer"})

    assert principal.actor == "svc-trainer"


def test_a_caller_without_a_username_is_named_by_their_subject() -> None:
    principal = principal_from_claims({"sub": ALICE["sub"]})

    assert principal.actor == ALICE["sub"]


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param(None, id="no-claims"),
        pytest.param({}, id="empty-claims"),
        pytest.param({"cognito:username": "alice@example.com"}, id="no-sub"),
        pytest.param({"sub": "", "cognito:username": "alice@example.com"}, id="empty-sub"),
        pytest.param({"sub": 42, "cognito:username": "alice@example.com"}, id="sub-not-a-string"),
    ],
)
def test_claims_without_a_subject_are_unauthenticated(claims: Any) -> None:
    with pytest.raises(Unauthenticated):
        principal_from_claims(claims)
