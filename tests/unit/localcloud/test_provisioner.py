"""The provisioner deploys template.yaml, and small templates, into the emulator."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from samtranslator.yaml_helper import yaml_parse

from cirrus.localcloud.emulator import Emulator
from cirrus.localcloud.provisioner import (
    DEPLOYMENT_BUCKET,
    Deployment,
    ProvisioningError,
    TemplateError,
    deploy,
    deterministic_zip,
)
from tests.unit.localcloud.deploy_fixtures import REPOSITORY, write_project
from tests.unit.localcloud.helpers import payload, unique, wait_for

TEMPLATE = REPOSITORY / "template.yaml"


@pytest.fixture(scope="module")
def cirrus(emulator: Emulator) -> Deployment:
    """template.yaml, deployed once for the module."""
    return deploy(emulator, TEMPLATE, parameters={"Stage": "dev"}, stack_name=unique("cirrus"))


def _template_resources() -> dict[str, Any]:
    return dict(yaml_parse(TEMPLATE.read_text())["Resources"])


# Conditions of resources the local cloud never creates: the stream consumers need a Kinesis stream or
# an MSK cluster the user brings, and Spark transformations run on Glue or EMR Serverless (AWS only).
AWS_ONLY_CONDITIONS = frozenset(
    {"HasDataStream", "HasDataKinesisStream", "HasDataKafkaStream", "SparkTransformations"}
)


# ---------------------------------------------------------------------------------------- template.yaml


def test_every_template_resource_is_deployed(cirrus: Deployment) -> None:
    declared = _template_resources()
    sam_types = {"AWS::Serverless::Function", "AWS::Serverless::Api", "AWS::Serverless::LayerVersion"}

    # Federation, the custom domain and Verified Permissions are off by default (their test is below).
    plain = {
        logical_id
        for logical_id, resource in declared.items()
        if resource["Type"] not in sam_types and "Condition" not in resource
    }
    assert plain <= set(cirrus.resources)
    for logical_id, resource in declared.items():
        if resource["Type"] == "AWS::Serverless::Function" and "Condition" not in resource:
            assert cirrus.resource(logical_id).type_name == "AWS::Lambda::Function"
            assert cirrus.resource(f"{logical_id}Role").type_name == "AWS::IAM::Role"
    # SAM names a layer version after its layer plus a hash of its content.
    layers = sorted(
        layer.logical_id.rstrip("0123456789abcdef") for layer in cirrus.of_type("AWS::Lambda::LayerVersion")
    )
    assert layers == ["ConnectorsLayer", "CoreLayer", "FramesLayer", "ScienceLayer"]
    assert cirrus.resource("CirrusApi").type_name == "AWS::ApiGateway::RestApi"


def test_the_optional_security_resources_deploy_when_their_parameters_are_set(emulator: Emulator) -> None:
    parameters = {
        "Stage": "dev",
        # Hosted domains are unique per region; the default one is the module's other stack's.
        "AuthDomainPrefix": "cirrus-federated-test",
        "SamlMetadataUrl": "https://portal.sso.us-east-1.amazonaws.com/saml/metadata/example",
        "OidcIssuer": "https://login.example.com",
        "OidcClientId": "cirrus",
        "OidcClientSecret": "not-a-real-secret",
        "IdpGroupRoleMap": '{"CirrusMLEngineers": "ml_engineer"}',
        "ApiDomainName": "api.cirrus.example.com",
        "ApiCertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/example",
        "MtlsTruststoreUri": "s3://cirrus-truststore/ca.pem",
        "EnableVerifiedPermissions": "true",
        "PipelineNotificationEmail": "mlops@example.com",
    }
    deployment = deploy(emulator, TEMPLATE, parameters=parameters, stack_name=unique("cirrus-federated"))

    conditional = {
        name
        for name, resource in _template_resources().items()
        if "Condition" in resource and resource["Condition"] not in AWS_ONLY_CONDITIONS
    }
    assert conditional <= set(deployment.resources)
    cognito = emulator.client("cognito-idp")
    pool_id = deployment.physical_id("UserPool")
    providers = cognito.list_identity_providers(UserPoolId=pool_id)["Providers"]
    assert {(p["ProviderName"], p["ProviderType"]) for p in providers} == {
        ("CorporateSAML", "SAML"),
        ("CorporateOIDC", "OIDC"),
    }
    saml = cognito.describe_identity_provider(UserPoolId=pool_id, ProviderName="CorporateSAML")
    assert (
        saml["IdentityProvider"]["AttributeMapping"]["custom:groups"]
        == "http://schemas.xmlsoap.org/claims/Group"
    )
    client = cognito.describe_user_pool_client(
        UserPoolId=pool_id, ClientId=deployment.physical_id("UserPoolClient")
    )["UserPoolClient"]
    assert set(client["SupportedIdentityProviders"]) == {"COGNITO", "CorporateSAML", "CorporateOIDC"}
    assert client["AllowedOAuthFlows"] == ["code"]


def test_the_hosted_domain_and_the_token_trigger_are_configured(
    cirrus: Deployment, emulator: Emulator
) -> None:
    cognito = emulator.client("cognito-idp")
    pool = cognito.describe_user_pool(UserPoolId=cirrus.physical_id("UserPool"))["UserPool"]
    trigger = pool["LambdaConfig"]["PreTokenGenerationConfig"]
    assert trigger["LambdaArn"].endswith(":function:" + cirrus.physical_id("PreTokenGenerationFunction"))
    assert trigger["LambdaVersion"] == "V1_0"
    domain = cognito.describe_user_pool_domain(Domain=cirrus.physical_id("UserPoolDomain"))[
        "DomainDescription"
    ]
    assert domain["UserPoolId"] == pool["Id"]
    client = cognito.describe_user_pool_client(
        UserPoolId=pool["Id"], ClientId=cirrus.physical_id("UserPoolClient")
    )
    assert client["UserPoolClient"]["SupportedIdentityProviders"] == ["COGNITO"]


def test_tables_have_the_template_keys_indexes_and_settings(cirrus: Deployment, emulator: Emulator) -> None:
    dynamodb = emulator.client("dynamodb")
    declared = _template_resources()

    for logical_id in ("RegistryTable", "IdempotencyTable"):
        table = dynamodb.describe_table(TableName=cirrus.physical_id(logical_id))["Table"]
        props = declared[logical_id]["Properties"]
        assert table["KeySchema"] == props["KeySchema"]
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert table["SSEDescription"]["Status"] == "ENABLED"
    registry = dynamodb.describe_table(TableName=cirrus.physical_id("RegistryTable"))["Table"]
    (index,) = registry["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "by_kind"
    assert (
        index["KeySchema"]
        == declared["RegistryTable"]["Properties"]["GlobalSecondaryIndexes"][0]["KeySchema"]
    )
    ttl = dynamodb.describe_time_to_live(TableName=cirrus.physical_id("IdempotencyTable"))
    assert ttl["TimeToLiveDescription"] == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiration"}
    backups = dynamodb.describe_continuous_backups(TableName=cirrus.physical_id("RegistryTable"))
    pitr = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert pitr["PointInTimeRecoveryStatus"] == "ENABLED"


def test_bucket_bus_key_and_outputs(cirrus: Deployment, emulator: Emulator) -> None:
    s3 = emulator.client("s3")
    bucket = cirrus.physical_id("ArtifactBucket")

    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": cirrus.resource("DataKey").attributes["Arn"],
    }
    assert (
        s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]["BlockPublicAcls"] is True
    )
    assert emulator.client("events").describe_event_bus(Name="cirrus-dev")["Name"] == "cirrus-dev"
    assert cirrus.outputs["RegistryTableName"] == cirrus.physical_id("RegistryTable")
    assert cirrus.outputs["EventBusName"] == "cirrus-dev"
    api_id = cirrus.physical_id("CirrusApi")
    assert cirrus.outputs["ApiUrl"] == f"https://{api_id}.execute-api.us-east-1.amazonaws.com/dev/api/v1"


def test_the_tls_only_bucket_statement_is_reported_not_applied(
    cirrus: Deployment, emulator: Emulator
) -> None:
    bucket = cirrus.physical_id("ArtifactBucket")
    s3 = emulator.client("s3")

    s3.put_object(Bucket=bucket, Key="probe.txt", Body=b"reachable over the emulator's plain HTTP")

    assert s3.get_object(Bucket=bucket, Key="probe.txt")["Body"].read().startswith(b"reachable")
    assert any("DenyInsecureTransport" in note for note in cirrus.notes)


def _layer(cirrus: Deployment, name: str) -> Any:
    """The layer version SAM made of template layer `name` (its logical id is the name plus a hash)."""
    (layer,) = [
        layer
        for layer in cirrus.of_type("AWS::Lambda::LayerVersion")
        if layer.logical_id.rstrip("0123456789abcdef") == name
    ]
    return layer


def test_functions_have_their_layers_and_a_resolved_environment(
    cirrus: Deployment, emulator: Emulator
) -> None:
    lambda_ = emulator.client("lambda")
    core = _layer(cirrus, "CoreLayer").physical_id
    declared = _template_resources()

    for function in cirrus.of_type("AWS::Lambda::Function"):
        config = lambda_.get_function_configuration(FunctionName=function.physical_id)
        variables = config["Environment"]["Variables"]
        properties = declared[function.logical_id]["Properties"]
        # Globals give the core layer; a function adds its own after it (science, connectors, frames).
        expected = [core] + [
            _layer(cirrus, layer["Ref"]).physical_id for layer in properties.get("Layers", [])
        ]
        assert [item["Arn"] for item in config["Layers"]] == expected
        assert variables["REGISTRY_TABLE_NAME"] == cirrus.physical_id("RegistryTable")
        assert variables["IDEMPOTENCY_TABLE_NAME"] == cirrus.physical_id("IdempotencyTable")
        assert variables["EVENT_BUS_NAME"] == "cirrus-dev"
        assert variables["ARTIFACT_BUCKET"] == cirrus.physical_id("ArtifactBucket")
        assert config["Architectures"] == ["arm64"]
        # Globals give 15 s and 256 MB; a function may ask for more (preparing a pipeline run takes 60).
        timeout = properties.get("Timeout", 15)
        memory = properties.get("MemorySize", 256)
        assert (config["Timeout"], config["MemorySize"], config["Runtime"]) == (timeout, memory, "python3.13")
        assert config["Role"] == cirrus.resource(f"{function.logical_id}Role").attributes["Arn"]


@pytest.mark.parametrize(
    ("layer_id", "module"),
    [("CoreLayer", "python/cirrus_core/api.py"), ("ScienceLayer", "python/cirrus_science/drift/engine.py")],
)
def test_each_layer_is_packaged_under_python_without_bytecode(
    cirrus: Deployment, emulator: Emulator, layer_id: str, module: str
) -> None:
    key = _layer(cirrus, layer_id).properties["Content"]["S3Key"]

    body = emulator.client("s3").get_object(Bucket=DEPLOYMENT_BUCKET, Key=key)["Body"].read()
    names = zipfile.ZipFile(io.BytesIO(body)).namelist()

    assert module in names
    assert all(name.startswith("python/") for name in names)
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in names)


def test_the_user_pool_has_the_four_role_groups(cirrus: Deployment, emulator: Emulator) -> None:
    groups = emulator.client("cognito-idp").list_groups(UserPoolId=cirrus.physical_id("UserPool"))["Groups"]

    assert {group["GroupName"] for group in groups} == {
        "ml_engineer",
        "data_scientist",
        "model_reviewer",
        "admin",
    }
    assert cirrus.outputs["UserPoolClientId"] == cirrus.physical_id("UserPoolClient")


def test_the_api_is_recorded_with_routes_stage_and_authorizer(cirrus: Deployment) -> None:
    api = cirrus.api()
    routes = {(route.method, route.path): route for route in api.routes}
    register = routes[("POST", "/api/v1/models/register")]

    assert api.api_id == cirrus.physical_id("CirrusApi")
    assert "dev" in api.stages
    assert register.authorizer == "CognitoAuthorizer"
    assert register.integration.function_arn({}) == cirrus.resource("RegisterModelFunction").attributes["Arn"]
    assert api.authorizers["CognitoAuthorizer"].user_pool_arns == (
        cirrus.resource("UserPool").attributes["Arn"],
    )
    assert routes[("OPTIONS", "/api/v1/models/{model_id}")].integration.type == "mock"
    assert api.gateway_responses["UNAUTHORIZED"].status_code == 401


def test_event_schemas_are_recorded_with_json_content(cirrus: Deployment) -> None:
    schemas = cirrus.of_type("AWS::EventSchemas::Schema")

    assert schemas
    for schema in schemas:
        assert schema.attributes["SchemaArn"].startswith("arn:aws:schemas:us-east-1:123456789012:schema/")
        json.loads(schema.properties["Content"])


# ---------------------------------------------------------------------------------------- refusals


REFUSED_TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: {table}
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{{AttributeName: id, AttributeType: S}}]
      KeySchema: [{{AttributeName: id, KeyType: HASH}}]
  Function:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code/
      Handler: app.handler
      Runtime: python3.13
  Network:
    Type: AWS::EC2::VPC
    Properties:
      CidrBlock: 10.0.0.0/16
"""


