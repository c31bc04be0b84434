"""The API plumbing every route shares: one error shape, CORS, early refusals, HTTP metrics."""

from __future__ import annotations

import base64
import importlib
import json
from typing import Any

import pytest

from cirrus_core.api import error_body
from cirrus_core.errors import ModelNotFound
from tests.support.api import LambdaContextStub, build_event
from tests.support.aws import AwsResources

ORIGIN = {"Origin": "https://app.example.com"}


def invoke(route: str, event: dict[str, Any]) -> dict[str, Any]:
    """Call a registry function's handler and return its raw Lambda proxy result."""
    handler = importlib.import_module(f"functions.registry.{route}").lambda_handler
    result: dict[str, Any] = handler(event, LambdaContextStub())
    return result


def header(result: dict[str, Any], name: str) -> str | None:
    """A response header, from `headers` or `multiValueHeaders` (API Gateway merges both)."""
    if name in (result.get("headers") or {}):
        return str(result["headers"][name])
    values = (result.get("multiValueHeaders") or {}).get(name)
    return ",".join(values) if values else None


def emitted_metrics(stdout: str) -> list[str]:
    """Names of the metrics in the EMF documents Powertools printed."""
    names: list[str] = []
    for line in stdout.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            document = json.loads(line)
            for directive in document["_aws"]["CloudWatchMetrics"]:
                names.extend(metric["Name"] for metric in directive["Metrics"])
    return names


def unknown_route_event() -> dict[str, Any]:
    event = build_event("list_models", headers=ORIGIN)
    event["path"] = event["resource"] = event["requestContext"]["resourcePath"] = "/api/v1/nowhere"
    return event


def test_the_error_body_carries_code_message_details_and_request_id() -> None:
    error = ModelNotFound("No model 'm' is registered.", [{"field": "model_id"}])

    assert error_body(error, "req-1") == {
        "error": {
            "code": "model_not_found",
            "message": "No model 'm' is registered.",
            "details": [{"field": "model_id"}],
        },
        "request_id": "req-1",
    }


def test_an_error_without_details_has_an_empty_details_list() -> None:
    assert error_body(ModelNotFound("gone"), None)["error"]["details"] == []


def test_a_refusal_names_the_api_gateway_request_id(aws: AwsResources) -> None:
    event = build_event("get_model", path={"model_id": "nobody"})

    result = invoke("get_model", event)

    assert json.loads(result["body"])["request_id"] == event["requestContext"]["requestId"]


def test_a_refusal_without_a_request_id_says_null(aws: AwsResources) -> None:
    event = build_event("get_model", path={"model_id": "nobody"})
    del event["requestContext"]["requestId"]

    result = invoke("get_model", event)

    assert json.loads(result["body"])["request_id"] is None


def test_an_unknown_route_is_404_route_not_found_in_the_error_shape(aws: AwsResources) -> None:
    result = invoke("list_models", unknown_route_event())

    assert result["statusCode"] == 404
    body = json.loads(result["body"])
    assert body["error"]["code"] == "route_not_found"
    assert set(body) == {"error", "request_id"}
    assert set(body["error"]) == {"code", "message", "details"}


def test_a_known_path_with_another_method_is_404_route_not_found(aws: AwsResources) -> None:
    event = build_event("register_model")
    event["httpMethod"] = event["requestContext"]["httpMethod"] = "GET"

    result = invoke("register_model", event)

    assert result["statusCode"] == 404
    assert json.loads(result["body"])["error"]["code"] == "route_not_found"


def test_a_success_answers_a_browser_with_cors_headers(aws: AwsResources) -> None:
    result = invoke("list_models", build_event("list_models", headers=ORIGIN))

    assert result["statusCode"] == 200
    assert header(result, "Access-Control-Allow-Origin") == "*"
    assert "Idempotency-Key" in (header(result, "Access-Control-Allow-Headers") or "")


def test_a_routed_refusal_answers_with_cors_headers(aws: AwsResources) -> None:
    result = invoke("list_models", unknown_route_event())

    assert header(result, "Access-Control-Allow-Origin") == "*"


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        pytest.param({"claims": None}, 401, id="unauthenticated"),
        pytest.param({"raw_body": "x" * 65_537}, 413, id="payload-too-large"),
    ],
)
def test_an_early_refusal_answers_with_cors_headers_and_the_error_shape(
    aws: AwsResources, changes: dict[str, Any], status: int
) -> None:
    result = invoke("register_model", build_event("register_model", headers=ORIGIN, **changes))

    assert result["statusCode"] == status
    assert header(result, "Access-Control-Allow-Origin") == "*"
    assert header(result, "Content-Type") == "application/json"
    assert set(json.loads(result["body"])) == {"error", "request_id"}


def test_an_early_refusal_names_the_configured_cors_origin(
    aws: AwsResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CORS_ALLOW_ORIGIN", "https://console.example.com")

    result = invoke("list_models", build_event("list_models", headers=ORIGIN, claims=None))

    assert header(result, "Access-Control-Allow-Origin") == "https://console.example.com"


@pytest.mark.parametrize("encoded", [False, True], ids=["plain", "base64"])
def test_an_array_body_is_refused_rather_than_cut_to_its_first_element(
    aws: AwsResources, encoded: bool
) -> None:
    # Powertools would validate the array's first element and drop the rest.
    raw_body = json.dumps([{"version": 1, "environment": "dev"}, {"version": 2, "environment": "prod"}])
    event = build_event("promote_model", raw_body=raw_body)
    if encoded:
        event["body"] = base64.b64encode(raw_body.encode()).decode()
        event["isBase64Encoded"] = True

    result = invoke("promote_model", event)

    assert result["statusCode"] == 422
    assert json.loads(result["body"])["error"]["details"][0]["field"] == "body"


def test_a_success_is_counted_as_http_2xx(aws: AwsResources, capsys: pytest.CaptureFixture[str]) -> None:
    invoke("list_models", build_event("list_models"))

    assert emitted_metrics(capsys.readouterr().out) == ["Http2xx"]


@pytest.mark.parametrize(
    ("route", "changes"),
    [
        pytest.param("get_model", {"path": {"model_id": "nobody"}}, id="routed-refusal"),
        pytest.param("list_models", {"claims": None}, id="early-refusal"),
        pytest.param("register_model", {"raw_body": "{"}, id="validation-refusal"),
    ],
)
def test_a_refusal_is_counted_as_http_4xx(
    aws: AwsResources, capsys: pytest.CaptureFixture[str], route: str, changes: dict[str, Any]
) -> None:
    invoke(route, build_event(route, **changes))

    assert emitted_metrics(capsys.readouterr().out) == ["Http4xx"]
