# ruff: noqa: F811 - the fixtures `world` and `untouched` come from tests/unit/data/feature_store_support.py
"""Every feature store route asks Cedar for its own action on the platform (all in data_access): the
roles holding data_access pass, a model reviewer is refused (403, the action named) with nothing
written; and a start retried with the same Idempotency-Key starts one job."""

from __future__ import annotations

import pytest

from tests.support.api import ApiResponse
from tests.support.authz import claims
from tests.unit.data.feature_store_support import (
    GROUP,
    FeatureWorld,
    Untouched,
    api,
    definition,
    ok,
    untouched,  # noqa: F401 - a fixture
    world,  # noqa: F401 - a fixture
)

ROUTES = {
    "put_feature_group": "PutFeatureGroup",
    "list_feature_groups": "ListFeatureGroups",
    "get_feature_group": "GetFeatureGroup",
    "get_feature_group_version": "GetFeatureGroup",
    "start_feature_ingestion": "IngestFeatures",
    "get_feature_ingestion": "GetFeatureGroup",
    "put_feature_records": "PutFeatureRecords",
    "start_materialization": "MaterializeFeatures",
    "get_online_features": "GetOnlineFeatures",
    "create_training_set": "CreateTrainingSet",
    "get_training_set": "GetTrainingSet",
}
SAMPLES = {"start_materialization": "data_start_feature_materialization"}


def call_as(route: str, role: str) -> ApiResponse:
    return api(route, sample=SAMPLES.get(route, f"data_{route}"), claims=claims(role))


@pytest.mark.parametrize(("route", "action"), sorted(ROUTES.items()))
def test_a_model_reviewer_is_refused_every_route_and_nothing_is_written(
    world: FeatureWorld, untouched: Untouched, route: str, action: str
) -> None:
    world.define()

    with untouched:
        response = call_as(route, "model_reviewer")

    assert (response.status, response.error_code) == (403, "access_denied")
    assert response.body["error"]["details"][0]["action"] == action


@pytest.mark.parametrize("role", ["ml_engineer", "data_scientist", "admin"])
@pytest.mark.parametrize("route", sorted(ROUTES))
def test_the_data_access_roles_pass_authorization_on_every_route(
    world: FeatureWorld, route: str, role: str
) -> None:
    world.define()

    response = call_as(route, role)

    # Past authorization a sample may still name what does not exist (404) or cannot be done (422).
    assert response.status != 403, response.body


def test_a_start_retried_with_the_same_idempotency_key_starts_one_job(world: FeatureWorld) -> None:
    world.define(definition())
    headers = {"Idempotency-Key": "materialise-customer-activity-1"}
    sample = SAMPLES["start_materialization"]

    first = ok(
        api("start_materialization", sample=sample, body={}, path={"group": GROUP}, headers=headers), 202
    )
    again = ok(
        api("start_materialization", sample=sample, body={}, path={"group": GROUP}, headers=headers), 202
    )

    assert again["materialization_id"] == first["materialization_id"]
    assert len(world.executions()) == 1
