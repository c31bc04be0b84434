"""The local gateway serves a deployed REST API through the emulator's Lambda, as API Gateway does.

Every request here goes over HTTP to the gateway, which invokes real handlers (deploy_fixtures's
GATEWAY_CODE) with lambda.invoke against the emulator.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from cirrus.localcloud import cognito
from cirrus.localcloud.authorizer import CognitoVerifier, issuer_of
from cirrus.localcloud.emulator import Emulator
from cirrus.localcloud.gateway import ApiGatewayApp, HttpRequest, LocalGateway, RouteTable
from cirrus.localcloud.provisioner import Deployment, deploy
from cirrus.localcloud.restapi import Integration, Route, parse_rest_api
from cirrus_core.principal import principal_from_claims
from tests.support.tokens import TokenMinter, claims_of
from tests.unit.localcloud.deploy_fixtures import GATEWAY_CODE, GATEWAY_TEMPLATE, write_project
from tests.unit.localcloud.helpers import unique

JAVA_DATE = re.compile(r"^[A-Z][a-z]{2} [A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2} UTC \d{4}$")
MISSING_TOKEN = {"message": "Missing Authentication Token"}
UNAUTHORIZED = {"message": "Unauthorized"}
INTERNAL_ERROR = {"message": "Internal server error"}


@pytest.fixture(scope="module")
def stack(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    template = write_project(tmp_path_factory.mktemp("gateway"), GATEWAY_TEMPLATE, GATEWAY_CODE)
    return deploy(emulator, template, stack_name=unique("gateway"))


@pytest.fixture(scope="module")
def gateway(stack: Deployment, emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    openapi = tmp_path_factory.mktemp("docs") / "openapi.json"
    openapi.write_text(json.dumps({"openapi": "3.0.3", "info": {"title": "Cirrus", "version": "1"}}))
    with LocalGateway(stack, emulator, openapi_path=openapi) as running:
        yield running.url


@pytest.fixture(scope="module")
def user(stack: Deployment, emulator: Emulator) -> cognito.LocalUser:
    return cognito.create_user(
        emulator,
        stack.physical_id("UserPool"),
        f"{unique('engineer')}@cirrus.local",
        cognito.generate_password(),
        groups=["ml_engineer", "admin"],
    )


@pytest.fixture(scope="module")
def tokens(stack: Deployment, emulator: Emulator, user: cognito.LocalUser) -> cognito.Tokens:
    return cognito.sign_in(emulator, stack.physical_id("UserPoolClient"), user.username, user.password)


@pytest.fixture(scope="module")
def minter() -> TokenMinter:
    return TokenMinter()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def _event(response: requests.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    event: dict[str, Any] = response.json()
    return event


# ---------------------------------------------------------------------------------------- refusals


def test_an_unknown_route_or_method_is_a_missing_authentication_token(
    http: requests.Session, gateway: str
) -> None:
    unknown_path = http.get(f"{gateway}/nowhere")
    unknown_method = http.delete(f"{gateway}/items/abc")

    assert (unknown_path.status_code, unknown_path.json()) == (403, MISSING_TOKEN)
    assert unknown_path.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert (unknown_method.status_code, unknown_method.json()) == (403, MISSING_TOKEN)


def test_a_request_without_a_token_is_unauthorized(http: requests.Session, gateway: str) -> None:
    response = http.get(f"{gateway}/items/abc")

    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)


def test_a_token_signed_by_another_key_is_unauthorized(
    http: requests.Session, gateway: str, tokens: cognito.Tokens, minter: TokenMinter
) -> None:
    forged = minter.sign(claims_of(tokens.id_token), forged=True)

    response = http.get(f"{gateway}/items/abc", headers={"Authorization": forged})

    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)


def test_an_expired_token_is_unauthorized(
    http: requests.Session, gateway: str, tokens: cognito.Tokens, minter: TokenMinter
) -> None:
    claims = {**claims_of(tokens.id_token), "exp": int(time.time()) - 60}

    response = http.get(f"{gateway}/items/abc", headers={"Authorization": minter.sign(claims)})

    assert (response.status_code, response.json()) == (401, {"message": "The incoming token has expired"})


def test_a_token_of_another_issuer_is_unauthorized(
    http: requests.Session, gateway: str, tokens: cognito.Tokens, minter: TokenMinter
) -> None:
    claims = {
        **claims_of(tokens.id_token),
        "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other",
    }

    response = http.get(f"{gateway}/items/abc", headers={"Authorization": minter.sign(claims)})

    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)


def test_an_access_token_or_a_foreign_audience_is_unauthorized(
    http: requests.Session, gateway: str, tokens: cognito.Tokens, minter: TokenMinter
) -> None:
    foreign = {**claims_of(tokens.id_token), "aud": "not-a-client-of-this-pool"}

    access = http.get(f"{gateway}/items/abc", headers={"Authorization": tokens.access_token})
    audience = http.get(f"{gateway}/items/abc", headers={"Authorization": minter.sign(foreign)})
    garbage = http.get(f"{gateway}/items/abc", headers={"Authorization": "Bearer not.a.jwt"})

    assert (access.status_code, access.json()) == (401, UNAUTHORIZED)
    assert (audience.status_code, audience.json()) == (401, UNAUTHORIZED)
    assert (garbage.status_code, garbage.json()) == (401, UNAUTHORIZED)


# ---------------------------------------------------------------------------------------- proxy events


def test_a_valid_token_reaches_the_handler_with_claims_as_api_gateway_passes_them(
    http: requests.Session, gateway: str, stack: Deployment, tokens: cognito.Tokens, user: cognito.LocalUser
) -> None:
    response = http.get(f"{gateway}/items/abc", headers={"Authorization": f"Bearer {tokens.id_token}"})

    event = _event(response)
    claims = event["requestContext"]["authorizer"]["claims"]
    assert all(isinstance(value, str) for value in claims.values())
    # A REST API joins a list claim with commas (moto lists a user's groups in no fixed order).
    assert sorted(claims["cognito:groups"].split(",")) == ["admin", "ml_engineer"]
    assert claims["cognito:username"] == user.sub == claims["sub"]
    assert claims["email"] == user.username
    assert claims["token_use"] == "id"
    assert claims["aud"] == stack.physical_id("UserPoolClient")
    assert claims["iss"] == issuer_of(stack.resource("UserPool").attributes["Arn"])
    assert JAVA_DATE.match(claims["exp"])
    assert JAVA_DATE.match(claims["iat"])
    assert claims["auth_time"].isdigit()
    principal = principal_from_claims(claims)
    assert principal.roles == {"ml_engineer", "admin"}
    assert principal.username == user.sub


def test_the_proxy_event_carries_path_query_stage_and_context(
    http: requests.Session, gateway: str, stack: Deployment, tokens: cognito.Tokens
) -> None:
    started = int(time.time() * 1000)

    response = http.get(f"{gateway}/items/a%20b?x=1&x=2&y=3", headers={"Authorization": tokens.id_token})

    event = _event(response)
    context = event["requestContext"]
    assert (event["resource"], event["httpMethod"]) == ("/items/{item_id}", "GET")
    assert event["path"] == "/items/a%20b"
    assert event["pathParameters"] == {"item_id": "a b"}
    assert event["queryStringParameters"] == {"x": "2", "y": "3"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "y": ["3"]}
    assert event["stageVariables"] == {"flavour": "local"}
    assert event["headers"]["Authorization"] == tokens.id_token
    assert event["multiValueHeaders"]["Authorization"] == [tokens.id_token]
    assert (event["body"], event["isBase64Encoded"]) == (None, False)
    assert (context["stage"], context["resourcePath"], context["httpMethod"]) == (
        "test",
        "/items/{item_id}",
        "GET",
    )
    assert context["path"] == "/test/items/a%20b"
    assert uuid.UUID(context["requestId"])
    assert context["requestTimeEpoch"] >= started
    assert (context["accountId"], context["apiId"]) == (stack.account_id, stack.physical_id("Api"))
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["domainName"] == gateway.removeprefix("http://")
    assert response.headers["X-Echo"] == "yes"
    assert response.headers["x-amzn-RequestId"] == context["requestId"]


def test_the_stage_prefixed_path_and_the_greedy_proxy(
    http: requests.Session, gateway: str, tokens: cognito.Tokens
) -> None:
    staged = _event(http.get(f"{gateway}/test/items/abc", headers={"Authorization": tokens.id_token}))
    proxied = _event(
        http.put(f"{gateway}/files/reports/2024/summary.csv", headers={"Authorization": tokens.id_token})
    )

    assert (staged["resource"], staged["pathParameters"]) == ("/items/{item_id}", {"item_id": "abc"})
    assert (proxied["resource"], proxied["httpMethod"]) == ("/files/{proxy+}", "PUT")
    assert proxied["pathParameters"] == {"proxy": "reports/2024/summary.csv"}


def test_request_bodies_arrive_as_text_or_base64_by_media_type(
    http: requests.Session, gateway: str, tokens: cognito.Tokens
) -> None:
    auth = {"Authorization": tokens.id_token}
    octets = {**auth, "Content-Type": "application/octet-stream"}  # a binary media type of the API

    text = _event(http.post(f"{gateway}/items", json={"name": "x"}, headers=auth))
    binary = _event(http.post(f"{gateway}/items", data=b"plain ascii, binary by type", headers=octets))

    assert (json.loads(text["body"]), text["isBase64Encoded"]) == ({"name": "x"}, False)
    assert binary["isBase64Encoded"] is True
    assert base64.b64decode(binary["body"]) == b"plain ascii, binary by type"


def test_response_headers_and_binary_bodies_are_mapped_back(
    http: requests.Session, gateway: str, tokens: cognito.Tokens
) -> None:
    echoed = http.get(f"{gateway}/items/abc", headers={"Authorization": tokens.id_token})
    binary = http.get(f"{gateway}/binary", headers={"Authorization": tokens.id_token})

    assert echoed.raw.headers.getlist("Set-Cookie") == ["a=1", "b=2"]
    assert (binary.status_code, binary.content) == (200, bytes(range(256)))
    assert binary.headers["Content-Type"] == "application/octet-stream"


def test_a_route_without_an_authorizer_passes_no_claims(http: requests.Session, gateway: str) -> None:
    event = _event(http.get(f"{gateway}/public"))

    assert "authorizer" not in event["requestContext"]


def test_a_crashing_or_malformed_handler_is_a_bad_gateway(
    http: requests.Session, gateway: str, tokens: cognito.Tokens
) -> None:
    crashed = http.get(f"{gateway}/crash", headers={"Authorization": tokens.id_token})
    malformed = http.get(f"{gateway}/malformed", headers={"Authorization": tokens.id_token})

    assert (crashed.status_code, crashed.json()) == (502, INTERNAL_ERROR)
    assert (malformed.status_code, malformed.json()) == (502, INTERNAL_ERROR)


def test_a_preflight_is_answered_from_the_cors_mock_without_a_token(
    http: requests.Session, gateway: str
) -> None:
    response = http.options(
        f"{gateway}/items/abc",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"},
    )

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert response.headers["Access-Control-Allow-Methods"] == "GET,POST,OPTIONS"
    assert response.headers["Access-Control-Allow-Headers"] == "Authorization,Content-Type"
    assert response.headers["Access-Control-Max-Age"] == "300"


# ---------------------------------------------------------------------------------------- docs


def test_the_openapi_document_and_swagger_ui_are_served(http: requests.Session, gateway: str) -> None:
    document = http.get(f"{gateway}/api/v1/openapi.json")
    page = http.get(f"{gateway}/api/v1/docs")
    script = http.get(f"{gateway}/api/v1/docs/swagger-ui-bundle.min.js")

    assert document.json()["info"]["title"] == "Cirrus"
    assert page.status_code == 200
    assert "/api/v1/openapi.json" in page.text
    assert script.status_code == 200
    assert b"SwaggerUIBundle" in script.content


def test_a_missing_openapi_document_is_not_found(
    stack: Deployment, emulator: Emulator, tmp_path: Path
) -> None:
    with LocalGateway(stack, emulator, openapi_path=tmp_path / "absent.json") as running:
        response = requests.get(f"{running.url}/api/v1/openapi.json", timeout=10)

    assert response.status_code == 404


# ---------------------------------------------------------------------------------------- without sockets


def _proxy_route(path: str, method: str = "GET") -> Route:
    return Route(path=path, method=method, integration=Integration(type="aws_proxy"))


def test_routes_prefer_literals_then_parameters_then_the_greedy_proxy() -> None:
    table = RouteTable(
        [
            _proxy_route("/models/latest"),
            _proxy_route("/models/{model_id}"),
            _proxy_route("/models/{model_id}/versions"),
            _proxy_route("/{proxy+}", "ANY"),
        ]
    )

    def resource(path: str) -> tuple[str, dict[str, str]]:
        match = table.match(path)
        assert match is not None
        (route,) = match.routes.values()
        return route.path, dict(match.path_parameters)

    assert resource("/models/latest") == ("/models/latest", {})
    assert resource("/models/m1/") == ("/models/{model_id}", {"model_id": "m1"})
    assert resource("/models/m1/versions") == ("/models/{model_id}/versions", {"model_id": "m1"})
    assert resource("/models/m1/other/x") == ("/{proxy+}", {"proxy": "models/m1/other/x"})


def test_the_apis_own_gateway_responses_shape_its_errors() -> None:
    body = {
        "swagger": "2.0",
        "paths": {"/things": {"get": {"x-amazon-apigateway-integration": {"type": "aws_proxy", "uri": "x"}}}},
        "x-amazon-apigateway-gateway-responses": {
            "MISSING_AUTHENTICATION_TOKEN": {
                "statusCode": "404",
                "responseParameters": {"gatewayresponse.header.X-Kind": "'missing'"},
                "responseTemplates": {
                    "application/json": '{"error": "$context.error.message", "id": "$context.requestId"}'
                },
            },
            "DEFAULT_4XX": {
                "responseTemplates": {"application/json": '{"generic": $context.error.messageString}'}
            },
        },
    }
    api = parse_rest_api(logical_id="Api", api_id="abc123", name="api", body=body, stages={"v1": {}})
    app = ApiGatewayApp(
        api,
        account_id="123456789012",
        lambda_client=None,
        verifier=CognitoVerifier("http://127.0.0.1:9", None),
    )

    missing = app.handle(HttpRequest("GET", "/nowhere", [], b"", "127.0.0.1"), domain_name="localhost")
    too_large = app.handle(
        HttpRequest("POST", "/things", [], b"x" * (10 * 1024 * 1024 + 1), "127.0.0.1"),
        domain_name="localhost",
    )

    rendered = json.loads(missing.body)
    assert missing.status == 404
    assert rendered["error"] == "Missing Authentication Token"
    assert uuid.UUID(rendered["id"])
    assert ("X-Kind", "missing") in missing.headers
    assert (too_large.status, json.loads(too_large.body)) == (413, {"generic": "Request Too Long"})
