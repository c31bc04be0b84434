"""The local API Gateway: serves a deployed REST API on 127.0.0.1 through the emulator's Lambda.

moto cannot serve Lambda proxy integrations, `sam local` needs Docker and `chalice local` serves
only Chalice apps, so this is our own small gateway, reading everything from the deployment:

- routes from the RestApi's swagger body, with `{param}` and greedy `{proxy+}` segments, served at
  `/<path>` and at `/<stage>/<path>`; an unknown route or method answers 403
  `{"message":"Missing Authentication Token"}`, as API Gateway does;
- the Cognito authorizer's checks (`cirrus.localcloud.authorizer`): no token or a bad one is 401;
- REST (payload format 1.0) Lambda proxy events, invoked with `lambda.invoke` (RequestResponse)
  against the emulator, so the runtime hook, logs and timeouts apply; a handler error or a
  malformed proxy response answers 502 `{"message": "Internal server error"}`;
- `mock` integrations (the CORS preflight SAM emits) answered from their integration responses;
- the API's gateway responses (`x-amazon-apigateway-gateway-responses`) for its own errors.

Local extras, outside the API: `GET /api/v1/openapi.json` serves docs/openapi.json, and
`GET /api/v1/docs` a Swagger UI whose assets come from aws-lambda-powertools' package data.
`POST /oauth2/token` is the token endpoint of the hosted domain of the user pools the API's
authorizers trust (client credentials grant, `cirrus.localcloud.cognito.ClientCredentialsIssuer`),
so machine clients get access tokens the authorizer accepts on methods with OAuth scopes.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, unquote, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ReadTimeoutError

from cirrus.localcloud.authorizer import CognitoVerifier, Unauthorized, rest_claims
from cirrus.localcloud.clients import FAKE_CREDENTIALS
from cirrus.localcloud.cognito import TOKEN_PATH, ClientCredentialsIssuer, OAuthError
from cirrus.localcloud.endpoint import region_of
from cirrus.localcloud.restapi import mock_status, select_integration_response

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from cirrus.localcloud.endpoint import ClientSource
    from cirrus.localcloud.provisioner import Deployment
    from cirrus.localcloud.restapi import GatewayResponse, RestApi, Route

LOG = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES: Final = 10 * 1024 * 1024  # API Gateway's REST payload limit
INTEGRATION_TIMEOUT_SECONDS: Final = 29.0  # API Gateway's default integration timeout
DOCS_PREFIX: Final = "/api/v1"
_SWAGGER_ASSETS: Final = {
    "swagger-ui-bundle.min.js": "application/javascript",
    "swagger-ui.min.css": "text/css",
}
_SWAGGER_PACKAGE: Final = "aws_lambda_powertools.event_handler.openapi.swagger_ui"
_HOP_BY_HOP: Final = frozenset({"connection", "content-length", "transfer-encoding", "keep-alive"})
_CONTEXT_VARIABLE = re.compile(r"\$context\.([A-Za-z]+(?:\.[A-Za-z]+)*)")


# ---------------------------------------------------------------------------------------- messages


@dataclass(frozen=True)
class HttpRequest:
    """An HTTP request as the gateway sees it (header names as the client wrote them)."""

    method: str
    raw_path: str  # path and query, undecoded
    headers: Sequence[tuple[str, str]]
    body: bytes
    source_ip: str

    def header(self, name: str) -> str | None:
        """The last value of a header, matched without regard to case."""
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return values[-1] if values else None


@dataclass
class HttpResponse:
    """What the gateway answers."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


# Built-in gateway responses: (status, message, x-amzn-ErrorType), per API Gateway's defaults.
_DEFAULT_RESPONSES: Final[Mapping[str, tuple[int, str, str]]] = {
    "MISSING_AUTHENTICATION_TOKEN": (
        403,
        "Missing Authentication Token",
        "MissingAuthenticationTokenException",
    ),
    "UNAUTHORIZED": (401, "Unauthorized", "UnauthorizedException"),
    "ACCESS_DENIED": (403, "Forbidden", "AccessDeniedException"),
    "REQUEST_TOO_LARGE": (413, "Request Too Long", "RequestTooLongException"),
    "INTEGRATION_TIMEOUT": (504, "Endpoint request timed out", "InternalServerErrorException"),
    "DEFAULT_5XX": (502, "Internal server error", "InternalServerErrorException"),
}


