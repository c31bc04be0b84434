"""Retirement: a version, or a whole model, leaves service for good; never while an alias points at it."""

from __future__ import annotations

import pytest

from tests.support.api import ApiResponse, call
from tests.support.registry import MODEL_ID, RegistryDriver, Unchanged


def retire(version: int | str | None = None, *, model_id: str = MODEL_ID) -> ApiResponse:
    """DELETE /models/{model_id}/retire, with ?version= when a version is given."""
    query = None if version is None else {"version": str(version)}
    return call("retire_model", path={"model_id": model_id}, query=query)


# -- one version -----------------------------------------------------------------------------------


def test_retiring_a_version_marks_it_retired(registry: RegistryDriver) -> None:
    registry.register()

    response = retire(1)

    assert response.status == 200
    assert response.body["model_id"] == MODEL_ID
    assert response.body["version"] == 1
    version = registry.version(1)
    assert version["retired"] is True
    assert version["retired_by"] == "alice@example.com"
    assert version["retired_at"] == response.body["retired_at"]


def test_retiring_a_version_counts_it_as_retired(registry: RegistryDriver) -> None:
    registry.register()
    registry.register()

    retire(1)

    assert registry.model()["counts"] == {
        "total": 2,
        "pending": 2,
        "approved": 0,
        "rejected": 0,
        "retired": 1,
    }


def test_retiring_a_version_leaves_the_others_in_service(registry: RegistryDriver) -> None:
    registry.register()
    registry.register()

    retire(1)

    assert registry.version(2)["retired"] is False
    assert registry.model()["retired"] is False


def test_retiring_a_version_publishes_model_retired_with_the_version(registry: RegistryDriver) -> None:
    registry.register()

    retire(1)

    [event] = registry.new_events()
    assert event["detail-type"] == "model.retired"
    assert event["detail"]["data"] == {"model_id": MODEL_ID, "version": 1}


def test_a_version_an_alias_points_at_cannot_be_retired(
    registry: RegistryDriver, unchanged: Unchanged
) -> None:
    registry.register_approved(1)
    registry.promote(1, "prod")
    registry.promote(1, "dev")

    with unchanged:
        response = retire(1)

    assert response.status == 409
    assert response.error_code == "alias_in_use"
    assert response.body["error"]["details"] == [{"environment": "dev"}, {"environment": "prod"}]


def test_a_version_an_alias_has_left_can_be_retired(registry: RegistryDriver) -> None:
    registry.register_approved(2)
    registry.promote(1, "prod")
    registry.promote(2, "prod")

    response = retire(1)

    assert response.status == 200
    assert registry.version(1)["retired"] is True


def test_retiring_a_retired_version_is_refused(registry: RegistryDriver, unchanged: Unchanged) -> None:
    registry.register()
    registry.retire(1)

    with unchanged:
        response = retire(1)

    assert response.status == 409
    assert response.error_code == "version_retired"


def test_retiring_an_unknown_version_is_not_found(registry: RegistryDriver, unchanged: Unchanged) -> None:
    registry.register()

    with unchanged:
        response = retire(2)

    assert response.status == 404
    assert response.error_code == "version_not_found"


@pytest.mark.parametrize("version", ["0", "1.5", "one"])
def test_a_version_that_is_not_a_positive_integer_is_unprocessable(
    registry: RegistryDriver, unchanged: Unchanged, version: str
) -> None:
    registry.register()

    with unchanged:
        response = retire(version)

    assert response.status == 422
    assert response.error_code == "validation_error"


@pytest.mark.parametrize("version", [None, 1], ids=["model", "version"])
def test_retiring_in_an_unknown_model_is_not_found(
    registry: RegistryDriver, unchanged: Unchanged, version: int | None
) -> None:
    registry.register()

    with unchanged:
        response = retire(version, model_id="churn_model")

    assert response.status == 404
    assert response.error_code == "model_not_found"


def test_retiring_without_claims_is_unauthenticated(registry: RegistryDriver, unchanged: Unchanged) -> None:
    registry.register()

    with unchanged:
        response = call("retire_model", query={"version": "1"}, claims=None)

    assert response.status == 401
    assert response.error_code == "unauthenticated"


# -- the whole model -------------------------------------------------------------------------------


def test_a_model_with_an_alias_set_cannot_be_retired(registry: RegistryDriver, unchanged: Unchanged) -> None:
    registry.register_approved(2)
    registry.promote(1, "staging")
    registry.promote(2, "dev")

    with unchanged:
        response = retire()

    assert response.status == 409
    assert response.error_code == "alias_in_use"
    assert response.body["error"]["details"] == [{"environment": "dev"}, {"environment": "staging"}]


def test_a_model_without_aliases_can_be_retired(registry: RegistryDriver) -> None:
    registry.register()
    registry.register()

    response = retire()

    assert response.status == 200
    assert response.body["version"] is None
    model = registry.model()
    assert model["retired"] is True
    assert model["retired_by"] == "alice@example.com"
    assert model["retired_at"] == response.body["retired_at"]


def test_retiring_a_model_publishes_model_retired_without_a_version(registry: RegistryDriver) -> None:
    registry.register()

    retire()

    [event] = registry.new_events()
    assert event["detail-type"] == "model.retired"
    assert event["detail"]["data"] == {"model_id": MODEL_ID, "version": None}


def test_the_versions_of_a_retired_model_read_as_retired(registry: RegistryDriver) -> None:
    registry.register()
    registry.register()
    registry.retire(2)

    retire()

    model = registry.model()
    for number in (1, 2):
        assert registry.version(number)["retired"] is True
    assert registry.version(1)["retired_at"] == model["retired_at"]
    assert registry.version(2)["retired_at"] != model["retired_at"]
    assert model["latest"]["retired"] is True


def test_a_retired_model_takes_no_new_versions(registry: RegistryDriver, unchanged: Unchanged) -> None:
    registry.register()
    registry.retire()

    with unchanged:
        response = call("register_model")

    assert response.status == 409
    assert response.error_code == "model_retired"


def test_a_retired_model_cannot_be_promoted(registry: RegistryDriver, unchanged: Unchanged) -> None:
    registry.register()
    registry.retire()

    with unchanged:
        response = call("promote_model", body={"version": 1, "environment": "dev"})

    assert response.status == 409
    assert response.error_code == "model_retired"


def test_a_retired_model_cannot_be_retired_again(registry: RegistryDriver, unchanged: Unchanged) -> None:
    registry.register()
    registry.retire()

    with unchanged:
        response = retire()

    assert response.status == 409
    assert response.error_code == "model_retired"
