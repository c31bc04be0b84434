"""Cedar decisions of the baseline policies: per role and action, the forbid, deny by default."""

from __future__ import annotations

import json

import cedarpy
import pytest

from cirrus_core.authz.engine import (
    REASON_NO_PERMIT,
    Authorizer,
    Resource,
    baseline_policies,
    schema,
)
from cirrus_core.authz.store import SecurityRepository
from cirrus_core.errors import AccessDenied
from cirrus_core.principal import Principal
from tests.support.authz import EXPECTED, ROLES, USERS, principal
from tests.support.aws import TABLE_NAMES, AwsResources

OTHER_REGISTRANT = "99999999-0000-4000-8000-000000000000"


@pytest.fixture
def authorizer(aws: AwsResources) -> Authorizer:
    return Authorizer(SecurityRepository(aws.dynamodb, TABLE_NAMES["SecurityTable"]))


def version_resource(registered_by: str, registered_by_name: str = "someone@example.com") -> Resource:
    return Resource(
        "ModelVersion",
        "fraud/1",
        {
            "model_id": "fraud",
            "version": 1,
            "registered_by": registered_by,
            "registered_by_name": registered_by_name,
            "approval_status": "PendingManualApproval",
            "retired": False,
        },
        (Resource.model("fraud"),),
    )


def resource_for(action: str) -> Resource:
    """A resource of the type the schema says the action applies to."""
    if action in {"ApproveVersion", "RejectVersion"}:
        return version_resource(OTHER_REGISTRANT)
    applies_to = schema()["Cirrus"]["actions"][action]["appliesTo"]["resourceTypes"]
    if applies_to == ["Platform"]:
        return Resource.platform()
    if applies_to == ["Pipeline"]:
        return Resource.pipeline("fraud_training")
    return Resource.model("fraud")


def test_every_baseline_policy_validates_against_the_schema() -> None:
    for policy_id, statement in baseline_policies().items():
        result = cedarpy.validate_policies(statement, schema())
        assert result.validation_passed, (policy_id, [error.error for error in result.errors])


def test_every_action_of_the_schema_is_in_the_expected_table() -> None:
    groups = {"model_deploy", "data_access", "pipeline_execute", "system_config"}
    groups |= {"model_register", "model_review", "model_read", "audit_read", "pipeline_read"}
    actions = set(schema()["Cirrus"]["actions"]) - groups
    assert actions == {action for action, _ in EXPECTED}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("action", "environment"), list(EXPECTED))
def test_each_role_is_allowed_exactly_the_actions_the_table_gives_it(
    authorizer: Authorizer, role: str, action: str, environment: str | None
) -> None:
    context = {"environment": environment} if environment else None

    decision = authorizer.decide(principal(role), action, resource_for(action), context)

    assert decision.allowed is (role in EXPECTED[(action, environment)])
    assert decision.policies if decision.allowed else decision.reason == REASON_NO_PERMIT


def test_a_user_in_no_cirrus_role_is_denied_even_reads(authorizer: Authorizer) -> None:
    nobody = Principal(sub="sub-nobody", username="nobody", groups=frozenset({"contractors"}))

    decision = authorizer.decide(nobody, "GetModel", Resource.model("fraud"))

    assert (decision.allowed, decision.reason, decision.policies) == (False, REASON_NO_PERMIT, [])


@pytest.mark.parametrize("role", ["model_reviewer", "admin"])
@pytest.mark.parametrize("action", ["ApproveVersion", "RejectVersion"])
def test_nobody_decides_on_a_version_they_registered_admin_included(
    authorizer: Authorizer, role: str, action: str
) -> None:
    sub, _ = USERS[role]

    with pytest.raises(AccessDenied) as raised:
        authorizer.authorize(principal(role), action, version_resource(sub))

    assert raised.value.reason == "forbidden:forbid_self_approval"
    assert raised.value.details == [
        {"action": action, "reason": "forbidden:forbid_self_approval", "policies": ["forbid_self_approval"]}
    ]


def test_a_reviewer_approves_a_version_someone_else_registered(authorizer: Authorizer) -> None:
    decision = authorizer.authorize(
        principal("model_reviewer"), "ApproveVersion", version_resource("another-sub")
    )

    assert decision.allowed
    assert decision.policies == ["reviewers_review_versions"]


def test_a_version_without_a_recorded_subject_is_matched_on_the_registrants_username(
    authorizer: Authorizer,
) -> None:
    _, username = USERS["model_reviewer"]

    decision = authorizer.decide(
        principal("model_reviewer"), "ApproveVersion", version_resource("", username)
    )

    assert (decision.allowed, decision.reason) == (False, "forbidden:forbid_self_approval")


def test_ids_with_quotes_cannot_change_the_request(authorizer: Authorizer) -> None:
    tricky = Principal(sub='x" || true || "', username="x", groups=frozenset({"data_scientist"}))

    decision = authorizer.decide(tricky, "RetireModel", Resource.model(json.dumps("m")))

    assert not decision.allowed
