"""The API's OpenAPI 3.1 document, generated from the handlers the template routes to.

Each handler module owns a Powertools resolver whose schema carries the routes' pydantic models and
parameter constraints; this module merges those schemas into one document and adds what no single
handler knows: the servers, the Cognito security scheme and the tag descriptions.

    python -m cirrus.openapi            # write docs/openapi.json
    python -m cirrus.openapi --check    # exit 1 when docs/openapi.json is stale
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver
from aws_lambda_powertools.event_handler.openapi.exceptions import OpenAPIMergeError
from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge
from aws_lambda_powertools.event_handler.openapi.models import (
    HTTPBearer,
    OpenAPI,
    Server,
    ServerVariable,
    Tag,
)

import cirrus
from cirrus.template import REPO_ROOT, TEMPLATE_PATH, ApiRoute, api_routes, load_template

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import ModuleType

DOCUMENT_PATH = REPO_ROOT / "docs" / "openapi.json"
SECURITY_SCHEME = "cognito"
CI_SECURITY_SCHEME = "ciClientCredentials"

TITLE = "Cirrus API"
DESCRIPTION = """\
Cirrus, an open-source serverless MLOps platform for AWS: the model registry and the model lifecycle.

Every call needs a Cognito ID token: `Authorization: Bearer <token>`. Errors share one body,
`{"error": {"code", "message", "details"}, "request_id"}`. Lists are paginated with `limit`
(at most 100) and the opaque `next_token` of the previous page. Creating calls accept an
`Idempotency-Key` header: a retry with the same key returns the first answer.
"""

TAGS = (
    Tag(name="registry", description="Models and their numbered versions."),
    Tag(name="approval", description="Review requests and approval decisions on versions."),
    Tag(name="aliases", description="Environment aliases: promotion, rollback and their history."),
    Tag(name="audit", description="The hash-chained audit trail: records and chain verification."),
    Tag(name="policies", description="Cedar authorization policies: list, store, delete and evaluate."),
    Tag(name="pipelines", description="Pipeline definitions, runs, schedules and CI/CD triggers."),
    Tag(name="serving", description="Predictions from deployed models, and batch transform jobs."),
    Tag(
        name="monitoring",
        description="Drift baselines and configs, drift alert rules, drift monitor runs and their reports.",
    ),
    Tag(
        name="deployments",
        description="Versions on endpoints: deploy with smoke tests and roll back, undeploy.",
    ),
    Tag(
        name="data",
        description=(
            "Data sources, versioned dataset snapshots, transformations, and the feature store with "
            "point-in-time training sets."
        ),
    ),
)


def handler_module(route: ApiRoute, root: Path = REPO_ROOT) -> ModuleType:
    """Import the module that serves a route, and make sure it is the file the template names."""
    module = importlib.import_module(route.module_name)
    expected = (root / route.module_file).resolve()
    # A module of the same dotted name found elsewhere on sys.path would document the wrong code.
    if module.__file__ is None or Path(module.__file__).resolve() != expected:
        raise ImportError(f"{route.module_name} was loaded from {module.__file__}, not {expected}")
    return module


def handler_resolver(module: ModuleType) -> ApiGatewayResolver:
    """The resolver a handler module exposes as `app`."""
    app = getattr(module, "app", None)
    if not isinstance(app, ApiGatewayResolver):
        raise TypeError(f"{module.__name__}.app is not a Powertools API Gateway resolver")
    return app


def handler_schemas(routes: Sequence[ApiRoute], root: Path = REPO_ROOT) -> list[dict[str, Any]]:
    """The OpenAPI schema of each distinct handler module, as JSON-ready dicts, in route order."""
    modules = {route.module_name: handler_module(route, root) for route in routes}
    schemas = (handler_resolver(module).get_openapi_schema() for module in modules.values())
    return [schema.model_dump(mode="json", by_alias=True, exclude_none=True) for schema in schemas]


def check_components_agree(schemas: Sequence[dict[str, Any]]) -> None:
    """Refuse two handlers defining one component name differently.

    OpenAPIMerge's conflict strategy covers operations only; for components the last definition
    would silently win, documenting one handler's model under another handler's route.
    """
    seen: dict[tuple[str, str], Any] = {}
    for schema in schemas:
        for kind, members in schema.get("components", {}).items():
            for name, definition in members.items():
                if seen.setdefault((kind, name), definition) != definition:
                    raise OpenAPIMergeError(f"components.{kind}.{name} differs between handlers")


def stage_server(template: dict[str, Any]) -> Server:
    """The API's base URL relative to the host: the stage, whose values the template allows."""
    stage = template["Parameters"]["Stage"]
    return Server(
        url="/{stage}",
        description="The API Gateway stage (the local cloud serves the same paths).",
        variables={"stage": ServerVariable(default=stage["Default"], enum=list(stage["AllowedValues"]))},
    )


