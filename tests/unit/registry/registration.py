"""Registration requests and the checks their answers share, for the registry's test modules."""

from __future__ import annotations

import json
from typing import Any

from tests.support.api import ApiResponse
from tests.support.aws import load_sample

SAMPLE = load_sample("api/register_model")
SAMPLE_BODY: dict[str, Any] = json.loads(SAMPLE["body"])
REQUEST_ID: str = SAMPLE["requestContext"]["requestId"]
CALLER = SAMPLE["requestContext"]["authorizer"]["claims"]["cognito:username"]
MODEL_ID: str = SAMPLE_BODY["model_name"]
ARTIFACT = SAMPLE_BODY["artifact_location"]


def registration(*, drop: tuple[str, ...] = (), **fields: Any) -> dict[str, Any]:
    """The sample registration body with top-level fields replaced, added or dropped."""
    body = {**SAMPLE_BODY, **fields}
    for name in drop:
        del body[name]
    return body


def with_training(**fields: Any) -> dict[str, Any]:
    """The sample registration body with training_metadata fields replaced."""
    return registration(training_metadata={**SAMPLE_BODY["training_metadata"], **fields})


def assert_refused(response: ApiResponse, status: int, code: str) -> None:
    """The answer is a refusal in the API's one error shape, naming the request."""
    assert response.status == status, response.body
    assert set(response.body) == {"error", "request_id"}
    assert set(response.body["error"]) == {"code", "message", "details"}
    assert response.error_code == code
    assert response.body["error"]["message"]
    assert isinstance(response.body["error"]["details"], list)
    assert response.body["request_id"] == REQUEST_ID
