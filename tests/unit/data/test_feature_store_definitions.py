# ruff: noqa: F811 - the fixtures `world` and `untouched` come from tests/unit/data/feature_store_support.py
"""Feature group definitions through the API: the first is version 1, a compatible change the next
version, an identical one changes nothing, a breaking one is refused unless a new version is asked for;
each version created is audited and announced."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.authz import claims
from tests.unit.data.feature_store_support import (  # noqa: F401 - fixtures
    GROUP,
    FeatureWorld,
    Untouched,
    api,
    definition,
    ok,
    untouched,
    world,
)


def put(body: dict[str, Any], **parts: Any) -> Any:
    return api("put_feature_group", body=body, path={"group": GROUP}, **parts)


def with_feature(**feature: Any) -> dict[str, Any]:
    body = definition()
    body["features"] = [*body["features"], feature]
    return body


def test_a_groups_first_definition_is_version_1(world: FeatureWorld) -> None:
    created = ok(put(definition()), 201)

    assert (created["version"], created["change"], created["breaking"]) == (1, "created", False)
    assert created["compatible_since"] == 1
    assert created["definition"]["name"] == GROUP
    assert created["created_by"] == "alice@example.com"
    version = ok(api("get_feature_group_version", path={"group": GROUP, "version": "1"}))
    assert version["definition"] == created["definition"]


def test_adding_a_nullable_feature_makes_version_2_on_the_same_line(world: FeatureWorld) -> None:
    world.define()

    added = ok(put(with_feature(name="visits_7d", type="int64")), 201)

    assert (added["version"], added["change"], added["parent_version"]) == (2, "additive", 1)
    assert (added["breaking"], added["compatible_since"]) == (False, 1)
    assert added["changes"] == [{"feature": "visits_7d", "change": "added", "from": None, "to": "int64"}]
    group = ok(api("get_feature_group", path={"group": GROUP}))
    assert (group["latest_version"], group["latest"]["version"]) == (2, 2)


def test_resubmitting_an_identical_definition_answers_200_and_writes_nothing(
    world: FeatureWorld, untouched: Untouched
) -> None:
    world.define()

    with untouched:
        response = put(definition())

    same = ok(response, 200)
    assert (same["version"], same["change"]) == (1, "unchanged")


KEPT = [{"name": "orders_7d", "type": "int64", "nullable": False}, {"name": "spend_7d", "type": "float64"}]
RETYPED = [
    {"name": "orders_7d", "type": "float64", "nullable": False},
    {"name": "spend_7d", "type": "float64"},
    {"name": "segment", "type": "string"},
]


@pytest.mark.parametrize(
    ("features", "expected"),
    [(KEPT, ("segment", "removed")), (RETYPED, ("orders_7d", "type_changed"))],
    ids=["removed_feature", "type_change"],
)
def test_a_breaking_change_without_new_version_is_422_with_details_and_writes_nothing(
    world: FeatureWorld, untouched: Untouched, features: list[dict[str, Any]], expected: tuple[str, str]
) -> None:
    world.define()

    with untouched:
        response = put(definition(features=features))

    assert (response.status, response.error_code) == (422, "breaking_feature_change")
    assert [(d["feature"], d["change"]) for d in response.body["error"]["details"]] == [expected]


def test_a_breaking_change_with_new_version_makes_a_version_marked_breaking(world: FeatureWorld) -> None:
    world.define()
    body = definition(features=KEPT, new_version=True)

    broken = ok(put(body), 201)

    assert (broken["version"], broken["change"], broken["breaking"]) == (2, "breaking", True)
    assert broken["compatible_since"] == 2
    assert {c["feature"]: c["change"] for c in broken["changes"]}["segment"] == "removed"


def test_each_version_created_is_audited_and_announced(world: FeatureWorld) -> None:
    world.define()
    world.define(with_feature(name="visits_7d", type="int64"))
    refused = put(definition())  # back to the first definition: a removal, refused, nothing recorded

    assert refused.status == 422
    events = world.data_events()
    assert [e["detail-type"] for e in events] == ["feature_group.version_created"] * 2
    assert [e["detail"]["data"]["version"] for e in events] == [1, 2]
    assert events[1]["detail"]["data"]["change"] == "additive"
    assert world.audit_actions().count("put_feature_group") == 2


def test_the_name_in_the_body_must_be_the_group_in_the_path(
    world: FeatureWorld, untouched: Untouched
) -> None:
    with untouched:
        response = api("put_feature_group", body=definition(), path={"group": "other_group"})

    assert (response.status, response.error_code) == (422, "feature_group_name_mismatch")


def test_groups_are_listed_by_name(world: FeatureWorld) -> None:
    world.define(definition(name="zeta"), name="zeta")
    world.define(definition(name="alpha"), name="alpha")

    listed = ok(api("list_feature_groups", query={"limit": "1"}))
    rest = ok(api("list_feature_groups", query={"next_token": listed["next_token"]}))

    assert [item["name"] for item in listed["items"]] == ["alpha"]
    assert [item["name"] for item in rest["items"]] == ["zeta"]
    assert rest["next_token"] is None


def test_an_unknown_group_or_version_is_404(world: FeatureWorld) -> None:
    world.define()

    group = api("get_feature_group", path={"group": "nope"})
    version = api("get_feature_group_version", path={"group": GROUP, "version": "7"})

    assert (group.status, group.error_code) == (404, "feature_group_not_found")
    assert (version.status, version.error_code) == (404, "feature_group_version_not_found")


@pytest.mark.parametrize("role", ["ml_engineer", "data_scientist", "admin"])
def test_data_access_roles_define_groups(world: FeatureWorld, role: str) -> None:
    response = put(definition(), claims=claims(role))

    assert response.status == 201


def test_a_model_reviewer_may_not_define_groups(world: FeatureWorld, untouched: Untouched) -> None:
    with untouched:
        response = put(definition(), claims=claims("model_reviewer"))

    assert (response.status, response.error_code) == (403, "access_denied")
    assert response.body["error"]["details"][0]["action"] == "PutFeatureGroup"
