"""`entrypoint(app, authenticated=False)`: routes API Gateway serves without an authorizer.

Such a route (a repository webhook) authenticates its requests itself, so the entry point asks for
no claims, counts no caller against the rate limit and hands the body over untouched; the size
bound, the error shape and the HTTP metrics stay as for every other route.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from cirrus_core.api import entrypoint, make_resolver, request_caller
from cirrus_core.errors import Unauthenticated
from tests.support.api import LambdaContextStub, build_event
from tests.support.aws import TABLE_NAMES, AwsResources
from tests.unit.core.test_api import emitted_metrics

PATH = "/api/v1/hooks/{source}"
HOOK_SECRET = "open-sesame"


def _resolver() -> tuple[APIGatewayRestResolver, list[dict[str, Any]]]:
    app = make_resolver()
    seen: list[dict[str, Any]] = []

    @app.post("/api/v1/hooks/<source>")
    def hook(source: str) -> dict[str, Any]:
        if app.current_event.headers.get("X-Secret") != HOOK_SECRET:
            raise Unauthenticated("The hook's secret is wrong.")
        try:
            request_caller(app)
            caller = "set"
        except RuntimeError:
            caller = "none"
        seen.append({"source": source, "body": app.current_event.body, "caller": caller})
        return {"received": True}

    return app, seen


def _event(
    body: str | None = '{"a": 1}', *, claims: bool = False, secret: str = HOOK_SECRET
) -> dict[str, Any]:
    event = build_event("webhook_github_push", raw_body=body or "", headers={"X-Secret": secret})
    event["resource"] = event["requestContext"]["resourcePath"] = PATH
    event["path"] = "/api/v1/hooks/ci"
    event["pathParameters"] = {"source": "ci"}
    if claims:
        event["requestContext"]["authorizer"] = {"claims": {"sub": "someone", "cognito:username": "someone"}}
    return event


def test_a_request_without_claims_reaches_the_route_with_no_caller(aws: AwsResources) -> None:
    app, seen = _resolver()

    result = entrypoint(app, authenticated=False)(_event(), LambdaContextStub())

    assert result["statusCode"] == 200
    assert seen == [{"source": "ci", "body": '{"a": 1}', "caller": "none"}]


def test_the_same_route_behind_the_default_entry_point_refuses_a_request_without_claims(
    aws: AwsResources,
) -> None:
    app, seen = _resolver()

    result = entrypoint(app)(_event(), LambdaContextStub())

    assert result["statusCode"] == 401
    assert json.loads(result["body"])["error"]["code"] == "unauthenticated"
    assert seen == []


def test_no_request_is_counted_against_a_rate_limit(
    aws: AwsResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RATE_LIMIT_PER_MINUTE", "1")
    app, _ = _resolver()
    handler = entrypoint(app, authenticated=False)

    statuses = [
        handler(_event(claims=claims), LambdaContextStub())["statusCode"] for claims in (False, True, True)
    ]

    assert statuses == [200, 200, 200]
    assert aws.dynamodb.scan(TableName=TABLE_NAMES["RateLimitTable"])["Items"] == []


def test_the_body_reaches_the_route_as_sent_even_when_it_is_an_array(aws: AwsResources) -> None:
    app, seen = _resolver()

    result = entrypoint(app, authenticated=False)(_event("[1, 2]"), LambdaContextStub())

    assert result["statusCode"] == 200
    assert seen[0]["body"] == "[1, 2]"


def test_the_route_refuses_in_the_api_error_shape(
    aws: AwsResources, capsys: pytest.CaptureFixture[str]
) -> None:
    app, _ = _resolver()

    result = entrypoint(app, authenticated=False)(_event(secret="guess"), LambdaContextStub())

    assert result["statusCode"] == 401
    body = json.loads(result["body"])
    assert set(body) == {"error", "request_id"}
    assert body["error"]["code"] == "unauthenticated"
    assert emitted_metrics(capsys.readouterr().out) == ["Http4xx"]


def test_the_body_size_bound_still_applies(aws: AwsResources, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_BODY_BYTES", "16")
    app, seen = _resolver()

    result = entrypoint(app, authenticated=False)(
        _event('{"padding": "' + "x" * 32 + '"}'), LambdaContextStub()
    )

    assert result["statusCode"] == 413
    assert json.loads(result["body"])["error"]["code"] == "payload_too_large"
    assert seen == []
