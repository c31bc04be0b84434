"""A webhook delivery through the route and the real pipeline service: the run it starts.

The pipeline is stored through the API (its trigger rules land in the trigger index), then the
sample GitHub push is delivered to the webhook route with the real wiring: the run starts as the
pipeline's author, carries the commit in its trigger, and is audited.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cirrus_core.pipelines import webhooks, wiring
from tests.support.api import build_event, call
from tests.support.authz import USERS
from tests.unit.pipelines.api_support import PIPELINE_ID, PipelineWorld, state_machine_arn
from tests.unit.pipelines.webhook_support import GITHUB_REPOSITORY, github_delivery, store_secrets

PUSH_COMMIT = "9f2c4e1d7b3a8c6e5f4d2b1a0c9e8d7f6a5b4c3d"
TRIGGER = {
    "provider": "github",
    "repository": GITHUB_REPOSITORY,
    "branches": ["main", "release/*"],
    "events": ["push"],
    "parameters": {"seed": 7},
}


@pytest.fixture
def world(aws: Any) -> Iterator[PipelineWorld]:
    store_secrets(aws)
    webhooks.webhook_receiver.cache_clear()
    wiring.pipeline_service.cache_clear()
    world = PipelineWorld(aws)
    world.define(triggers=[TRIGGER])
    yield world
    webhooks.webhook_receiver.cache_clear()


def deliver(sample: str = "webhook_github_push", **parts: Any) -> Any:
    return call("webhook", build_event(sample, **parts), package="pipelines")


def test_a_push_starts_a_run_of_the_pipeline_acting_for_its_author(world: PipelineWorld) -> None:
    response = deliver()

    assert response.status == 202, response.body
    (run,) = response.body["runs"]
    assert run["pipeline_id"] == PIPELINE_ID
    (execution,) = world.executions()
    assert execution["executionArn"].endswith(
        f":execution:{state_machine_arn().rpartition(':')[2]}:{run['run_id']}"
    )
    document = world.execution_input(execution["executionArn"])
    assert document["trigger"] == {
        "type": "webhook",
        "detail": {
            "provider": "github",
            "repository": GITHUB_REPOSITORY,
            "event": "push",
            "branch": "main",
            "commit": PUSH_COMMIT,
            "delivery_id": "6f1e0a52-1f9b-11ef-8b3e-2a1d5c7e9f00",
            "sender": "octo-alice",
        },
    }
    assert document["parameters"]["seed"] == 7
    assert document["actor"]["sub"] == USERS["admin"][0]  # who stored the definition


def test_the_started_run_is_audited_as_its_author(world: PipelineWorld) -> None:
    response = deliver()

    (record,) = world.audit("trigger_pipeline")
    assert (record.actor_sub, record.actor) == USERS["admin"]
    assert record.resource == f"pipeline/{PIPELINE_ID}/run/{response.body['runs'][0]['run_id']}"


def test_a_replayed_push_starts_no_second_run(world: PipelineWorld) -> None:
    assert deliver().status == 202

    replay = deliver()

    assert (replay.status, replay.body["duplicate"], replay.body["runs"]) == (200, True, [])
    assert len(world.executions()) == 1


def test_a_push_to_an_unwatched_branch_starts_nothing(world: PipelineWorld) -> None:
    delivery = github_delivery(ref="refs/heads/feature/x")
    event = build_event("webhook_github_push", raw_body=delivery.body.decode(), headers=delivery.headers)

    response = call("webhook", event, package="pipelines")

    assert (response.status, response.body["runs"]) == (200, [])
    assert world.executions() == []


def test_redefining_the_pipeline_without_triggers_stops_its_webhook_runs(world: PipelineWorld) -> None:
    world.define(triggers=[])

    response = deliver()

    assert (response.status, response.body["ignored"]) == (200, "no_matching_trigger")
    assert world.executions() == []
