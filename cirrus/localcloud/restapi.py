"""A deployed REST API as the local gateway serves it: routes, authorizers, stages, gateway responses.

Everything comes from the OpenAPI (swagger) `Body` that the SAM translator puts on
`AWS::ApiGateway::RestApi`, after the provisioner has resolved its intrinsic functions: paths and
methods, each method's `x-amazon-apigateway-integration`, its `security`, the authorizers in
`securityDefinitions` (swagger 2) or `components.securitySchemes` (OpenAPI 3), the binary media
types and `x-amazon-apigateway-gateway-responses`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from cirrus.localcloud.intrinsics import TemplateError

SUPPORTED_INTEGRATIONS: Final = frozenset({"aws_proxy", "mock"})
_HTTP_METHODS: Final = frozenset({"get", "put", "post", "delete", "options", "head", "patch"})
_ANY_METHOD: Final = "x-amazon-apigateway-any-method"
_NO_AUTHORIZER: Final = "NONE"
_LAMBDA_URI = re.compile(r"^arn:[^:]+:apigateway:[^:]*:lambda:path/[^/]+/functions/(?P<arn>.+)/invocations$")
_STAGE_VARIABLE = re.compile(r"\$\{stageVariables\.([A-Za-z0-9_]+)\}")


@dataclass(frozen=True)
class CognitoAuthorizer:
    """A `cognito_user_pools` authorizer: which pools' tokens it accepts, in which header."""

    name: str
    user_pool_arns: tuple[str, ...]
    header: str = "Authorization"


@dataclass(frozen=True)
class IntegrationResponse:
    """One response of a mock integration, picked by `selection_pattern` against the status."""

    selection_pattern: str  # "default" or a regular expression
    status_code: int
    parameters: Mapping[str, str]
    templates: Mapping[str, str]


@dataclass(frozen=True)
class Integration:
    """How a method is served: a Lambda proxy (`aws_proxy`) or a `mock`."""

    type: str
    uri: str = ""
    request_templates: Mapping[str, str] = field(default_factory=dict)
    responses: tuple[IntegrationResponse, ...] = ()

    def function_arn(self, stage_variables: Mapping[str, str]) -> str:
        """The Lambda function a proxy integration invokes, with stage variables substituted."""
        match = _LAMBDA_URI.match(self.uri)
        if match is None:
            raise ValueError(f"Not a Lambda invocation URI: {self.uri!r}")
        return _STAGE_VARIABLE.sub(lambda found: stage_variables.get(found.group(1), ""), match["arn"])


@dataclass(frozen=True)
class Route:
    """One method on one resource path, e.g. GET /api/v1/models/{model_id}."""

    path: str
    method: str  # upper case; "ANY" for x-amazon-apigateway-any-method
    integration: Integration
    authorizer: str | None = None
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class GatewayResponse:
    """A customised gateway response (`x-amazon-apigateway-gateway-responses`)."""

    status_code: int | None
    parameters: Mapping[str, str]
    templates: Mapping[str, str]


@dataclass(frozen=True)
class RestApi:
    """A deployed REST API: what the local gateway needs to serve it."""

    logical_id: str
    api_id: str
    name: str
    stages: Mapping[str, Mapping[str, str]]  # stage name -> stage variables
    routes: tuple[Route, ...]
    authorizers: Mapping[str, CognitoAuthorizer]
    binary_media_types: tuple[str, ...] = ()
    gateway_responses: Mapping[str, GatewayResponse] = field(default_factory=dict)

    @property
    def default_stage(self) -> str:
        """The stage served at `/<path>` (without a stage prefix): the last one declared."""
        if not self.stages:
            raise ValueError(f"REST API {self.logical_id} has no stage")
        return list(self.stages)[-1]


def check_body(logical_id: str, body: Any) -> None:
    """Refuse, before anything is created, a swagger body the local gateway could not serve."""
    if not isinstance(body, Mapping) or not isinstance(body.get("paths"), Mapping):
        raise TemplateError(
            f"{logical_id} (AWS::ApiGateway::RestApi): the local gateway needs an inline Body with paths"
        )
    schemes = _security_schemes(body)
    for path, method, operation in _operations(body):
        integration = operation.get("x-amazon-apigateway-integration")
        kind = str(integration.get("type", "")).lower() if isinstance(integration, Mapping) else ""
        if kind not in SUPPORTED_INTEGRATIONS:
            raise TemplateError(
                f"{logical_id}: {method.upper()} {path} has integration type {kind or 'none'!r}; "
                f"the local gateway serves {sorted(SUPPORTED_INTEGRATIONS)}"
            )
        for requirement in _security(body, operation):
            for name in requirement:
                if _cognito_scheme(schemes.get(name)) is None:
                    raise TemplateError(
                        f"{logical_id}: {method.upper()} {path} uses authorizer {name!r}; "
                        "the local gateway supports cognito_user_pools authorizers only"
                    )