# ---------------------------------------------------------------------------------------- routing


@dataclass
class _Node:
    literals: dict[str, _Node] = field(default_factory=dict)
    parameter: tuple[str, _Node] | None = None
    proxy: tuple[str, _Node] | None = None
    routes: dict[str, Route] = field(default_factory=dict)  # method -> route


@dataclass(frozen=True)
class RouteMatch:
    """The resource a path matched, its methods, and the path parameters taken from the path."""

    routes: Mapping[str, Route]
    path_parameters: Mapping[str, str]


class RouteTable:
    """API Gateway's resource tree: literal segments win over `{param}`, which wins over `{proxy+}`.

    Paths are matched as sent (percent-encoded); a REST API hands the handler `path` that way and
    `pathParameters` decoded.
    """

    def __init__(self, routes: Sequence[Route]) -> None:
        self._root = _Node()
        for route in routes:
            node = self._root
            for segment in _segments(route.path):
                node = self._child(node, segment)
            node.routes[route.method] = route

    @staticmethod
    def _child(node: _Node, segment: str) -> _Node:
        if segment.startswith("{") and segment.endswith("+}"):
            if node.proxy is None:
                node.proxy = (segment[1:-2], _Node())
            return node.proxy[1]
        if segment.startswith("{") and segment.endswith("}"):
            if node.parameter is None:
                node.parameter = (segment[1:-1], _Node())
            return node.parameter[1]
        return node.literals.setdefault(segment, _Node())

    def match(self, path: str) -> RouteMatch | None:
        """The most specific resource with methods matching `path`, if any."""
        return self._match(self._root, _segments(path), 0, {})

    def _match(
        self, node: _Node, segments: list[str], index: int, params: dict[str, str]
    ) -> RouteMatch | None:
        if index == len(segments):
            return RouteMatch(node.routes, params) if node.routes else None
        segment = segments[index]
        literal = node.literals.get(segment)
        if literal is not None and (found := self._match(literal, segments, index + 1, params)):
            return found
        if node.parameter is not None:
            name, child = node.parameter
            if found := self._match(child, segments, index + 1, {**params, name: unquote(segment)}):
                return found
        if node.proxy is not None and node.proxy[1].routes:
            name, child = node.proxy
            return RouteMatch(child.routes, {**params, name: unquote("/".join(segments[index:]))})
        return None


def _segments(path: str) -> list[str]:
    return [segment for segment in path.split("/") if segment]


# ---------------------------------------------------------------------------------------- the gateway


