"""cirrus.openapi and cirrus.template: assembling the API document from the template's handlers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.event_handler.openapi.exceptions import OpenAPIMergeError

from cirrus.openapi import check_components_agree, handler_module
from cirrus.template import ApiRoute


def _schema_with(name: str, definition: dict[str, Any]) -> dict[str, Any]:
    return {"components": {"schemas": {name: definition}}}


def _route(code_uri: str = "functions/registry/", handler: str = "get_model.lambda_handler") -> ApiRoute:
    return ApiRoute("GetModelFunction", code_uri, handler, "get", "/api/v1/models/{model_id}")


def test_route_module_is_named_after_code_uri_and_handler() -> None:
    assert _route().module_name == "functions.registry.get_model"


def test_route_handler_must_be_a_lambda_handler() -> None:
    with pytest.raises(ValueError, match="lambda_handler"):
        _ = _route(handler="get_model.handle").module_name


def test_route_code_uri_must_be_importable() -> None:
    with pytest.raises(ValueError, match="not importable"):
        _ = _route(code_uri="functions/model-registry/").module_name


def test_handler_module_loaded_from_elsewhere_is_refused(tmp_path: Path) -> None:
    # Importing by dotted name could find another checkout on sys.path: the file must be this repo's.
    with pytest.raises(ImportError, match="get_model"):
        handler_module(_route(), root=tmp_path)


def test_identical_components_from_two_handlers_are_merged() -> None:
    first = _schema_with("ErrorBody", {"type": "object", "title": "ErrorBody"})
    second = _schema_with("ErrorBody", {"type": "object", "title": "ErrorBody"})
    check_components_agree([first, second])


def test_components_that_differ_between_handlers_are_refused() -> None:
    first = _schema_with("Page", {"type": "object", "title": "Models"})
    second = _schema_with("Page", {"type": "object", "title": "Versions"})
    with pytest.raises(OpenAPIMergeError, match=r"components\.schemas\.Page"):
        check_components_agree([first, second])
