"""Calling a function's handler with a sample API Gateway event, as API Gateway would."""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from typing import Any

from tests.support.aws import load_sample

_UNSET: Any = object()


@dataclass(frozen=True)
class LambdaContextStub:
    """The attributes of a Lambda context object that Powertools reads."""

    function_name: str = "cirrus-test-function"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:cirrus-test-function"
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 15_000


@dataclass(frozen=True)
class ApiResponse:
    status: int
    headers: dict[str, str]
    raw_body: str

    @property
    def body(self) -> Any:
        return json.loads(self.raw_body) if self.raw_body else None

    @property
    def error_code(self) -> str:
        return str(self.body["error"]["code"])


def build_event(
    route: str,
    *,
    body: Any = _UNSET,
    raw_body: str | None = None,
    path: dict[str, str] | None = None,
    query: dict[str, str] | None = _UNSET,
    headers: dict[str, str] | None = None,
    claims: dict[str, str] | None = _UNSET,
    groups: str | None = None,
) -> dict[str, Any]:
    """The route's sample event, with the given parts replaced (`claims=None` drops the authorizer)."""
    event = load_sample(f"api/{route}")
    if body is not _UNSET:
        event["body"] = json.dumps(body)
    if raw_body is not None:
        event["body"] = raw_body
    if path is not None:
        event["pathParameters"] = {**(event["pathParameters"] or {}), **path}
        concrete = event["resource"]
        for name, value in event["pathParameters"].items():
            concrete = concrete.replace("{" + name + "}", value)
        event["path"] = concrete
    if query is not _UNSET:
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} if query else None
    if headers is not None:
        event["headers"] = {**event["headers"], **headers}
    if claims is not _UNSET:
        if claims is None:
            event["requestContext"].pop("authorizer", None)
        else:
            event["requestContext"]["authorizer"] = {"claims": claims}
    if groups is not None:
        event["requestContext"]["authorizer"]["claims"]["cognito:groups"] = groups
    return event


def call(
    route: str, event: dict[str, Any] | None = None, *, package: str = "registry", **parts: Any
) -> ApiResponse:
    """Invoke `functions/<package>/<route>.py` with its sample event, changed by `parts`."""
    module = importlib.import_module(f"functions.{package}.{route}")
    result = module.lambda_handler(
        event if event is not None else build_event(route, **parts), LambdaContextStub()
    )
    # Powertools answers with multiValueHeaders, early refusals with headers; callers see both.
    headers = {name: ", ".join(values) for name, values in (result.get("multiValueHeaders") or {}).items()}
    headers.update(result.get("headers") or {})
    return ApiResponse(status=result["statusCode"], headers=headers, raw_body=result["body"])