class ApiGatewayApp:
    """Serves one REST API: routing, authorization, proxy events, responses. No sockets here."""

    def __init__(
        self,
        api: RestApi,
        *,
        account_id: str,
        lambda_client: Any,
        verifier: CognitoVerifier,
        openapi_path: Path | None = None,
        token_issuer: ClientCredentialsIssuer | None = None,
    ) -> None:
        """`token_issuer` serves `POST /oauth2/token`; without one that path is no route."""
        self.api = api
        self._account_id = account_id
        self._lambda = lambda_client
        self._verifier = verifier
        self._openapi_path = openapi_path
        self._token_issuer = token_issuer
        self._routes = RouteTable(api.routes)

    def handle(self, request: HttpRequest, *, domain_name: str) -> HttpResponse:
        """The response to one request."""
        request_id = str(uuid.uuid4())
        try:
            return self._handle(request, request_id, domain_name)
        except Exception:
            LOG.exception("The local gateway failed on %s %s", request.method, request.raw_path)
            return self._gateway_response("DEFAULT_5XX", request_id, status=500)

    def _handle(self, request: HttpRequest, request_id: str, domain_name: str) -> HttpResponse:
        split = urlsplit(request.raw_path)
        if split.path == TOKEN_PATH and self._token_issuer is not None:
            return self._token(request, self._token_issuer)
        local = self._local_extra(request.method, split.path)
        if local is not None:
            return local
        if len(request.body) > MAX_PAYLOAD_BYTES:
            return self._gateway_response("REQUEST_TOO_LARGE", request_id)
        stage, path = self._stage_and_path(split.path)
        matched = self._routes.match(path)
        route = None
        if matched is not None:
            route = matched.routes.get(request.method) or matched.routes.get("ANY")
        if matched is None or route is None:
            return self._gateway_response("MISSING_AUTHENTICATION_TOKEN", request_id)
        claims: dict[str, Any] | None = None
        if route.authorizer is not None:
            authorizer = self.api.authorizers[route.authorizer]
            try:
                claims = self._verifier.verify(request.header(authorizer.header), authorizer, route.scopes)
            except Unauthorized as refusal:
                return self._gateway_response("UNAUTHORIZED", request_id, message=refusal.message)
        if route.integration.type == "mock":
            return self._mock(route, request_id)
        context = _RequestContext(
            request=request,
            request_id=request_id,
            stage=stage,
            path=path,
            route=route,
            path_parameters=matched.path_parameters,
            claims=claims,
            domain_name=domain_name,
            query=split.query,
        )
        return self._proxy(context)

    def _stage_and_path(self, path: str) -> tuple[str, str]:
        segments = _segments(path)
        if segments and segments[0] in self.api.stages:
            return segments[0], "/" + "/".join(segments[1:])
        return self.api.default_stage, "/" + "/".join(segments)

    # -- integrations

    def _mock(self, route: Route, request_id: str) -> HttpResponse:
        status = mock_status(route.integration)
        selected = select_integration_response(route.integration, status)
        response = HttpResponse(status=selected.status_code if selected else status)
        response.headers.append(("Content-Type", "application/json"))
        if selected is not None:
            response.headers += _static_headers(selected.parameters, "method.response.header.")
            response.body = selected.templates.get("application/json", "").encode("utf-8")
        response.headers.append(("x-amzn-RequestId", request_id))
        return response

    def _proxy(self, context: _RequestContext) -> HttpResponse:
        event = self._event(context)
        function_arn = context.route.integration.function_arn(self.api.stages.get(context.stage, {}))
        try:
            result = self._lambda.invoke(
                FunctionName=function_arn,
                InvocationType="RequestResponse",
                Payload=json.dumps(event).encode("utf-8"),
            )
            payload = result["Payload"].read()
        except ReadTimeoutError:
            return self._gateway_response("INTEGRATION_TIMEOUT", context.request_id)
        except (ClientError, BotoCoreError) as error:
            LOG.warning("Invoking %s failed: %s", function_arn, error)
            return self._gateway_response("DEFAULT_5XX", context.request_id, status=500)
        if result.get("FunctionError"):
            LOG.info("%s failed: %s", function_arn, payload[:2000].decode("utf-8", "replace"))
            return self._gateway_response("DEFAULT_5XX", context.request_id)
        response = _proxy_response(payload)
        if response is None:
            LOG.warning("Malformed Lambda proxy response from %s: %r", function_arn, payload[:500])
            return self._gateway_response("DEFAULT_5XX", context.request_id)
        response.headers.append(("x-amzn-RequestId", context.request_id))
        return response

    def _event(self, context: _RequestContext) -> dict[str, Any]:
        request = context.request
        headers: dict[str, str] = {}
        multi_headers: dict[str, list[str]] = {}
        extra = [
            ("X-Forwarded-For", request.source_ip),
            ("X-Forwarded-Proto", "http"),
            ("X-Amzn-Trace-Id", f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}"),
        ]
        for name, value in [*request.headers, *extra]:
            headers[name] = value
            multi_headers.setdefault(name, []).append(value)
        query: dict[str, str] = {}
        multi_query: dict[str, list[str]] = {}
        for name, value in parse_qsl(context.query, keep_blank_values=True):
            query[name] = value  # API Gateway keeps the last value of a repeated parameter
            multi_query.setdefault(name, []).append(value)
        body, is_base64 = self._body(request)
        now = time.time()
        stage_variables = self.api.stages.get(context.stage) or None
        request_context: dict[str, Any] = {
            "resourceId": hashlib.sha256(context.route.path.encode()).hexdigest()[:6],
            "resourcePath": context.route.path,
            "httpMethod": request.method,
            "extendedRequestId": base64.b64encode(uuid.uuid4().bytes[:12]).decode("ascii"),
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "path": f"/{context.stage}{context.path}",
            "accountId": self._account_id,
            "protocol": "HTTP/1.1",
            "stage": context.stage,
            "domainPrefix": context.domain_name.split(".", 1)[0],
            "requestTimeEpoch": int(now * 1000),
            "requestId": context.request_id,
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": None,
                "cognitoIdentityId": None,
                "caller": None,
                "sourceIp": request.source_ip,
                "principalOrgId": None,
                "accessKey": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": None,
                "userAgent": request.header("User-Agent"),
                "user": None,
            },
            "domainName": context.domain_name,
            "apiId": self.api.api_id,
        }
        if context.claims is not None:
            request_context["authorizer"] = {"claims": rest_claims(context.claims)}
        return {
            "resource": context.route.path,
            "path": context.path,
            "httpMethod": request.method,
            "headers": headers or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": dict(context.path_parameters) or None,
            "stageVariables": dict(stage_variables) if stage_variables else None,
            "requestContext": request_context,
            "body": body,
            "isBase64Encoded": is_base64,
        }

    def _body(self, request: HttpRequest) -> tuple[str | None, bool]:
        if not request.body:
            return None, False
        content_type = (request.header("Content-Type") or "").split(";", 1)[0].strip().lower()
        binary = any(
            fnmatch.fnmatch(content_type, pattern.lower()) for pattern in self.api.binary_media_types
        )
        if not binary:
            try:
                return request.body.decode("utf-8"), False
            except UnicodeDecodeError:
                # API Gateway would mangle undeclared binary; locally it is passed intact instead.
                pass
        return base64.b64encode(request.body).decode("ascii"), True

    # -- the gateway's own answers

    def _gateway_response(
        self, response_type: str, request_id: str, *, message: str | None = None, status: int | None = None
    ) -> HttpResponse:
        default_status, default_message, error_type = _DEFAULT_RESPONSES[response_type]
        message = message or default_message
        family = "DEFAULT_4XX" if default_status < 500 else "DEFAULT_5XX"
        custom: GatewayResponse | None = self.api.gateway_responses.get(response_type) or (
            self.api.gateway_responses.get(family)
        )
        response = HttpResponse(status=status or default_status)
        response.headers.append(("Content-Type", "application/json"))
        body = json.dumps({"message": message}, separators=(",", ":"))
        if custom is not None:
            if custom.status_code is not None:
                response.status = custom.status_code
            response.headers += _static_headers(custom.parameters, "gatewayresponse.header.")
            template = custom.templates.get("application/json")
            if template is not None:
                body = _render(
                    template,
                    {
                        "requestId": request_id,
                        "error.message": message,
                        "error.messageString": json.dumps(message),
                        "error.responseType": response_type,
                    },
                )
        response.headers += [("x-amzn-RequestId", request_id), ("x-amzn-ErrorType", error_type)]
        response.body = body.encode("utf-8")
        return response

    @staticmethod
    def _token(request: HttpRequest, issuer: ClientCredentialsIssuer) -> HttpResponse:
        """Cognito's token endpoint: JSON answers, never cached (RFC 6749 5.1)."""
        headers = [("Cache-Control", "no-store"), ("Pragma", "no-cache")]
        if request.method != "POST":
            error = OAuthError(405, "invalid_request")
            headers.append(("Allow", "POST"))
            return _plain(error.status, "application/json", json.dumps(error.body()).encode(), headers)
        try:
            answer = issuer.issue(
                request.header("Authorization"), request.header("Content-Type"), request.body
            )
        except OAuthError as error:
            if error.status == 401 and error.basic_auth:
                headers.append(("WWW-Authenticate", 'Basic realm="cognito"'))
            return _plain(error.status, "application/json", json.dumps(error.body()).encode(), headers)
        return _plain(200, "application/json;charset=UTF-8", json.dumps(answer).encode(), headers)

    def _local_extra(self, method: str, path: str) -> HttpResponse | None:
        if method not in ("GET", "HEAD") or not path.startswith(DOCS_PREFIX + "/"):
            return None
        if path == f"{DOCS_PREFIX}/openapi.json":
            if self._openapi_path is None or not self._openapi_path.is_file():
                return _plain(
                    404, "application/json", b'{"message":"docs/openapi.json has not been generated"}'
                )
            return _plain(200, "application/json", self._openapi_path.read_bytes())
        if path.rstrip("/") == f"{DOCS_PREFIX}/docs":
            return _plain(200, "text/html; charset=utf-8", _swagger_html().encode("utf-8"))
        asset = path.removeprefix(f"{DOCS_PREFIX}/docs/")
        if asset in _SWAGGER_ASSETS:
            return _plain(
                200, _SWAGGER_ASSETS[asset], resources.files(_SWAGGER_PACKAGE).joinpath(asset).read_bytes()
            )
        return None


