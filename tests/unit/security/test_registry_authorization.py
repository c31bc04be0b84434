"""The registry enforces the policies: one action per route, the registrant's subject recorded."""

from __future__ import annotations

import pytest

from tests.support.api import call
from tests.support.authz import USERS, claims
from tests.support.aws import AwsResources
from tests.support.registry import MODEL_ID, RegistryDriver, Unchanged


def version_path(version: int) -> dict[str, str]:
    return {"model_id": MODEL_ID, "version": str(version)}


def test_a_version_records_its_registrants_subject(aws: AwsResources) -> None:
    response = call("register_model", claims=claims("data_scientist"))

    assert response.body["created_by_sub"] == USERS["data_scientist"][0]


def test_a_refusal_answers_403_with_the_action_and_reason_and_changes_nothing(
    registry: RegistryDriver, unchanged: Unchanged
) -> None:
    registry.register()

    with unchanged:
        response = call("approve_version", path=version_path(1), claims=claims("data_scientist"))

    assert (response.status, response.error_code) == (403, "access_denied")
    assert response.body["error"]["details"] == [
        {"action": "ApproveVersion", "reason": "no_permit", "policies": []}
    ]


def test_a_reviewer_cannot_approve_a_version_they_registered(
    registry: RegistryDriver, unchanged: Unchanged
) -> None:
    # One user both registers (ml_engineer) and reviews (model_reviewer): the forbid still applies.
    both = claims("model_reviewer", groups="ml_engineer,model_reviewer")
    registered = call("register_model", claims=both)

    with unchanged:
        response = call("approve_version", path=version_path(registered.body["version"]), claims=both)

    assert (response.status, response.error_code) == (403, "access_denied")
    assert response.body["error"]["details"][0]["reason"] == "forbidden:forbid_self_approval"


def test_another_reviewer_approves_it(registry: RegistryDriver) -> None:
    registered = call("register_model", claims=claims("model_reviewer", groups="ml_engineer,model_reviewer"))

    response = call(
        "approve_version",
        path=version_path(registered.body["version"]),
        claims={"sub": "another-reviewer", "cognito:username": "rui", "cognito:groups": "model_reviewer"},
    )

    assert response.status == 200
    assert response.body["approval_status"] == "Approved"


@pytest.mark.parametrize("route", ["approve_version", "reject_version"])
def test_an_admin_cannot_decide_on_a_version_they_registered(
    registry: RegistryDriver, unchanged: Unchanged, route: str
) -> None:
    registered = call("register_model", claims=claims("admin"))

    with unchanged:
        response = call(route, path=version_path(registered.body["version"]), claims=claims("admin"))

    assert (response.status, response.error_code) == (403, "access_denied")


@pytest.mark.parametrize(("environment", "status"), [("dev", 200), ("staging", 403), ("prod", 403)])
def test_a_data_scientist_promotes_to_dev_only(
    registry: RegistryDriver, environment: str, status: int
) -> None:
    registry.register_approved(1)

    response = call(
        "promote_model",
        path={"model_id": MODEL_ID},
        body={"version": 1, "environment": environment},
        claims=claims("data_scientist"),
    )

    assert response.status == status


def test_a_user_in_no_cirrus_role_reads_nothing(registry: RegistryDriver) -> None:
    registry.register()

    response = call("get_model", path={"model_id": MODEL_ID}, claims={"sub": "s", "cognito:groups": "guests"})

    assert (response.status, response.error_code) == (403, "access_denied")
