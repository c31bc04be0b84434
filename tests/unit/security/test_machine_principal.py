"""Machine-to-machine callers: a CI client's access token becomes a principal whose roles are its scopes.

A CI system signs in with the OAuth client credentials grant of its own app client and calls the
CI routes, whose methods name OAuth scopes; API Gateway then passes the access token's claims.
The principal is named `client:<client_id>`; scope `cirrus/pipelines.execute` gives the Cedar role
`ci_pipeline_runner` (start a run, follow it, read its pipeline) and `cirrus/pipelines.read` the
role `ci_pipeline_reader` (the pipeline_read group). Nothing else is granted to either.
"""

from __future__ import annotations

from typing import Any

import pytest

from cirrus_core.authz.engine import REASON_NO_PERMIT, Authorizer, Resource, schema
from cirrus_core.authz.store import SecurityRepository
from cirrus_core.errors import Unauthenticated
from cirrus_core.principal import Principal, principal_from_claims
from tests.support.aws import TABLE_NAMES, AwsResources

CLIENT_ID = "4q9ci0example1clientid2abc"
EXECUTE = "cirrus/pipelines.execute"
READ = "cirrus/pipelines.read"

RUNNER_ACTIONS = frozenset({"ExecutePipeline", "GetPipelineRun", "GetPipeline"})


def access_claims(scope: str, **extra: str) -> dict[str, str]:
    """Claims of a client credentials access token, as a REST API's authorizer passes them."""
    return {
        "sub": CLIENT_ID,
        "client_id": CLIENT_ID,
        "token_use": "access",
        "scope": scope,
        "auth_time": "1717243100",
        "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEfGhI",
        "exp": "Sat Jun 01 13:00:00 UTC 2024",
        "iat": "Sat Jun 01 12:00:00 UTC 2024",
        "version": "2",
        "jti": "7b0c1d2e-3f4a-4b5c-8d6e-7f8a9b0c1d2e",
        **extra,
    }


def actions() -> list[str]:
    """Every action of the schema (groups excluded)."""
    declared = schema()["Cirrus"]["actions"]
    return sorted(name for name, spec in declared.items() if spec.get("appliesTo"))


def pipeline_read_actions() -> frozenset[str]:
    declared = schema()["Cirrus"]["actions"]
    return frozenset(
        name for name, spec in declared.items() if {"id": "pipeline_read"} in spec.get("memberOf", [])
    )


def resource_for(action: str) -> Resource:
    """A resource of the type the schema says `action` applies to."""
    (resource_type,) = schema()["Cirrus"]["actions"][action]["appliesTo"]["resourceTypes"]
    if resource_type == "Pipeline":
        return Resource.pipeline("fraud")
    if resource_type == "Model":
        return Resource.model("fraud")
    if resource_type == "ModelVersion":
        attributes = {
            "model_id": "fraud",
            "version": 1,
            "registered_by": "someone-else",
            "registered_by_name": "someone@example.com",
            "approval_status": "PendingManualApproval",
            "retired": False,
        }
        return Resource("ModelVersion", "fraud/1", attributes, (Resource.model("fraud"),))
    return Resource.platform()


def context_for(action: str) -> dict[str, Any] | None:
    spec = schema()["Cirrus"]["actions"][action]["appliesTo"]
    return {"environment": "dev"} if "context" in spec else None


@pytest.fixture
def authorizer(aws: AwsResources) -> Authorizer:
    return Authorizer(SecurityRepository(aws.dynamodb, TABLE_NAMES["SecurityTable"]))


# ---------------------------------------------------------------------------------------- the principal


def test_an_access_token_becomes_a_client_principal_named_after_its_app_client() -> None:
    principal = principal_from_claims(access_claims(EXECUTE))

    assert principal.username == f"client:{CLIENT_ID}"
    assert principal.actor == f"client:{CLIENT_ID}"
    assert principal.sub == CLIENT_ID
    assert principal.client_id == CLIENT_ID
    assert principal.is_machine


