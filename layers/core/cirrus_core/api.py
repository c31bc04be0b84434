"""API plumbing shared by every HTTP function: the resolver factory, error bodies, the entry point.

Every route function builds its resolver with `make_resolver()` and exports
`lambda_handler = entrypoint(app)`. Authentication (claims present), the body-size bound, the
caller's rate limit (429 with Retry-After) and the body's top-level shape (an object, never an
array, which Powertools would cut down to its first element) are checked before Powertools
validates the body, so an anonymous, oversized or over-limit request never reaches validation, and
the error body has one shape everywhere.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from cirrus_core.caller import Caller
from cirrus_core.errors import (
    AccessDenied,
    CirrusError,
    MalformedJson,
    PayloadTooLarge,
    RouteNotFound,
    UnprocessableEntity,
)
from cirrus_core.observability import logger, metrics, tracer
from cirrus_core.principal import principal_from_claims
from cirrus_core.ratelimit import check_rate_limit
from cirrus_core.settings import get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

LambdaHandler = Callable[[dict[str, Any], "LambdaContext"], dict[str, Any]]

API_PREFIX = "/api/v1"
ALLOWED_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key", "X-Correlation-Id"]
_CALLER_KEY = "caller"


def error_body(error: CirrusError, request_id: str | None) -> dict[str, Any]:
    """The one error shape of the API."""
    return {
        "error": {"code": error.code, "message": error.message, "details": error.details},
        "request_id": request_id,
    }


def _request_id(event: dict[str, Any]) -> str | None:
    context = event.get("requestContext") or {}
    request_id = context.get("requestId")
    return str(request_id) if request_id else None


def _validation_details(errors: list[Any]) -> list[dict[str, Any]]:
    details = []
    for error in errors:
        location = ".".join(str(part) for part in error.get("loc", ()))
        details.append({"field": location, "message": error.get("msg", ""), "type": error.get("type", "")})
    return details


def make_resolver() -> APIGatewayRestResolver:
    """A REST resolver with validation, CORS and Cirrus's error mapping."""
    settings = get_settings()
    app = APIGatewayRestResolver(
        enable_validation=True,
        cors=CORSConfig(
            allow_origin=settings.cors_allow_origin,
            allow_headers=ALLOWED_HEADERS,
            expose_headers=["X-Correlation-Id"],
            max_age=600,
        ),
    )

    def render(error: CirrusError) -> Response[Any]:
        return Response(
            status_code=error.status,
            content_type=content_types.APPLICATION_JSON,
            body=error_body(error, _request_id(app.current_event.raw_event)),
            headers=error.headers or None,
        )

    @app.exception_handler(CirrusError)  # type: ignore[untyped-decorator]  # Powertools leaves it untyped
    def handle_domain_error(error: CirrusError) -> Response[Any]:
        logger.info("Request refused", extra={"code": error.code, "status": error.status})
        if isinstance(error, AccessDenied):
            _audit_denial(app, error)
        return render(error)

    @app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
    def handle_validation_error(error: RequestValidationError) -> Response[Any]:
        errors = list(error.errors())
        if any(item.get("type") == "json_invalid" for item in errors):
            return render(MalformedJson("The request body is not valid JSON.", _validation_details(errors)))
        return render(UnprocessableEntity("The request is invalid.", _validation_details(errors)))

    @app.not_found
    def handle_not_found(_: Exception) -> Response[Any]:
        return render(RouteNotFound("No route matches this request."))

    return app


def _audit_denial(app: APIGatewayRestResolver, error: AccessDenied) -> None:
    """Record a refused call in the audit trail, wherever in the request the policies refused it."""
    caller = app.context.get(_CALLER_KEY)
    if not isinstance(caller, Caller) or not get_settings().audit_table:
        return
    # Imported here: a refusal is the rare path, and a handler whose work records nothing in the audit
    # trail (its service imports none of it) should not build the audit models at every cold start.
    from cirrus_core.audit.entries import entry_for
    from cirrus_core.audit.models import AuditCategory, AuditDecision
    from cirrus_core.audit.wiring import audit_trail

    entry = entry_for(
        caller,
        error.action,
        app.current_event.path,
        AuditCategory.DENIAL,
        datetime.now(UTC),
        decision=AuditDecision.DENY,
        policies=error.policies,
    )
    try:
        audit_trail().append(entry)
    except Exception:  # the answer is a refusal either way; a lost record must not turn it into a 500
        logger.exception("Could not record a denial in the audit trail", extra={"action": error.action})
        metrics.add_metric(name="AuditDenialNotRecorded", unit=MetricUnit.Count, value=1)


