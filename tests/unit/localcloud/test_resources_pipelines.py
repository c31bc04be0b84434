"""The resource types the pipelines and CI access add: secrets, a schedule group, OAuth clients.

Each is deployed from a small template into the emulator and read back through the service's own
API, as a user of the deployed stack would.
"""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

import pytest

from cirrus.localcloud.emulator import Emulator
from cirrus.localcloud.provisioner import Deployment, TemplateError, deploy
from tests.unit.localcloud.deploy_fixtures import write_project
from tests.unit.localcloud.helpers import unique

EMULATOR_HOOKS = ()  # plain moto: no code runs here

TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Description:
    Type: String
    Default: The GitHub webhook secret.
  TokenLength:
    Type: Number
    Default: 40
Resources:
  GitHubWebhookSecret:
    Type: AWS::SecretsManager::Secret
    Properties:
      Name: !Sub "${AWS::StackName}/webhooks/github"
      Description: !Ref Description
      GenerateSecretString:
        PasswordLength: !Ref TokenLength
        ExcludePunctuation: true
      Tags:
        - { Key: project, Value: cirrus }
  DatabaseSecret:
    Type: AWS::SecretsManager::Secret
    Properties:
      GenerateSecretString:
        SecretStringTemplate: '{"username": "cirrus"}'
        GenerateStringKey: password
        PasswordLength: 24
        ExcludeCharacters: '"@/\\'
  GivenSecret:
    Type: AWS::SecretsManager::Secret
    Properties:
      SecretString: a-value-written-in-the-template
  Schedules:
    Type: AWS::Scheduler::ScheduleGroup
    Properties:
      Name: !Sub "${AWS::StackName}-pipelines"
      Tags:
        - { Key: project, Value: cirrus }
  UserPool:
    Type: AWS::Cognito::UserPool
    Properties:
      UserPoolName: !Sub "${AWS::StackName}-pool"
  PipelinesResourceServer:
    Type: AWS::Cognito::UserPoolResourceServer
    Properties:
      UserPoolId: !Ref UserPool
      Identifier: cirrus
      Name: Cirrus API
      Scopes:
        - { ScopeName: pipelines.execute, ScopeDescription: Start pipeline runs and follow them }
        - { ScopeName: pipelines.read, ScopeDescription: Read pipelines and their runs }
  CiClient:
    Type: AWS::Cognito::UserPoolClient
    DependsOn: PipelinesResourceServer
    Properties:
      UserPoolId: !Ref UserPool
      ClientName: ci
      GenerateSecret: true
      AllowedOAuthFlowsUserPoolClient: true
      AllowedOAuthFlows: [client_credentials]
      AllowedOAuthScopes: [cirrus/pipelines.execute, cirrus/pipelines.read]
      SupportedIdentityProviders: [COGNITO]
      AccessTokenValidity: 60
      TokenValidityUnits:
        AccessToken: minutes
Outputs:
  GitHubSecretArn:
    Value: !Ref GitHubWebhookSecret
  GitHubSecretId:
    Value: !GetAtt GitHubWebhookSecret.Id
  ScheduleGroupName:
    Value: !Ref Schedules
  ScheduleGroupArn:
    Value: !GetAtt Schedules.Arn
  ResourceServer:
    Value: !Ref PipelinesResourceServer
  CiClientId:
    Value: !Ref CiClient
  CiClientSecret:
    Value: !GetAtt CiClient.ClientSecret
