# ruff: noqa: F811 - the fixtures `world` and `untouched` come from tests/unit/data/feature_store_support.py
"""Ingestion through the API and the feature state machine: a dataset version becomes one offline
partition of the group version holding exactly its rows, cast to the group's types; a dataset that
does not fit is refused before the job starts when its schema shows it (422, nothing written) and by
the job when its values do (the ingestion ends failed with the problems, no partition written)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.authz import claims
from tests.unit.data.feature_store_support import (  # noqa: F401 - fixtures
    GROUP,
    FeatureWorld,
    Untouched,
    api,
    ok,
    untouched,
    world,
)

ROWS = (
    "SELECT * FROM (VALUES "
    "(1::BIGINT, TIMESTAMPTZ '2024-06-01 10:00:00+00', 3::INTEGER, 30.5::DOUBLE, 'loyal'), "
    "(2::BIGINT, TIMESTAMPTZ '2024-06-01 11:00:00+00', 0::INTEGER, NULL::DOUBLE, NULL::VARCHAR), "
    "(1::BIGINT, TIMESTAMPTZ '2024-06-02 10:00:00+00', 5::INTEGER, 51.0::DOUBLE, 'loyal')"
    ") AS t(customer_id, event_time, orders_7d, spend_7d, segment)"
)

ONE_ROW = (
    "SELECT {key} AS customer_id, TIMESTAMPTZ '2024-06-01 10:00:00+00' AS event_time, {orders} AS orders_7d"
)


def ingest(dataset: str = "dataset:activity@1", **parts: Any) -> Any:
    return api("start_feature_ingestion", body={"dataset": dataset}, path={"group": GROUP}, **parts)


def at(day: int, hour: int) -> datetime:
    return datetime(2024, 6, day, hour, tzinfo=UTC)


def test_ingestion_writes_the_offline_partition_with_exactly_the_rows(
    world: FeatureWorld, tmp_path: Path
) -> None:
    world.define()
    world.dataset("activity", ROWS, tmp_path)

    started = ok(ingest(), 202)
    (outcome,) = world.run_jobs()

    job_id = started["ingestion_id"]
    key = f"features/{GROUP}/offline/v1/{job_id}/part-00000.parquet"
    assert (started["status"], outcome["status"], outcome["rows"]) == ("running", "succeeded", 3)
    assert world.objects(f"features/{GROUP}/") == [key]
    assert sorted(world.read_parquet(key, tmp_path)) == [
        (1, at(1, 10), 3, 30.5, "loyal"),
        (1, at(2, 10), 5, 51.0, "loyal"),
        (2, at(1, 11), 0, None, None),
    ]
    job = ok(api("get_feature_ingestion", path={"group": GROUP, "ingestion_id": job_id}))
    assert (job["status"], job["rows"], job["files"][0]["key"]) == ("succeeded", 3, key)
    assert (job["dataset"], job["dataset_version"]) == ("activity", 1)


def test_the_partition_holds_the_groups_types_and_nulls_for_an_absent_nullable_feature(
    world: FeatureWorld, tmp_path: Path
) -> None:
    world.define()
    world.dataset(
        "activity",
        "SELECT 7::INTEGER AS customer_id, TIMESTAMP '2024-06-01 10:00:00' AS event_time, '4' AS orders_7d",
        tmp_path,
    )

    started = ok(ingest(), 202)
    world.run_jobs()

    key = f"features/{GROUP}/offline/v1/{started['ingestion_id']}/part-00000.parquet"
    assert world.read_parquet(key, tmp_path) == [(7, at(1, 10), 4, None, None)]


def test_a_finished_ingestion_is_announced_and_the_group_has_data(
    world: FeatureWorld, tmp_path: Path
) -> None:
    world.define()
    world.dataset("activity", ROWS, tmp_path)

    started = ok(ingest(), 202)
    world.run_jobs()

    (event,) = [e for e in world.data_events() if e["detail-type"] == "features.ingested"]
    assert event["detail"]["data"]["ingestion_id"] == started["ingestion_id"]
    assert (event["detail"]["data"]["rows"], event["detail"]["data"]["dataset_version"]) == (3, 1)
    assert ok(api("get_feature_group", path={"group": GROUP}))["has_data"] is True


@pytest.mark.parametrize(
    ("select", "column", "problem"),
    [
        (
            "SELECT TIMESTAMPTZ '2024-06-01 10:00:00+00' AS event_time, 1 AS orders_7d",
            "customer_id",
            "missing",
        ),
        ("SELECT 1::BIGINT AS customer_id, 1 AS orders_7d", "event_time", "missing"),
        (
            "SELECT 1::BIGINT AS customer_id, TIMESTAMPTZ '2024-06-01 10:00:00+00' AS event_time",
            "orders_7d",
            "missing",
        ),
        (
            "SELECT 1::BIGINT AS customer_id, TIMESTAMPTZ '2024-06-01 10:00:00+00' AS event_time, "
            "1 AS orders_7d, DATE '2024-01-01' AS spend_7d",
            "spend_7d",
            "type_not_castable",
        ),
    ],
    ids=["no_entity_key", "no_event_time", "no_non_nullable_feature", "uncastable_type"],
)
def test_a_dataset_whose_schema_does_not_fit_is_refused_and_nothing_is_written(
    world: FeatureWorld, untouched: Untouched, tmp_path: Path, select: str, column: str, problem: str
) -> None:
    world.define()
    world.dataset("activity", select, tmp_path)

    with untouched:
        response = ingest()

    assert (response.status, response.error_code) == (422, "incompatible_feature_data")
    assert [(d["column"], d["problem"]) for d in response.body["error"]["details"]] == [(column, problem)]


@pytest.mark.parametrize(
    ("select", "column", "problem"),
    [
        (ONE_ROW.format(key="'x'", orders="1::BIGINT"), "customer_id", "uncastable_values"),
        (ONE_ROW.format(key="'1'", orders="2.5::DOUBLE"), "orders_7d", "not_whole"),
        (ONE_ROW.format(key="'1'", orders="NULL::DOUBLE"), "orders_7d", "null_not_allowed"),
    ],
    ids=["key_not_an_integer", "fraction_for_an_int64", "null_in_a_non_nullable_feature"],
)
def test_values_that_do_not_fit_fail_the_ingestion_with_its_problems_and_no_partition(
    world: FeatureWorld, tmp_path: Path, select: str, column: str, problem: str
) -> None:
    world.define()
    world.dataset("activity", select, tmp_path)
    started = ok(ingest(), 202)

    (outcome,) = world.run_jobs()

    assert outcome["status"] == "failed"
    job = ok(api("get_feature_ingestion", path={"group": GROUP, "ingestion_id": started["ingestion_id"]}))
    assert job["status"] == "failed"
    assert [(p["column"], p["problem"], p["rows"]) for p in job["problems"]] == [(column, problem, 1)]
    assert world.objects(f"features/{GROUP}/") == []
    assert not [e for e in world.data_events() if e["detail-type"] == "features.ingested"]


@pytest.mark.parametrize(
    ("group", "dataset", "status", "code"),
    [
        ("nope", "dataset:activity@1", 404, "feature_group_not_found"),
        (GROUP, "dataset:nothing@1", 404, "dataset_not_found"),
        (GROUP, "dataset:activity@9", 404, "dataset_version_not_found"),
    ],
    ids=["unknown_group", "unknown_dataset", "unknown_dataset_version"],
)
def test_an_ingestion_naming_something_unknown_is_refused_and_writes_nothing(
    world: FeatureWorld,
    untouched: Untouched,
    tmp_path: Path,
    group: str,
    dataset: str,
    status: int,
    code: str,
) -> None:
    world.define()
    world.dataset("activity", ROWS, tmp_path)

    with untouched:
        response = api("start_feature_ingestion", body={"dataset": dataset}, path={"group": group})

    assert (response.status, response.error_code) == (status, code)


def test_an_unknown_ingestion_is_404(world: FeatureWorld) -> None:
    world.define()

    response = api("get_feature_ingestion", path={"group": GROUP, "ingestion_id": "0" * 32})

    assert (response.status, response.error_code) == (404, "ingestion_not_found")


def test_the_ingestion_is_audited_and_runs_as_an_execution_named_by_its_id(
    world: FeatureWorld, tmp_path: Path
) -> None:
    world.define()
    world.dataset("activity", ROWS, tmp_path)

    started = ok(ingest(), 202)

    (execution,) = world.executions()
    assert execution["name"] == started["ingestion_id"]
    assert execution["executionArn"] == started["execution_arn"]
    assert world.audit_actions()[-1] == "start_feature_ingestion"


def test_a_model_reviewer_may_not_start_an_ingestion(
    world: FeatureWorld, untouched: Untouched, tmp_path: Path
) -> None:
    world.define()
    world.dataset("activity", ROWS, tmp_path)

    with untouched:
        response = ingest(claims=claims("model_reviewer"))

    assert (response.status, response.error_code) == (403, "access_denied")
    assert response.body["error"]["details"][0]["action"] == "IngestFeatures"