def request_caller(app: APIGatewayRestResolver) -> Caller:
    """The caller of the request being handled (authenticated by the entry point before routing)."""
    caller = app.context.get(_CALLER_KEY)
    if not isinstance(caller, Caller):  # pragma: no cover - the entry point always sets it
        raise RuntimeError("entrypoint() did not run for this request")
    return caller


def _early_refusal(error: CirrusError, event: dict[str, Any]) -> dict[str, Any]:
    settings = get_settings()
    return {
        "statusCode": error.status,
        "headers": {
            "Content-Type": content_types.APPLICATION_JSON,
            "Access-Control-Allow-Origin": settings.cors_allow_origin,
            **error.headers,
        },
        "body": json.dumps(error_body(error, _request_id(event))),
        "isBase64Encoded": False,
    }


def _body_size(event: dict[str, Any]) -> int:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return len(body) * 3 // 4
    return len(body.encode("utf-8"))


def _check_body_is_not_an_array(event: dict[str, Any]) -> None:
    """Refuse a JSON array body: Powertools would validate its first element and drop the rest."""
    body = event.get("body")
    if not body:
        return
    try:
        text = base64.b64decode(body).decode("utf-8") if event.get("isBase64Encoded") else body
        document = json.loads(text)
    except ValueError:
        return  # not JSON: Powertools reports it as malformed_json, with its details
    if isinstance(document, list):
        raise UnprocessableEntity(
            "The request body must be a JSON object.",
            [{"field": "body", "message": "Input should be an object, not an array", "type": "object_type"}],
        )


def _handle(
    app: APIGatewayRestResolver,
    event: dict[str, Any],
    context: LambdaContext,
    *,
    idempotent: bool,
    authenticated: bool,
    json_body: bool = True,
) -> dict[str, Any]:
    limit = get_settings().max_body_bytes
    if _body_size(event) > limit:
        return _early_refusal(PayloadTooLarge(f"The request body exceeds {limit} bytes."), event)
    caller: Caller | None = None
    if authenticated:
        claims = ((event.get("requestContext") or {}).get("authorizer") or {}).get("claims")
        try:
            principal = principal_from_claims(claims)
            # Counted before anything else runs, so a caller over its limit costs one DynamoDB call.
            check_rate_limit(principal.sub)
            if json_body:
                _check_body_is_not_an_array(event)
        except CirrusError as error:
            return _early_refusal(error, event)
        logger.append_keys(actor=principal.actor)
        request_context = event.get("requestContext") or {}
        caller = Caller(
            principal,
            request_id=request_context.get("requestId"),
            source_ip=(request_context.get("identity") or {}).get("sourceIp"),
        )
    if idempotent:
        from cirrus_core.idempotency import register_context

        register_context(context)
    if caller is not None:
        app.context[_CALLER_KEY] = caller
    return app.resolve(event, context)


def entrypoint(
    app: APIGatewayRestResolver,
    *,
    idempotent: bool = False,
    authenticated: bool = True,
    json_body: bool = True,
) -> LambdaHandler:
    """The Lambda handler for a resolver: observability, authentication, size bound, routing.

    `idempotent` routes honour an Idempotency-Key header; their records expire with the invocation.
    `authenticated=False` is for the few routes API Gateway serves without an authorizer (webhooks,
    which prove themselves with a signature over the body): no claims are required and no caller is
    set, so `request_caller` is not available; no per-caller rate limit is counted (there is no
    caller to count); and the body reaches the route untouched, which must authenticate the request
    itself before it reads the body. The body-size bound still applies.
    `json_body=False` is for routes whose body is not a request document but a payload they pass on
    (predictions: JSON arrays and CSV are fine there), so it is not checked for a top-level array.
    """

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        response = _handle(
            app, event, context, idempotent=idempotent, authenticated=authenticated, json_body=json_body
        )
        metrics.add_metric(name=f"Http{response['statusCode'] // 100}xx", unit=MetricUnit.Count, value=1)
        return response

    return handler