def parse_rest_api(
    *,
    logical_id: str,
    api_id: str,
    name: str,
    body: Mapping[str, Any],
    stages: Mapping[str, Mapping[str, str]],
    binary_media_types: Iterable[str] = (),
) -> RestApi:
    """The REST API described by a resolved swagger body (and the RestApi's BinaryMediaTypes)."""
    check_body(logical_id, body)
    schemes = _security_schemes(body)
    authorizers = {
        scheme_name: authorizer
        for scheme_name, scheme in schemes.items()
        if (authorizer := _cognito_scheme(scheme, scheme_name)) is not None
    }
    routes = [_route(body, path, method, operation) for path, method, operation in _operations(body)]
    return RestApi(
        logical_id=logical_id,
        api_id=api_id,
        name=name,
        stages=dict(stages),
        routes=tuple(routes),
        authorizers=authorizers,
        binary_media_types=_binary_media_types(body, binary_media_types),
        gateway_responses=_gateway_responses(body.get("x-amazon-apigateway-gateway-responses", {})),
    )


def _binary_media_types(body: Mapping[str, Any], declared: Iterable[str]) -> tuple[str, ...]:
    # CloudFormation's BinaryMediaTypes escapes "/" as "~1"; the swagger extension does not.
    types = [*body.get("x-amazon-apigateway-binary-media-types", []), *declared]
    return tuple(dict.fromkeys(str(item).replace("~1", "/") for item in types))


def _operations(body: Mapping[str, Any]) -> Iterable[tuple[str, str, Mapping[str, Any]]]:
    for path, item in body["paths"].items():
        if not isinstance(item, Mapping):
            continue
        for method, operation in item.items():
            if (method.lower() in _HTTP_METHODS or method == _ANY_METHOD) and isinstance(operation, Mapping):
                yield str(path), method, operation


def _security(body: Mapping[str, Any], operation: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    requirements = operation.get("security", body.get("security", []))
    # SAM writes {"NONE": []} for `Auth: {Authorizer: NONE}`: no authorizer on that method.
    return [
        {name: scopes for name, scopes in item.items() if name != _NO_AUTHORIZER}
        for item in requirements
        if isinstance(item, Mapping) and set(item) != {_NO_AUTHORIZER}
    ]


def _security_schemes(body: Mapping[str, Any]) -> Mapping[str, Any]:
    if "securityDefinitions" in body:
        return dict(body["securityDefinitions"])
    return dict(body.get("components", {}).get("securitySchemes", {}))


def _cognito_scheme(scheme: Any, name: str = "") -> CognitoAuthorizer | None:
    if not isinstance(scheme, Mapping):
        return None
    authorizer = scheme.get("x-amazon-apigateway-authorizer")
    if not isinstance(authorizer, Mapping) or str(authorizer.get("type", "")).lower() != "cognito_user_pools":
        return None
    arns = authorizer.get("providerARNs", [])
    return CognitoAuthorizer(
        name=name,
        user_pool_arns=tuple(str(arn) for arn in arns),
        header=str(scheme.get("name", "Authorization")),
    )


def _route(body: Mapping[str, Any], path: str, method: str, operation: Mapping[str, Any]) -> Route:
    raw = operation["x-amazon-apigateway-integration"]
    integration = Integration(
        type=str(raw.get("type", "")).lower(),
        uri=str(raw.get("uri", "")),
        request_templates={str(key): str(value) for key, value in raw.get("requestTemplates", {}).items()},
        responses=tuple(_integration_responses(raw.get("responses", {}))),
    )
    authorizer: str | None = None
    scopes: tuple[str, ...] = ()
    requirements = _security(body, operation)
    # API Gateway takes one authorizer per method: the first requirement names it.
    first = next(iter(requirements[0].items()), None) if requirements else None
    if first is not None:
        authorizer = str(first[0])
        scopes = tuple(str(scope) for scope in first[1] or ())
    return Route(
        path=path,
        method="ANY" if method == _ANY_METHOD else method.upper(),
        integration=integration,
        authorizer=authorizer,
        scopes=scopes,
    )


def _integration_responses(raw: Mapping[str, Any]) -> Iterable[IntegrationResponse]:
    for pattern, response in raw.items():
        yield IntegrationResponse(
            selection_pattern=str(pattern),
            status_code=int(response.get("statusCode", 200)),
            parameters={
                str(key): str(value) for key, value in response.get("responseParameters", {}).items()
            },
            templates={str(key): str(value) for key, value in response.get("responseTemplates", {}).items()},
        )


def _gateway_responses(raw: Mapping[str, Any]) -> dict[str, GatewayResponse]:
    responses = {}
    for response_type, spec in raw.items():
        status = spec.get("statusCode")
        responses[str(response_type)] = GatewayResponse(
            status_code=int(status) if status is not None else None,
            parameters={str(key): str(value) for key, value in spec.get("responseParameters", {}).items()},
            templates={str(key): str(value) for key, value in spec.get("responseTemplates", {}).items()},
        )
    return responses


def mock_status(integration: Integration) -> int:
    """The status a mock integration answers: its request template's `statusCode`, as in AWS."""
    template = integration.request_templates.get("application/json")
    if template:
        try:
            parsed = json.loads(template)
        except json.JSONDecodeError:
            parsed = {}
        if isinstance(parsed, Mapping) and isinstance(parsed.get("statusCode"), int):
            return int(parsed["statusCode"])
    return 200


def select_integration_response(integration: Integration, status: int) -> IntegrationResponse | None:
    """The integration response whose selection pattern matches `status`, else the default one."""
    default = None
    for response in integration.responses:
        if response.selection_pattern == "default":
            default = response
        elif re.fullmatch(response.selection_pattern, str(status)):
            return response
    return default
