"""The policy API: list, store (validated), delete, evaluate; each refused to all but system_config."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.api import ApiResponse, call
from tests.support.authz import claims
from tests.support.aws import AwsResources
from tests.support.registry import MODEL_ID, RegistryDriver, Unchanged

REVIEWERS_RETIRE = (
    'permit (principal in Cirrus::Role::"model_reviewer", action == Cirrus::Action::"RetireModel", resource);'
)


def policies(route: str, **parts: Any) -> ApiResponse:
    """Call a policy route as the sample's caller (ada, admin) unless `claims` says otherwise."""
    return call(route, package="security", **parts)


def put(policy_id: str, statement: str, **parts: Any) -> ApiResponse:
    return policies("put_policy", path={"policy_id": policy_id}, body={"statement": statement}, **parts)


def test_the_baseline_policies_are_listed_as_protected(aws: AwsResources) -> None:
    response = policies("list_policies")

    assert response.status == 200
    listed = {item["policy_id"]: item["baseline"] for item in response.body["items"]}
    assert listed["forbid_self_approval"] is True
    assert all(listed.values())


def test_a_stored_policy_is_listed_with_who_stored_it(aws: AwsResources) -> None:
    stored = put("reviewers_retire_models", REVIEWERS_RETIRE)

    listed = policies("list_policies").body

    assert stored.status == 200
    custom = [item for item in listed["items"] if not item["baseline"]]
    assert [(item["policy_id"], item["updated_by"]) for item in custom] == [
        ("reviewers_retire_models", "ada@example.com")
    ]
    assert listed["version"]


def test_an_invalid_policy_is_refused_with_the_validators_message_and_nothing_is_stored(
    aws: AwsResources, unchanged: Unchanged
) -> None:
    with unchanged:
        response = put("bad", 'permit (principal, action == Cirrus::Action::"FlyToTheMoon", resource);')

    assert (response.status, response.error_code) == (422, "invalid_policy")
    assert "FlyToTheMoon" in response.body["error"]["details"][0]["message"]


@pytest.mark.parametrize(
    "statement",
    [
        "permit (principal, action, resource",  # does not parse
        "permit (principal, action, resource); forbid (principal, action, resource);",  # two policies
        "permit (principal == ?principal, action, resource);",  # a template
    ],
)
def test_a_statement_that_is_not_one_static_policy_is_refused(
    aws: AwsResources, unchanged: Unchanged, statement: str
) -> None:
    with unchanged:
        response = put("bad", statement)

    assert (response.status, response.error_code) == (422, "invalid_policy")


@pytest.mark.parametrize("route", ["put_policy", "delete_policy"])
def test_a_baseline_policy_cannot_be_replaced_or_deleted(
    aws: AwsResources, unchanged: Unchanged, route: str
) -> None:
    body = {"statement": REVIEWERS_RETIRE} if route == "put_policy" else None
    with unchanged:
        response = policies(route, path={"policy_id": "forbid_self_approval"}, body=body)

    assert (response.status, response.error_code) == (409, "baseline_policy_protected")


def test_deleting_an_unknown_policy_is_not_found(aws: AwsResources) -> None:
    response = policies("delete_policy", path={"policy_id": "never_stored"})

    assert (response.status, response.error_code) == (404, "policy_not_found")


def test_a_stored_policy_governs_the_next_request_and_deleting_it_restores_the_decision(
    aws: AwsResources, registry: RegistryDriver
) -> None:
    registry.register()
    as_reviewer: dict[str, Any] = {
        "path": {"model_id": MODEL_ID},
        "query": {"version": "1"},
        "claims": claims("model_reviewer"),
    }
    refused = call("retire_model", **as_reviewer)

    put("reviewers_retire_models", REVIEWERS_RETIRE)
    allowed = call("retire_model", **as_reviewer)
    registry.register()
    deleted = policies("delete_policy", path={"policy_id": "reviewers_retire_models"})
    refused_again = call(
        "retire_model", path={"model_id": MODEL_ID}, query={"version": "2"}, claims=claims("model_reviewer")
    )

    assert (refused.status, refused.error_code) == (403, "access_denied")
    assert allowed.status == 200
    assert deleted.status == 204
    assert (refused_again.status, refused_again.error_code) == (403, "access_denied")