def test_an_unsupported_type_is_refused_before_anything_is_created(
    emulator: Emulator, tmp_path: Path
) -> None:
    table = unique("refused-table")
    stack = unique("refused")
    template = write_project(
        tmp_path,
        REFUSED_TEMPLATE.format(table=table),
        {"app.py": "def handler(event, context):\n    return 1\n"},
    )

    with pytest.raises(TemplateError, match=r"Network \(AWS::EC2::VPC\)"):
        deploy(emulator, template, stack_name=stack)

    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        emulator.client("dynamodb").describe_table(TableName=table)
    functions = emulator.client("lambda").list_functions()["Functions"]
    assert not [function for function in functions if function["FunctionName"].startswith(stack)]
    roles = emulator.client("iam").list_roles()["Roles"]
    assert not [role for role in roles if role["RoleName"].startswith(stack)]


def test_a_resource_whose_condition_is_false_is_skipped_whatever_its_type(
    emulator: Emulator, tmp_path: Path
) -> None:
    # GIVEN a Glue job (a type never created locally) behind a false condition, referred to only in
    # the untaken branch of an If
    queue = unique("queue")
    template = write_project(
        tmp_path,
        f"""
        Parameters:
          EnableSpark:
            Type: String
            Default: "false"
        Conditions:
          SparkEnabled: !Equals [!Ref EnableSpark, "true"]
        Resources:
          SparkJob:
            Type: AWS::Glue::Job
            Condition: SparkEnabled
            Properties:
              Command: {{Name: glueetl}}
          Queue:
            Type: AWS::SQS::Queue
            Properties:
              QueueName: {queue}
              Tags:
                - Key: job
                  Value: !If [SparkEnabled, !Ref SparkJob, "none"]
        """,
    )

    # WHEN it is deployed THEN the rest is created and the job is not
    deployed = deploy(emulator, template, stack_name=unique("conditional"))

    assert queue in " ".join(emulator.client("sqs").list_queues().get("QueueUrls", []))
    assert "SparkJob" not in deployed.resources


