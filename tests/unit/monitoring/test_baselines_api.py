"""POST /monitoring/baselines: a version's drift baseline built from a dataset in the artifact buckets
(CSV with a header row, or JSON Lines), stored in the monitoring bucket and linked to the version.

A refused request stores no baseline and links nothing.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from cirrus_core.registry.service import RegistryService
from tests.support.api import ApiResponse
from tests.support.authz import claims
from tests.support.aws import ALLOWLISTED_BUCKET
from tests.support.registry import MODEL_ID
from tests.unit.monitoring.support import (
    ARTIFACT_BUCKET,
    FEATURES,
    MONITORING_BUCKET,
    MonitoringWorld,
    Untouched,
    api,
    csv_dataset,
    feature_rows,
    ok,
    sample_body,
)

DATASET_KEY = "datasets/fraud/train.csv"  # the sample request's dataset
DATASET_URI = f"s3://{ARTIFACT_BUCKET}/{DATASET_KEY}"

pytestmark = pytest.mark.skipif(
    not hasattr(RegistryService, "link_baseline"), reason="the registry cannot link baselines yet"
)


@pytest.fixture
def registered(world: MonitoringWorld) -> MonitoringWorld:
    """Version 1 of the sample model, without a baseline, and the sample's training CSV (300 rows)."""
    world.register()
    world.aws.s3.put_object(
        Bucket=ARTIFACT_BUCKET, Key=DATASET_KEY, Body=csv_dataset(feature_rows(300, seed=1))
    )
    return world


def create(body: dict[str, Any] | None = None, **parts: Any) -> ApiResponse:
    return api("create_baseline", body=sample_body("create_baseline") if body is None else body, **parts)


def stored_baseline(world: MonitoringWorld, uri: str) -> dict[str, Any]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    document: dict[str, Any] = json.loads(world.aws.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    return document


def test_a_baseline_is_built_from_a_csv_dataset_leaving_the_target_out(registered: MonitoringWorld) -> None:
    view = ok(create(), 201)

    assert (view["model_id"], view["version"], view["row_count"]) == (MODEL_ID, 1, 300)
    assert view["features"] == [
        {"name": "amount", "kind": "numeric"},
        {"name": "age", "kind": "numeric"},
        {"name": "channel", "kind": "categorical"},
    ]
    assert (view["source_uri"], view["created_by"]) == (DATASET_URI, "alice@example.com")


def test_the_baseline_is_stored_in_the_monitoring_bucket_under_the_version(
    registered: MonitoringWorld,
) -> None:
    from cirrus_science.drift.baseline import Baseline

    view = ok(create(), 201)

    prefix = f"s3://{MONITORING_BUCKET}/baselines/{MODEL_ID}/v1/{view['fingerprint'][:16]}/"
    assert view["baseline_uri"] == f"{prefix}baseline.json"
    document = stored_baseline(registered, view["baseline_uri"])
    assert Baseline.from_dict(document).fingerprint == view["fingerprint"]
    assert document["metadata"]["source_uri"] == DATASET_URI
    assert document["metadata"]["target_column"] == "is_fraud"


def test_the_baseline_is_linked_to_the_version(registered: MonitoringWorld) -> None:
    view = ok(create(), 201)

    assert registered.registry.version(1)["baseline_uri"] == view["baseline_uri"]
    (record,) = registered.audit_records("link_baseline")
    assert (record.resource, record.actor) == (f"model/{MODEL_ID}/version/1", "alice@example.com")


def test_a_new_baseline_replaces_the_versions_earlier_one(registered: MonitoringWorld) -> None:
    first = ok(create(), 201)
    registered.aws.s3.put_object(
        Bucket=ARTIFACT_BUCKET, Key="datasets/fraud/recent.csv", Body=csv_dataset(feature_rows(200, seed=2))
    )

    second = ok(
        create(
            sample_body("create_baseline", dataset_uri=f"s3://{ARTIFACT_BUCKET}/datasets/fraud/recent.csv")
        ),
        201,
    )

    assert second["baseline_uri"] != first["baseline_uri"]
    assert registered.registry.version(1)["baseline_uri"] == second["baseline_uri"]


def test_a_baseline_may_be_built_from_json_lines_in_an_allowlisted_bucket(
    registered: MonitoringWorld,
) -> None:
    registered.aws.s3.create_bucket(Bucket=ALLOWLISTED_BUCKET)
    lines = "\n".join(json.dumps(row) for row in feature_rows(120, seed=3)) + "\n\n"
    registered.aws.s3.put_object(Bucket=ALLOWLISTED_BUCKET, Key="fraud/train.jsonl", Body=lines.encode())
    body = sample_body(
        "create_baseline",
        dataset_uri=f"s3://{ALLOWLISTED_BUCKET}/fraud/train.jsonl",
        format="jsonl",
        target_column=None,
    )

    view = ok(create(body), 201)

    assert view["row_count"] == 120
    assert [feature["name"] for feature in view["features"]] == list(FEATURES)


def test_columns_may_be_excluded_and_kinds_forced(registered: MonitoringWorld) -> None:
    body = sample_body("create_baseline", exclude_columns=["amount"], feature_types={"age": "categorical"})

    view = ok(create(body), 201)

    assert view["features"] == [
        {"name": "age", "kind": "categorical"},
        {"name": "channel", "kind": "categorical"},
    ]


def test_a_dataset_larger_than_the_row_limit_is_read_up_to_it(registered: MonitoringWorld) -> None:
    registered.aws.s3.put_object(
        Bucket=ARTIFACT_BUCKET, Key=DATASET_KEY, Body=csv_dataset(feature_rows(1500, seed=4))
    )

    view = ok(create(), 201)

    assert view["row_count"] == 1000  # BASELINE_MAX_ROWS in the tests' environment


# -- refusals ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "s3://someone-elses-bucket/train.csv",
        f"s3://{MONITORING_BUCKET}/baselines/train.csv",
        f"s3://{ARTIFACT_BUCKET}/datasets/fraud/",
        f"https://{ARTIFACT_BUCKET}.s3.amazonaws.com/{DATASET_KEY}",
    ],
)
def test_a_dataset_outside_the_artifact_buckets_is_refused_and_nothing_is_linked(
    registered: MonitoringWorld, untouched: Untouched, uri: str
) -> None:
    with untouched:
        response = create(sample_body("create_baseline", dataset_uri=uri))

    assert response.status == 422
    assert response.error_code in {"invalid_baseline_source", "validation_error"}
    assert registered.registry.version(1)["baseline_uri"] is None


