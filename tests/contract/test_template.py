"""template.yaml: valid, deployable offline, and wired the way the handlers expect."""

from __future__ import annotations

import copy
import importlib
import json
import tomllib
from typing import Any

import pytest
from cfnlint.api import lint_file
from packaging.requirements import Requirement
from samtranslator.translator.transform import transform

from cirrus.event_schemas import updated_template
from tests.contract.template_routes import (
    TemplateRoute,
    handler_module_name,
    serverless_functions,
    template_routes,
)
from tests.support.aws import ROOT, SCHEMAS, TEMPLATE, load_template

TEMPLATE_DATA = load_template()
FUNCTIONS = serverless_functions(TEMPLATE_DATA)
ROUTES = template_routes(TEMPLATE_DATA)
ROUTED_FUNCTIONS = sorted({route.function for route in ROUTES})
# Registry changes announce themselves as lifecycle events; policy changes are not model lifecycle.
# Serving routes under /models (predict, batch jobs) announce from their state machines, if at all.
WRITE_FUNCTIONS = sorted(
    {
        route.function
        for route in ROUTES
        if route.method in {"post", "put", "delete"}
        and route.path.startswith("/api/v1/models")
        and FUNCTIONS[route.function]["Properties"]["CodeUri"].startswith("functions/registry")
    }
)
SHARED_LAYERS = [layer["Ref"] for layer in TEMPLATE_DATA["Globals"]["Function"]["Layers"]]
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# `sam package` uploads these local folders and files and rewrites the property to an s3:// URI.
PACKAGED_PROPERTIES = ("CodeUri", "ContentUri", "DefinitionUri")


class OfflinePolicyLoader:
    """The translator's managed-policy lookup; its bundled map already knows AWS managed policies."""

    def load(self) -> dict[str, str]:
        return {}


def _packaged(template: dict[str, Any]) -> dict[str, Any]:
    packaged = copy.deepcopy(template)
    for logical_id, resource in packaged["Resources"].items():
        properties = resource.get("Properties", {})
        for name in PACKAGED_PROPERTIES:
            if isinstance(properties.get(name), str):
                properties[name] = f"s3://cirrus-packages/{logical_id}.zip"
    return packaged


@pytest.fixture
def translated() -> dict[str, Any]:
    """The template as CloudFormation, as `sam deploy` would submit it (needs AWS_DEFAULT_REGION)."""
    return dict(transform(_packaged(TEMPLATE_DATA), {}, OfflinePolicyLoader()))


def _resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template["Resources"].items() if res["Type"] == resource_type}


def _served_routes(module_name: str) -> set[tuple[str, str]]:
    """(method, path) of every route the module's resolver serves, from its OpenAPI paths."""
    paths = importlib.import_module(module_name).app.get_openapi_schema().paths or {}
    return {
        (method, path)
        for path, item in paths.items()
        for method in HTTP_METHODS
        if getattr(item, method, None) is not None
    }


def _policies(function: str) -> list[Any]:
    return list(FUNCTIONS[function]["Properties"].get("Policies", []))