def test_an_attribute_no_handler_provides_is_refused_before_creation(
    emulator: Emulator, tmp_path: Path
) -> None:
    queue = unique("queue")
    template = write_project(
        tmp_path,
        f"""
        Resources:
          Queue:
            Type: AWS::SQS::Queue
            Properties:
              QueueName: {queue}
          Topic:
            Type: AWS::SNS::Topic
            Properties:
              DisplayName: !GetAtt Queue.Colour
        """,
    )

    with pytest.raises(TemplateError, match=r"Topic: Fn::GetAtt Queue.Colour"):
        deploy(emulator, template, stack_name=unique("attributes"))

    assert queue not in " ".join(emulator.client("sqs").list_queues().get("QueueUrls", []))


def test_a_dependency_cycle_and_a_bad_parameter_are_refused(emulator: Emulator, tmp_path: Path) -> None:
    cyclic = write_project(
        tmp_path / "cycle",
        """
        Resources:
          A:
            Type: AWS::SQS::Queue
            Properties:
              QueueName: !GetAtt B.QueueName
          B:
            Type: AWS::SQS::Queue
            Properties:
              QueueName: !GetAtt A.QueueName
        """,
    )

    with pytest.raises(TemplateError, match="Circular dependency between resources: A -> B -> A"):
        deploy(emulator, cyclic, stack_name=unique("cycle"))
    with pytest.raises(TemplateError, match="'qa' is not one of"):
        deploy(emulator, TEMPLATE, parameters={"Stage": "qa"}, stack_name=unique("qa"))


