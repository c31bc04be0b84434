"""The local API Gateway for WebSocket APIs: the live feed on 127.0.0.1, with the same handlers.

Everything comes from the deployment (`AWS::ApiGatewayV2::*`, see `resources_websocket`): the
route selection expression, the routes with their Lambda proxy integrations and route responses,
the stage. Each route's function is invoked with `lambda.invoke` against the emulator (so the
runtime hook, logs and timeouts apply), with API Gateway's WebSocket event shape:
`requestContext.routeKey`, `eventType` (CONNECT, MESSAGE, DISCONNECT), `connectionId`,
`domainName`, `stage`, `apiId`, `requestId`, `messageId`, `connectedAt`; headers and the query
string on `$connect`; `body` on messages; `disconnectStatusCode` and `disconnectReason` on
`$disconnect`.

- The socket is served at `ws://127.0.0.1:<port>/<stage>` (AWS: `wss://<api>.execute-api.<region>.amazonaws.com/<stage>`).
- `$connect` answering a status other than 2xx refuses the handshake with that status (and its body).
- A message is routed by the route selection expression (`$request.body.<path>`), else `$default`;
  with no route to take, the client gets API Gateway's `{"message": "Forbidden", ...}`. A route with
  a route response sends the function's `body` back on the socket; a failed function sends
  `{"message": "Internal server error", ...}`.
- The management API (`POST|GET|DELETE /<stage>/@connections/<id>`, as `apigatewaymanagementapi`
  calls it) listens on a second port: the `websockets` server answers GET requests only. Unknown
  (closed) connections answer 410 `GoneException`, as in AWS. `point_functions_here()` sets every
  function variable holding the API's AWS callback URL (`https://<api>.execute-api.<region>.amazonaws.com/<stage>`)
  to this local endpoint, so the publisher's code is the same as on AWS.

Local differences: no TLS, no idle timeout (10 minutes on AWS) or 2-hour limit, no throttling, and
the management API checks no SigV4 signature (it listens on loopback only).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, unquote, urlsplit

from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Response
from websockets.sync.server import Server, ServerConnection, serve

from cirrus.localcloud.clients import new_client
from cirrus.localcloud.endpoint import region_of

if TYPE_CHECKING:
    from collections.abc import Mapping

    from websockets.http11 import Request

    from cirrus.localcloud.endpoint import ClientSource
    from cirrus.localcloud.provisioner import Deployment

LOG = logging.getLogger(__name__)

MAX_MESSAGE_BYTES: Final = 128 * 1024  # API Gateway's WebSocket message limit
DEFAULT_ROUTE: Final = "$default"
_LAMBDA_URI = re.compile(r"^arn:[^:]+:apigateway:[^:]*:lambda:path/[^/]+/functions/(?P<arn>.+)/invocations$")
_BODY_EXPRESSION = re.compile(r"^\$request\.body\.(?P<path>[A-Za-z0-9_.-]+)$")
_CONNECTIONS_PATH = re.compile(r"^/(?P<stage>[^/]+)/@connections/(?P<id>[^/]+)$")


# ---------------------------------------------------------------------------------------- the API


@dataclass(frozen=True)
class WebSocketRoute:
    """A route key, the function its Lambda proxy integration invokes, and whether it answers."""

    key: str
    function_arn: str
    responds: bool = False  # a route response sends the function's body back on the socket


@dataclass(frozen=True)
class WebSocketApi:
    """A deployed WebSocket API, as the local server serves it."""

    logical_id: str
    api_id: str
    stage: str
    route_selection_expression: str
    routes: Mapping[str, WebSocketRoute] = field(default_factory=dict)

    def aws_callback_url(self, region: str) -> str:
        """The management API's endpoint on AWS (what the template hands the functions)."""
        return f"https://{self.api_id}.execute-api.{region}.amazonaws.com/{self.stage}"

    def route_key(self, body: str) -> str:
        """The route a message takes: the selection expression's value when a route has it, else $default."""
        match = _BODY_EXPRESSION.match(self.route_selection_expression)
        if match is not None:
            try:
                value: Any = json.loads(body)
            except ValueError:
                value = None
            for part in match["path"].split("."):
                value = value.get(part) if isinstance(value, dict) else None
            if isinstance(value, str) and value in self.routes:
                return value
        return DEFAULT_ROUTE