def cognito_scheme() -> HTTPBearer:
    """API Gateway's Cognito authorizer: a bearer JWT, the ID token of the user pool."""
    return HTTPBearer(
        bearerFormat="JWT",
        description="A Cognito user pool ID token, checked by API Gateway's Cognito authorizer.",
    )


def build_document(template_path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The merged OpenAPI document of every handler the template routes to."""
    template = load_template(template_path)
    schemas = handler_schemas(api_routes(template), root=template_path.parent)
    check_components_agree(schemas)
    merge = OpenAPIMerge(
        title=TITLE,
        version=cirrus.__version__,
        description=DESCRIPTION,
        tags=list(TAGS),
        servers=[stage_server(template)],
        security_schemes={SECURITY_SCHEME: cognito_scheme()},
        security=[{SECURITY_SCHEME: []}],
        on_conflict="error",
    )
    for schema in schemas:
        merge.add_schema(schema)
    # The merge keeps our config objects as pydantic models; validating the whole document against
    # Powertools' OpenAPI model both checks its shape and turns it into plain JSON values.
    merged = OpenAPI.model_validate(merge.get_openapi_schema())
    document = merged.model_dump(mode="json", by_alias=True, exclude_none=True)
    apply_route_security(document, api_routes(template))
    return document


def apply_route_security(document: dict[str, Any], routes: Sequence[ApiRoute]) -> None:
    """Document the routes that do not take an ID token: unauthenticated ones and scoped ones.

    Powertools drops an operation's empty `security`, so the template's `Auth` is applied here.
    """
    for route in routes:
        operation = document["paths"][route.path][route.method]
        if route.authorizer == "NONE":
            operation["security"] = []
        elif route.scopes:
            operation["security"] = [{CI_SECURITY_SCHEME: list(route.scopes)}]
            document["components"]["securitySchemes"][CI_SECURITY_SCHEME] = ci_client_scheme(routes)


def ci_client_scheme(routes: Sequence[ApiRoute]) -> dict[str, Any]:
    """OAuth client credentials of the CI app client, with every scope a route demands."""
    scopes = sorted({scope for route in routes for scope in route.scopes})
    return {
        "type": "oauth2",
        "description": (
            "Machine-to-machine access for CI systems: an access token from the user pool's token "
            "endpoint (client credentials of the CI app client), on the /api/v1/ci/ routes."
        ),
        "flows": {
            "clientCredentials": {
                "tokenUrl": "https://{domain}.auth.{region}.amazoncognito.com/oauth2/token",
                "scopes": {scope: f"Cirrus API scope {scope}" for scope in scopes},
            }
        },
    }


def render(document: dict[str, Any]) -> str:
    """The document as committed: sorted keys, two-space indent, trailing newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Write the document, or with --check report whether the committed one is current."""
    parser = argparse.ArgumentParser(
        prog="python -m cirrus.openapi",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if the file differs from the code")
    parser.add_argument("--output", type=Path, default=DOCUMENT_PATH, help="where the document lives")
    args = parser.parse_args(argv)
    text = render(build_document())
    output: Path = args.output
    if args.check:
        current = output.read_text(encoding="utf-8") if output.exists() else None
        if current != text:
            print(f"{output} is stale: run `make openapi` (python -m cirrus.openapi).", file=sys.stderr)
            return 1
        return 0
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
