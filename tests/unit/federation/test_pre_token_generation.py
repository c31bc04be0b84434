"""The pre-token-generation trigger: IdP groups become Cirrus roles only through the allowlist."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

import pytest
from pydantic import ValidationError

from cirrus_core import federation
from cirrus_core.federation import FederationSettings, parse_idp_groups
from functions.security.pre_token_generation import lambda_handler
from tests.support.api import LambdaContextStub
from tests.support.aws import load_sample

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

ALLOWLIST = json.dumps(
    {
        "CirrusMLEngineers": "ml_engineer",
        "cirrus-reviewers": ["model_reviewer"],
        "Cirrus Admins": ["admin", "model_reviewer"],
    }
)


@pytest.fixture(autouse=True)
def allowlist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDP_GROUP_ROLE_MAP", ALLOWLIST)
    federation.federation_settings.cache_clear()


def trigger(sample: str, **attributes: str) -> dict[str, Any]:
    event = load_sample(f"cognito/{sample}")
    event["request"]["userAttributes"].update(attributes)
    federation.federation_settings.cache_clear()
    return lambda_handler(event, cast("LambdaContext", LambdaContextStub()))


def test_a_v1_event_gets_the_roles_of_its_allowlisted_idp_groups_only() -> None:
    response = trigger("pre_token_generation_v1")["response"]["claimsOverrideDetails"]

    # Domain Users, VPN Users and the provider's own group give nothing.
    assert response["groupOverrideDetails"]["groupsToOverride"] == ["ml_engineer"]
    assert response["groupOverrideDetails"]["iamRolesToOverride"] == []
    assert response["claimsToSuppress"] == ["custom:groups"]


def test_a_v2_event_keeps_cognito_roles_and_adds_mapped_ones_for_both_tokens() -> None:
    details = trigger("pre_token_generation_v2")["response"]["claimsAndScopeOverrideDetails"]

    assert details["groupOverrideDetails"]["groupsToOverride"] == ["data_scientist", "model_reviewer"]
    assert details["idTokenGeneration"]["claimsToSuppress"] == ["custom:groups"]
    assert "claimsOverrideDetails" not in trigger("pre_token_generation_v2")["response"]


def test_a_pool_user_keeps_the_role_groups_it_was_added_to_and_loses_other_groups() -> None:
    response = trigger("pre_token_generation_local_user")["response"]["claimsOverrideDetails"]

    assert response["groupOverrideDetails"]["groupsToOverride"] == ["ml_engineer"]
    assert response["claimsToSuppress"] == []


def test_an_idp_group_named_like_a_role_gives_nothing_unless_allowlisted() -> None:
    response = trigger("pre_token_generation_v1", **{"custom:groups": "[admin, model_reviewer]"})

    assert response["response"]["claimsOverrideDetails"]["groupOverrideDetails"]["groupsToOverride"] == []


def test_idp_groups_match_the_allowlist_ignoring_case_and_may_give_several_roles() -> None:
    response = trigger("pre_token_generation_v1", **{"custom:groups": "[cirrus admins]"})

    groups = response["response"]["claimsOverrideDetails"]["groupOverrideDetails"]["groupsToOverride"]
    assert groups == ["admin", "model_reviewer"]


def test_without_an_allowlist_federated_users_get_no_role(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IDP_GROUP_ROLE_MAP")

    response = trigger("pre_token_generation_v1")

    assert response["response"]["claimsOverrideDetails"]["groupOverrideDetails"]["groupsToOverride"] == []


@pytest.mark.parametrize(
    ("raw", "groups"),
    [
        ("[CirrusMLEngineers, Domain Users]", ["CirrusMLEngineers", "Domain Users"]),
        ('["cirrus-reviewers","all-staff"]', ["cirrus-reviewers", "all-staff"]),
        ("CirrusMLEngineers,  VPN Users ,", ["CirrusMLEngineers", "VPN Users"]),
        ("CirrusMLEngineers", ["CirrusMLEngineers"]),
        ("[]", []),
        ("", []),
        (None, []),
    ],
)
def test_idp_group_attribute_formats(raw: str | None, groups: list[str]) -> None:
    assert parse_idp_groups(raw) == groups


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('{"ML Engineers": "ml_engineer"}', {"ML Engineers": ("ml_engineer",)}),
        (
            "ml-eng=ml_engineer, ml-eng=data_scientist,rev=model_reviewer",
            {
                "ml-eng": ("ml_engineer", "data_scientist"),
                "rev": ("model_reviewer",),
            },
        ),
        ("", {}),
        ("{}", {}),
    ],
)
def test_the_allowlist_reads_json_or_pairs(value: str, expected: dict[str, tuple[str, ...]]) -> None:
    assert FederationSettings.from_environ({"IDP_GROUP_ROLE_MAP": value}).group_roles == expected


@pytest.mark.parametrize(
    "value",
    ['{"ML Engineers": "ml_enginer"}', "ml-eng", "ml-eng=superuser", '{"": "admin"}', "{not json"],
)
def test_an_allowlist_naming_anything_but_cirrus_roles_is_refused(value: str) -> None:
    with pytest.raises(ValidationError):
        FederationSettings.from_environ({"IDP_GROUP_ROLE_MAP": value})