def _powertools_requirement(lines: list[str]) -> Requirement:
    requirements = [Requirement(line) for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return next(req for req in requirements if req.name == "aws-lambda-powertools")


def test_cfn_lint_reports_nothing() -> None:
    matches = lint_file(TEMPLATE)
    assert not matches, "\n".join(str(match) for match in matches)


def test_translator_produces_the_expected_resources(translated: dict[str, Any]) -> None:
    types = {resource["Type"] for resource in translated["Resources"].values()}
    assert types >= {
        "AWS::Lambda::Function",
        "AWS::Lambda::LayerVersion",
        "AWS::Lambda::Permission",
        "AWS::IAM::Role",
        "AWS::ApiGateway::RestApi",
        "AWS::ApiGateway::Deployment",
        "AWS::ApiGateway::Stage",
        "AWS::Events::EventBus",
        "AWS::EventSchemas::Registry",
    }


def test_translator_makes_a_lambda_function_of_every_serverless_function(translated: dict[str, Any]) -> None:
    assert set(_resources_of_type(translated, "AWS::Lambda::Function")) == set(FUNCTIONS)


# The routes that do not take a user's ID token, and what they take instead.
# Webhook deliveries carry the provider's HMAC signature or token, which the handler checks first.
# Webhook deliveries carry the provider's signature; a Prometheus scraper carries the scrape token.
UNAUTHENTICATED_ROUTES = {
    ("post", "/api/v1/pipelines/webhooks/{provider}"),
    ("get", "/api/v1/monitoring/metrics/scrape"),
}
# CI systems call these with OAuth client-credentials access tokens carrying one of the scopes.
SCOPED_ROUTES = {
    ("post", "/api/v1/ci/pipelines/execute"): ["cirrus/pipelines.execute"],
    ("get", "/api/v1/ci/pipelines/{pipeline_id}/runs/{run_id}"): [
        "cirrus/pipelines.read",
        "cirrus/pipelines.execute",
    ],
}


def test_every_deployed_route_requires_the_cognito_authorizer(translated: dict[str, Any]) -> None:
    unauthorized = []
    for api_id, api in _resources_of_type(translated, "AWS::ApiGateway::RestApi").items():
        body = api["Properties"]["Body"]
        for path, item in body["paths"].items():
            for method, operation in item.items():
                # CORS preflights carry no token (AddDefaultAuthorizerToCorsPreflight: false).
                if method == "options" or (method, path) in UNAUTHENTICATED_ROUTES:
                    continue
                expected = [{"CognitoAuthorizer": SCOPED_ROUTES.get((method, path), [])}]
                if operation.get("security") != expected:
                    unauthorized.append(f"{api_id}: {method.upper()} {path} {operation.get('security')}")
    assert not unauthorized


def test_only_the_webhook_and_scrape_routes_go_without_the_authorizer(translated: dict[str, Any]) -> None:
    open_routes = set()
    for api in _resources_of_type(translated, "AWS::ApiGateway::RestApi").values():
        for path, item in api["Properties"]["Body"]["paths"].items():
            for method, operation in item.items():
                if method != "options" and not any(
                    "CognitoAuthorizer" in requirement for requirement in operation.get("security", [])
                ):
                    open_routes.add((method, path))
    assert open_routes == UNAUTHENTICATED_ROUTES


def test_api_authorizes_with_the_user_pool_by_default() -> None:
    auth = TEMPLATE_DATA["Resources"]["CirrusApi"]["Properties"]["Auth"]
    assert auth["DefaultAuthorizer"] == "CognitoAuthorizer"
    assert auth["Authorizers"]["CognitoAuthorizer"]["UserPoolArn"] == {"Fn::GetAtt": ["UserPool", "Arn"]}


def test_functions_run_python_3_13_on_arm64() -> None:
    function_globals = TEMPLATE_DATA["Globals"]["Function"]
    assert (function_globals["Runtime"], function_globals["Architectures"]) == ("python3.13", ["arm64"])


def test_functions_trace_actively() -> None:
    assert TEMPLATE_DATA["Globals"]["Function"]["Tracing"] == "Active"


def test_functions_configure_powertools() -> None:
    variables = set(TEMPLATE_DATA["Globals"]["Function"]["Environment"]["Variables"])
    assert {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"} <= variables


def test_functions_never_log_whole_events() -> None:
    # An API event carries the caller's ID token in its headers.
    variables = TEMPLATE_DATA["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_LOGGER_LOG_EVENT"] == "false"


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_handler_file_exists(function: str) -> None:
    properties = FUNCTIONS[function]["Properties"]
    module = properties["Handler"].rpartition(".")[0]
    assert (ROOT / properties["CodeUri"] / f"{module}.py").is_file()


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_handler_exports_a_callable_lambda_handler(function: str) -> None:
    properties = FUNCTIONS[function]["Properties"]
    assert properties["Handler"].endswith(".lambda_handler")
    module = importlib.import_module(handler_module_name(FUNCTIONS[function]))
    assert callable(module.lambda_handler)


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_api_event_is_served_by_its_function(route: TemplateRoute) -> None:
    served = _served_routes(handler_module_name(FUNCTIONS[route.function]))
    assert (route.method, route.path) in served


@pytest.mark.parametrize("function", ROUTED_FUNCTIONS)
def test_resolver_serves_only_routes_the_template_sends_it(function: str) -> None:
    routed = {(route.method, route.path) for route in ROUTES if route.function == function}
    assert _served_routes(handler_module_name(FUNCTIONS[function])) <= routed


@pytest.mark.parametrize("function", WRITE_FUNCTIONS)
def test_write_function_may_put_events_on_the_bus(function: str) -> None:
    assert {"EventBridgePutEventsPolicy": {"EventBusName": {"Ref": "EventBus"}}} in _policies(function)


def test_register_function_may_use_the_idempotency_table() -> None:
    register = next(route.function for route in ROUTES if str(route) == "POST /api/v1/models/register")
    assert {"DynamoDBCrudPolicy": {"TableName": {"Ref": "IdempotencyTable"}}} in _policies(register)


@pytest.mark.parametrize("layer", SHARED_LAYERS)
def test_shared_layer_pins_powertools_as_pyproject_does(layer: str) -> None:
    content_uri = TEMPLATE_DATA["Resources"][layer]["Properties"]["ContentUri"]
    layer_lines = (ROOT / content_uri / "requirements.txt").read_text(encoding="utf-8").splitlines()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pinned = _powertools_requirement(project["dependencies"]).specifier
    assert str(pinned).startswith("==")
    assert _powertools_requirement(layer_lines).specifier == pinned


def test_event_schema_block_is_current() -> None:
    assert updated_template() == TEMPLATE.read_text(encoding="utf-8"), (
        "template.yaml's event schema block is stale: run `make openapi`"
    )


def test_every_event_schema_file_is_registered_with_its_content() -> None:
    registered = {
        resource["Properties"]["SchemaName"]: resource["Properties"]
        for resource in _resources_of_type(TEMPLATE_DATA, "AWS::EventSchemas::Schema").values()
    }
    for path in sorted(SCHEMAS.glob("*.json")):
        properties = registered[f"cirrus@{path.stem}"]
        assert properties["Type"] == "JSONSchemaDraft4"
        assert json.loads(properties["Content"]) == json.loads(path.read_text(encoding="utf-8"))


def test_event_schemas_live_in_the_stage_registry() -> None:
    registries = _resources_of_type(TEMPLATE_DATA, "AWS::EventSchemas::Registry")
    assert list(registries) == ["EventSchemaRegistry"]
    assert registries["EventSchemaRegistry"]["Properties"]["RegistryName"] == {"Fn::Sub": "cirrus-${Stage}"}
    in_registry = {"Fn::GetAtt": ["EventSchemaRegistry", "RegistryName"]}
    schemas = _resources_of_type(TEMPLATE_DATA, "AWS::EventSchemas::Schema")
    assert not [name for name, res in schemas.items() if res["Properties"]["RegistryName"] != in_registry]
