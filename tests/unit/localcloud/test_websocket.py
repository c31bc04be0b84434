"""The local WebSocket API: the ApiGatewayV2 types provisioned from a template, and the server that
serves them with API Gateway's event shapes, handshake refusals, route responses and management API."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from cirrus.localcloud.emulator import Emulator
from cirrus.localcloud.intrinsics import TemplateError
from cirrus.localcloud.provisioner import Deployment, deploy
from cirrus.localcloud.websocket import LocalWebSocketServer, websocket_apis
from tests.unit.localcloud.helpers import payload, wait_for

EMULATOR_HOOKS = ("cirrus.localcloud.hooks.lambda_runtime",)

CONNECT = """
def handler(event, context):
    query = event.get("queryStringParameters") or {}
    if query.get("token") != "letmein":
        return {"statusCode": 401, "body": '{"error": "no token"}'}
    return {"statusCode": 200}
"""
ECHO = """
import json
def handler(event, context):
    context_ = event["requestContext"]
    return {"statusCode": 200, "body": json.dumps({
        "route": context_["routeKey"], "type": context_["eventType"], "body": event["body"],
        "connection": context_["connectionId"], "stage": context_["stage"], "api": context_["apiId"]})}
"""
PUSH = """
import os, boto3
def handler(event, context):
    client = boto3.client("apigatewaymanagementapi", endpoint_url=os.environ["CALLBACK_URL"])
    try:
        client.post_to_connection(ConnectionId=event["connection_id"], Data=b'{"pushed": true}')
    except client.exceptions.GoneException:
        return "gone"
    return "sent"
