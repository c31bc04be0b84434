"""Promotion moves an environment's alias; rollback moves it back; the history keeps every move."""

from __future__ import annotations

from typing import Any

import pytest

from cirrus_core.errors import AccessDenied
from cirrus_core.registry.models import Environment, PromotionResult
from tests.support.api import ApiResponse, call
from tests.support.authz import caller
from tests.support.registry import MODEL_ID, RegistryDriver, Unchanged

GATED = ["staging", "prod"]
ENVIRONMENTS = ["dev", "staging", "prod"]


def promote(version: int, environment: str, *, model_id: str = MODEL_ID, **fields: Any) -> ApiResponse:
    body = {"version": version, "environment": environment, **fields}
    return call("promote_model", path={"model_id": model_id}, body=body)


def rollback(environment: str, **fields: Any) -> ApiResponse:
    return call("rollback_model", path={"model_id": MODEL_ID}, body={"environment": environment, **fields})


def history(query: dict[str, str] | None, *, model_id: str = MODEL_ID) -> ApiResponse:
    return call("list_promotions", path={"model_id": model_id}, query=query)


def moves(response: ApiResponse) -> list[tuple[str, int, int | None]]:
    """A history page as (action, version, previous_version), in the order listed."""
    return [(item["action"], item["version"], item["previous_version"]) for item in response.body["items"]]


# -- promotion -------------------------------------------------------------------------------------


def test_dev_takes_a_pending_version(registry: RegistryDriver) -> None:
    registry.register()

    response = promote(1, "dev")

    assert response.status == 200
    assert response.body["changed"] is True
    assert (response.body["environment"], response.body["version"]) == ("dev", 1)
    assert registry.model()["aliases"] == {"dev": 1}


@pytest.mark.parametrize("environment", GATED)
def test_gated_environments_refuse_a_pending_version(
    registry: RegistryDriver, unchanged: Unchanged, environment: str
) -> None:
    registry.register()

    with unchanged:
        response = promote(1, environment)

    assert response.status == 409
    assert response.error_code == "version_not_approved"
    assert response.body["error"]["details"] == [
        {"environment": environment, "approval_status": "PendingManualApproval"}
    ]


@pytest.mark.parametrize("environment", GATED)
def test_gated_environments_take_an_approved_version(registry: RegistryDriver, environment: str) -> None:
    registry.register_approved(1)

    response = promote(1, environment)

    assert response.status == 200
    assert registry.model()["aliases"] == {environment: 1}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_a_rejected_version_is_refused_everywhere(
    registry: RegistryDriver, unchanged: Unchanged, environment: str
) -> None:
    registry.register()
    registry.reject(1)

    with unchanged:
        response = promote(1, environment)

    assert response.status == 409
    assert response.error_code == "version_rejected"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_a_retired_version_is_refused(
    registry: RegistryDriver, unchanged: Unchanged, environment: str
) -> None:
    registry.register_approved(1)
    registry.retire(1)

    with unchanged:
        response = promote(1, environment)

    assert response.status == 409
    assert response.error_code == "version_retired"


def test_promoting_the_version_already_there_changes_nothing(
    registry: RegistryDriver, unchanged: Unchanged
) -> None:
    registry.register_approved(1)
    registry.promote(1, "prod")

    with unchanged:
        response = promote(1, "prod", reason="Again, to be sure.")

    assert response.status == 200
    assert response.body == {
        "changed": False,
        "model_id": MODEL_ID,
        "environment": "prod",
        "version": 1,
        "promotion": None,
    }


def test_promoting_another_version_moves_the_alias(registry: RegistryDriver) -> None:
    registry.register_approved(2)
    registry.promote(1, "prod")

    promote(2, "prod")

    assert registry.model()["aliases"] == {"prod": 2}


def test_each_environment_has_its_own_alias(registry: RegistryDriver) -> None:
    registry.register_approved(2)
    registry.promote(1, "dev")
    registry.promote(1, "prod")

    promote(2, "dev")

    assert registry.model()["aliases"] == {"dev": 2, "prod": 1}


def test_promotion_answers_with_the_history_record_it_wrote(registry: RegistryDriver) -> None:
    registry.register_approved(2)
    registry.promote(1, "prod")

    response = promote(2, "prod", reason="Better recall.")

    assert response.body["promotion"] == history({"environment": "prod"}).body["items"][0]
    assert response.body["promotion"]["actor"] == "alice@example.com"
    assert response.body["promotion"]["reason"] == "Better recall."