def websocket_apis(deployment: Deployment) -> list[WebSocketApi]:
    """The deployment's WebSocket APIs, with their routes and (last declared) stage."""
    resources = deployment.resources.values()
    integrations = {
        res.physical_id: res.properties
        for res in resources
        if res.type_name == "AWS::ApiGatewayV2::Integration"
    }
    responding = {
        str(res.properties.get("RouteId"))
        for res in resources
        if res.type_name == "AWS::ApiGatewayV2::RouteResponse"
    }
    apis = []
    for api in deployment.of_type("AWS::ApiGatewayV2::Api"):
        routes = {}
        for route in deployment.of_type("AWS::ApiGatewayV2::Route"):
            if str(route.properties.get("ApiId")) != api.physical_id:
                continue
            target = str(route.properties.get("Target", "")).removeprefix("integrations/")
            uri = str(integrations.get(target, {}).get("IntegrationUri", ""))
            found = _LAMBDA_URI.match(uri)
            if found is None:
                continue
            key = str(route.properties["RouteKey"])
            routes[key] = WebSocketRoute(key, found["arn"], responds=route.physical_id in responding)
        stages = [
            str(stage.properties["StageName"])
            for stage in deployment.of_type("AWS::ApiGatewayV2::Stage")
            if str(stage.properties.get("ApiId")) == api.physical_id
        ]
        if not stages:
            continue
        apis.append(
            WebSocketApi(
                logical_id=api.logical_id,
                api_id=api.physical_id,
                stage=stages[-1],
                route_selection_expression=str(api.properties.get("RouteSelectionExpression", "")),
                routes=routes,
            )
        )
    return apis


# ---------------------------------------------------------------------------------------- events


def _now_fields(connected_at_ms: int) -> dict[str, Any]:
    now = time.time()
    return {
        "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
        "requestTimeEpoch": int(now * 1000),
        "connectedAt": connected_at_ms,
        "extendedRequestId": base64.b64encode(uuid.uuid4().bytes[:12]).decode("ascii"),
        "requestId": base64.b64encode(uuid.uuid4().bytes[:12]).decode("ascii"),
    }


@dataclass
class _Socket:
    connection_id: str
    connected_at_ms: int
    source_ip: str
    user_agent: str | None
    headers: dict[str, str]
    multi_headers: dict[str, list[str]]
    connection: ServerConnection | None = None


def _request_context(
    api: WebSocketApi, socket: _Socket, route_key: str, event_type: str, domain: str
) -> dict[str, Any]:
    return {
        "routeKey": route_key,
        "eventType": event_type,
        "messageDirection": "IN",
        "stage": api.stage,
        "domainName": domain,
        "apiId": api.api_id,
        "connectionId": socket.connection_id,
        "identity": {"sourceIp": socket.source_ip, "userAgent": socket.user_agent},
        **_now_fields(socket.connected_at_ms),
    }


# ---------------------------------------------------------------------------------------- the server