"""


def _function(code: str) -> dict[str, Any]:
    return {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "Runtime": "python3.13",
            "Handler": "index.handler",
            "Role": {"Fn::GetAtt": ["Role", "Arn"]},
            "Code": {"ZipFile": textwrap.dedent(code)},
        },
    }


def _integration(function: str) -> dict[str, Any]:
    uri = (
        "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${"
        + function
        + ".Arn}/invocations"
    )
    return {
        "Type": "AWS::ApiGatewayV2::Integration",
        "Properties": {
            "ApiId": {"Ref": "Api"},
            "IntegrationType": "AWS_PROXY",
            "IntegrationUri": {"Fn::Sub": uri},
        },
    }


def _route(key: str, integration: str, *, responds: bool = False) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "ApiId": {"Ref": "Api"},
        "RouteKey": key,
        "Target": {"Fn::Sub": "integrations/${" + integration + "}"},
    }
    if responds:
        properties["RouteResponseSelectionExpression"] = "$default"
    return {"Type": "AWS::ApiGatewayV2::Route", "Properties": properties}


def template(protocol: str = "WEBSOCKET") -> dict[str, Any]:
    return {
        "Resources": {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "lambda.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    }
                },
            },
            "ConnectFunction": _function(CONNECT),
            "EchoFunction": _function(ECHO),
            "PushFunction": {
                **_function(PUSH),
                "Properties": {
                    **_function(PUSH)["Properties"],
                    "Environment": {
                        "Variables": {
                            "CALLBACK_URL": {
                                "Fn::Sub": "https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/live"
                            }
                        }
                    },
                },
            },
            "Api": {
                "Type": "AWS::ApiGatewayV2::Api",
                "Properties": {
                    "Name": "test-feed",
                    "ProtocolType": protocol,
                    "RouteSelectionExpression": "$request.body.action",
                },
            },
            "ConnectIntegration": _integration("ConnectFunction"),
            "EchoIntegration": _integration("EchoFunction"),
            "ConnectRoute": _route("$connect", "ConnectIntegration"),
            "EchoRoute": _route("echo", "EchoIntegration", responds=True),
            "SilentRoute": _route("silent", "EchoIntegration"),
            "EchoResponse": {
                "Type": "AWS::ApiGatewayV2::RouteResponse",
                "Properties": {
                    "ApiId": {"Ref": "Api"},
                    "RouteId": {"Ref": "EchoRoute"},
                    "RouteResponseKey": "$default",
                },
            },
            "Deployment": {
                "Type": "AWS::ApiGatewayV2::Deployment",
                "DependsOn": ["ConnectRoute", "EchoRoute", "SilentRoute", "EchoResponse"],
                "Properties": {"ApiId": {"Ref": "Api"}},
            },
            "Stage": {
                "Type": "AWS::ApiGatewayV2::Stage",
                "Properties": {
                    "ApiId": {"Ref": "Api"},
                    "StageName": "live",
                    "DeploymentId": {"Ref": "Deployment"},
                },
            },
        }
    }


@pytest.fixture(scope="module")
def deployment(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    path = tmp_path_factory.mktemp("websocket") / "template.json"
    path.write_text(json.dumps(template()))
    return deploy(emulator, path, stack_name="websocket-test")


@pytest.fixture(scope="module")
def server(deployment: Deployment, emulator: Emulator) -> Iterator[LocalWebSocketServer]:
    with LocalWebSocketServer(deployment, emulator) as running:
        running.point_functions_here()
        yield running


def test_the_api_routes_and_stage_are_read_from_the_deployment(
    deployment: Deployment, emulator: Emulator
) -> None:
    (api,) = websocket_apis(deployment)

    assert api.stage == "live"
    assert set(api.routes) == {"$connect", "echo", "silent"}
    assert api.routes["echo"].responds
    assert not api.routes["silent"].responds
    assert api.routes["$connect"].function_arn == deployment.resource("ConnectFunction").attributes["Arn"]
    assert (
        deployment.resource("Api").attributes["ApiEndpoint"]
        == f"wss://{api.api_id}.execute-api.us-east-1.amazonaws.com"
    )
    routes = emulator.client("apigatewayv2").get_routes(ApiId=api.api_id)["Items"]
    assert {route["RouteKey"] for route in routes} == {"$connect", "echo", "silent"}


def test_an_http_api_is_refused_before_anything_is_created(emulator: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template(protocol="HTTP")))

    with pytest.raises(TemplateError, match="WEBSOCKET"):
        deploy(emulator, path, stack_name="websocket-http-test")


def test_a_connect_function_answering_401_refuses_the_handshake_with_its_status(
    server: LocalWebSocketServer,
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{server.url}?token=wrong", open_timeout=20)

    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body) == {"error": "no token"}


def test_a_message_takes_the_route_its_action_names_and_the_route_response_answers(
    server: LocalWebSocketServer,
) -> None:
    with connect(f"{server.url}?token=letmein", open_timeout=20) as socket:
        socket.send('{"action": "echo", "n": 1}')
        answer = json.loads(socket.recv(timeout=20))
        (connection_id,) = server.connection_ids()

    assert answer["route"] == "echo"
    assert answer["type"] == "MESSAGE"
    assert answer["body"] == '{"action": "echo", "n": 1}'
    assert answer["connection"] == connection_id
    assert answer["stage"] == "live"
    assert answer["api"] == server.api.api_id


def test_a_route_without_a_route_response_sends_nothing_back(server: LocalWebSocketServer) -> None:
    with connect(f"{server.url}?token=letmein", open_timeout=20) as socket:
        socket.send('{"action": "silent"}')
        socket.send('{"action": "echo"}')
        answer = json.loads(socket.recv(timeout=20))

    assert answer["body"] == '{"action": "echo"}'


def test_a_message_no_route_takes_is_answered_forbidden(server: LocalWebSocketServer) -> None:
    with connect(f"{server.url}?token=letmein", open_timeout=20) as socket:
        socket.send("not json at all")
        answer = json.loads(socket.recv(timeout=20))

    assert answer["message"] == "Forbidden"
    assert set(answer) == {"message", "connectionId", "requestId"}


def test_a_function_posts_to_a_connection_through_the_local_management_api(
    server: LocalWebSocketServer, deployment: Deployment, emulator: Emulator
) -> None:
    lambda_ = emulator.client("lambda")
    function = deployment.physical_id("PushFunction")
    with connect(f"{server.url}?token=letmein", open_timeout=20) as socket:
        (connection_id,) = server.connection_ids()
        sent = lambda_.invoke(FunctionName=function, Payload=json.dumps({"connection_id": connection_id}))
        pushed = json.loads(socket.recv(timeout=20))
    wait_for(lambda: True if not server.connection_ids() else None, "the socket to close")
    gone = lambda_.invoke(FunctionName=function, Payload=json.dumps({"connection_id": connection_id}))

    assert payload(sent) == "sent"
    assert pushed == {"pushed": True}
    assert payload(gone) == "gone"
    variables = lambda_.get_function_configuration(FunctionName=function)["Environment"]["Variables"]
    assert variables["CALLBACK_URL"] == server.management_url