@dataclass(frozen=True)
class _RequestContext:
    request: HttpRequest
    request_id: str
    stage: str
    path: str
    route: Route
    path_parameters: Mapping[str, str]
    claims: dict[str, Any] | None
    domain_name: str
    query: str


def _static_headers(parameters: Mapping[str, str], prefix: str) -> list[tuple[str, str]]:
    """Response parameters mapped from static values ('quoted'); mappings from the request are not."""
    headers = []
    for name, value in parameters.items():
        if name.startswith(prefix) and len(value) >= 2 and value[0] == value[-1] == "'":
            headers.append((name.removeprefix(prefix), value[1:-1]))
    return headers


def _render(template: str, context: Mapping[str, str]) -> str:
    """The `$context.*` variables of a gateway response template (the only ones it can use here)."""
    return _CONTEXT_VARIABLE.sub(lambda match: context.get(match.group(1), ""), template)


def _proxy_response(payload: bytes) -> HttpResponse | None:
    """A Lambda proxy response as HTTP, or None when API Gateway would call it malformed."""
    try:
        result = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(result, dict):
        return None
    status = result.get("statusCode")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        return None
    headers = result.get("headers") or {}
    multi = result.get("multiValueHeaders") or {}
    body = result.get("body")
    if (
        not isinstance(headers, dict)
        or not isinstance(multi, dict)
        or not (body is None or isinstance(body, str))
    ):
        return None
    response = HttpResponse(status=status)
    # API Gateway merges both maps; for a name in both, multiValueHeaders wins.
    for name, value in headers.items():
        if name not in multi and name.lower() not in _HOP_BY_HOP:
            response.headers.append((str(name), _header_text(value)))
    for name, values in multi.items():
        if name.lower() in _HOP_BY_HOP:
            continue
        for value in values if isinstance(values, list) else [values]:
            response.headers.append((str(name), _header_text(value)))
    if not any(name.lower() == "content-type" for name, _ in response.headers):
        response.headers.append(("Content-Type", "application/json"))
    if body:
        try:
            response.body = (
                base64.b64decode(body, validate=True) if result.get("isBase64Encoded") else body.encode()
            )
        except ValueError:
            return None
    return response