"""


@pytest.fixture(scope="module")
def stack(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    template = write_project(tmp_path_factory.mktemp("pipelines-types"), TEMPLATE)
    return deploy(emulator, template, stack_name=unique("types"))


def secret_value(emulator: Emulator, secret_id: str) -> str:
    return str(emulator.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"])


# ---------------------------------------------------------------------------------------- secrets


def test_a_generated_secret_follows_its_length_and_character_options(
    stack: Deployment, emulator: Emulator
) -> None:
    arn = stack.outputs["GitHubSecretArn"]

    value = secret_value(emulator, arn)

    assert len(value) == 40
    assert set(value) <= set(string.ascii_letters + string.digits)


def test_ref_and_the_id_attribute_of_a_secret_are_its_arn(stack: Deployment, emulator: Emulator) -> None:
    described = emulator.client("secretsmanager").describe_secret(
        SecretId=f"{stack.stack_name}/webhooks/github"
    )

    assert stack.outputs["GitHubSecretArn"] == described["ARN"]
    assert stack.outputs["GitHubSecretId"] == described["ARN"]
    assert stack.physical_id("GitHubWebhookSecret") == described["ARN"]
    assert described["Description"] == "The GitHub webhook secret."
    assert {"Key": "project", "Value": "cirrus"} in described["Tags"]


def test_a_generated_secret_goes_into_its_template_under_the_key(
    stack: Deployment, emulator: Emulator
) -> None:
    value = json.loads(secret_value(emulator, stack.physical_id("DatabaseSecret")))

    assert value["username"] == "cirrus"
    assert len(value["password"]) == 24
    assert not set(value["password"]) & set('"@/\\')


def test_a_secret_string_is_stored_as_written(stack: Deployment, emulator: Emulator) -> None:
    assert secret_value(emulator, stack.physical_id("GivenSecret")) == "a-value-written-in-the-template"


def test_a_redeploy_keeps_a_generated_value_and_applies_a_new_description(
    emulator: Emulator, tmp_path: Path
) -> None:
    template = write_project(tmp_path, TEMPLATE)
    name = unique("redeploy")
    first = deploy(emulator, template, stack_name=name)
    before = secret_value(emulator, first.outputs["GitHubSecretArn"])

    again = deploy(emulator, template, stack_name=name, parameters={"Description": "Rotated by hand."})

    arn = again.outputs["GitHubSecretArn"]
    assert arn == first.outputs["GitHubSecretArn"]
    assert secret_value(emulator, arn) == before
    described = emulator.client("secretsmanager").describe_secret(SecretId=arn)
    assert described["Description"] == "Rotated by hand."


def test_a_new_generation_option_draws_a_new_value(emulator: Emulator, tmp_path: Path) -> None:
    template = write_project(tmp_path, TEMPLATE)
    name = unique("regenerate")
    first = deploy(emulator, template, stack_name=name)

    again = deploy(emulator, template, stack_name=name, parameters={"TokenLength": "64"})

    assert len(secret_value(emulator, again.outputs["GitHubSecretArn"])) == 64
    assert again.outputs["GitHubSecretArn"] == first.outputs["GitHubSecretArn"]


@pytest.mark.parametrize(
    ("properties", "problem"),
    [
        pytest.param(
            {"SecretString": "x", "GenerateSecretString": {"PasswordLength": 10}},
            "not both",
            id="value-and-generator",
        ),
        pytest.param(
            {"GenerateSecretString": {"GenerateStringKey": "password"}}, "together", id="key-without-template"
        ),
        pytest.param({"GenerateSecretString": {"Length": 10}}, "does not take Length", id="unknown-option"),
    ],
)
def test_a_secret_the_provisioner_cannot_honour_is_refused_before_anything_is_created(
    emulator: Emulator, tmp_path: Path, properties: dict[str, Any], problem: str
) -> None:
    resources = {"Secret": {"Type": "AWS::SecretsManager::Secret", "Properties": properties}}
    template = write_project(tmp_path, json.dumps({"Resources": resources}))
    before = emulator.client("secretsmanager").list_secrets()["SecretList"]

    with pytest.raises(TemplateError, match=problem):
        deploy(emulator, template, stack_name=unique("refused"))

    assert emulator.client("secretsmanager").list_secrets()["SecretList"] == before


# ---------------------------------------------------------------------------------------- scheduler


def test_the_schedule_group_exists_in_the_scheduler_under_its_name(
    stack: Deployment, emulator: Emulator
) -> None:
    name = stack.outputs["ScheduleGroupName"]

    group = emulator.client("scheduler").get_schedule_group(Name=name)

    assert name == f"{stack.stack_name}-pipelines"
    assert group["Arn"] == stack.outputs["ScheduleGroupArn"]
    assert group["State"] == "ACTIVE"


def test_schedules_can_be_created_in_the_group(stack: Deployment, emulator: Emulator) -> None:
    scheduler = emulator.client("scheduler")
    group = stack.outputs["ScheduleGroupName"]

    scheduler.create_schedule(
        Name="nightly",
        GroupName=group,
        ScheduleExpression="cron(0 2 * * ? *)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": "arn:aws:states:us-east-1:123456789012:stateMachine:training",
            "RoleArn": "arn:aws:iam::123456789012:role/scheduler",
        },
    )

    names = [item["Name"] for item in scheduler.list_schedules(GroupName=group)["Schedules"]]
    assert names == ["nightly"]


# ---------------------------------------------------------------------------------------- OAuth


def test_the_resource_server_holds_the_scopes(stack: Deployment, emulator: Emulator) -> None:
    server = emulator.client("cognito-idp").describe_resource_server(
        UserPoolId=stack.physical_id("UserPool"), Identifier=stack.outputs["ResourceServer"]
    )["ResourceServer"]

    assert server["Name"] == "Cirrus API"
    assert [scope["ScopeName"] for scope in server["Scopes"]] == ["pipelines.execute", "pipelines.read"]


def test_the_ci_client_is_a_confidential_client_credentials_client(
    stack: Deployment, emulator: Emulator
) -> None:
    client = emulator.client("cognito-idp").describe_user_pool_client(
        UserPoolId=stack.physical_id("UserPool"), ClientId=stack.outputs["CiClientId"]
    )["UserPoolClient"]

    assert client["ClientSecret"] == stack.outputs["CiClientSecret"]
    assert client["ClientSecret"]
    assert client["AllowedOAuthFlowsUserPoolClient"] is True
    assert client["AllowedOAuthFlows"] == ["client_credentials"]
    assert client["AllowedOAuthScopes"] == ["cirrus/pipelines.execute", "cirrus/pipelines.read"]
    assert (client["AccessTokenValidity"], client["TokenValidityUnits"]["AccessToken"]) == (60, "minutes")


def test_a_changed_resource_server_is_reported_until_the_next_start(
    emulator: Emulator, tmp_path: Path
) -> None:
    # moto 5.2.5 cannot update or delete a resource server; a fresh local cloud creates it anew.
    name = unique("servers")
    first = deploy(emulator, write_project(tmp_path / "one", TEMPLATE), stack_name=name)
    changed = TEMPLATE.replace("Name: Cirrus API", "Name: Cirrus pipelines API")

    again = deploy(emulator, write_project(tmp_path / "two", changed), stack_name=name)

    assert again.outputs["ResourceServer"] == first.outputs["ResourceServer"]
    assert any(
        "UserPoolResourceServer: Name of PipelinesResourceServer not updated locally" in note
        for note in again.notes
    )
