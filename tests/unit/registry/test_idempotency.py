"""Idempotency-Key on POST /models/register: a retried request gets the first answer, not a new version."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import ApiResponse, call
from tests.support.aws import AwsResources
from tests.support.registry import RegistryDriver, Unchanged
from tests.unit.registry.registration import assert_refused, registration

KEY = "retry-3f1e2d3c-4b5a"
# A data scientist: registering is theirs too, and another caller than the samples' alice.
CAROL = {
    "sub": "3f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0",
    "cognito:username": "carol@example.com",
    "cognito:groups": "data_scientist",
}


def register(key: str | None = KEY, header: str = "Idempotency-Key", **parts: Any) -> ApiResponse:
    parts.setdefault("body", registration())
    headers = {header: key} if key is not None else None
    return call("register_model", headers=headers, **parts)


def registered_events(aws: AwsResources) -> list[dict[str, Any]]:
    return [event for event in aws.published_events() if event["detail-type"] == "model.registered"]


def test_a_retry_with_the_same_key_gets_the_same_201_answer(aws: AwsResources) -> None:
    first = register()

    retry = register()

    assert first.status == retry.status == 201
    assert retry.body == first.body


def test_a_retry_with_the_same_key_creates_no_second_version(registry: RegistryDriver) -> None:
    register()

    register()

    assert registry.model()["latest_version"] == 1


def test_a_retry_with_the_same_key_publishes_no_second_event(aws: AwsResources) -> None:
    register()

    register()

    assert len(registered_events(aws)) == 1


def test_a_new_key_registers_a_new_version(aws: AwsResources) -> None:
    register(key="first-attempt-0001")

    response = register(key="second-attempt-0002")

    assert response.body["version"] == 2


def test_without_a_key_every_request_registers_a_new_version(aws: AwsResources) -> None:
    register(key=None)

    assert register(key=None).body["version"] == 2


def test_the_same_key_with_another_body_is_422_idempotency_key_reused(
    aws: AwsResources, unchanged: Unchanged
) -> None:
    register()

    with unchanged:
        response = register(body=registration(description="Another request."))

    assert_refused(response, 422, "idempotency_key_reused")


def test_the_same_key_from_another_caller_is_another_request(registry: RegistryDriver) -> None:
    alices = register()

    carols = register(claims=CAROL)

    assert carols.status == 201
    assert (alices.body["version"], carols.body["version"]) == (1, 2)
    assert carols.body["created_by"] == "carol@example.com"


@pytest.mark.parametrize("header", ["idempotency-key", "IDEMPOTENCY-KEY", "Idempotency-key"])
def test_the_header_name_is_matched_case_insensitively(aws: AwsResources, header: str) -> None:
    first = register(header="Idempotency-Key")

    retry = register(header=header)

    assert retry.body == first.body
    assert len(registered_events(aws)) == 1


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("short", id="under-8-characters"),
        pytest.param("k" * 129, id="over-128-characters"),
        pytest.param("has space 123", id="space"),
        pytest.param("slash/in/key", id="slash"),
        pytest.param("ключ-12345678", id="non-ascii"),
        pytest.param("", id="empty"),
    ],
)
def test_a_malformed_key_is_422(aws: AwsResources, unchanged: Unchanged, key: str) -> None:
    with unchanged:
        response = register(key=key)

    assert_refused(response, 422, "validation_error")
    assert [detail["field"] for detail in response.body["error"]["details"]] == ["header.idempotency-key"]


def test_a_refused_request_does_not_use_up_its_key(aws: AwsResources) -> None:
    # GIVEN a request refused because its parent version does not exist yet
    child = registration(parent_version=1)
    assert register(body=child).error_code == "unknown_parent_version"
    # WHEN the parent is registered and the same request is retried with the same key
    register(key=None)
    retried = register(body=child)

    # THEN the retry runs again, instead of replaying the refusal
    assert retried.status == 201
    assert retried.body["version"] == 2
