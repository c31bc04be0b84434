"""The registry over HTTP on the local cloud: real tokens, the real gateway, the deployed functions."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from cirrus.client import CirrusApiError, CirrusClient
from cirrus.localcloud.cloud import LocalCloudState
from tests.integration.conftest import EventTap
from tests.support.events import assert_valid_event
from tests.support.tokens import TokenMinter, claims_of


def registration(model_id: str, bucket: str, **extra: Any) -> dict[str, Any]:
    return {
        "model_name": model_id,
        "model_type": "sklearn",
        "framework_version": "1.5.2",
        "training_metadata": {
            "dataset_version": "ds-1",
            "hyperparameters": {"C": 1.0},
            "metrics": {"f1": 0.87},
        },
        "artifact_location": f"s3://{bucket}/models/{model_id}/model.tar.gz",
        **extra,
    }


def refusal(call: Any) -> CirrusApiError:
    with pytest.raises(CirrusApiError) as caught:
        call()
    return caught.value


# -- the lifecycle --------------------------------------------------------------------------------


def test_registered_version_is_readable_by_every_role(
    clients: dict[str, CirrusClient], state: LocalCloudState, model_id: str
) -> None:
    created = clients["data_scientist"].register_model(registration(model_id, state.artifact_bucket))

    for role in ("ml_engineer", "model_reviewer", "admin"):
        fetched = clients[role].get_version(model_id, created.version)
        assert fetched.created_by == "dana"
        assert fetched.approval_status == "PendingManualApproval"


def test_lifecycle_moves_aliases_and_keeps_history(
    clients: dict[str, CirrusClient], state: LocalCloudState, model_id: str
) -> None:
    engineer, reviewer = clients["ml_engineer"], clients["model_reviewer"]
    for _ in range(2):
        engineer.register_model(registration(model_id, state.artifact_bucket))
    reviewer.approve(model_id, 1, "ok")
    reviewer.approve(model_id, 2, "ok")
    engineer.promote(model_id, 1, "prod", "first")
    engineer.promote(model_id, 2, "prod", "second")

    rolled_back = engineer.rollback(model_id, "prod", "regression")

    assert rolled_back.version == 1
    assert engineer.get_model(model_id).aliases == {"prod": 1}
    history = engineer.promotions(model_id, "prod").items
    assert [(item.action, item.version) for item in history] == [
        ("rollback", 1),
        ("promote", 2),
        ("promote", 1),
    ]


def test_idempotency_key_makes_a_retried_registration_return_the_first_answer(
    clients: dict[str, CirrusClient], state: LocalCloudState, model_id: str
) -> None:
    engineer = clients["ml_engineer"]
    payload = registration(model_id, state.artifact_bucket)

    first = engineer.register_model(payload, idempotency_key="retry-key-0001")
    second = engineer.register_model(payload, idempotency_key="retry-key-0001")

    assert second == first
    assert engineer.get_model(model_id).latest_version == 1


def test_registration_publishes_a_schema_valid_event_on_the_deployed_bus(
    clients: dict[str, CirrusClient], state: LocalCloudState, event_tap: EventTap, model_id: str
) -> None:
    event_tap.drain()
    clients["ml_engineer"].register_model(registration(model_id, state.artifact_bucket))

    deadline = time.monotonic() + 10
    mine: list[dict[str, Any]] = []
    while not mine and time.monotonic() < deadline:
        mine = [e for e in event_tap.drain() if e["detail"]["data"].get("model_id") == model_id]
    assert [event["detail-type"] for event in mine] == ["model.registered"]
    assert_valid_event(mine[0])
    assert mine[0]["detail"]["metadata"]["actor"] == "alice"


# -- refusals: the API's own rules ----------------------------------------------------------------


def test_artifact_outside_the_platform_bucket_is_refused_and_nothing_is_created(
    clients: dict[str, CirrusClient], model_id: str
) -> None:
    engineer = clients["ml_engineer"]
    payload = registration(model_id, "some-other-bucket")

    error = refusal(lambda: engineer.register_model(payload))

    assert (error.status, error.code) == (422, "invalid_artifact_location")
    assert refusal(lambda: engineer.get_model(model_id)).code == "model_not_found"


def test_invalid_model_name_is_refused_with_the_failing_field(
    clients: dict[str, CirrusClient], state: LocalCloudState
) -> None:
    payload = registration("Not A Valid Name", state.artifact_bucket)

    error = refusal(lambda: clients["ml_engineer"].register_model(payload))

    assert error.status == 422
    assert any(detail["field"] == "body.model_name" for detail in error.details)


def test_unknown_model_is_404(clients: dict[str, CirrusClient]) -> None:
    error = refusal(lambda: clients["admin"].get_model("no_such_model_anywhere"))

    assert (error.status, error.code) == (404, "model_not_found")


def test_promoting_an_unapproved_version_to_prod_is_409_and_moves_nothing(
    clients: dict[str, CirrusClient], state: LocalCloudState, model_id: str
) -> None:
    engineer = clients["ml_engineer"]
    engineer.register_model(registration(model_id, state.artifact_bucket))

    error = refusal(lambda: engineer.promote(model_id, 1, "prod"))

    assert (error.status, error.code) == (409, "version_not_approved")
    assert engineer.get_model(model_id).aliases == {}


def test_retiring_a_live_version_is_409(
    clients: dict[str, CirrusClient], state: LocalCloudState, model_id: str
) -> None:
    engineer = clients["ml_engineer"]
    engineer.register_model(registration(model_id, state.artifact_bucket))
    engineer.promote(model_id, 1, "dev")

    error = refusal(lambda: clients["admin"].retire(model_id, 1))

    assert (error.status, error.code) == (409, "alias_in_use")
    assert clients["admin"].get_version(model_id, 1).retired is False


# -- refusals: the gateway's authorizer -----------------------------------------------------------


def get_models(state: LocalCloudState, authorization: str | None) -> requests.Response:
    headers = {"Authorization": authorization} if authorization is not None else {}
    return requests.get(f"{state.api_url}/models", headers=headers, timeout=10)


def test_no_token_is_401(state: LocalCloudState) -> None:
    assert get_models(state, None).status_code == 401


def test_token_signed_by_another_key_is_401(state: LocalCloudState) -> None:
    genuine = claims_of(state.token("admin"))

    forged = TokenMinter().sign(genuine, forged=True)

    assert get_models(state, f"Bearer {forged}").status_code == 401


def test_expired_token_is_401(state: LocalCloudState) -> None:
    claims = {**claims_of(state.token("admin")), "exp": int(time.time()) - 60}

    expired = TokenMinter().sign(claims)

    assert get_models(state, f"Bearer {expired}").status_code == 401


def test_token_from_another_issuer_is_401(state: LocalCloudState) -> None:
    claims = {
        **claims_of(state.token("admin")),
        "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other",
    }

    wrong_issuer = TokenMinter().sign(claims)

    assert get_models(state, f"Bearer {wrong_issuer}").status_code == 401


def test_genuine_token_is_accepted(state: LocalCloudState) -> None:
    assert get_models(state, f"Bearer {state.token('data_scientist')}").status_code == 200


def test_unknown_route_is_403_missing_authentication_token(state: LocalCloudState) -> None:
    response = requests.get(f"{state.api_url}/no/such/route", timeout=10)

    assert response.status_code == 403
    assert "Missing Authentication Token" in response.text


# -- the API's documents --------------------------------------------------------------------------


def test_openapi_document_and_swagger_ui_are_served(state: LocalCloudState) -> None:
    document = requests.get(f"{state.api_url}/openapi.json", timeout=10)
    ui = requests.get(f"{state.api_url}/docs", timeout=10)

    assert document.status_code == 200
    assert "/api/v1/models/register" in document.json()["paths"]
    assert ui.status_code == 200
    assert "swagger" in ui.text.lower()