@pytest.mark.parametrize(
    ("scope", "roles"),
    [
        pytest.param(EXECUTE, {"ci_pipeline_runner"}, id="execute"),
        pytest.param(READ, {"ci_pipeline_reader"}, id="read"),
        pytest.param(f"{READ} {EXECUTE}", {"ci_pipeline_runner", "ci_pipeline_reader"}, id="both"),
        pytest.param("cirrus/models.deploy aws.cognito.signin.user.admin", set(), id="unknown-scopes"),
        pytest.param("", set(), id="no-scope"),
    ],
)
def test_a_clients_roles_come_from_its_scopes(scope: str, roles: set[str]) -> None:
    principal = principal_from_claims(access_claims(scope))

    assert principal.roles == roles
    assert principal.scopes == frozenset(scope.split())


def test_groups_in_an_access_token_give_a_client_no_role() -> None:
    principal = principal_from_claims(access_claims(READ, **{"cognito:groups": "admin,ml_engineer"}))

    assert principal.groups == frozenset()
    assert principal.roles == {"ci_pipeline_reader"}


def test_an_access_token_without_a_client_id_is_unauthenticated() -> None:
    claims = access_claims(EXECUTE)
    del claims["client_id"]

    with pytest.raises(Unauthenticated):
        principal_from_claims(claims)


def test_a_person_signed_in_with_an_id_token_is_unchanged() -> None:
    principal = principal_from_claims(
        {
            "sub": "7d8f3a2e-1b4c-4e5f-9a6b-2c3d4e5f6a7b",
            "cognito:username": "alice@example.com",
            "cognito:groups": "ml_engineer",
            "token_use": "id",
            "aud": CLIENT_ID,
        }
    )

    assert (principal.username, principal.roles, principal.scopes) == (
        "alice@example.com",
        {"ml_engineer"},
        frozenset(),
    )
    assert not principal.is_machine


def test_a_persons_access_token_names_the_person_not_a_client() -> None:
    principal = principal_from_claims(
        {
            "sub": "7d8f3a2e-1b4c-4e5f-9a6b-2c3d4e5f6a7b",
            "username": "alice",
            "client_id": CLIENT_ID,
            "token_use": "access",
            "scope": "aws.cognito.signin.user.admin",
            "cognito:groups": "data_scientist",
        }
    )

    assert (principal.username, principal.roles, principal.is_machine) == ("alice", {"data_scientist"}, False)


def test_a_person_in_a_group_named_like_a_client_role_gains_nothing() -> None:
    person = Principal(sub="sub-mallory", username="mallory", groups=frozenset({"ci_pipeline_runner"}))

    assert person.roles == frozenset()


# ---------------------------------------------------------------------------------------- the policies


@pytest.mark.parametrize("action", actions())
def test_a_runner_may_start_follow_and_read_the_pipeline_it_runs_and_nothing_else(
    authorizer: Authorizer, action: str
) -> None:
    runner = principal_from_claims(access_claims(EXECUTE))

    decision = authorizer.decide(runner, action, resource_for(action), context_for(action))

    assert decision.allowed is (action in RUNNER_ACTIONS)
    if decision.allowed:
        assert decision.policies == ["ci_pipeline_runner_permissions"]
    else:
        assert decision.reason == REASON_NO_PERMIT


@pytest.mark.parametrize("action", actions())
def test_a_reader_may_read_pipelines_runs_and_schedules_and_nothing_else(
    authorizer: Authorizer, action: str
) -> None:
    reader = principal_from_claims(access_claims(READ))

    decision = authorizer.decide(reader, action, resource_for(action), context_for(action))

    assert decision.allowed is (action in pipeline_read_actions())


def test_the_reader_scope_covers_the_pipeline_read_group() -> None:
    assert {"ListPipelines", "GetPipeline", "ListPipelineRuns", "GetPipelineRun"} <= pipeline_read_actions()


def test_a_client_with_both_scopes_holds_both_roles_grants(authorizer: Authorizer) -> None:
    client = principal_from_claims(access_claims(f"{EXECUTE} {READ}"))

    allowed = {
        action
        for action in actions()
        if authorizer.decide(client, action, resource_for(action), context_for(action)).allowed
    }

    assert allowed == RUNNER_ACTIONS | pipeline_read_actions()


def test_a_client_without_a_known_scope_is_denied_everything(authorizer: Authorizer) -> None:
    client = principal_from_claims(access_claims("aws.cognito.signin.user.admin"))

    assert not any(
        authorizer.decide(client, action, resource_for(action), context_for(action)).allowed
        for action in actions()
    )