# ---------------------------------------------------------------------------------------- redeploys


REDEPLOY_TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Notes:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
  Greeter:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code/
      Handler: app.handler
      Runtime: python3.13
      Environment:
        Variables:
          NOTES_TABLE: !Ref Notes
"""


def test_a_redeploy_updates_code_in_place_and_keeps_table_items(emulator: Emulator, tmp_path: Path) -> None:
    stack = unique("redeploy")
    code = {"app.py": "def handler(event, context):\n    return {'greeting': 'hello'}\n"}
    template = write_project(tmp_path, REDEPLOY_TEMPLATE, code)
    first = deploy(emulator, template, stack_name=stack)
    lambda_ = emulator.client("lambda")
    dynamodb = emulator.client("dynamodb")
    table = first.physical_id("Notes")
    function = first.physical_id("Greeter")
    dynamodb.put_item(TableName=table, Item={"id": {"S": "kept"}})
    before = lambda_.get_function_configuration(FunctionName=function)
    assert payload(lambda_.invoke(FunctionName=function, Payload=b"{}")) == {"greeting": "hello"}

    (tmp_path / "code" / "app.py").write_text(
        "def handler(event, context):\n    return {'greeting': 'bonjour'}\n"
    )
    second = deploy(emulator, template, stack_name=stack)

    after = lambda_.get_function_configuration(FunctionName=function)
    assert second.physical_ids == first.physical_ids
    assert after["FunctionArn"] == before["FunctionArn"]
    assert after["CodeSha256"] != before["CodeSha256"]
    assert after["Environment"]["Variables"]["NOTES_TABLE"] == table
    assert dynamodb.get_item(TableName=table, Key={"id": {"S": "kept"}})["Item"] == {"id": {"S": "kept"}}
    assert payload(lambda_.invoke(FunctionName=function, Payload=b"{}")) == {"greeting": "bonjour"}


# ---------------------------------------------------------------------------------------- other types


WIRING_TEMPLATE = """
Resources:
  Bus:
    Type: AWS::Events::EventBus
    Properties:
      Name: {bus}
  Targets:
    Type: AWS::SQS::Queue
  DeadLetters:
    Type: AWS::SQS::Queue
  Route:
    Type: AWS::Events::Rule
    Properties:
      EventBusName: !Ref Bus
      EventPattern:
        source: [cirrus.tests]
      Targets:
        - Id: queue
          Arn: !GetAtt Targets.Arn
          DeadLetterConfig:
            Arn: !GetAtt DeadLetters.Arn
          RetryPolicy:
            MaximumRetryAttempts: 4
            MaximumEventAgeInSeconds: 3600
          InputTransformer:
            InputPathsMap:
              kind: $.detail-type
            InputTemplate: '{{"kind": <kind>}}'
  MachineRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {{Service: states.amazonaws.com}}
            Action: sts:AssumeRole
  Machine:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      RoleArn: !GetAtt MachineRole.Arn
      Definition:
        StartAt: Answer
        States:
          Answer:
            Type: Pass
            Result:
              queue: ${{QueueUrl}}
            End: true
      DefinitionSubstitutions:
        QueueUrl: !Ref Targets