def test_a_bucket_outside_the_allowlist_says_which_field_is_wrong(registered: MonitoringWorld) -> None:
    response = create(sample_body("create_baseline", dataset_uri="s3://someone-elses-bucket/train.csv"))

    assert (response.status, response.error_code) == (422, "invalid_baseline_source")
    assert response.body["error"]["details"][0]["field"] == "dataset_uri"


@pytest.mark.parametrize(
    ("changes", "missing"),
    [
        ({"target_column": "label"}, ["label"]),
        ({"exclude_columns": ["customer_id", "amount"]}, ["customer_id"]),
    ],
)
def test_a_column_the_dataset_lacks_is_refused_and_nothing_is_linked(
    registered: MonitoringWorld, untouched: Untouched, changes: dict[str, Any], missing: list[str]
) -> None:
    with untouched:
        response = create(sample_body("create_baseline", **changes))

    assert (response.status, response.error_code) == (422, "invalid_baseline_source")
    assert response.body["error"]["details"] == [
        {"field": "target_column/exclude_columns", "missing": missing}
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "header"),
        (b"amount,amount\n1,2\n", "header"),
        (b"amount,age,channel,is_fraud\n", "no rows"),
        (b"amount,age,channel,is_fraud\n1,2,web\n", "row 2 has 3 cells"),
        (b"amount,age,channel,is_fraud\n\xff\xfe,1,web,0\n", "not valid csv"),
    ],
    ids=["empty", "duplicate-header", "no-rows", "short-row", "not-utf8"],
)
def test_a_dataset_that_is_not_a_table_is_refused_and_nothing_is_linked(
    registered: MonitoringWorld, untouched: Untouched, body: bytes, message: str
) -> None:
    registered.aws.s3.put_object(Bucket=ARTIFACT_BUCKET, Key=DATASET_KEY, Body=body)

    with untouched:
        response = create()

    assert (response.status, response.error_code) == (422, "invalid_baseline_source")
    assert message in response.body["error"]["message"]


def test_a_dataset_that_does_not_exist_is_refused(registered: MonitoringWorld, untouched: Untouched) -> None:
    with untouched:
        response = create(
            sample_body("create_baseline", dataset_uri=f"s3://{ARTIFACT_BUCKET}/datasets/missing.csv")
        )

    assert (response.status, response.error_code) == (422, "invalid_baseline_source")
    assert "cannot be read" in response.body["error"]["message"]


def test_kinds_forced_on_columns_the_dataset_lacks_are_refused(
    registered: MonitoringWorld, untouched: Untouched
) -> None:
    with untouched:
        response = create(sample_body("create_baseline", feature_types={"zip_code": "categorical"}))

    assert (response.status, response.error_code) == (422, "invalid_baseline_source")
    assert response.body["error"]["details"] == [{"field": "feature_types", "unknown": ["zip_code"]}]


def test_a_version_nobody_registered_is_not_found(registered: MonitoringWorld, untouched: Untouched) -> None:
    with untouched:
        response = create(sample_body("create_baseline", version=2))

    assert (response.status, response.error_code) == (404, "version_not_found")


def test_a_model_nobody_registered_is_not_found(world: MonitoringWorld, untouched: Untouched) -> None:
    with untouched:
        response = create()

    assert (response.status, response.error_code) == (404, "model_not_found")


def test_a_reviewer_may_not_build_baselines(registered: MonitoringWorld, untouched: Untouched) -> None:
    with untouched:
        response = create(claims=claims("model_reviewer"))

    assert (response.status, response.error_code) == (403, "access_denied")


def test_a_retired_versions_baseline_is_refused_and_nothing_is_stored(
    registered: MonitoringWorld, untouched: Untouched
) -> None:
    registered.registry.retire(1)

    with untouched:
        response = create()

    assert (response.status, response.error_code) == (409, "version_retired")


def test_a_retired_models_baseline_is_refused_and_nothing_is_stored(
    registered: MonitoringWorld, untouched: Untouched
) -> None:
    registered.registry.retire()

    with untouched:
        response = create()

    assert (response.status, response.error_code) == (409, "model_retired")
