# ruff: noqa: F811 - the fixtures `world` and `untouched` come from tests/unit/data/feature_store_support.py
"""The online store: materialisation writes every entity's latest row and never replaces a newer one;
streaming puts are checked whole, staged for the offline store and written online under the same
condition; online reads answer an entity's latest values or 404."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cirrus_core.data.online_store import OnlineRow, OnlineStore
from tests.support.authz import claims
from tests.support.aws import DATA_BUCKET
from tests.unit.data.feature_store_support import (  # noqa: F401 - fixtures
    GROUP,
    ONLINE_TABLE,
    FeatureWorld,
    Untouched,
    api,
    ok,
    untouched,
    world,
)

ROWS = (
    "SELECT * FROM (VALUES "
    "(1::BIGINT, TIMESTAMPTZ '2024-06-01 10:00:00+00', 3, 30.5, 'new'), "
    "(1::BIGINT, TIMESTAMPTZ '2024-06-03 10:00:00+00', 5, 51.0, 'loyal'), "
    "(1::BIGINT, TIMESTAMPTZ '2024-06-02 10:00:00+00', 4, 40.0, 'regular'), "
    "(2::BIGINT, TIMESTAMPTZ '2024-06-01 11:00:00+00', 0, NULL, NULL)"
    ") AS t(customer_id, event_time, orders_7d, spend_7d, segment)"
)


def record(customer: int, when: str, orders: int, **more: Any) -> dict[str, Any]:
    return {"customer_id": customer, "event_time": when, "orders_7d": orders, **more}


def put_records(records: list[Any], **parts: Any) -> Any:
    return api("put_feature_records", body={"records": records}, path={"group": GROUP}, **parts)


def online(entity: str, group: str = GROUP, features: str | None = None, **parts: Any) -> Any:
    query = {"entity": entity} if features is None else {"entity": entity, "features": features}
    return api("get_online_features", path={"group": group}, query=query, **parts)


@pytest.fixture
def ingested(world: FeatureWorld, tmp_path: Path) -> FeatureWorld:
    """The group, and the four rows above ingested (entity 1 three times, entity 2 once)."""
    world.define()
    world.dataset("activity", ROWS, tmp_path)
    ok(api("start_feature_ingestion", body={"dataset": "dataset:activity@1"}, path={"group": GROUP}), 202)
    world.run_jobs()
    return world


def run_materialization(world: FeatureWorld) -> dict[str, Any]:
    sample = "data_start_feature_materialization"
    ok(api("start_materialization", sample=sample, body={}, path={"group": GROUP}), 202)
    (outcome,) = world.run_jobs()
    return outcome


# -- materialisation ------------------------------------------------------------------------------------


def test_materialisation_writes_the_latest_row_of_every_entity(ingested: FeatureWorld) -> None:
    outcome = run_materialization(ingested)

    assert (outcome["status"], outcome["entities"], outcome["written"], outcome["skipped"]) == (
        "succeeded",
        2,
        2,
        0,
    )
    first = ok(online("1"))
    assert first["features"] == {"orders_7d": 5, "spend_7d": 51.0, "segment": "loyal"}
    assert datetime.fromisoformat(first["event_time"]) == datetime(2024, 6, 3, 10, tzinfo=UTC)
    assert ok(online("2"))["features"] == {"orders_7d": 0, "spend_7d": None, "segment": None}


def test_materialisation_never_replaces_a_newer_online_row(ingested: FeatureWorld) -> None:
    # A streaming put that lands after the materialiser read its input: only the online row has it.
    OnlineStore(ingested.aws.dynamodb, ONLINE_TABLE).put_latest(
        GROUP,
        1,
        [
            OnlineRow(
                "1", datetime(2024, 6, 9, tzinfo=UTC), {"orders_7d": 9, "spend_7d": 99.0, "segment": "vip"}
            )
        ],
    )

    outcome = run_materialization(ingested)

    assert (outcome["written"], outcome["skipped"]) == (1, 1)
    assert ok(online("1"))["features"]["orders_7d"] == 9


def test_a_streaming_put_newer_than_the_offline_data_survives_materialisation(ingested: FeatureWorld) -> None:
    ok(put_records([record(1, "2024-06-10T08:00:00+02:00", 12, spend_7d=120.0, segment="vip")]))

    run_materialization(ingested)

    first = ok(online("1"))
    assert first["features"] == {"orders_7d": 12, "spend_7d": 120.0, "segment": "vip"}
    assert datetime.fromisoformat(first["event_time"]) == datetime(2024, 6, 10, 6, tzinfo=UTC)


def test_materialisation_is_announced_with_its_counts(ingested: FeatureWorld) -> None:
    run_materialization(ingested)

    (event,) = [e for e in ingested.data_events() if e["detail-type"] == "features.materialized"]
    assert {k: event["detail"]["data"][k] for k in ("entities", "written", "skipped")} == {
        "entities": 2,
        "written": 2,
        "skipped": 0,
    }


# -- streaming puts -----------------------------------------------------------------------------------


def test_a_streaming_put_writes_online_and_stages_the_records(world: FeatureWorld) -> None:
    world.define()

    result = ok(
        put_records(
            [record(42, "2024-06-01T12:00:00Z", 3, spend_7d=129.5), record(7, "2024-06-01T12:00:00Z", 1)]
        )
    )

    assert (result["records"], result["written"], result["skipped"]) == (2, 2, 0)
    assert ok(online("42"))["features"] == {"orders_7d": 3, "spend_7d": 129.5, "segment": None}
    (key,) = world.objects(f"features/{GROUP}/staging/")
    assert key == result["staging_key"]
    assert key.endswith(".jsonl")
    body = world.aws.s3.get_object(Bucket=DATA_BUCKET, Key=key)["Body"].read().decode()
    lines = [json.loads(line) for line in body.splitlines()]
    assert [line["customer_id"] for line in lines] == [42, 7]
    assert lines[0]["event_time"] == "2024-06-01T12:00:00.000000+00:00"
    assert lines[0]["_group_version"] == 1
    assert world.audit_actions()[-1] == "put_feature_records"


def test_an_older_streaming_put_is_staged_but_does_not_replace_the_online_row(world: FeatureWorld) -> None:
    world.define()
    ok(put_records([record(42, "2024-06-02T00:00:00Z", 5)]))

    result = ok(put_records([record(42, "2024-06-01T00:00:00Z", 1)]))

    assert (result["written"], result["skipped"]) == (0, 1)
    assert ok(online("42"))["features"]["orders_7d"] == 5
    assert len(world.objects(f"features/{GROUP}/staging/")) == 2


@pytest.mark.parametrize(
    ("records", "problem"),
    [
        ([record(42, "2024-06-01T12:00:00Z", 3), {"customer_id": 7, "orders_7d": 1}], "missing"),
        ([record(42, "2024-06-01T12:00:00Z", "3")], "wrong_type"),
        ([record(42, "2024-06-01T12:00:00", 3)], "naive_timestamp"),
        ([record(42, "2024-06-01T12:00:00Z", 3, colour="red")], "unknown_column"),
    ],
    ids=["missing_event_time", "string_for_int64", "naive_time", "unknown_column"],
)
def test_records_that_do_not_fit_are_refused_whole_and_nothing_is_written(
    world: FeatureWorld, untouched: Untouched, records: list[Any], problem: str
) -> None:
    world.define()

    with untouched:
        response = put_records(records)

    assert (response.status, response.error_code) == (422, "invalid_feature_records")
    assert [d["problem"] for d in response.body["error"]["details"]] == [problem]


def test_records_for_an_unknown_group_are_404_and_nothing_is_written(
    world: FeatureWorld, untouched: Untouched
) -> None:
    with untouched:
        response = put_records([record(42, "2024-06-01T12:00:00Z", 3)])

    assert (response.status, response.error_code) == (404, "feature_group_not_found")


def test_a_model_reviewer_may_not_put_records(world: FeatureWorld, untouched: Untouched) -> None:
    world.define()

    with untouched:
        response = put_records([record(42, "2024-06-01T12:00:00Z", 3)], claims=claims("model_reviewer"))

    assert (response.status, response.error_code) == (403, "access_denied")


# -- online reads ------------------------------------------------------------------------------------------


def test_an_online_read_returns_the_entitys_features_and_where_they_came_from(world: FeatureWorld) -> None:
    world.define()
    ok(put_records([record(42, "2024-06-01T12:00:00Z", 3, spend_7d=129.5, segment="loyal")]))

    found = ok(online("42"))

    assert (found["group"], found["entity"], found["version"]) == (GROUP, "42", 1)
    assert found["features"] == {"orders_7d": 3, "spend_7d": 129.5, "segment": "loyal"}


def test_an_online_read_may_ask_for_some_features(world: FeatureWorld) -> None:
    world.define()
    ok(put_records([record(42, "2024-06-01T12:00:00Z", 3, spend_7d=129.5, segment="loyal")]))

    found = ok(online("42", features="segment,orders_7d"))

    assert found["features"] == {"segment": "loyal", "orders_7d": 3}


def test_an_unknown_entity_is_404_entity_not_found(world: FeatureWorld) -> None:
    world.define()
    ok(put_records([record(42, "2024-06-01T12:00:00Z", 3)]))

    response = online("43")

    assert (response.status, response.error_code) == (404, "entity_not_found")


def test_an_unknown_group_is_404_feature_group_not_found(world: FeatureWorld) -> None:
    response = online("42", group="nope")

    assert (response.status, response.error_code) == (404, "feature_group_not_found")


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"entity": "forty-two"}, "invalid_entity_key"),
        ({"entity": "42", "features": "colour"}, "feature_not_in_group"),
    ],
    ids=["not_an_int64_key", "unknown_feature"],
)
def test_an_online_read_the_group_cannot_answer_is_422(
    world: FeatureWorld, query: dict[str, str], code: str
) -> None:
    world.define()

    response = api("get_online_features", path={"group": GROUP}, query=query)

    assert (response.status, response.error_code) == (422, code)


def test_a_model_reviewer_may_not_read_online_features(world: FeatureWorld) -> None:
    world.define()

    response = online("42", claims=claims("model_reviewer"))

    assert (response.status, response.body["error"]["details"][0]["action"]) == (403, "GetOnlineFeatures")