"""


def test_rules_keep_their_target_options_and_state_machines_run(emulator: Emulator, tmp_path: Path) -> None:
    bus = unique("bus")
    template = write_project(tmp_path, WIRING_TEMPLATE.format(bus=bus))

    deployment = deploy(emulator, template, stack_name=unique("wiring"))

    rule_name = deployment.physical_id("Route")
    assert deployment.resource("Route").ref == f"{bus}|{rule_name}"
    (target,) = emulator.client("events").list_targets_by_rule(Rule=rule_name, EventBusName=bus)["Targets"]
    assert target["DeadLetterConfig"] == {"Arn": deployment.resource("DeadLetters").attributes["Arn"]}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 4, "MaximumEventAgeInSeconds": 3600}
    assert target["InputTransformer"]["InputPathsMap"] == {"kind": "$.detail-type"}
    stepfunctions = emulator.client("stepfunctions")
    execution = stepfunctions.start_execution(stateMachineArn=deployment.physical_id("Machine"), input="{}")

    def finished() -> dict[str, Any] | None:
        described: dict[str, Any] = stepfunctions.describe_execution(executionArn=execution["executionArn"])
        return described if described["status"] != "RUNNING" else None

    result = wait_for(finished, "the state machine's execution")
    assert result["status"] == "SUCCEEDED"
    assert json.loads(result["output"]) == {"queue": deployment.physical_id("Targets")}


def test_a_refused_resource_names_its_logical_id_and_type(emulator: Emulator, tmp_path: Path) -> None:
    template = write_project(
        tmp_path,
        """
        Resources:
          Orphan:
            Type: AWS::Lambda::Permission
            Properties:
              Action: lambda:InvokeFunction
              FunctionName: no-such-function
              Principal: events.amazonaws.com
        """,
    )

    with pytest.raises(ProvisioningError, match=r"Orphan \(AWS::Lambda::Permission\)"):
        deploy(emulator, template, stack_name=unique("orphan"))


# ---------------------------------------------------------------------------------------- packaging


def test_zips_are_deterministic_and_skip_bytecode(tmp_path: Path) -> None:
    (tmp_path / "pkg" / "__pycache__").mkdir(parents=True)
    (tmp_path / "pkg" / "mod.py").write_text("X = 1\n")
    (tmp_path / "pkg" / "stale.pyc").write_bytes(b"\0")
    (tmp_path / "pkg" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "top.py").write_text("import pkg\n")

    first = deterministic_zip(tmp_path, prefix="python/")
    second = deterministic_zip(tmp_path, prefix="python/")

    assert first == second
    assert zipfile.ZipFile(io.BytesIO(first)).namelist() == ["python/pkg/mod.py", "python/top.py"]


MORE_TYPES_TEMPLATE = """
Parameters:
  Retention:
    Type: Number
    Default: 7