def test_promotion_publishes_model_promoted_with_the_previous_version(registry: RegistryDriver) -> None:
    registry.register_approved(2)
    registry.promote(1, "prod")

    promote(2, "prod", reason="Better recall.")

    [event] = registry.new_events()
    assert event["detail-type"] == "model.promoted"
    assert event["detail"]["data"] == {
        "model_id": MODEL_ID,
        "version": 2,
        "environment": "prod",
        "previous_version": 1,
        "reason": "Better recall.",
    }


def test_a_first_promotion_has_no_previous_version(registry: RegistryDriver) -> None:
    registry.register()

    promote(1, "dev")

    [event] = registry.new_events()
    assert event["detail"]["data"]["previous_version"] is None


def test_promoting_a_version_of_an_unknown_model_is_not_found(
    registry: RegistryDriver, unchanged: Unchanged
) -> None:
    registry.register()

    with unchanged:
        response = promote(1, "dev", model_id="churn_model")

    assert response.status == 404
    assert response.error_code == "model_not_found"


def test_promoting_an_unknown_version_is_not_found(registry: RegistryDriver, unchanged: Unchanged) -> None:
    registry.register()

    with unchanged:
        response = promote(2, "dev")

    assert response.status == 404
    assert response.error_code == "version_not_found"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"version": 1, "environment": "production"}, id="unknown environment"),
        pytest.param({"version": 0, "environment": "dev"}, id="version 0"),
        pytest.param({"version": "latest", "environment": "dev"}, id="version not a number"),
        pytest.param({"environment": "dev"}, id="no version"),
        pytest.param({"version": 1}, id="no environment"),
        pytest.param({"version": 1, "environment": "dev", "reason": "x" * 1025}, id="reason too long"),
        pytest.param({"version": 1, "environment": "dev", "force": True}, id="undefined field"),
    ],
)
def test_an_invalid_promotion_request_is_unprocessable(
    registry: RegistryDriver, unchanged: Unchanged, body: dict[str, Any]
) -> None:
    registry.register()

    with unchanged:
        response = call("promote_model", path={"model_id": MODEL_ID}, body=body)

    assert response.status == 422
    assert response.error_code == "validation_error"


# -- history ---------------------------------------------------------------------------------------


def test_history_lists_an_environments_moves_newest_first(registry: RegistryDriver) -> None:
    registry.register_approved(2)
    registry.promote(1, "prod")
    registry.promote(1, "dev")
    registry.promote(2, "prod")

    response = history({"environment": "prod"})

    assert response.status == 200
    assert moves(response) == [("promote", 2, 1), ("promote", 1, None)]
    assert [item["sequence"] for item in response.body["items"]] == [2, 1]


def test_history_is_append_only(registry: RegistryDriver) -> None:
    registry.register_approved(2)
    registry.promote(1, "prod")
    registry.promote(2, "prod")
    before = history({"environment": "prod"}).body["items"]

    rollback("prod")

    after = history({"environment": "prod"})
    assert after.body["items"][1:] == before
    assert moves(after)[0] == ("rollback", 1, 2)


def test_history_is_paginated(registry: RegistryDriver) -> None:
    registry.register_approved(3)
    for version in (1, 2, 3):
        registry.promote(version, "prod")

    first = history({"environment": "prod", "limit": "2"})
    second = history({"environment": "prod", "limit": "2", "next_token": first.body["next_token"]})

    assert [item["version"] for item in first.body["items"]] == [3, 2]
    assert [item["version"] for item in second.body["items"]] == [1]
    assert second.body["next_token"] is None


def test_history_of_an_environment_never_promoted_is_empty(registry: RegistryDriver) -> None:
    registry.register()

    response = history({"environment": "staging"})

    assert response.status == 200
    assert response.body == {"items": [], "next_token": None}


@pytest.mark.parametrize(
    "query",
    [None, {"environment": "production"}, {"environment": "prod", "limit": "101"}],
    ids=["no environment", "unknown environment", "limit over 100"],
)
def test_a_history_request_with_invalid_parameters_is_unprocessable(
    registry: RegistryDriver, unchanged: Unchanged, query: dict[str, str] | None
) -> None:
    registry.register()

    with unchanged:
        response = history(query)

    assert response.status == 422
    assert response.error_code == "validation_error"


def test_a_history_request_with_a_next_token_the_api_did_not_issue_is_refused(
    registry: RegistryDriver, unchanged: Unchanged
) -> None:
    registry.register()

    with unchanged:
        response = history({"environment": "prod", "next_token": "bm90LWEtdG9rZW4"})

    assert response.status == 400
    assert response.error_code == "invalid_next_token"


def test_history_of_an_unknown_model_is_not_found(registry: RegistryDriver, unchanged: Unchanged) -> None:
    registry.register()

    with unchanged:
        response = history({"environment": "prod"}, model_id="churn_model")

    assert response.status == 404
    assert response.error_code == "model_not_found"


