"""A pipeline's runs: list them, read one step by step, cancel a running one, retry a failed one.

moto's mock Step Functions backend keeps runs RUNNING; tests move them on with `world.finish`.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.pipelines.api_support import (
    NOBODY,
    PIPELINE_ID,
    REVIEWER,
    SCIENTIST,
    PipelineWorld,
    Untouched,
    api,
    ok,
    run_path,
    sample_definition,
    subject,
)


@pytest.fixture
def world(aws: Any) -> PipelineWorld:
    world = PipelineWorld(aws)
    world.define()
    return world


@pytest.fixture
def untouched(world: PipelineWorld) -> Untouched:
    return Untouched(world)


@pytest.fixture
def run(world: PipelineWorld) -> dict[str, Any]:
    """A run of the sample pipeline, started by alice (ml_engineer), still RUNNING."""
    return world.execute()


# -- listing ------------------------------------------------------------------------------------------


def test_runs_are_listed_newest_first(world: PipelineWorld) -> None:
    started = [world.execute()["run_id"] for _ in range(3)]

    body = ok(api("list_runs"), 200)

    assert [item["run_id"] for item in body["items"]] == started[::-1]
    assert {item["status"] for item in body["items"]} == {"RUNNING"}
    assert body["items"][0]["links"]["self"].endswith(f"/runs/{started[-1]}")
    assert body["next_token"] is None


def test_runs_page_with_an_opaque_token(world: PipelineWorld) -> None:
    started = [world.execute()["run_id"] for _ in range(3)]

    seen: list[str] = []
    token = None
    for _ in range(5):
        query = {"limit": "2", **({"next_token": token} if token else {})}
        page = ok(api("list_runs", query=query), 200)
        seen.extend(item["run_id"] for item in page["items"])
        token = page["next_token"]
        if token is None:
            break

    assert seen == started[::-1]


def test_runs_are_filtered_by_status(world: PipelineWorld) -> None:
    failed = world.execute()
    world.execute()
    world.finish(failed["execution_arn"], "FAILED")

    body = ok(api("list_runs", query={"status": "FAILED"}), 200)

    assert [(item["run_id"], item["status"]) for item in body["items"]] == [(failed["run_id"], "FAILED")]
    assert body["items"][0]["stopped_at"] is not None


def test_a_token_of_another_listing_is_refused(world: PipelineWorld) -> None:
    for _ in range(3):
        world.execute()
    token = ok(api("list_runs", query={"limit": "1"}), 200)["next_token"]

    response = api("list_runs", query={"limit": "1", "status": "FAILED", "next_token": token})

    assert (response.status, response.error_code) == (400, "invalid_next_token")


def test_a_token_this_api_did_not_issue_is_refused(world: PipelineWorld) -> None:
    response = api("list_runs", query={"next_token": "not-a-token"})

    assert (response.status, response.error_code) == (400, "invalid_next_token")


def test_the_runs_of_an_unknown_pipeline_are_not_found(world: PipelineWorld) -> None:
    response = api("list_runs", path={"pipeline_id": "nope"})

    assert (response.status, response.error_code) == (404, "pipeline_not_found")


def test_the_built_in_pipelines_runs_are_listed(world: PipelineWorld) -> None:
    started = world.execute(pipeline_id="training", parameters={"data_source": "s3://data/x.csv"})

    body = ok(api("list_runs", path={"pipeline_id": "training"}), 200)

    assert [item["run_id"] for item in body["items"]] == [started["run_id"]]


# -- one run ------------------------------------------------------------------------------------------


def test_a_run_shows_its_status_parameters_trigger_actor_and_steps(run: dict[str, Any]) -> None:
    body = ok(api("get_run", path=run_path(run["run_id"])), 200)

    assert (body["run_id"], body["status"], body["definition_version"]) == (run["run_id"], "RUNNING", 1)
    assert body["execution_arn"] == run["execution_arn"]
    assert body["parameters"]["target_accuracy"] == 0.92
    assert body["trigger"] == {"type": "api", "detail": {}}
    assert body["actor"] == {
        "sub": subject("ml_engineer"),
        "username": "alice@example.com",
        "groups": ["ml_engineer"],
    }
    steps = [step["name"] for step in body["steps"] if step["kind"] == "step"]
    assert steps == ["preprocess", "features", "train", "evaluate", "deploy"]
    assert (body["failure"], body["registration"], body["stopped_at"]) == (None, None, None)
    assert body["links"]["cancel"].endswith(f"/runs/{run['run_id']}/cancel")


def test_a_failed_run_says_why(world: PipelineWorld, run: dict[str, Any]) -> None:
    world.finish(run["execution_arn"], "FAILED", error="PipelineFailed", cause="train: AlgorithmError")

    body = ok(api("get_run", path=run_path(run["run_id"])), 200)

    assert body["status"] == "FAILED"
    assert body["failure"]["error"] == "PipelineFailed"
    assert body["failure"]["cause"] == "train: AlgorithmError"


def test_a_succeeded_run_names_the_version_it_registered(world: PipelineWorld, run: dict[str, Any]) -> None:
    registration = {"model_id": PIPELINE_ID, "version": 3, "approval_status": "PendingManualApproval"}
    world.finish(run["execution_arn"], "SUCCEEDED", output={"registration": registration, "steps": {}})

    body = ok(api("get_run", path=run_path(run["run_id"])), 200)

    assert body["status"] == "SUCCEEDED"
    assert body["registration"] == registration
    assert body["failure"] is None


def test_an_unknown_run_is_not_found(world: PipelineWorld) -> None:
    response = api("get_run", path=run_path("20240101T000000Z-00000000"))

    assert (response.status, response.error_code) == (404, "run_not_found")


def test_a_run_of_another_pipeline_is_not_found_under_this_one(
    world: PipelineWorld, run: dict[str, Any]
) -> None:
    world.define(pipeline_id="other")

    response = api("get_run", path=run_path(run["run_id"], "other"))

    assert (response.status, response.error_code) == (404, "run_not_found")


@pytest.mark.parametrize("caller", [REVIEWER, SCIENTIST], ids=["model_reviewer", "data_scientist"])
def test_every_role_reads_runs(run: dict[str, Any], caller: dict[str, str]) -> None:
    assert api("get_run", path=run_path(run["run_id"]), claims=caller).status == 200
    assert api("list_runs", claims=caller).status == 200


def test_a_user_in_no_role_reads_no_runs(run: dict[str, Any]) -> None:
    response = api("get_run", path=run_path(run["run_id"]), claims=NOBODY)

    assert (response.status, response.error_code) == (403, "access_denied")


# -- cancelling ---------------------------------------------------------------------------------------


def test_a_running_run_is_cancelled(world: PipelineWorld, run: dict[str, Any]) -> None:
    body = ok(api("cancel_run", path=run_path(run["run_id"])), 200)

    assert (body["run_id"], body["status"]) == (run["run_id"], "ABORTED")
    assert body["stopped_at"] is not None
    (execution,) = world.executions()
    assert execution["status"] == "ABORTED"
    (record,) = world.audit("cancel_pipeline_run")
    assert (record.resource, record.actor) == (
        f"pipeline/{PIPELINE_ID}/run/{run['run_id']}",
        "alice@example.com",
    )


def test_a_data_scientist_cancels_runs_too(run: dict[str, Any]) -> None:
    assert api("cancel_run", path=run_path(run["run_id"]), claims=SCIENTIST).status == 200


@pytest.mark.parametrize("status", ["ABORTED", "SUCCEEDED", "FAILED", "TIMED_OUT"])
def test_a_run_that_is_not_running_cannot_be_cancelled(
    world: PipelineWorld, untouched: Untouched, run: dict[str, Any], status: str
) -> None:
    world.finish(run["execution_arn"], status)

    with untouched:
        response = api("cancel_run", path=run_path(run["run_id"]))

    assert (response.status, response.error_code) == (409, "run_not_cancellable")
    assert response.body["error"]["details"] == [{"run_id": run["run_id"], "status": status}]


def test_a_model_reviewer_may_not_cancel_runs(untouched: Untouched, run: dict[str, Any]) -> None:
    with untouched:
        response = api("cancel_run", path=run_path(run["run_id"]), claims=REVIEWER)

    assert (response.status, response.error_code) == (403, "access_denied")


def test_cancelling_an_unknown_run_is_not_found(untouched: Untouched) -> None:
    with untouched:
        response = api("cancel_run", path=run_path("20240101T000000Z-00000000"))

    assert (response.status, response.error_code) == (404, "run_not_found")


# -- retrying -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["FAILED", "TIMED_OUT", "ABORTED"])
def test_a_finished_unsuccessful_run_is_retried_with_its_input_as_the_caller(
    world: PipelineWorld, run: dict[str, Any], status: str
) -> None:
    world.finish(run["execution_arn"], status)

    body = ok(api("retry_run", path=run_path(run["run_id"]), claims=SCIENTIST), 202)

    assert body["run_id"] != run["run_id"]
    assert body["trigger"] == {"type": "retry", "detail": {"retry_of": run["run_id"]}}
    original = world.execution_input(run["execution_arn"])
    retried = world.execution_input(body["execution_arn"])
    assert retried["pipeline"] == original["pipeline"]
    assert retried["parameters"] == original["parameters"]
    assert retried["actor"] == {
        "sub": subject("data_scientist"),
        "username": "dana@example.com",
        "groups": ["data_scientist"],
    }
    assert retried["trigger"] == body["trigger"]
    (record,) = world.audit("retry_pipeline_run")
    assert record.resource == f"pipeline/{PIPELINE_ID}/run/{body['run_id']}"


@pytest.mark.parametrize("status", ["RUNNING", "SUCCEEDED"])
def test_a_running_or_succeeded_run_is_not_retried(
    world: PipelineWorld, untouched: Untouched, run: dict[str, Any], status: str
) -> None:
    if status != "RUNNING":
        world.finish(run["execution_arn"], status)

    with untouched:
        response = api("retry_run", path=run_path(run["run_id"]))

    assert (response.status, response.error_code) == (409, "run_not_retryable")
    assert response.body["error"]["details"][0]["status"] == status


def test_a_run_of_an_earlier_definition_is_not_retried(world: PipelineWorld, run: dict[str, Any]) -> None:
    world.finish(run["execution_arn"], "FAILED")
    world.define(description="Changed since.", steps=sample_definition()["steps"][:3])

    with Untouched(world):
        response = api("retry_run", path=run_path(run["run_id"]))

    assert (response.status, response.error_code) == (409, "run_not_retryable")
    assert response.body["error"]["details"][0]["definition_version"] == 2


def test_a_model_reviewer_may_not_retry_runs(
    world: PipelineWorld, untouched: Untouched, run: dict[str, Any]
) -> None:
    world.finish(run["execution_arn"], "FAILED")

    with untouched:
        response = api("retry_run", path=run_path(run["run_id"]), claims=REVIEWER)

    assert (response.status, response.error_code) == (403, "access_denied")


def test_retrying_an_unknown_run_is_not_found(untouched: Untouched) -> None:
    with untouched:
        response = api("retry_run", path=run_path("20240101T000000Z-00000000"))

    assert (response.status, response.error_code) == (404, "run_not_found")


def test_a_retried_retry_request_with_an_idempotency_key_starts_one_run(
    world: PipelineWorld, run: dict[str, Any]
) -> None:
    world.finish(run["execution_arn"], "FAILED")
    headers = {"Idempotency-Key": "retry-once-0001"}

    first = ok(api("retry_run", path=run_path(run["run_id"]), headers=headers), 202)
    again = ok(api("retry_run", path=run_path(run["run_id"]), headers=headers), 202)

    assert again["run_id"] == first["run_id"]
    assert len(world.executions()) == 2
