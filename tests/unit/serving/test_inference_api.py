"""POST /models/{model_id}/predict: the environment's endpoint answers, with an inference id.

The body reaches the endpoint as it came (JSON or CSV); refusals (media type, size, no deployment,
policies) never invoke the endpoint and write nothing.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

import functions.serving.predict as predict_module
from cirrus_core.serving.environments import EnvironmentDirectory
from cirrus_core.serving.inference import EndpointAnswer, InferenceService, InvocationError
from tests.support.api import ApiResponse, build_event, call
from tests.support.authz import claims
from tests.support.aws import TABLE_NAMES
from tests.unit.serving.inference_support import (
    ENDPOINT,
    MODEL_ID,
    CountingMetrics,
    FakeEndpoint,
    put_environment,
)

LIMIT = 1024


@pytest.fixture
def endpoint(aws: Any, monkeypatch: pytest.MonkeyPatch) -> FakeEndpoint:
    """The prod environment deployed (version 3), its endpoint a fake that records what it was sent."""
    put_environment(aws)
    fake = FakeEndpoint()
    service = InferenceService(
        EnvironmentDirectory(aws.dynamodb, TABLE_NAMES["ServingTable"]),
        fake,
        CountingMetrics(),
        max_payload_bytes=LIMIT,
    )
    monkeypatch.setattr(predict_module, "inference_service", lambda: service)
    return fake


def predict(**parts: Any) -> ApiResponse:
    return call("predict", package="serving", **parts)


def csv_request(body: str = "0.5,120.0,3.0\n1.5,80.0,1.0\n", **parts: Any) -> ApiResponse:
    return predict(raw_body=body, headers={"Content-Type": "text/csv", **parts.pop("headers", {})}, **parts)


# -- answers ------------------------------------------------------------------------------------------


def test_a_json_request_is_answered_with_the_endpoints_predictions_and_an_inference_id(
    endpoint: FakeEndpoint,
) -> None:
    response = predict()

    assert response.status == 200, response.body
    body = response.body
    assert body["predictions"] == [0.93]
    assert (body["model_id"], body["environment"], body["version"]) == (MODEL_ID, "prod", 3)
    assert body["content_type"] == "application/json"
    assert len(body["inference_id"]) == 32
    assert response.headers["X-Inference-Id"] == body["inference_id"]


def test_the_inference_id_is_passed_to_sagemaker_so_that_capture_records_carry_it(
    endpoint: FakeEndpoint,
) -> None:
    response = predict()

    (invocation,) = endpoint.invocations
    assert invocation.inference_id == response.body["inference_id"]
    assert invocation.endpoint_name == ENDPOINT


def test_every_request_gets_its_own_inference_id(endpoint: FakeEndpoint) -> None:
    first, second = predict(), predict()

    assert first.body["inference_id"] != second.body["inference_id"]


def test_the_json_body_is_forwarded_byte_for_byte(endpoint: FakeEndpoint) -> None:
    raw = '{"instances": [[0.5, 120.0, 3.0]],  "extra": "kept"}'

    predict(raw_body=raw)

    assert endpoint.invocations[0].body == raw.encode()
    assert endpoint.invocations[0].content_type == "application/json"


def test_a_json_array_body_is_a_valid_model_input(endpoint: FakeEndpoint) -> None:
    response = predict(raw_body="[[0.5, 120.0, 3.0], [1.5, 80.0, 1.0]]")

    assert response.status == 200, response.body
    assert endpoint.invocations[0].body == b"[[0.5, 120.0, 3.0], [1.5, 80.0, 1.0]]"


def test_a_csv_body_is_forwarded_as_csv_and_a_csv_answer_comes_back_as_text(endpoint: FakeEndpoint) -> None:
    endpoint.answer = EndpointAnswer(b"0.93\n0.12\n", "text/csv")

    response = csv_request(headers={"Content-Type": "text/csv; charset=utf-8", "Accept": "text/csv"})

    assert response.status == 200, response.body
    assert response.body["predictions"] == "0.93\n0.12\n"
    assert response.body["content_type"] == "text/csv"
    invocation = endpoint.invocations[0]
    assert (invocation.body, invocation.content_type, invocation.accept) == (
        b"0.5,120.0,3.0\n1.5,80.0,1.0\n",
        "text/csv",
        "text/csv",
    )


def test_a_base64_encoded_body_is_decoded_before_it_is_forwarded(endpoint: FakeEndpoint) -> None:
    event_body = base64.b64encode(b"1.0,2.0\n").decode()
    event = build_event("predict", raw_body=event_body, headers={"Content-Type": "text/csv"})
    event["isBase64Encoded"] = True

    response = call("predict", event, package="serving")

    assert response.status == 200, response.body
    assert endpoint.invocations[0].body == b"1.0,2.0\n"


def test_accept_picks_the_first_type_the_model_can_answer_in(endpoint: FakeEndpoint) -> None:
    predict(headers={"Accept": "text/html, text/csv;q=0.9, application/json;q=0.5"})

    assert endpoint.invocations[0].accept == "text/csv"


def test_accept_anything_leaves_the_answer_type_to_the_model(endpoint: FakeEndpoint) -> None:
    predict(headers={"Accept": "*/*"})

    assert endpoint.invocations[0].accept is None


def test_the_environment_defaults_to_prod(endpoint: FakeEndpoint) -> None:
    response = predict(query=None)

    assert response.status == 200, response.body
    assert response.body["environment"] == "prod"


def test_another_environment_is_served_by_its_own_endpoint(aws: Any, endpoint: FakeEndpoint) -> None:
    put_environment(aws, "staging", version=4, endpoint_name="fraud-detection-v2-staging")

    response = predict(query={"environment": "staging"})

    assert (response.body["environment"], response.body["version"]) == ("staging", 4)
    assert endpoint.invocations[0].endpoint_name == "fraud-detection-v2-staging"


def test_an_environment_being_redeployed_keeps_serving(aws: Any, endpoint: FakeEndpoint) -> None:
    put_environment(aws, status="deploying")

    assert predict().status == 200


def test_a_data_scientist_may_predict(endpoint: FakeEndpoint) -> None:
    assert predict(claims=claims("data_scientist")).status == 200


# -- refusals -----------------------------------------------------------------------------------------


def refused(response: ApiResponse, status: int, code: str, endpoint: FakeEndpoint) -> dict[str, Any]:
    assert (response.status, response.error_code) == (status, code), response.body
    assert endpoint.invocations == [], "a refused request reached the endpoint"
    return dict(response.body["error"])


@pytest.mark.parametrize("content_type", ["text/xml", "application/x-www-form-urlencoded", "image/png"])
def test_other_media_types_are_refused_with_415(endpoint: FakeEndpoint, content_type: str) -> None:
    error = refused(predict(headers={"Content-Type": content_type}), 415, "unsupported_media_type", endpoint)

    assert error["details"][0]["supported"] == ["application/json", "text/csv"]


def test_a_request_without_a_content_type_is_refused_with_415(endpoint: FakeEndpoint) -> None:
    event = build_event("predict")
    del event["headers"]["Content-Type"]

    refused(call("predict", event, package="serving"), 415, "unsupported_media_type", endpoint)


def test_an_empty_body_is_refused_with_415(endpoint: FakeEndpoint) -> None:
    event = build_event("predict")
    event["body"] = None

    refused(call("predict", event, package="serving"), 415, "unsupported_media_type", endpoint)


def test_a_body_over_the_limit_is_refused_with_413_naming_the_limit(endpoint: FakeEndpoint) -> None:
    error = refused(csv_request("1," * LIMIT), 413, "payload_too_large", endpoint)

    assert error["details"] == [{"limit_bytes": LIMIT, "size_bytes": 2 * LIMIT}]


def test_a_body_at_the_limit_is_forwarded(endpoint: FakeEndpoint) -> None:
    assert csv_request("1" * LIMIT).status == 200


def test_an_accept_header_allowing_neither_json_nor_csv_is_refused_with_406(endpoint: FakeEndpoint) -> None:
    refused(predict(headers={"Accept": "text/html"}), 406, "not_acceptable", endpoint)


def test_an_environment_without_a_deployment_is_404(endpoint: FakeEndpoint) -> None:
    error = refused(predict(query={"environment": "dev"}), 404, "environment_not_deployed", endpoint)

    assert error["details"] == [{"model_id": MODEL_ID, "environment": "dev"}]


def test_an_environment_being_taken_down_is_404(aws: Any, endpoint: FakeEndpoint) -> None:
    put_environment(aws, status="undeploying")

    refused(predict(), 404, "environment_not_deployed", endpoint)


def test_an_unknown_model_is_404(endpoint: FakeEndpoint) -> None:
    refused(predict(path={"model_id": "no_such_model"}), 404, "environment_not_deployed", endpoint)


def test_an_unknown_environment_name_is_refused_with_422(endpoint: FakeEndpoint) -> None:
    error = refused(predict(query={"environment": "production"}), 422, "validation_error", endpoint)

    assert error["details"][0]["field"] == "query.environment"


def test_a_reviewer_may_not_predict(endpoint: FakeEndpoint) -> None:
    error = refused(predict(claims=claims("model_reviewer")), 403, "access_denied", endpoint)

    assert error["details"][0]["action"] == "InvokeModel"


def test_an_anonymous_request_is_401(endpoint: FakeEndpoint) -> None:
    refused(predict(claims=None), 401, "unauthenticated", endpoint)


def test_a_failing_model_is_424_with_the_containers_message(endpoint: FakeEndpoint) -> None:
    endpoint.failure = InvocationError(
        "could not convert string to float: 'abc'", model_error=True, original_status=400
    )

    response = predict()

    assert (response.status, response.error_code) == (424, "model_error")
    error = response.body["error"]
    assert "could not convert string to float: 'abc'" in error["message"]
    assert error["details"][0]["original_status_code"] == 400
    assert error["details"][0]["inference_id"] == endpoint.invocations[0].inference_id


def test_an_endpoint_that_cannot_serve_is_503(endpoint: FakeEndpoint) -> None:
    endpoint.failure = InvocationError(
        "ValidationError: Endpoint fraud-detection-v2-prod of account 123456789012 not found.",
        model_error=False,
    )

    response = predict()

    assert (response.status, response.error_code) == (503, "endpoint_unavailable")
    assert "not found" in response.body["error"]["message"]


def test_predictions_write_nothing(aws: Any, endpoint: FakeEndpoint) -> None:
    before = aws.table_items()

    predict()
    predict(headers={"Content-Type": "text/xml"})

    assert aws.table_items() == before