Conditions:
  WithAlarm: !Equals [!Ref Retention, "7"]
  WithoutAlarm: !Not [!Condition WithAlarm]
Resources:
  Key:
    Type: AWS::KMS::Key
    Properties:
      Description: tests
      EnableKeyRotation: true
  KeyAlias:
    Type: AWS::KMS::Alias
    Properties:
      AliasName: alias/{alias}
      TargetKeyId: !Ref Key
  Vault:
    Type: AWS::S3::Bucket
    Properties:
      ObjectLockEnabled: true
      ObjectLockConfiguration:
        ObjectLockEnabled: Enabled
        Rule:
          DefaultRetention: {{Mode: COMPLIANCE, Days: 1}}
      VersioningConfiguration: {{Status: Enabled}}
      LifecycleConfiguration:
        Rules:
          - Id: Expire
            Status: Enabled
            ExpirationInDays: 400
            NoncurrentVersionExpiration: {{NoncurrentDays: 30}}
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      DisplayName: tests
  Inbox:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 45
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt DeadLetters.Arn
        maxReceiveCount: 3
  DeadLetters:
    Type: AWS::SQS::Queue
  InboxPolicy:
    Type: AWS::SQS::QueuePolicy
    Properties:
      Queues: [!Ref Inbox]
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {{Service: sns.amazonaws.com}}
            Action: sqs:SendMessage
            Resource: !GetAtt Inbox.Arn
  Subscription:
    Type: AWS::SNS::Subscription
    Properties:
      TopicArn: !Ref Topic
      Protocol: sqs
      Endpoint: !GetAtt Inbox.Arn
      RawMessageDelivery: true
      FilterPolicy:
        kind: [model.registered]
  Logs:
    Type: AWS::Logs::LogGroup
    Properties:
      RetentionInDays: !Ref Retention
  Alarm:
    Type: AWS::CloudWatch::Alarm
    Condition: WithAlarm
    Properties:
      MetricName: Errors
  Skipped:
    Type: AWS::CloudWatch::Alarm
    Condition: WithoutAlarm
    Properties:
      MetricName: Errors
