# ruff: noqa: F811 - the fixtures `world` and `untouched` come from tests/unit/data/feature_store_support.py
"""Point-in-time training sets through the API and the feature state machine.

The hand-checked example: customer 1 has offline rows on June 1, 3 and 5 (10:00); customer 2 on June 2
and 6 (12:00), and a streaming put on June 4. Each label row must get its customer's latest row at or
before its time (a row at exactly the label time counts), nothing for a label before every row or for
an unknown customer, and never a value from after the label's time.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cirrus_core.data.datasets import DatasetKind, VersionStatus
from cirrus_core.data.feature_models import read_step_event
from cirrus_core.data.features_wiring import feature_jobs
from tests.support.authz import claims
from tests.unit.data.feature_store_support import (
    GROUP,
    FeatureWorld,
    Untouched,
    api,
    ok,
    step,
    untouched,  # noqa: F401 - a fixture
    world,  # noqa: F401 - a fixture
)

FEATURES = (
    "SELECT * FROM (VALUES "
    "(1::BIGINT, TIMESTAMPTZ '2024-06-01 10:00:00+00', 1, 10.0, 'a'), "
    "(1::BIGINT, TIMESTAMPTZ '2024-06-03 10:00:00+00', 3, 30.0, 'c'), "
    "(1::BIGINT, TIMESTAMPTZ '2024-06-05 10:00:00+00', 5, 50.0, 'e'), "
    "(2::BIGINT, TIMESTAMPTZ '2024-06-02 12:00:00+00', 2, 20.0, 'b'), "
    "(2::BIGINT, TIMESTAMPTZ '2024-06-06 12:00:00+00', 6, NULL, 'f')"
    ") AS t(customer_id, event_time, orders_7d, spend_7d, segment)"
)
LABELS = (
    "SELECT * FROM (VALUES "
    "(1::BIGINT, TIMESTAMPTZ '2024-06-01 09:00:00+00', false), "
    "(1::BIGINT, TIMESTAMPTZ '2024-06-03 10:00:00+00', false), "
    "(1::BIGINT, TIMESTAMPTZ '2024-06-04 00:00:00+00', true), "
    "(2::BIGINT, TIMESTAMPTZ '2024-06-05 00:00:00+00', false), "
    "(2::BIGINT, TIMESTAMPTZ '2024-06-10 00:00:00+00', true), "
    "(3::BIGINT, TIMESTAMPTZ '2024-06-10 00:00:00+00', false), "
    "(1::BIGINT, TIMESTAMPTZ '2024-06-10 00:00:00+00', true)"
    ") AS t(customer_id, observed_at, churned)"
)


def day(number: int, hour: int = 0) -> datetime:
    return datetime(2024, 6, number, hour, tzinfo=UTC)


# label (customer, time, churned) -> the features it must get (orders, spend, segment).
EXPECTED = [
    (1, day(1, 9), False, None, None, None),  # before every row of customer 1
    (1, day(3, 10), False, 3, 30.0, "c"),  # a row at exactly the label time counts
    (1, day(4), True, 3, 30.0, "c"),
    (2, day(5), False, 4, 40.0, "d"),  # the streaming put of June 4 (staged)
    (2, day(10), True, 6, None, "f"),  # the latest row holds a null: it stays null
    (3, day(10), False, None, None, None),  # an unknown customer
    (1, day(10), True, 5, 50.0, "e"),
]
# Every feature row of the example: (customer, time, orders, spend, segment).
KNOWN_ROWS = [
    (1, day(1, 10), 1, 10.0, "a"),
    (1, day(3, 10), 3, 30.0, "c"),
    (1, day(5, 10), 5, 50.0, "e"),
    (2, day(2, 12), 2, 20.0, "b"),
    (2, day(4), 4, 40.0, "d"),
    (2, day(6, 12), 6, None, "f"),
]


@pytest.fixture
def example(world: FeatureWorld, tmp_path: Path) -> FeatureWorld:
    """The group with the example's rows (ingested and streamed) and the labels as `churn_labels` v1."""
    world.define()
    world.dataset("activity", FEATURES, tmp_path)
    ok(api("start_feature_ingestion", body={"dataset": "dataset:activity@1"}, path={"group": GROUP}), 202)
    world.run_jobs()
    streamed = {"customer_id": 2, "event_time": "2024-06-04T00:00:00Z", "orders_7d": 4, "spend_7d": 40.0}
    ok(api("put_feature_records", body={"records": [{**streamed, "segment": "d"}]}, path={"group": GROUP}))
    world.dataset("churn_labels", LABELS, tmp_path)
    return world


