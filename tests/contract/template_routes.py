"""The template's API routes, read straight from template.yaml for the contract tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from tests.support.aws import load_template


class TemplateRoute(NamedTuple):
    """One `Api` event: the function it invokes and the route API Gateway sends to it."""

    function: str
    method: str
    path: str

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"


def serverless_functions(template: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Every AWS::Serverless::Function of the template, by logical id."""
    resources = (template or load_template())["Resources"]
    return {name: res for name, res in resources.items() if res["Type"] == "AWS::Serverless::Function"}


def template_routes(template: dict[str, Any] | None = None) -> list[TemplateRoute]:
    """Every `Api` event of every function, in template order."""
    return [
        TemplateRoute(name, event["Properties"]["Method"].lower(), event["Properties"]["Path"])
        for name, function in serverless_functions(template).items()
        for event in function["Properties"].get("Events", {}).values()
        if event["Type"] == "Api"
    ]


def handler_module_name(function: dict[str, Any]) -> str:
    """The dotted name of a function's handler module, importable from the repository root."""
    properties = function["Properties"]
    module = properties["Handler"].rpartition(".")[0]
    return ".".join([*Path(properties["CodeUri"]).parts, module])
