"""Templates, code and tokens for the provisioner, gateway and Cognito tests (imported explicitly).

The emulator itself comes from conftest.py's module-scoped `emulator` fixture.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[3]

# Handlers of the gateway tests: each shows the gateway one kind of answer.
GATEWAY_CODE = {
    "app.py": """
        import base64
        import json


        def echo(event, context):
            return {
                "statusCode": 200,
                "headers": {"Content-Type": "application/json", "X-Echo": "yes"},
                "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
                "body": json.dumps(event),
            }


        def crash(event, context):
            raise RuntimeError("the handler crashed")


        def malformed(event, context):
            return "not a proxy response"


        def binary(event, context):
            return {
                "statusCode": 200,
                "headers": {"Content-Type": "application/octet-stream"},
                "body": base64.b64encode(bytes(range(256))).decode("ascii"),
                "isBase64Encoded": True,
            }
    """,
}

GATEWAY_TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: test
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
      UserPoolName: !Sub gateway-tests-${Stage}
      UsernameAttributes: [email]
      AdminCreateUserConfig:
        AllowAdminCreateUserOnly: true
  UserPoolClient:
    Type: AWS::Cognito::UserPoolClient
    Properties:
      UserPoolId: !Ref UserPool
      ExplicitAuthFlows: [ALLOW_USER_PASSWORD_AUTH, ALLOW_REFRESH_TOKEN_AUTH]
  EngineersGroup:
    Type: AWS::Cognito::UserPoolGroup
    Properties:
      UserPoolId: !Ref UserPool
      GroupName: ml_engineer
  AdminsGroup:
    Type: AWS::Cognito::UserPoolGroup
    Properties:
      UserPoolId: !Ref UserPool
      GroupName: admin
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: !Ref Stage
      BinaryMediaTypes: ["application~1octet-stream"]
      Variables:
        flavour: local
      Cors:
        AllowOrigin: "'https://app.example'"
        AllowHeaders: "'Authorization,Content-Type'"
        AllowMethods: "'GET,POST,OPTIONS'"
        MaxAge: "'300'"
      Auth:
        DefaultAuthorizer: Cognito
        AddDefaultAuthorizerToCorsPreflight: false
        Authorizers:
          Cognito:
            UserPoolArn: !GetAtt UserPool.Arn
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.echo
      Events:
        GetItem:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: "/items/{item_id}", Method: get}
        PostItems:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /items, Method: post}
        Files:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: "/files/{proxy+}", Method: any}
        Public:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /public, Method: get, Auth: {Authorizer: NONE}}
  CrashFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.crash
      Events:
        Crash:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /crash, Method: get}
  MalformedFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.malformed
      Events:
        Malformed:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /malformed, Method: get}
  BinaryFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.binary
      Events:
        Binary:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /binary, Method: get}
"""


def write_project(
    root: Path, template: str, files: dict[str, str] | None = None, code_dir: str = "code"
) -> Path:
    """Write a template and its code folder under `root`; returns the template's path."""
    root.mkdir(parents=True, exist_ok=True)
    for relative, source in (files or {}).items():
        path = root / code_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    template_path = root / "template.yaml"
    template_path.write_text(textwrap.dedent(template))
    return template_path
