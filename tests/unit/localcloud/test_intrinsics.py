"""Template evaluation: intrinsic functions, conditions, parameters and dependency order."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from cirrus.localcloud.intrinsics import (
    NO_VALUE,
    Intrinsics,
    PseudoParameters,
    TemplateError,
    attribute_references,
    creation_order,
    evaluate_conditions,
    resolve_parameters,
    resource_dependencies,
)

PSEUDO = PseudoParameters(region="eu-west-1", account_id="123456789012", stack_name="demo")
RESOURCES: dict[str, dict[str, Any]] = {
    "Table": {"ref": "demo-table", "Arn": "arn:aws:dynamodb:eu-west-1:123456789012:table/demo-table"},
    "Bucket": {"ref": "demo-bucket", "Arn": "arn:aws:s3:::demo-bucket"},
}


def intrinsics(**overrides: Any) -> Intrinsics:
    options: dict[str, Any] = {
        "pseudo": PSEUDO,
        "parameters": {"Stage": "dev", "Names": ["a", "b"]},
        "conditions": {"IsProd": False, "IsDev": True},
        "mappings": {"Sizes": {"dev": {"Memory": 256}}},
        "ref": lambda name: RESOURCES[name]["ref"],
        "get_att": lambda name, attribute: RESOURCES[name][attribute],
    }
    options.update(overrides)
    return Intrinsics(**options)


def test_sub_writes_pseudo_parameters_parameters_refs_and_attributes() -> None:
    value = {
        "Fn::Sub": "arn:${AWS::Partition}:x:${AWS::Region}:${AWS::AccountId}:${Stage}/${Table}/${Bucket.Arn}"
    }

    assert intrinsics().resolve(value) == (
        "arn:aws:x:eu-west-1:123456789012:dev/demo-table/arn:aws:s3:::demo-bucket"
    )


def test_sub_with_a_variable_map_and_an_escaped_literal() -> None:
    value = {"Fn::Sub": ["${Name}-${!Literal}-${AWS::StackName}", {"Name": {"Ref": "Table"}}]}

    assert intrinsics().resolve(value) == "demo-table-${Literal}-demo"


def test_get_att_in_both_forms() -> None:
    resolver = intrinsics()

    assert resolver.resolve({"Fn::GetAtt": ["Table", "Arn"]}) == RESOURCES["Table"]["Arn"]
    assert resolver.resolve({"Fn::GetAtt": "Bucket.Arn"}) == RESOURCES["Bucket"]["Arn"]


def test_if_with_no_value_drops_the_property_and_the_list_item() -> None:
    value = {
        "Keep": {"Fn::If": ["IsDev", "yes", "no"]},
        "Drop": {"Fn::If": ["IsProd", "prod-only", {"Ref": "AWS::NoValue"}]},
        "List": ["a", {"Fn::If": ["IsProd", "b", {"Ref": "AWS::NoValue"}]}, "c"],
    }

    assert intrinsics().resolve(value) == {"Keep": "yes", "List": ["a", "c"]}


def test_select_split_join_base64_find_in_map_and_get_azs() -> None:
    resolver = intrinsics(availability_zones=lambda region: [f"{region}x", f"{region}y"])

    assert resolver.resolve({"Fn::Select": [1, {"Fn::Split": [",", "a,b,c"]}]}) == "b"
    assert resolver.resolve({"Fn::Join": ["-", ["x", {"Ref": "Stage"}, 3]]}) == "x-dev-3"
    assert resolver.resolve({"Fn::Join": [",", {"Ref": "Names"}]}) == "a,b"
    assert base64.b64decode(resolver.resolve({"Fn::Base64": "hello"})) == b"hello"
    assert resolver.resolve({"Fn::FindInMap": ["Sizes", {"Ref": "Stage"}, "Memory"]}) == 256
    assert resolver.resolve({"Fn::Select": [0, {"Fn::GetAZs": ""}]}) == "eu-west-1x"


def test_a_key_named_condition_in_properties_is_plain_data() -> None:
    statement = {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}

    assert intrinsics().resolve(statement) == statement


def test_unknown_functions_and_bad_arguments_are_refused_by_name() -> None:
    with pytest.raises(TemplateError, match="Fn::ImportValue"):
        intrinsics().resolve({"Fn::ImportValue": "shared"})
    with pytest.raises(TemplateError, match="index 5"):
        intrinsics().resolve({"Fn::Select": [5, ["a"]]})
    with pytest.raises(TemplateError, match="not declared"):
        intrinsics().resolve({"Fn::If": ["Missing", 1, 2]})


def test_ref_to_no_value_is_the_sentinel() -> None:
    assert intrinsics().resolve({"Ref": "AWS::NoValue"}) is NO_VALUE


def test_conditions_combine_and_name_each_other() -> None:
    conditions = {
        "IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
        "IsNotProd": {"Fn::Not": [{"Condition": "IsProd"}]},
        "IsEuDev": {
            "Fn::And": [{"Condition": "IsNotProd"}, {"Fn::Equals": [{"Ref": "AWS::Region"}, "eu-west-1"]}]
        },
        "Either": {"Fn::Or": [{"Condition": "IsProd"}, {"Condition": "IsEuDev"}]},
    }

    values = evaluate_conditions(conditions, pseudo=PSEUDO, parameters={"Stage": "dev"})

    assert values == {"IsProd": False, "IsNotProd": True, "IsEuDev": True, "Either": True}


def test_conditions_in_a_cycle_are_refused() -> None:
    conditions = {"A": {"Fn::Not": [{"Condition": "B"}]}, "B": {"Fn::Not": [{"Condition": "A"}]}}

    with pytest.raises(TemplateError, match="cycle: A -> B -> A"):
        evaluate_conditions(conditions, pseudo=PSEUDO, parameters={})


def test_parameters_take_defaults_and_are_checked() -> None:
    declared = {
        "Stage": {"Type": "String", "Default": "dev", "AllowedValues": ["dev", "prod"]},
        "Allowlist": {"Type": "CommaDelimitedList", "Default": ""},
        "Origin": {"Type": "String", "AllowedPattern": "^https?://.+$"},
        "Size": {"Type": "Number", "Default": 3, "MaxValue": 10},
    }

    values = resolve_parameters(declared, {"Origin": "https://app.example", "Allowlist": "a, b"})

    assert values == {"Stage": "dev", "Allowlist": ["a", "b"], "Origin": "https://app.example", "Size": "3"}
    with pytest.raises(TemplateError, match="'qa' is not one of"):
        resolve_parameters(declared, {"Stage": "qa", "Origin": "https://x"})
    with pytest.raises(TemplateError, match="AllowedPattern"):
        resolve_parameters(declared, {"Origin": "ftp://x"})
    with pytest.raises(TemplateError, match="above MaxValue"):
        resolve_parameters(declared, {"Origin": "https://x", "Size": "11"})
    with pytest.raises(TemplateError, match="no default"):
        resolve_parameters(declared, {})
    with pytest.raises(TemplateError, match="not declared by the template: Typo"):
        resolve_parameters(declared, {"Origin": "https://x", "Typo": "1"})


def test_dependencies_come_from_ref_get_att_sub_and_depends_on() -> None:
    resources = {
        "Function": {
            "Properties": {
                "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                "Environment": {"Fn::Sub": "${Table}-${Bucket.Arn}-${AWS::Region}-${Stage}"},
            },
            "DependsOn": "Queue",
        },
        "Role": {"Properties": {}},
        "Table": {"Properties": {}},
        "Bucket": {"Properties": {"Name": {"Fn::Sub": ["${x}", {"x": {"Ref": "Table"}}]}}},
        "Queue": {"Properties": {}},
    }

    dependencies = resource_dependencies(resources, ["Stage"])
    order = creation_order(dependencies)

    assert dependencies["Function"] == ["Role", "Table", "Bucket", "Queue"]
    assert dependencies["Bucket"] == ["Table"]
    assert order.index("Function") > max(order.index(name) for name in ("Role", "Table", "Bucket", "Queue"))
    assert order.index("Bucket") > order.index("Table")


def test_a_dependency_cycle_is_refused_and_named() -> None:
    resources = {
        "A": {"Properties": {"X": {"Ref": "B"}}},
        "B": {"Properties": {"Y": {"Fn::GetAtt": ["C", "Arn"]}}},
        "C": {"Properties": {"Z": {"Fn::Sub": "${A}"}}},
    }

    with pytest.raises(TemplateError, match="Circular dependency between resources: A -> B -> C -> A"):
        creation_order(resource_dependencies(resources, []))


def test_a_reference_to_an_undeclared_name_is_refused() -> None:
    resources = {"A": {"Properties": {"X": {"Ref": "Nowhere"}}}}

    with pytest.raises(TemplateError, match="Resource A refers to 'Nowhere'"):
        resource_dependencies(resources, [])


def test_attribute_references_cover_get_att_and_sub() -> None:
    value = {
        "A": {"Fn::GetAtt": "Table.Arn"},
        "B": {"Fn::Sub": ["${Bucket.Arn}/${Local.Part}/${AWS::Region}", {"Local": "x"}]},
    }

    assert attribute_references(value) == {("Table", "Arn"), ("Bucket", "Arn")}


def test_stack_id_is_stable_for_a_stack() -> None:
    assert PSEUDO.stack_id == PseudoParameters("eu-west-1", "123456789012", "demo").stack_id
    assert PSEUDO.stack_id.startswith("arn:aws:cloudformation:eu-west-1:123456789012:stack/demo/")