"""


def test_keys_locked_buckets_topics_queues_logs_and_no_op_types(emulator: Emulator, tmp_path: Path) -> None:
    alias = unique("tests")
    text = MORE_TYPES_TEMPLATE.format(alias=alias)
    deployment = deploy(emulator, write_project(tmp_path, text), stack_name=unique("types"))

    kms, s3, sqs, sns = (emulator.client(name) for name in ("kms", "s3", "sqs", "sns"))
    key_id = deployment.physical_id("Key")
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
    aliases = kms.list_aliases(KeyId=key_id)["Aliases"]
    assert [item["AliasName"] for item in aliases] == [f"alias/{alias}"]
    lock = s3.get_object_lock_configuration(Bucket=deployment.physical_id("Vault"))["ObjectLockConfiguration"]
    retention = lock["Rule"]["DefaultRetention"]
    assert (retention["Mode"], retention["Days"]) == ("COMPLIANCE", 1)
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=deployment.physical_id("Vault"))["Rules"]
    assert (
        rule["ID"],
        rule["Expiration"]["Days"],
        rule["NoncurrentVersionExpiration"]["NoncurrentDays"],
    ) == (
        "Expire",
        400,
        30,
    )
    inbox = deployment.physical_id("Inbox")
    attributes = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "45"
    assert (
        json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"]
        == deployment.resource("DeadLetters").attributes["Arn"]
    )
    assert json.loads(attributes["Policy"])["Statement"][0]["Action"] == "sqs:SendMessage"
    subscription = sns.get_subscription_attributes(SubscriptionArn=deployment.physical_id("Subscription"))
    assert subscription["Attributes"]["RawMessageDelivery"] == "true"
    assert json.loads(subscription["Attributes"]["FilterPolicy"]) == {"kind": ["model.registered"]}
    (group,) = emulator.client("logs").describe_log_groups(logGroupNamePrefix=deployment.physical_id("Logs"))[
        "logGroups"
    ]
    assert group["retentionInDays"] == 7
    assert "Alarm" in deployment.resources
    assert "Skipped" not in deployment.resources
    assert any("AWS::CloudWatch::Alarm: recorded, not created" in note for note in deployment.notes)