def test_a_custom_forbid_overrides_the_baseline_permits(aws: AwsResources) -> None:
    forbid = 'forbid (principal, action == Cirrus::Action::"ListModels", resource);'
    put("nobody_lists_models", forbid)

    response = call("list_models", claims=claims("admin"))

    assert (response.status, response.error_code) == (403, "access_denied")
    assert response.body["error"]["details"] == [
        {
            "action": "ListModels",
            "reason": "forbidden:nobody_lists_models",
            "policies": ["nobody_lists_models"],
        }
    ]


def test_evaluate_returns_the_decision_and_the_determining_policies(aws: AwsResources) -> None:
    allowed = policies("evaluate_policy")  # the sample: bob, a reviewer, approving alice's version
    own = policies("evaluate_policy")
    body: dict[str, Any] = {
        "principal": {"sub": "bob-sub", "username": "bob", "groups": ["model_reviewer"]},
        "action": "ApproveVersion",
        "resource": {
            "type": "ModelVersion",
            "id": "m/1",
            "attributes": {
                "model_id": "m",
                "version": 1,
                "registered_by": "bob-sub",
                "registered_by_name": "bob",
                "approval_status": "PendingManualApproval",
                "retired": False,
            },
        },
    }
    own = policies("evaluate_policy", body=body)
    nothing = policies(
        "evaluate_policy",
        body={**body, "action": "PutPolicy", "resource": {"type": "Platform", "id": "cirrus"}},
    )

    assert allowed.status == 200
    assert allowed.body == {
        "decision": "allow",
        "action": "ApproveVersion",
        "determining_policies": ["reviewers_review_versions"],
        "reason": "permitted",
        "errors": [],
    }
    assert (own.body["decision"], own.body["determining_policies"]) == ("deny", ["forbid_self_approval"])
    assert (nothing.body["decision"], nothing.body["reason"]) == ("deny", "no_permit")


@pytest.mark.parametrize("role", ["ml_engineer", "data_scientist", "model_reviewer"])
@pytest.mark.parametrize("route", ["list_policies", "put_policy", "delete_policy", "evaluate_policy"])
def test_only_system_config_holders_use_the_policy_api(
    aws: AwsResources, unchanged: Unchanged, role: str, route: str
) -> None:
    with unchanged:
        response = policies(route, claims=claims(role))

    assert (response.status, response.error_code) == (403, "access_denied")
    assert response.body["error"]["details"][0]["reason"] == "no_permit"


def test_no_token_is_unauthenticated(aws: AwsResources) -> None:
    response = policies("list_policies", claims=None)

    assert (response.status, response.error_code) == (401, "unauthenticated")


def test_a_request_the_schema_does_not_allow_is_denied_with_cedars_errors(aws: AwsResources) -> None:
    body = {
        "principal": {"sub": "ada-sub", "groups": ["admin"]},
        "action": "LaunchRocket",
        "resource": {"type": "Platform", "id": "cirrus"},
    }

    response = policies("evaluate_policy", body=body)

    assert (response.body["decision"], response.body["reason"]) == ("deny", "evaluation_error")
    assert "LaunchRocket" in response.body["errors"][0]


def audit_records(aws: AwsResources) -> list[dict[str, Any]]:
    """The audit chain's records, oldest first, as stored."""
    items = aws.dynamodb.query(
        TableName="cirrus-test-audit",
        KeyConditionExpression="pk = :chain",
        ExpressionAttributeValues={":chain": {"S": "CHAIN"}},
        ConsistentRead=True,
    )["Items"]
    return [json.loads(item["doc"]["S"]) for item in items]


def test_storing_and_deleting_a_policy_each_append_one_policy_change_record(aws: AwsResources) -> None:
    put("reviewers_retire_models", REVIEWERS_RETIRE)
    policies("delete_policy", path={"policy_id": "reviewers_retire_models"})

    changes = [record for record in audit_records(aws) if record["category"] == "policy_change"]

    assert [(r["action"], r["resource"]) for r in changes] == [
        ("PutPolicy", "policy/reviewers_retire_models"),
        ("DeletePolicy", "policy/reviewers_retire_models"),
    ]
    stored, deleted = changes
    assert stored["before_hash"] is None
    assert stored["after_hash"]
    assert deleted["before_hash"] == stored["after_hash"]
    assert deleted["after_hash"] is None
    assert stored["policies"], "the allowing policies are recorded"


def test_a_refused_policy_appends_no_policy_change_record(aws: AwsResources) -> None:
    put("bad", 'permit (principal, action == Cirrus::Action::"FlyToTheMoon", resource);')

    assert [r for r in audit_records(aws) if r["category"] == "policy_change"] == []
