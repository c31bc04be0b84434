"""Approval: a pending version may be sent for review, then approved or rejected, once."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import ApiResponse, call
from tests.support.registry import MODEL_ID, REVIEWER_CLAIMS, RegistryDriver, Unchanged

REVIEW_ROUTES = ["request_review", "approve_version", "reject_version"]
DECISION_ROUTES = ["approve_version", "reject_version"]
DECISIONS = [("approve_version", "Approved"), ("reject_version", "Rejected")]
COMMENT = "Checked against the June holdout."


def review(route: str, version: int | str = 1, *, model_id: str = MODEL_ID, **parts: Any) -> ApiResponse:
    """Call a review route for a version: the author (alice) asks for reviews, a reviewer (bob) decides."""
    parts.setdefault("body", {"comment": COMMENT})
    if route != "request_review":
        parts.setdefault("claims", REVIEWER_CLAIMS)
    return call(route, path={"model_id": model_id, "version": str(version)}, **parts)


# -- requesting a review ---------------------------------------------------------------------------


def test_requesting_a_review_records_who_asked_and_why(registry: RegistryDriver) -> None:
    registry.register()

    response = review("request_review")

    assert response.status == 200
    version = registry.version(1)
    assert response.body == version
    assert version["review_request"]["by"] == "alice@example.com"
    assert version["review_request"]["comment"] == COMMENT
    assert version["review_request"]["at"] == version["updated_at"]


def test_requesting_a_review_leaves_the_version_pending(registry: RegistryDriver) -> None:
    registry.register()

    review("request_review")

    assert registry.version(1)["approval_status"] == "PendingManualApproval"
    assert registry.version(1)["review"] is None


def test_requesting_a_review_publishes_model_approval_requested(registry: RegistryDriver) -> None:
    registry.register()

    review("request_review")

    [event] = registry.new_events()
    assert event["detail-type"] == "model.approval_requested"
    assert event["detail"]["data"] == {"model_id": MODEL_ID, "version": 1, "comment": COMMENT}
    assert event["detail"]["metadata"]["actor"] == "alice@example.com"


# -- deciding --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("route", "status"), DECISIONS)
def test_a_decision_sets_the_approval_status(registry: RegistryDriver, route: str, status: str) -> None:
    registry.register()

    response = review(route)

    assert response.status == 200
    assert response.body == registry.version(1)
    assert registry.version(1)["approval_status"] == status


@pytest.mark.parametrize("route", DECISION_ROUTES)
def test_a_decision_records_the_reviewer_and_their_comment(registry: RegistryDriver, route: str) -> None:
    registry.register()

    review(route)

    version = registry.version(1)
    assert version["review"] == {"by": "bob@example.com", "at": version["updated_at"], "comment": COMMENT}


@pytest.mark.parametrize(("route", "status"), DECISIONS)
def test_a_decision_follows_a_review_request(registry: RegistryDriver, route: str, status: str) -> None:
    registry.register()
    registry.request_review(1)

    response = review(route)

    assert response.body["approval_status"] == status
    assert response.body["review_request"]["by"] == "alice@example.com"


@pytest.mark.parametrize(
    ("route", "counted_as"), [("approve_version", "approved"), ("reject_version", "rejected")]
)
def test_a_decision_moves_the_version_out_of_pending_in_the_counts(
    registry: RegistryDriver, route: str, counted_as: str
) -> None:
    registry.register()
    registry.register()

    review(route, 2)

    expected = {"total": 2, "pending": 1, "approved": 0, "rejected": 0, "retired": 0}
    assert registry.model()["counts"] == {**expected, counted_as: 1}


@pytest.mark.parametrize(("route", "status"), DECISIONS)
def test_a_decision_publishes_its_event(registry: RegistryDriver, route: str, status: str) -> None:
    registry.register()

    review(route)

    [event] = registry.new_events()
    assert event["detail-type"] == f"model.{status.lower()}"
    assert event["detail"]["data"] == {
        "model_id": MODEL_ID,
        "version": 1,
        "approval_status": status,
        "comment": COMMENT,
    }
    assert event["detail"]["metadata"]["actor"] == "bob@example.com"


@pytest.mark.parametrize("route", REVIEW_ROUTES)
def test_a_comment_may_be_omitted(registry: RegistryDriver, route: str) -> None:
    registry.register()

    response = review(route, body={})

    assert response.status == 200
    [event] = registry.new_events()
    assert event["detail"]["data"]["comment"] == ""


@pytest.mark.parametrize("route", REVIEW_ROUTES)
def test_a_comment_of_1024_characters_is_accepted(registry: RegistryDriver, route: str) -> None:
    registry.register()

    response = review(route, body={"comment": "x" * 1024})

    assert response.status == 200


# -- refusals --------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", REVIEW_ROUTES)
@pytest.mark.parametrize(("decide", "status"), [("approve", "Approved"), ("reject", "Rejected")])
def test_a_decided_version_cannot_be_reviewed_again(
    registry: RegistryDriver, unchanged: Unchanged, route: str, decide: str, status: str
) -> None:
    registry.register()
    getattr(registry, decide)(1)

    with unchanged:
        response = review(route)

    assert response.status == 409
    assert response.error_code == "invalid_approval_transition"
    assert response.body["error"]["details"] == [{"approval_status": status}]


@pytest.mark.parametrize("route", REVIEW_ROUTES)
def test_a_retired_version_cannot_be_reviewed(
    registry: RegistryDriver, unchanged: Unchanged, route: str
) -> None:
    registry.register()
    registry.retire(1)

    with unchanged:
        response = review(route)

    assert response.status == 409
    assert response.error_code == "version_retired"


@pytest.mark.parametrize("route", REVIEW_ROUTES)
def test_reviewing_an_unknown_model_is_not_found(
    registry: RegistryDriver, unchanged: Unchanged, route: str
) -> None:
    registry.register()

    with unchanged:
        response = review(route, model_id="churn_model")

    assert response.status == 404
    assert response.error_code == "model_not_found"


@pytest.mark.parametrize("route", REVIEW_ROUTES)
def test_reviewing_an_unknown_version_is_not_found(
    registry: RegistryDriver, unchanged: Unchanged, route: str
) -> None:
    registry.register()

    with unchanged:
        response = review(route, 2)

    assert response.status == 404
    assert response.error_code == "version_not_found"


@pytest.mark.parametrize("route", REVIEW_ROUTES)
@pytest.mark.parametrize("version", ["0", "-1", "1.5", "one"])
def test_a_version_that_is_not_a_positive_integer_is_unprocessable(
    registry: RegistryDriver, unchanged: Unchanged, route: str, version: str
) -> None:
    registry.register()

    with unchanged:
        response = review(route, version)

    assert response.status == 422
    assert response.error_code == "validation_error"
    assert [detail["field"] for detail in response.body["error"]["details"]] == ["path.version"]


@pytest.mark.parametrize("route", REVIEW_ROUTES)
def test_a_comment_over_1024_characters_is_unprocessable(
    registry: RegistryDriver, unchanged: Unchanged, route: str
) -> None:
    registry.register()

    with unchanged:
        response = review(route, body={"comment": "x" * 1025})

    assert response.status == 422
    assert response.error_code == "validation_error"


@pytest.mark.parametrize("route", REVIEW_ROUTES)
def test_a_field_the_body_does_not_define_is_unprocessable(
    registry: RegistryDriver, unchanged: Unchanged, route: str
) -> None:
    registry.register()

    with unchanged:
        response = review(route, body={"comment": COMMENT, "approval_status": "Approved"})

    assert response.status == 422
    assert response.error_code == "validation_error"


@pytest.mark.parametrize("route", REVIEW_ROUTES)
def test_a_request_without_claims_is_unauthenticated(
    registry: RegistryDriver, unchanged: Unchanged, route: str
) -> None:
    registry.register()

    with unchanged:
        response = review(route, claims=None)

    assert response.status == 401
    assert response.error_code == "unauthenticated"