def _header_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _plain(
    status: int, content_type: str, body: bytes, headers: Sequence[tuple[str, str]] = ()
) -> HttpResponse:
    return HttpResponse(status=status, headers=[("Content-Type", content_type), *headers], body=body)


def _swagger_html() -> str:
    return f"""<!DOCTYPE html>
<html>
<head>
  <meta charset="utf-8">
  <title>Cirrus API (local)</title>
  <link rel="stylesheet" href="{DOCS_PREFIX}/docs/swagger-ui.min.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{DOCS_PREFIX}/docs/swagger-ui-bundle.min.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{
      url: "{DOCS_PREFIX}/openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      persistAuthorization: true,
      presets: [SwaggerUIBundle.presets.apis],
    }});
  </script>
</body>
</html>
"""


# ---------------------------------------------------------------------------------------- the server


class _GatewayServer(ThreadingHTTPServer):
    # socketserver's listen backlog is 5: a burst of clients (64 concurrent registrations) overflowed
    # it and connections were reset before their request was read. API Gateway takes such bursts.
    request_queue_size = 128
    daemon_threads = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a client reuses its connection, as with AWS
    # Headers and body leave in two writes; with Nagle's algorithm the second waits for the
    # client's delayed ACK (about 40 ms) on every kept-alive request.
    disable_nagle_algorithm = True
    server_version = "CirrusLocalGateway"
    app: ApiGatewayApp  # set on the subclass made per gateway

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = do_GET  # noqa: N815

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except ValueError as error:
            self._write(
                HttpResponse(
                    400, [("Content-Type", "application/json")], json.dumps({"message": str(error)}).encode()
                )
            )
            return
        request = HttpRequest(
            method=self.command,
            raw_path=self.path,
            headers=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
        )
        host = self.headers.get("Host") or "localhost"
        self._write(self.app.handle(request, domain_name=host))

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_PAYLOAD_BYTES:
            # Read no more than needed to answer 413; the connection is closed afterwards.
            self.close_connection = True
            return b"\0" * (MAX_PAYLOAD_BYTES + 1)
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size = int(self.rfile.readline(64).split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline(64)
                return b"".join(chunks)
            total += size
            if total > MAX_PAYLOAD_BYTES:
                self.close_connection = True
                raise ValueError("Request body too large")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(64)

    def _write(self, response: HttpResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        LOG.debug("%s - " + format, self.address_string(), *args)


class LocalGateway:
    """The deployed REST API on 127.0.0.1, served on a thread: `start()`, `url`, `stop()`."""

    def __init__(
        self,
        deployment: Deployment,
        emulator: ClientSource,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_logical_id: str | None = None,
        openapi_path: Path | None = None,
    ) -> None:
        """Serve `deployment`'s REST API (the one named, or its only one) via `emulator`'s Lambda.

        `openapi_path` defaults to docs/openapi.json beside the deployed template.
        """
        self._deployment = deployment
        self._emulator = emulator
        self._host = host
        self._port = port
        self._api = deployment.api(api_logical_id)
        if openapi_path is None and deployment.template_path is not None:
            openapi_path = deployment.template_path.parent / "docs" / "openapi.json"
        self._openapi_path = openapi_path
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The gateway's base URL (the default stage is served without a prefix too)."""
        if self._server is None:
            raise RuntimeError("the gateway is not running: call start() first")
        return f"http://{self._host}:{self._server.server_port}"

    @property
    def stage_url(self) -> str:
        """The base URL with the default stage, as API Gateway's invoke URL reads."""
        return f"{self.url}/{self._api.default_stage}"

    def start(self) -> LocalGateway:
        """Open the socket and serve on a daemon thread; calling it again does nothing."""
        if self._server is not None:
            return self
        app = ApiGatewayApp(
            self._api,
            account_id=self._deployment.account_id,
            lambda_client=_lambda_client(self._emulator),
            verifier=CognitoVerifier(self._emulator.endpoint_url, self._emulator.client("cognito-idp")),
            openapi_path=self._openapi_path,
            token_issuer=ClientCredentialsIssuer(
                self._emulator.client("cognito-idp"),
                [arn for authorizer in self._api.authorizers.values() for arn in authorizer.user_pool_arns],
            ),
        )
        handler = type("GatewayHandler", (_Handler,), {"app": app})
        server = _GatewayServer((self._host, self._port), handler)
        self._server = server
        # serve_forever notices shutdown() only between polls: a short poll keeps stop() quick.
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="cirrus-local-gateway",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket; idempotent."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> LocalGateway:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _lambda_client(emulator: ClientSource) -> Any:
    """A Lambda client that waits as long as API Gateway does and never retries an invocation."""
    return boto3.session.Session().client(
        "lambda",
        endpoint_url=emulator.endpoint_url,
        region_name=region_of(emulator),
        aws_access_key_id=FAKE_CREDENTIALS["aws_access_key_id"],
        aws_secret_access_key=FAKE_CREDENTIALS["aws_secret_access_key"],
        aws_session_token=FAKE_CREDENTIALS["aws_session_token"],
        config=Config(
            read_timeout=INTEGRATION_TIMEOUT_SECONDS,
            connect_timeout=5,
            retries={"total_max_attempts": 1},
            max_pool_connections=32,
        ),
    )
