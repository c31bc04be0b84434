"""The local gateway's token endpoint: Cognito's client credentials grant, for CI clients.

`POST /oauth2/token` answers as the user pool's hosted domain does; the access token it issues is
signed with the key of the pool's JWKS, so the local API Gateway authorizer accepts it on methods
with OAuth scopes, and refuses it, as API Gateway does, on methods without.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from cirrus.localcloud import cognito
from cirrus.localcloud.authorizer import issuer_of
from cirrus.localcloud.cloud import LocalCloudState, _machine_client
from cirrus.localcloud.emulator import Emulator
from cirrus.localcloud.gateway import LocalGateway
from cirrus.localcloud.provisioner import Deployment, deploy
from cirrus_core.principal import principal_from_claims
from tests.support.tokens import claims_of
from tests.unit.localcloud.deploy_fixtures import GATEWAY_CODE, write_project
from tests.unit.localcloud.helpers import unique

EMULATOR_HOOKS = ("cirrus.localcloud.hooks.lambda_runtime",)
EXECUTE = "cirrus/pipelines.execute"
READ = "cirrus/pipelines.read"

TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.13
    CodeUri: code/
    Timeout: 10
    MemorySize: 128
Resources:
  UserPool:
    Type: AWS::Cognito::UserPool
    Properties:
      UserPoolName: !Sub "${AWS::StackName}-pool"
      AdminCreateUserConfig:
        AllowAdminCreateUserOnly: true
  ResourceServer:
    Type: AWS::Cognito::UserPoolResourceServer
    Properties:
      UserPoolId: !Ref UserPool
      Identifier: cirrus
      Name: Cirrus API
      Scopes:
        - { ScopeName: pipelines.execute, ScopeDescription: Start runs }
        - { ScopeName: pipelines.read, ScopeDescription: Read runs }
  CiClient:
    Type: AWS::Cognito::UserPoolClient
    DependsOn: ResourceServer
    Properties:
      UserPoolId: !Ref UserPool
      GenerateSecret: true
      AllowedOAuthFlowsUserPoolClient: true
      AllowedOAuthFlows: [client_credentials]
      AllowedOAuthScopes: [cirrus/pipelines.execute, cirrus/pipelines.read]
      SupportedIdentityProviders: [COGNITO]
      AccessTokenValidity: 30
      TokenValidityUnits:
        AccessToken: minutes
  UserClient:
    Type: AWS::Cognito::UserPoolClient
    Properties:
      UserPoolId: !Ref UserPool
      ExplicitAuthFlows: [ALLOW_USER_PASSWORD_AUTH, ALLOW_REFRESH_TOKEN_AUTH]
  SecretWithoutTheGrant:
    Type: AWS::Cognito::UserPoolClient
    Properties:
      UserPoolId: !Ref UserPool
      GenerateSecret: true
      ExplicitAuthFlows: [ALLOW_USER_PASSWORD_AUTH, ALLOW_REFRESH_TOKEN_AUTH]
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: test
      Auth:
        DefaultAuthorizer: Cognito
        Authorizers:
          Cognito:
            UserPoolArn: !GetAtt UserPool.Arn
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.echo
      Events:
        CiExecute:
          Type: Api
          Properties:
            RestApiId: !Ref Api
            Path: /api/v1/ci/pipelines/execute
            Method: post
            Auth: {Authorizer: Cognito, AuthorizationScopes: [cirrus/pipelines.execute]}
        CiGetRun:
          Type: Api
          Properties:
            RestApiId: !Ref Api
            Path: /api/v1/ci/pipelines/{pipeline_id}/runs/{run_id}
            Method: get
            Auth:
              Authorizer: Cognito
              AuthorizationScopes: [cirrus/pipelines.read, cirrus/pipelines.execute]
        Execute:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /api/v1/pipelines/execute, Method: post}
"""


