# ruff: noqa: F811 - the fixture `world` comes from tests/unit/data/feature_store_support.py
"""GET of a materialisation: its status and counts, so a caller can follow the job it started."""

from __future__ import annotations

from pathlib import Path

from tests.support.api import ApiResponse
from tests.support.authz import claims
from tests.unit.data.feature_store_support import GROUP, FeatureWorld, api, ok, world  # noqa: F401
from tests.unit.data.test_feature_store_online import ROWS

UNKNOWN_ID = "018fd3c2a4c07a3f1b2c3d4e5f607199"


def get(materialization_id: str, group: str = GROUP, **parts: object) -> ApiResponse:
    return api(
        "get_materialization",
        path={"group": group, "materialization_id": materialization_id},
        **parts,
    )


def test_a_materialization_is_read_back_running_then_with_its_counts(
    world: FeatureWorld, tmp_path: Path
) -> None:
    world.define()
    world.dataset("activity", ROWS, tmp_path)
    ok(api("start_feature_ingestion", body={"dataset": "dataset:activity@1"}, path={"group": GROUP}), 202)
    world.run_jobs()
    sample = "data_start_feature_materialization"
    started = ok(api("start_materialization", sample=sample, body={}, path={"group": GROUP}), 202)

    running = ok(get(started["materialization_id"]))
    world.run_jobs()
    finished = ok(get(started["materialization_id"]))

    assert running["status"] == "running"
    assert (finished["status"], finished["entities"], finished["written"], finished["skipped"]) == (
        "succeeded",
        2,
        2,
        0,
    )


def test_an_unknown_materialization_is_not_found(world: FeatureWorld) -> None:
    world.define()

    response = get(UNKNOWN_ID)

    assert response.status == 404
    assert response.error_code == "materialization_not_found"


def test_a_model_reviewer_may_not_read_materializations(world: FeatureWorld) -> None:
    world.define()

    response = get(UNKNOWN_ID, claims=claims("model_reviewer"))

    assert response.status == 403