# -- rollback --------------------------------------------------------------------------------------


def test_rollback_returns_the_alias_to_the_version_it_held_before(registry: RegistryDriver) -> None:
    registry.register_approved(3)
    for version in (1, 2, 3):
        registry.promote(version, "prod")

    response = rollback("prod")

    assert response.status == 200
    assert (response.body["changed"], response.body["version"]) == (True, 2)
    assert registry.model()["aliases"] == {"prod": 2}


def test_successive_rollbacks_walk_back_through_earlier_versions(registry: RegistryDriver) -> None:
    registry.register_approved(3)
    for version in (1, 2, 3):
        registry.promote(version, "prod")
    registry.rollback("prod")

    response = rollback("prod")

    assert response.body["version"] == 1
    assert registry.model()["aliases"] == {"prod": 1}


def test_rollback_past_the_first_promoted_version_is_refused(
    registry: RegistryDriver, unchanged: Unchanged
) -> None:
    registry.register_approved(3)
    for version in (1, 2, 3):
        registry.promote(version, "prod")
    registry.rollback("prod")
    registry.rollback("prod")

    with unchanged:
        response = rollback("prod")

    assert response.status == 409
    assert response.error_code == "no_rollback_target"


def test_rollback_of_an_environment_never_promoted_is_refused(
    registry: RegistryDriver, unchanged: Unchanged
) -> None:
    registry.register_approved(1)
    registry.promote(1, "dev")

    with unchanged:
        response = rollback("prod")

    assert response.status == 409
    assert response.error_code == "no_rollback_target"


def test_rollback_to_a_retired_version_is_refused(registry: RegistryDriver, unchanged: Unchanged) -> None:
    registry.register_approved(2)
    registry.promote(1, "prod")
    registry.promote(2, "prod")
    registry.retire(1)

    with unchanged:
        response = rollback("prod")

    assert response.status == 409
    assert response.error_code == "version_retired"


def test_rollback_leaves_other_environments_alone(registry: RegistryDriver) -> None:
    registry.register_approved(2)
    registry.promote(2, "dev")
    registry.promote(1, "prod")
    registry.promote(2, "prod")

    rollback("prod")

    assert registry.model()["aliases"] == {"dev": 2, "prod": 1}


def test_rollback_publishes_model_rolled_back_from_and_to_versions(registry: RegistryDriver) -> None:
    registry.register_approved(2)
    registry.promote(1, "prod")
    registry.promote(2, "prod")

    rollback("prod", reason="Latency regression.")

    [event] = registry.new_events()
    assert event["detail-type"] == "model.rolled_back"
    assert event["detail"]["data"] == {
        "model_id": MODEL_ID,
        "environment": "prod",
        "from_version": 2,
        "to_version": 1,
        "reason": "Latency regression.",
        "deployment_id": None,
        "cause": None,
    }
    assert event["detail"]["metadata"]["event_version"] == "1.1"


# -- clearing an alias (an environment's deployment was taken down) -----------------------------


def clear(environment: str, role: str = "ml_engineer") -> PromotionResult:
    from cirrus_core.registry.wiring import registry_service

    return registry_service().clear_alias(MODEL_ID, Environment(environment), "undeployed", caller(role))


def test_clearing_an_alias_removes_it_and_records_the_move(registry: RegistryDriver) -> None:
    registry.register_approved(2)
    registry.promote(1, "prod")
    registry.promote(2, "prod")
    registry.promote(2, "staging")

    result = clear("prod")

    assert (result.changed, result.version) == (True, None)
    assert registry.model()["aliases"] == {"staging": 2}
    assert moves(history({"environment": "prod"}))[0] == ("clear", None, 2)


def test_a_cleared_alias_has_nothing_to_roll_back_to(registry: RegistryDriver) -> None:
    registry.register_approved(2)
    registry.promote(1, "prod")
    registry.promote(2, "prod")
    clear("prod")

    response = rollback("prod")

    assert response.status == 409
    assert response.error_code == "no_rollback_target"


def test_clearing_an_unset_alias_changes_nothing(registry: RegistryDriver) -> None:
    registry.register_approved(1)

    result = clear("prod")

    assert (result.changed, result.version, result.promotion) == (False, None, None)


def test_clearing_a_gated_alias_needs_model_deploy(registry: RegistryDriver) -> None:
    registry.register_approved(1)
    registry.promote(1, "prod")

    with pytest.raises(AccessDenied):
        clear("prod", role="data_scientist")
    assert registry.model()["aliases"] == {"prod": 1}
