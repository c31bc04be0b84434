"""What the tooling reads from and writes to template.yaml.

template.yaml is the one source of truth for routing, so the OpenAPI document is assembled from the
handler modules the template names rather than from a directory scan. Some of its blocks are
generated from repository files (event schemas, Verified Permissions policies): those sit between
marker lines and are rewritten, or checked, with the two functions at the end of this module.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from samtranslator.yaml_helper import yaml_parse

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"

_FUNCTION_TYPE = "AWS::Serverless::Function"


@dataclass(frozen=True, slots=True)
class ApiRoute:
    """One `Api` event of a function: the route API Gateway sends to it."""

    function: str
    code_uri: str
    handler: str
    method: str
    path: str
    # `Auth` of the event: "NONE" for an unauthenticated route, and the OAuth scopes a route
    # demands (API Gateway then takes access tokens carrying one of them instead of ID tokens).
    authorizer: str | None = None
    scopes: tuple[str, ...] = ()

    @property
    def module_file(self) -> Path:
        """The handler module's source file, relative to the repository root."""
        return Path(self.code_uri) / f"{self._module}.py"

    @property
    def module_name(self) -> str:
        """The handler module's dotted name, importable from the repository root."""
        parts = [*Path(self.code_uri).parts, self._module]
        if not all(part.isidentifier() for part in parts):
            raise ValueError(f"{self.function}: {self.module_file} is not importable as a Python module")
        return ".".join(parts)

    @property
    def _module(self) -> str:
        module, _, attribute = self.handler.rpartition(".")
        if not module or attribute != "lambda_handler":
            raise ValueError(f"{self.function}: Handler should be <module>.lambda_handler: {self.handler!r}")
        return module


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The template as a dict, with intrinsic-function tags parsed as SAM parses them."""
    return dict(yaml_parse(path.read_text(encoding="utf-8")))


def api_routes(template: dict[str, Any]) -> list[ApiRoute]:
    """Every `Api` event of every serverless function, in template order."""
    function_globals = template.get("Globals", {}).get("Function", {})
    routes = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != _FUNCTION_TYPE:
            continue
        # Properties a function leaves out come from Globals, as SAM merges them.
        properties = {**function_globals, **resource.get("Properties", {})}
        for event in properties.get("Events", {}).values():
            if event["Type"] != "Api":
                continue
            auth = event["Properties"].get("Auth", {})
            routes.append(
                ApiRoute(
                    function=logical_id,
                    code_uri=properties["CodeUri"],
                    handler=properties["Handler"],
                    method=event["Properties"]["Method"].lower(),
                    path=event["Properties"]["Path"],
                    authorizer=auth.get("Authorizer"),
                    scopes=tuple(auth.get("AuthorizationScopes", ())),
                )
            )
    return routes


def replace_marked_block(template: str, block: str, begin_marker: str, end_marker: str) -> str:
    """The template text with the lines between the two marker lines replaced by `block`."""
    lines = template.splitlines(keepends=True)
    begins = [index for index, line in enumerate(lines) if line.rstrip("\r\n") == begin_marker]
    ends = [index for index, line in enumerate(lines) if line.rstrip("\r\n") == end_marker]
    if len(begins) != 1 or len(ends) != 1 or begins[0] > ends[0]:
        raise ValueError(f"the template needs one {begin_marker.strip()!r}, then one {end_marker.strip()!r}")
    return "".join([*lines[: begins[0] + 1], block, *lines[ends[0] :]])


def write_or_check(template: Path, expected: str, *, check: bool, stale_message: str) -> int:
    """Write the generated template, or with `check` exit 1 (saying `stale_message`) if it differs."""
    if expected == template.read_text(encoding="utf-8"):
        return 0
    if check:
        print(f"{template}: {stale_message}", file=sys.stderr)
        return 1
    template.write_text(expected, encoding="utf-8")
    return 0