def request(**group: Any) -> dict[str, Any]:
    return {
        "dataset": "churn_training",
        "labels": {"dataset": "dataset:churn_labels@1", "label_time": "observed_at"},
        "feature_groups": [{"group": GROUP, "features": ["orders_7d", "spend_7d", "segment"], **group}],
    }


def create(body: dict[str, Any], **parts: Any) -> Any:
    return api("create_training_set", body=body, **parts)


def build(world: FeatureWorld, body: dict[str, Any]) -> dict[str, Any]:
    started = ok(create(body), 202)
    world.run_jobs()
    return ok(api("get_training_set", path={"training_set_id": started["training_set_id"]}))


def rows_of(world: FeatureWorld, training_set: dict[str, Any], tmp_path: Path) -> list[tuple[Any, ...]]:
    version = world.datasets.ready_version(training_set["dataset"], training_set["dataset_version"])
    return [row for file in version.files for row in world.read_parquet(file.key, tmp_path)]


def test_each_label_gets_the_latest_row_at_or_before_its_time(example: FeatureWorld, tmp_path: Path) -> None:
    training_set = build(example, request())

    assert (training_set["status"], training_set["row_count"]) == ("ready", 7)
    assert rows_of(example, training_set, tmp_path) == EXPECTED


def test_no_label_gets_a_value_from_after_its_time(example: FeatureWorld, tmp_path: Path) -> None:
    rows = rows_of(example, build(example, request()), tmp_path)

    for customer, label_time, _, *features in rows:
        if features == [None, None, None]:
            continue
        sources = [row for row in KNOWN_ROWS if row[0] == customer and list(row[2:]) == features]
        assert sources, f"{features} is no row of customer {customer}"
        assert all(source[1] <= label_time for source in sources)


def test_max_age_leaves_out_rows_older_than_it(example: FeatureWorld, tmp_path: Path) -> None:
    rows = rows_of(example, build(example, request(max_age="P2D")), tmp_path)

    assert [row[3] for row in rows] == [None, 3, 3, 4, None, None, None]


def test_the_prefix_names_the_feature_columns(example: FeatureWorld, tmp_path: Path) -> None:
    training_set = build(example, request(prefix="activity__", features=["orders_7d"]))

    version = example.datasets.ready_version("churn_training", training_set["dataset_version"])
    assert [(c.name, c.type) for c in version.columns] == [
        ("customer_id", "int64"),
        ("observed_at", "timestamp[us, tz=UTC]"),
        ("churned", "bool"),
        ("activity__orders_7d", "int64"),
    ]


def test_the_dataset_versions_lineage_names_the_labels_and_the_group_versions(example: FeatureWorld) -> None:
    training_set = build(example, request())

    version = example.datasets.ready_version("churn_training", training_set["dataset_version"])
    assert (version.kind, version.status) == (DatasetKind.TRAINING_SET, VersionStatus.READY)
    assert [(i.dataset, i.version) for i in version.lineage.inputs] == [("churn_labels", 1)]
    assert [(g.group, g.version, g.features) for g in version.lineage.feature_groups] == [
        (GROUP, 1, ["orders_7d", "spend_7d", "segment"])
    ]
    assert version.lineage.training_set == training_set["training_set_id"]
    assert (
        training_set["links"]["version"] == f"/api/v1/data/datasets/churn_training/versions/{version.version}"
    )


def test_a_built_training_set_is_announced(example: FeatureWorld) -> None:
    training_set = build(example, request())

    (event,) = [e for e in example.data_events() if e["detail-type"] == "training_set.created"]
    data = event["detail"]["data"]
    assert (data["training_set_id"], data["dataset"], data["version"]) == (
        training_set["training_set_id"],
        "churn_training",
        1,
    )
    assert data["labels"] == {"dataset": "churn_labels", "version": 1}


