"""template.yaml's sign-in and protection resources: federation, the token trigger, keys, limits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cirrus.verified_permissions import (
    AuthzFileError,
    main,
    read_policies,
    read_schema,
    updated_template,
)
from tests.contract.template_routes import template_routes
from tests.support.aws import TEMPLATE, load_template

TEMPLATE_DATA = load_template()
RESOURCES: dict[str, Any] = TEMPLATE_DATA["Resources"]
PARAMETERS: dict[str, Any] = TEMPLATE_DATA["Parameters"]


def _of_type(resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in RESOURCES.items() if res["Type"] == resource_type}


def test_the_verified_permissions_block_is_current() -> None:
    assert updated_template() == TEMPLATE.read_text(encoding="utf-8"), (
        "template.yaml's Verified Permissions block is stale: run `python -m cirrus.verified_permissions`"
    )


def test_every_policy_file_is_one_policy_in_the_store_only_when_enabled() -> None:
    policies = _of_type("AWS::VerifiedPermissions::Policy")
    statements = {res["Properties"]["Definition"]["Static"]["Statement"] for res in policies.values()}
    assert statements == {policy.statement for policy in read_policies()}
    (store,) = _of_type("AWS::VerifiedPermissions::PolicyStore").values()
    schema = read_schema()
    if schema is not None:
        assert json.loads(store["Properties"]["Schema"]["CedarJson"]) == json.loads(schema)
        assert store["Properties"]["ValidationSettings"] == {"Mode": "STRICT"}
    conditional = [store, *policies.values()]
    assert {res.get("Condition") for res in conditional} == {"UseVerifiedPermissions"}
    assert PARAMETERS["EnableVerifiedPermissions"]["Default"] == "false"


def test_the_generator_handles_missing_files_and_refuses_two_policies_in_one(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(TEMPLATE.read_text(encoding="utf-8"), encoding="utf-8")
    authz = tmp_path / "authz"

    assert main(["--template", str(template), "--authz-dir", str(authz), "--check"]) == 1
    assert main(["--template", str(template), "--authz-dir", str(authz)]) == 0
    assert "AWS::VerifiedPermissions::Policy\n" not in template.read_text(encoding="utf-8")
    assert "Mode: OFF" in template.read_text(encoding="utf-8")

    (authz / "policies").mkdir(parents=True)
    (authz / "policies" / "two.cedar").write_text(
        "permit (principal, action, resource);\nforbid (principal, action, resource);\n"
    )
    with pytest.raises(AuthzFileError, match="holds 2 policies"):
        read_policies(authz)
    assert main(["--template", str(template), "--authz-dir", str(authz)]) == 2


def test_every_routed_function_may_count_requests_in_the_rate_limit_table() -> None:
    grant = {"DynamoDBWritePolicy": {"TableName": {"Ref": "RateLimitTable"}}}
    routed = sorted({route.function for route in template_routes(TEMPLATE_DATA)})
    missing = [name for name in routed if grant not in RESOURCES[name]["Properties"].get("Policies", [])]
    assert not missing
    variables = TEMPLATE_DATA["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["RATE_LIMIT_TABLE_NAME"] == {"Ref": "RateLimitTable"}
    assert variables["RATE_LIMIT_PER_MINUTE"] == {"Ref": "RateLimitPerMinute"}


def test_the_rate_limit_table_expires_its_counters_and_is_encrypted_with_the_data_key() -> None:
    properties = RESOURCES["RateLimitTable"]["Properties"]
    assert properties["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert properties["SSESpecification"]["KMSMasterKeyId"] == {"Ref": "DataKey"}


@pytest.mark.parametrize("table", sorted(_of_type("AWS::DynamoDB::Table")))
def test_every_table_is_encrypted_with_a_customer_managed_key(table: str) -> None:
    sse = RESOURCES[table]["Properties"]["SSESpecification"]
    assert sse["SSEType"] == "KMS"
    assert sse["KMSMasterKeyId"] in ({"Ref": "DataKey"}, {"Fn::GetAtt": ["DataKey", "Arn"]})


def test_the_logs_key_lets_cloudwatch_logs_of_this_account_use_it() -> None:
    statements = RESOURCES["LogsKey"]["Properties"]["KeyPolicy"]["Statement"]
    (logs,) = [s for s in statements if s.get("Principal", {}).get("Service")]
    assert logs["Principal"]["Service"] == {"Fn::Sub": "logs.${AWS::Region}.amazonaws.com"}
    assert "kms:GenerateDataKey*" in logs["Action"]
    assert "kms:EncryptionContext:aws:logs:arn" in logs["Condition"]["ArnLike"]


def test_the_usage_plan_covers_the_api_stage() -> None:
    (plan,) = _of_type("AWS::ApiGateway::UsagePlan").values()
    assert plan["Properties"]["ApiStages"] == [
        {"ApiId": {"Ref": "CirrusApi"}, "Stage": {"Ref": "CirrusApi.Stage"}}
    ]


def test_the_custom_domain_is_optional_and_takes_mutual_tls_from_parameters() -> None:
    domain = RESOURCES["ApiDomain"]
    assert domain["Condition"] == "HasApiDomain"
    assert domain["Properties"]["SecurityPolicy"] == "TLS_1_2"
    mtls = domain["Properties"]["MutualTlsAuthentication"]["Fn::If"]
    assert mtls[0] == "HasMtlsTruststore"
    assert mtls[1]["TruststoreUri"] == {"Ref": "MtlsTruststoreUri"}
    # Otherwise the execute-api URL would let clients around the certificate check.
    disable = RESOURCES["CirrusApi"]["Properties"]["DisableExecuteApiEndpoint"]
    assert disable == {"Fn::If": ["HasMtlsTruststore", True, False]}


def test_the_token_trigger_is_wired_to_the_pool_and_reads_the_allowlist_parameter() -> None:
    trigger = RESOURCES["UserPool"]["Properties"]["LambdaConfig"]["PreTokenGenerationConfig"]
    assert trigger == {
        "LambdaArn": {"Fn::GetAtt": ["PreTokenGenerationFunction", "Arn"]},
        "LambdaVersion": "V1_0",
    }
    permission = RESOURCES["PreTokenGenerationPermission"]["Properties"]
    assert permission["Principal"] == "cognito-idp.amazonaws.com"
    assert permission["SourceArn"] == {"Fn::GetAtt": ["UserPool", "Arn"]}
    variables = RESOURCES["PreTokenGenerationFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["IDP_GROUP_ROLE_MAP"] == {"Ref": "IdpGroupRoleMap"}


@pytest.mark.parametrize(
    ("provider", "condition"),
    [("SamlIdentityProvider", "HasSamlProvider"), ("OidcIdentityProvider", "HasOidcProvider")],
)
def test_identity_providers_are_off_by_default_and_map_the_group_claim(provider: str, condition: str) -> None:
    resource = RESOURCES[provider]
    assert resource["Condition"] == condition
    assert "custom:groups" in resource["Properties"]["AttributeMapping"]
    custom = {attribute["Name"] for attribute in RESOURCES["UserPool"]["Properties"]["Schema"]}
    assert "groups" in custom


def test_self_sign_up_stays_off_and_the_pool_has_a_hosted_domain() -> None:
    pool = RESOURCES["UserPool"]["Properties"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert RESOURCES["UserPoolDomain"]["Properties"]["UserPoolId"] == {"Ref": "UserPool"}


def test_every_bucket_refuses_requests_without_tls() -> None:
    guarded = {
        policy["Properties"]["Bucket"]["Ref"]
        for policy in _of_type("AWS::S3::BucketPolicy").values()
        if any(
            statement["Effect"] == "Deny"
            and statement.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        )
    }

    assert guarded == set(_of_type("AWS::S3::Bucket"))


def test_every_function_logs_into_the_kms_encrypted_platform_log_group() -> None:
    logging = TEMPLATE_DATA["Globals"]["Function"]["LoggingConfig"]
    group = TEMPLATE_DATA["Resources"][logging["LogGroup"]["Ref"]]

    assert group["Type"] == "AWS::Logs::LogGroup"
    assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["LogsKey", "Arn"]}
    overriding = [
        name
        for name, resource in _of_type("AWS::Serverless::Function").items()
        if "LoggingConfig" in resource["Properties"]
    ]
    assert overriding == []