class LocalWebSocketServer:
    """One WebSocket API on 127.0.0.1: the socket, the management API, the Lambda invocations."""

    def __init__(
        self,
        deployment: Deployment,
        emulator: ClientSource,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        management_port: int = 0,
        api: WebSocketApi | None = None,
    ) -> None:
        """Serve `api` (default: the deployment's only WebSocket API) through `emulator`'s Lambda."""
        if api is None:
            apis = websocket_apis(deployment)
            if len(apis) != 1:
                raise ValueError(f"Stack {deployment.stack_name} has {len(apis)} WebSocket APIs; name one")
            api = apis[0]
        self.api = api
        self._deployment = deployment
        self._emulator = emulator
        self._host = host
        self._port = port
        self._management_port = management_port
        self._lambda = new_client("lambda", emulator.endpoint_url, region_of(emulator))
        self._sockets: dict[str, _Socket] = {}
        self._lock = threading.Lock()
        self._server: Server | None = None
        self._management: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    # -- lifecycle

    @property
    def url(self) -> str:
        """Where clients connect: ws://127.0.0.1:<port>/<stage>."""
        if self._server is None:
            raise RuntimeError("the WebSocket server is not running: call start() first")
        return f"ws://{self._host}:{self._server.socket.getsockname()[1]}/{self.api.stage}"

    @property
    def management_url(self) -> str:
        """The management API's endpoint (the callback URL): http://127.0.0.1:<port>/<stage>."""
        if self._management is None:
            raise RuntimeError("the WebSocket server is not running: call start() first")
        return f"http://{self._host}:{self._management.server_port}/{self.api.stage}"

    def start(self) -> LocalWebSocketServer:
        """Open both sockets and serve on daemon threads; calling it again does nothing."""
        if self._server is not None:
            return self
        self._server = serve(
            self._session,
            self._host,
            self._port,
            process_request=self._admit,
            max_size=MAX_MESSAGE_BYTES,
            compression=None,
        )
        handler = type("ManagementHandler", (_ManagementHandler,), {"owner": self})
        self._management = ThreadingHTTPServer((self._host, self._management_port), handler)
        self._management.daemon_threads = True
        management = self._management
        for name, target in (
            ("cirrus-local-websocket", self._server.serve_forever),
            # serve_forever notices shutdown() only between polls: a short poll keeps stop() quick.
            ("cirrus-local-websocket-management", lambda: management.serve_forever(poll_interval=0.05)),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Close every socket (1001 going away), stop serving; idempotent."""
        if self._server is None:
            return
        with self._lock:
            open_sockets = [socket.connection for socket in self._sockets.values() if socket.connection]
        for connection in open_sockets:
            connection.close(1001, "The local cloud is stopping")
        self._server.shutdown()
        if self._management is not None:
            self._management.shutdown()
            self._management.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._server = None
        self._management = None
        self._threads = []

    def point_functions_here(self) -> list[str]:
        """Point every function variable holding the API's AWS callback URL at the local management
        API (the function's code stays the same); returns the functions changed."""
        aws_url = self.api.aws_callback_url(self._deployment.region)
        changed = []
        for function in self._deployment.of_type("AWS::Lambda::Function"):
            variables = dict(function.properties.get("Environment", {}).get("Variables", {}))
            names = [name for name, value in variables.items() if value == aws_url]
            if not names:
                continue
            variables.update(dict.fromkeys(names, self.management_url))
            self._lambda.update_function_configuration(
                FunctionName=function.physical_id, Environment={"Variables": variables}
            )
            changed.append(function.physical_id)
        return changed

    # -- the handshake: $connect

    def _admit(self, connection: ServerConnection, request: Request) -> Response | None:
        split = urlsplit(request.path)
        if split.path.rstrip("/") != f"/{self.api.stage}":
            return _response(403, {"message": "Forbidden"})
        headers: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        for name, value in request.headers.raw_items():
            headers[name] = value
            multi.setdefault(name, []).append(value)
        socket = _Socket(
            connection_id=_connection_id(),
            connected_at_ms=int(time.time() * 1000),
            source_ip=str(connection.remote_address[0]),
            user_agent=request.headers.get("User-Agent"),
            headers=headers,
            multi_headers=multi,
        )
        query: dict[str, str] = {}
        multi_query: dict[str, list[str]] = {}
        for name, value in parse_qsl(split.query, keep_blank_values=True):
            query[name] = value
            multi_query.setdefault(name, []).append(value)
        route = self.api.routes.get("$connect")
        if route is not None:
            event = {
                "headers": headers,
                "multiValueHeaders": multi,
                "queryStringParameters": query or None,
                "multiValueQueryStringParameters": multi_query or None,
                "requestContext": _request_context(
                    self.api, socket, "$connect", "CONNECT", request.headers.get("Host", "localhost")
                ),
                "isBase64Encoded": False,
            }
            outcome = self._invoke(route, event)
            if outcome is None:
                return _response(500, {"message": "Internal server error"})
            status, body = outcome
            if not 200 <= status < 300:
                return _response(status, body or {"message": "Forbidden"})
        socket.connection = connection
        with self._lock:
            self._sockets[socket.connection_id] = socket
        connection.cirrus_socket = socket  # type: ignore[attr-defined]  # read back in _session
        return None

    # -- messages and $disconnect

    def _session(self, connection: ServerConnection) -> None:
        socket: _Socket = connection.cirrus_socket  # type: ignore[attr-defined]
        domain = connection.request.headers.get("Host", "localhost") if connection.request else "localhost"
        close_code, reason = 1005, ""
        try:
            # A client that goes away mid-conversation ends the session as a close does: $disconnect.
            with contextlib.suppress(ConnectionClosed):
                for message in connection:
                    text = message if isinstance(message, str) else message.decode("utf-8", "replace")
                    self._message(socket, connection, text, domain)
        finally:
            if connection.close_code is not None:
                close_code, reason = connection.close_code, connection.close_reason or ""
            with self._lock:
                self._sockets.pop(socket.connection_id, None)
            route = self.api.routes.get("$disconnect")
            if route is not None:
                context = _request_context(self.api, socket, "$disconnect", "DISCONNECT", domain)
                context.update({"disconnectStatusCode": close_code, "disconnectReason": reason})
                event = {
                    "headers": socket.headers,
                    "multiValueHeaders": socket.multi_headers,
                    "requestContext": context,
                    "isBase64Encoded": False,
                }
                self._invoke(route, event)

    def _message(self, socket: _Socket, connection: ServerConnection, text: str, domain: str) -> None:
        key = self.api.route_key(text)
        route = self.api.routes.get(key)
        context = _request_context(self.api, socket, key, "MESSAGE", domain)
        context["messageId"] = base64.b64encode(uuid.uuid4().bytes[:12]).decode("ascii")
        if route is None:
            # API Gateway's answer when no route matches and there is no $default route.
            connection.send(
                json.dumps(
                    {
                        "message": "Forbidden",
                        "connectionId": socket.connection_id,
                        "requestId": context["requestId"],
                    }
                )
            )
            return
        outcome = self._invoke(route, {"requestContext": context, "body": text, "isBase64Encoded": False})
        if outcome is None:
            connection.send(
                json.dumps(
                    {
                        "message": "Internal server error",
                        "connectionId": socket.connection_id,
                        "requestId": context["requestId"],
                    }
                )
            )
            return
        _, body = outcome
        if route.responds and body:
            connection.send(body)

    def _invoke(self, route: WebSocketRoute, event: dict[str, Any]) -> tuple[int, str] | None:
        """(status, body) of the function's proxy response; None when it failed or answered nonsense."""
        try:
            result = self._lambda.invoke(
                FunctionName=route.function_arn,
                InvocationType="RequestResponse",
                Payload=json.dumps(event).encode("utf-8"),
            )
            payload = result["Payload"].read()
        except Exception:
            LOG.exception("Invoking %s for %s failed", route.function_arn, route.key)
            return None
        if result.get("FunctionError"):
            LOG.info("%s failed on %s: %s", route.function_arn, route.key, payload[:2000])
            return None
        try:
            answer = json.loads(payload) if payload else {}
        except ValueError:
            return None
        if not isinstance(answer, dict):
            return 200, ""
        status = answer.get("statusCode", 200)
        body = answer.get("body")
        if isinstance(body, str) and answer.get("isBase64Encoded"):
            body = base64.b64decode(body).decode("utf-8", "replace")
        return (int(status) if str(status).isdigit() else 500), (body if isinstance(body, str) else "")

    # -- the management API

    def connection_ids(self) -> set[str]:
        """The connections open now."""
        with self._lock:
            return set(self._sockets)

    def post(self, connection_id: str, data: bytes) -> bool:
        """Send `data` to a connection; False when it is gone."""
        with self._lock:
            socket = self._sockets.get(connection_id)
        if socket is None or socket.connection is None:
            return False
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            socket.connection.send(data)
        else:
            socket.connection.send(text)
        return True

    def describe(self, connection_id: str) -> dict[str, Any] | None:
        """GetConnection's answer, or None when the connection is gone."""
        with self._lock:
            socket = self._sockets.get(connection_id)
        if socket is None:
            return None
        connected = datetime.fromtimestamp(socket.connected_at_ms / 1000, UTC)
        return {
            "ConnectedAt": connected.isoformat(),
            "Identity": {"SourceIp": socket.source_ip, "UserAgent": socket.user_agent or ""},
            "LastActiveAt": connected.isoformat(),
        }

    def disconnect(self, connection_id: str) -> bool:
        """DeleteConnection: close the socket; False when it is gone."""
        with self._lock:
            socket = self._sockets.get(connection_id)
        if socket is None or socket.connection is None:
            return False
        socket.connection.close(1000, "Closed by the server")
        return True

    def __enter__(self) -> LocalWebSocketServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _connection_id() -> str:
    """An id shaped like API Gateway's (12 random bytes, base64: 16 characters ending in '=')."""
    return base64.b64encode(secrets.token_bytes(11)).decode("ascii")


def _response(status: int, body: Any) -> Response:
    """A handshake refusal: the status and the JSON body."""
    text = body if isinstance(body, str) else json.dumps(body)
    payload = text.encode("utf-8")
    headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    reason = {401: "Unauthorized", 403: "Forbidden", 500: "Internal Server Error"}.get(status, "Refused")
    return Response(status, reason, headers, payload)


class _ManagementHandler(BaseHTTPRequestHandler):
    """`POST|GET|DELETE /<stage>/@connections/<id>`: API Gateway's management API for the functions."""

    protocol_version = "HTTP/1.1"
    owner: LocalWebSocketServer  # set on the subclass made per server

    def do_POST(self) -> None:
        connection_id = self._connection_id()
        if connection_id is None:
            return
        data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if len(data) > MAX_MESSAGE_BYTES:
            self._answer(413, {"message": "Request Too Long"}, "PayloadTooLargeException")
        elif self.owner.post(connection_id, data):
            self._answer(200, None)
        else:
            self._gone()

    def do_GET(self) -> None:
        connection_id = self._connection_id()
        if connection_id is None:
            return
        described = self.owner.describe(connection_id)
        if described is None:
            self._gone()
        else:
            self._answer(200, described)

    def do_DELETE(self) -> None:
        connection_id = self._connection_id()
        if connection_id is None:
            return
        if self.owner.disconnect(connection_id):
            self._answer(204, None)
        else:
            self._gone()

    def _connection_id(self) -> str | None:
        match = _CONNECTIONS_PATH.match(urlsplit(self.path).path)
        if match is None or match["stage"] != self.owner.api.stage:
            self._answer(403, {"message": "Forbidden"}, "ForbiddenException")
            return None
        return unquote(match["id"])

    def _gone(self) -> None:
        self._answer(410, {"message": "Gone"}, "GoneException")

    def _answer(self, status: int, body: Any, error_type: str | None = None) -> None:
        payload = b"" if body is None else json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        if error_type is not None:
            self.send_header("x-amzn-ErrorType", error_type)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        LOG.debug("%s - " + format, self.address_string(), *args)