@pytest.fixture(scope="module")
def stack(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    template = write_project(tmp_path_factory.mktemp("oauth"), TEMPLATE, GATEWAY_CODE)
    return deploy(emulator, template, stack_name=unique("oauth"))


@pytest.fixture(scope="module")
def gateway(stack: Deployment, emulator: Emulator) -> Iterator[str]:
    with LocalGateway(stack, emulator) as running:
        yield running.url


@pytest.fixture(scope="module")
def ci(stack: Deployment) -> tuple[str, str]:
    """The CI client's id and secret."""
    client = stack.resource("CiClient")
    return client.physical_id, str(client.attributes["ClientSecret"])


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def request_token(
    http: requests.Session, gateway: str, form: dict[str, str], headers: dict[str, str] | None = None
) -> requests.Response:
    return http.post(f"{gateway}/oauth2/token", data=form, headers=headers or {}, timeout=10)


def access_token(http: requests.Session, gateway: str, ci: tuple[str, str], scope: str | None = None) -> str:
    form = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    response = request_token(http, gateway, form, basic(*ci))
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


# ---------------------------------------------------------------------------------------- the endpoint


def test_a_client_authenticated_with_basic_auth_gets_an_access_token_with_every_allowed_scope(
    http: requests.Session, gateway: str, ci: tuple[str, str], stack: Deployment
) -> None:
    before = int(time.time())

    response = request_token(http, gateway, {"grant_type": "client_credentials"}, basic(*ci))

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    answer = response.json()
    assert (answer["token_type"], answer["expires_in"]) == ("Bearer", 1800)
    claims = claims_of(answer["access_token"])
    client_id, _ = ci
    assert claims["sub"] == claims["client_id"] == client_id
    assert claims["token_use"] == "access"
    assert claims["scope"] == f"{EXECUTE} {READ}"
    assert claims["iss"] == issuer_of(stack.resource("UserPool").attributes["Arn"])
    assert claims["version"] == 2
    assert claims["exp"] - claims["iat"] == 1800
    assert claims["iat"] >= before
    assert claims["jti"]
    assert "username" not in claims


def test_a_client_may_authenticate_with_form_fields_and_ask_for_fewer_scopes(
    http: requests.Session, gateway: str, ci: tuple[str, str]
) -> None:
    client_id, secret = ci
    form = {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": secret,
        "scope": READ,
    }

    response = request_token(http, gateway, form)

    assert response.status_code == 200
    assert claims_of(response.json()["access_token"])["scope"] == READ


@pytest.mark.parametrize(
    ("form", "credentials", "status", "error"),
    [
        pytest.param(
            {"grant_type": "client_credentials"}, "wrong-secret", 401, "invalid_client", id="bad-secret"
        ),
        pytest.param(
            {"grant_type": "client_credentials"}, "unknown-client", 401, "invalid_client", id="no-client"
        ),
        pytest.param({"grant_type": "client_credentials"}, None, 401, "invalid_client", id="no-credentials"),
        pytest.param(
            {"grant_type": "client_credentials", "scope": "cirrus/models.deploy"},
            "ci",
            400,
            "invalid_scope",
            id="scope-not-allowed",
        ),
        pytest.param(
            {"grant_type": "client_credentials", "scope": f"{READ} openid"},
            "ci",
            400,
            "invalid_scope",
            id="user-scope",
        ),
        pytest.param({"grant_type": "password"}, "ci", 400, "unsupported_grant_type", id="other-grant"),
        pytest.param({"scope": READ}, "ci", 400, "invalid_request", id="no-grant"),
    ],
)
def test_refusals_answer_as_cognitos_token_endpoint_does(
    http: requests.Session,
    gateway: str,
    ci: tuple[str, str],
    form: dict[str, str],
    credentials: str | None,
    status: int,
    error: str,
) -> None:
    client_id, secret = ci
    headers = {
        "ci": basic(client_id, secret),
        "wrong-secret": basic(client_id, "not-the-secret"),
        "unknown-client": basic("unknownclient0000000000000", secret),
        None: {},
    }[credentials]

    response = request_token(http, gateway, form, headers)

    assert (response.status_code, response.json()) == (status, {"error": error})
    if status == 401 and headers:
        assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_a_client_not_allowed_the_grant_is_an_unauthorized_client(
    http: requests.Session, gateway: str, stack: Deployment
) -> None:
    client = stack.resource("SecretWithoutTheGrant")

    response = request_token(
        http,
        gateway,
        {"grant_type": "client_credentials"},
        basic(client.physical_id, str(client.attributes["ClientSecret"])),
    )

    assert (response.status_code, response.json()) == (400, {"error": "unauthorized_client"})


def test_a_client_without_a_secret_cannot_use_the_grant(
    http: requests.Session, gateway: str, stack: Deployment
) -> None:
    form = {"grant_type": "client_credentials", "client_id": stack.physical_id("UserClient")}

    response = request_token(http, gateway, form)

    assert (response.status_code, response.json()) == (401, {"error": "invalid_client"})


def test_the_endpoint_takes_form_encoded_posts_only(
    http: requests.Session, gateway: str, ci: tuple[str, str]
) -> None:
    as_json = http.post(
        f"{gateway}/oauth2/token", json={"grant_type": "client_credentials"}, headers=basic(*ci), timeout=10
    )
    as_get = http.get(f"{gateway}/oauth2/token", timeout=10)

    assert (as_json.status_code, as_json.json()) == (400, {"error": "invalid_request"})
    assert (as_get.status_code, as_get.headers["Allow"]) == (405, "POST")


# ---------------------------------------------------------------------------------------- the authorizer


def call(http: requests.Session, gateway: str, method: str, path: str, token: str) -> requests.Response:
    return http.request(method, f"{gateway}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30)


def echoed_claims(response: requests.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return dict(response.json()["requestContext"]["authorizer"]["claims"])


def test_the_access_token_opens_a_method_with_its_scope_and_names_a_client_principal(
    http: requests.Session, gateway: str, ci: tuple[str, str]
) -> None:
    token = access_token(http, gateway, ci, scope=EXECUTE)

    claims = echoed_claims(call(http, gateway, "POST", "/api/v1/ci/pipelines/execute", token))

    client_id, _ = ci
    assert (claims["token_use"], claims["scope"], claims["client_id"]) == ("access", EXECUTE, client_id)
    principal = principal_from_claims(claims)
    assert principal.username == f"client:{client_id}"
    assert principal.roles == {"ci_pipeline_runner"}


def test_a_method_naming_several_scopes_takes_any_of_them(
    http: requests.Session, gateway: str, ci: tuple[str, str]
) -> None:
    token = access_token(http, gateway, ci, scope=READ)

    claims = echoed_claims(call(http, gateway, "GET", "/api/v1/ci/pipelines/fraud/runs/run-1", token))

    assert principal_from_claims(claims).roles == {"ci_pipeline_reader"}


def test_an_access_token_without_the_methods_scope_is_unauthorized(
    http: requests.Session, gateway: str, ci: tuple[str, str]
) -> None:
    token = access_token(http, gateway, ci, scope=READ)

    response = call(http, gateway, "POST", "/api/v1/ci/pipelines/execute", token)

    assert response.status_code == 401


def test_an_access_token_is_refused_on_a_method_without_scopes(
    http: requests.Session, gateway: str, ci: tuple[str, str]
) -> None:
    token = access_token(http, gateway, ci)

    response = call(http, gateway, "POST", "/api/v1/pipelines/execute", token)

    assert response.status_code == 401


def test_a_persons_id_token_is_refused_on_a_scoped_method_and_accepted_on_the_others(
    http: requests.Session, gateway: str, stack: Deployment, emulator: Emulator
) -> None:
    user = cognito.create_user(
        emulator, stack.physical_id("UserPool"), unique("engineer"), cognito.generate_password()
    )
    token = cognito.id_token(emulator, stack.physical_id("UserClient"), user)

    scoped = call(http, gateway, "POST", "/api/v1/ci/pipelines/execute", token)
    unscoped = call(http, gateway, "POST", "/api/v1/pipelines/execute", token)

    assert (scoped.status_code, unscoped.status_code) == (401, 200)


def test_tokens_name_the_signing_key_the_pools_jwks_publishes(
    http: requests.Session, gateway: str, ci: tuple[str, str], stack: Deployment, emulator: Emulator
) -> None:
    token = access_token(http, gateway, ci)

    segment = token.split(".")[0]
    header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    jwks = http.get(
        f"{emulator.endpoint_url}/{stack.physical_id('UserPool')}/.well-known/jwks.json", timeout=10
    )
    assert header["alg"] == "RS256"
    assert header["kid"] in {key["kid"] for key in jwks.json()["keys"]}


def test_the_local_clouds_state_names_the_ci_client_and_fetches_its_tokens(
    stack: Deployment, gateway: str, ci: tuple[str, str], emulator: Emulator
) -> None:
    client_id, secret = _machine_client(stack)
    state = LocalCloudState(
        api_url=f"{gateway}/api/v1",
        aws_endpoint_url=emulator.endpoint_url,
        region="us-east-1",
        user_pool_id=stack.physical_id("UserPool"),
        client_id=stack.physical_id("UserClient"),
        artifact_bucket="",
        users={},
        pid=0,
        ci_client_id=client_id,
        ci_client_secret=secret,
        token_url=f"{gateway}/oauth2/token",
    )

    token = state.ci_token(scope=READ)

    assert (client_id, secret) == ci
    assert claims_of(token)["scope"] == READ
    assert f"CI client           {client_id}" in state.describe()
