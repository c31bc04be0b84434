"""The committed OpenAPI document: current, complete, and carrying the API's constraints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cirrus.openapi import DOCUMENT_PATH, build_document, main, render
from tests.contract.template_routes import TemplateRoute, template_routes

ROUTES = template_routes()
REGISTER = TemplateRoute("RegisterModelFunction", "post", "/api/v1/models/register")
ERROR_BODY_REF = "#/components/schemas/ErrorBody"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_document()


def _operation(document: dict[str, Any], route: TemplateRoute) -> dict[str, Any]:
    return document["paths"][route.path][route.method]


def _operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [operation for path_item in document["paths"].values() for operation in path_item.values()]


def _parameters(document: dict[str, Any], location: str, name: str) -> list[dict[str, Any]]:
    return [
        parameter
        for operation in _operations(document)
        for parameter in operation.get("parameters", [])
        if parameter["in"] == location and parameter["name"].lower() == name.lower()
    ]


def _component(document: dict[str, Any], name: str) -> dict[str, Any]:
    schema: dict[str, Any] = document["components"]["schemas"][name]
    return schema


def test_committed_document_is_the_one_the_code_generates(document: dict[str, Any]) -> None:
    committed = DOCUMENT_PATH.read_text(encoding="utf-8")
    assert committed == render(document), "docs/openapi.json is stale: run `make openapi`"


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_every_template_route_is_documented(document: dict[str, Any], route: TemplateRoute) -> None:
    assert route.method in document["paths"].get(route.path, {})


def test_document_has_no_route_the_template_lacks(document: dict[str, Any]) -> None:
    documented = {(method, path) for path, item in document["paths"].items() for method in item}
    assert documented == {(route.method, route.path) for route in ROUTES}


def test_model_name_is_a_model_id(document: dict[str, Any]) -> None:
    model_name = _component(document, "RegisterModelRequest")["properties"]["model_name"]
    assert model_name["pattern"] == "^[a-z0-9][a-z0-9_-]{0,62}$"
    assert model_name["maxLength"] == 63


def test_artifact_location_is_at_most_1024_characters(document: dict[str, Any]) -> None:
    artifact_location = _component(document, "RegisterModelRequest")["properties"]["artifact_location"]
    assert artifact_location["maxLength"] == 1024


def test_page_size_is_at_most_100(document: dict[str, Any]) -> None:
    limits = _parameters(document, "query", "limit")
    assert limits, "no operation takes a limit"
    assert {parameter["schema"]["maximum"] for parameter in limits} == {100}


def test_version_numbers_start_at_1(document: dict[str, Any]) -> None:
    versions = _parameters(document, "path", "version")
    assert versions, "no operation takes a version in its path"
    assert {parameter["schema"]["minimum"] for parameter in versions} == {1}


def test_environment_is_one_of_the_deployment_environments(document: dict[str, Any]) -> None:
    environment_ref = _component(document, "PromoteRequest")["properties"]["environment"]["$ref"]
    assert environment_ref == "#/components/schemas/Environment"
    assert _component(document, "Environment")["enum"] == ["dev", "staging", "prod"]


def test_register_accepts_an_idempotency_key_header(document: dict[str, Any]) -> None:
    headers = [
        parameter
        for parameter in _operation(document, REGISTER)["parameters"]
        if parameter["in"] == "header" and parameter["name"].lower() == "idempotency-key"
    ]
    assert len(headers) == 1
    assert headers[0]["required"] is False


@pytest.mark.parametrize("route", ROUTES, ids=str)
@pytest.mark.parametrize("status", ["401", "422"])
def test_every_operation_documents_its_error_body(
    document: dict[str, Any], route: TemplateRoute, status: str
) -> None:
    response = _operation(document, route)["responses"][status]
    assert response["content"]["application/json"]["schema"] == {"$ref": ERROR_BODY_REF}


def test_cognito_id_token_scheme_is_declared(document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"]["cognito"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")


def test_cognito_scheme_secures_every_operation_but_the_webhook_and_ci_ones(document: dict[str, Any]) -> None:
    assert document["security"] == [{"cognito": []}]
    overridden = {
        operation["operationId"]: operation["security"]
        for operation in _operations(document)
        if "security" in operation
    }
    assert overridden == {
        # Webhook deliveries are authenticated by the provider's signature, in the handler.
        "receive_webhook_api_v1_pipelines_webhooks__provider__post": [],
        # A Prometheus scraper cannot sign in to Cognito: the handler checks its scrape token.
        "scrape_prometheus_metrics_api_v1_monitoring_metrics_scrape_get": [],
        "execute_pipeline_api_v1_ci_pipelines_execute_post": [
            {"ciClientCredentials": ["cirrus/pipelines.execute"]}
        ],
        "get_run_api_v1_ci_pipelines__pipeline_id__runs__run_id__get": [
            {"ciClientCredentials": ["cirrus/pipelines.read", "cirrus/pipelines.execute"]}
        ],
    }


def test_the_ci_scheme_is_oauth_client_credentials_with_every_route_scope(document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"]["ciClientCredentials"]
    assert scheme["type"] == "oauth2"
    assert set(scheme["flows"]["clientCredentials"]["scopes"]) == {
        "cirrus/pipelines.execute",
        "cirrus/pipelines.read",
    }


def test_every_operation_tag_is_described(document: dict[str, Any]) -> None:
    used = {tag for operation in _operations(document) for tag in operation.get("tags", [])}
    described = {tag["name"] for tag in document["tags"] if tag.get("description")}
    assert used <= described


def test_check_refuses_a_stale_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "openapi.json"
    stale.write_text("{}\n", encoding="utf-8")
    assert main(["--check", "--output", str(stale)]) == 1
    assert "make openapi" in capsys.readouterr().err


def test_check_accepts_the_file_it_wrote(tmp_path: Path) -> None:
    written = tmp_path / "openapi.json"
    assert main(["--output", str(written)]) == 0
    assert main(["--check", "--output", str(written)]) == 0