def test_a_failed_build_ends_the_training_set_and_its_dataset_version_failed(example: FeatureWorld) -> None:
    started = ok(create(request()), 202)
    (execution,) = [e for e in example.executions() if e["name"] == started["training_set_id"]]
    payload = {
        "input": json.loads(execution["input"]),
        "execution_name": execution["name"],
        "execution_start": execution["startDate"].isoformat(),
    }
    # The build allocated its dataset version, then timed out.
    jobs = feature_jobs()
    jobs.allocate_version(jobs.training_set(read_step_event(payload)))

    error = {"Error": "States.Timeout", "Cause": "took too long"}
    outcome = step("record_feature_job_failure", {**payload, "error": error})

    assert outcome["status"] == "failed"
    training_set = ok(api("get_training_set", path={"training_set_id": started["training_set_id"]}))
    assert (training_set["status"], training_set["failure"]) == ("failed", "took too long")
    version = example.datasets.require_version("churn_training", training_set["dataset_version"])
    assert version.status is VersionStatus.FAILED


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"feature_groups": [{"group": "nope"}]}, 404, "feature_group_not_found"),
        ({"feature_groups": [{"group": GROUP, "features": ["colour"]}]}, 422, "feature_not_in_group"),
        ({"feature_groups": [{"group": GROUP, "version": 4}]}, 404, "feature_group_version_not_found"),
        ({"labels": {"dataset": "dataset:nothing@1", "label_time": "observed_at"}}, 404, "dataset_not_found"),
        (
            {"labels": {"dataset": "dataset:churn_labels@1", "label_time": "when"}},
            422,
            "invalid_training_set",
        ),
        (
            {"feature_groups": [{"group": GROUP, "entity_column": "account"}]},
            422,
            "invalid_training_set",
        ),
        ({"dataset": "activity"}, 409, "dataset_kind_mismatch"),
    ],
    ids=[
        "unknown_group",
        "unknown_feature",
        "unknown_group_version",
        "unknown_label_dataset",
        "no_label_time_column",
        "no_entity_column",
        "output_dataset_of_another_kind",
    ],
)
def test_a_training_set_that_cannot_be_built_is_refused_and_writes_nothing(
    example: FeatureWorld, untouched: Untouched, change: dict[str, Any], status: int, code: str
) -> None:
    with untouched:
        response = create({**request(), **change})

    assert (response.status, response.error_code) == (status, code)


def test_feature_columns_that_clash_with_label_columns_are_refused(
    example: FeatureWorld, untouched: Untouched
) -> None:
    body = request()
    body["feature_groups"] = [{"group": GROUP, "features": ["orders_7d"]}] * 2

    with untouched:
        response = create(body)

    assert (response.status, response.error_code) == (422, "invalid_training_set")
    assert [d["problem"] for d in response.body["error"]["details"]] == ["column_clash"]


def test_an_unknown_training_set_is_404(world: FeatureWorld) -> None:
    response = api("get_training_set", path={"training_set_id": "0" * 32})

    assert (response.status, response.error_code) == (404, "training_set_not_found")


def test_a_model_reviewer_may_not_create_training_sets(example: FeatureWorld, untouched: Untouched) -> None:
    with untouched:
        response = create(request(), claims=claims("model_reviewer"))

    assert (response.status, response.body["error"]["details"][0]["action"]) == (403, "CreateTrainingSet")


def test_label_columns_keep_their_types_and_naive_label_times_are_read_as_utc(
    example: FeatureWorld, tmp_path: Path
) -> None:
    example.dataset(
        "churn_labels",
        "SELECT 1::BIGINT AS customer_id, TIMESTAMP '2024-06-03 10:00:00' AS observed_at, "
        "12.50::DECIMAL(6, 2) AS mrr",
        tmp_path,
    )
    body = request(features=["orders_7d"])
    body["labels"]["dataset"] = "dataset:churn_labels@2"

    training_set = build(example, body)

    version = example.datasets.ready_version("churn_training", training_set["dataset_version"])
    assert [(c.name, c.type) for c in version.columns] == [
        ("customer_id", "int64"),
        ("observed_at", "timestamp[us]"),
        ("mrr", "decimal128(6, 2)"),
        ("orders_7d", "int64"),
    ]
    ((*_, orders),) = rows_of(example, training_set, tmp_path)
    assert orders == 3
