"""What the tooling reads from template.yaml: which function serves which API route.

template.yaml is the one source of truth for routing, so the OpenAPI document is assembled from the
handler modules the template names rather than from a directory scan.
"""

from __future__ import annotations

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
            routes.append(
                ApiRoute(
                    function=logical_id,
                    code_uri=properties["CodeUri"],
                    handler=properties["Handler"],
                    method=event["Properties"]["Method"].lower(),
                    path=event["Properties"]["Path"],
                )
            )
    return routes
