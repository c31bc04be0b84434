"""GET /pipelines and GET /pipelines/{pipeline_id}: every Cirrus role reads pipelines; the built-in
`training` pipeline is listed and read like a stored one."""

from __future__ import annotations

from typing import Any

import pytest

from cirrus_core.pipelines.compiler import builtin_training_definition
from tests.unit.pipelines.api_support import (
    ENGINEER,
    NOBODY,
    REVIEWER,
    SCIENTIST,
    TRAINING_ARN,
    PipelineWorld,
    api,
    ok,
    sample_definition,
    state_machine_arn,
)


@pytest.fixture
def world(aws: Any) -> PipelineWorld:
    return PipelineWorld(aws)


@pytest.fixture
def defined(world: PipelineWorld) -> PipelineWorld:
    """The sample pipeline at version 2 (version 1 had no trigger)."""
    world.define(triggers=[])
    world.define()
    return world


def test_the_built_in_pipeline_is_listed_even_when_nothing_is_defined(world: PipelineWorld) -> None:
    body = ok(api("list_pipelines"), 200)

    (training,) = body["items"]
    assert (training["pipeline_id"], training["builtin"], training["state_machine_arn"]) == (
        "training",
        True,
        TRAINING_ARN,
    )
    assert training["step_count"] == len(builtin_training_definition().steps)
    assert body["next_token"] is None


def test_pipelines_are_listed_in_id_order_with_their_current_version(world: PipelineWorld) -> None:
    world.define(pipeline_id="zeta")
    world.define(pipeline_id="alpha")
    world.define(pipeline_id="alpha", description="Second version.")

    items = ok(api("list_pipelines"), 200)["items"]

    assert [(item["pipeline_id"], item["definition_version"]) for item in items] == [
        ("alpha", 2),
        ("training", 1),
        ("zeta", 1),
    ]
    alpha = items[0]
    assert (alpha["description"], alpha["builtin"], alpha["step_count"], alpha["trigger_count"]) == (
        "Second version.",
        False,
        5,
        1,
    )
    assert alpha["updated_by"] == "ada@example.com"
    assert alpha["links"]["runs"] == "/api/v1/pipelines/alpha/runs"


def test_the_listing_pages_with_an_opaque_token(world: PipelineWorld) -> None:
    for pipeline_id in ("b", "c", "d"):
        world.define(pipeline_id=pipeline_id)

    seen: list[str] = []
    token = None
    for _ in range(10):
        query = {"limit": "2", **({"next_token": token} if token else {})}
        page = ok(api("list_pipelines", query=query), 200)
        seen.extend(item["pipeline_id"] for item in page["items"])
        token = page["next_token"]
        if token is None:
            break

    assert seen == ["b", "c", "d", "training"]


def test_a_token_from_another_listing_is_refused(world: PipelineWorld) -> None:
    response = api("list_pipelines", query={"next_token": "eyJtIjoiZnJhdWQifQ"})  # {"m":"fraud"}

    assert (response.status, response.error_code) == (400, "invalid_next_token")


def test_a_pipeline_shows_its_current_definition_versions_triggers_and_state_machine(
    defined: PipelineWorld,
) -> None:
    body = ok(api("get_pipeline"), 200)

    assert (body["definition_version"], body["latest_version"]) == (2, 2)
    assert body["definition"]["default_parameters"] == sample_definition()["default_parameters"]
    assert [version["version"] for version in body["versions"]] == [2, 1]
    assert all(version["created_by"] == "ada@example.com" for version in body["versions"])
    assert body["triggers"] == [
        {
            "provider": "github",
            "repository": "acme/fraud-models",
            "branches": ["main"],
            "events": ["push"],
            "parameters": {},
        }
    ]
    assert body["state_machine_arn"] == state_machine_arn()
    assert body["stages"] == [["preprocess"], ["features"], ["train"], ["evaluate"]]
    assert "changed" not in body


def test_an_earlier_version_is_shown_when_asked_for(defined: PipelineWorld) -> None:
    body = ok(api("get_pipeline", query={"version": "1"}), 200)

    assert (body["definition_version"], body["latest_version"]) == (1, 2)
    assert body["triggers"] == []


def test_a_version_that_was_never_stored_is_not_found(defined: PipelineWorld) -> None:
    response = api("get_pipeline", query={"version": "3"})

    assert (response.status, response.error_code) == (404, "pipeline_not_found")
    assert response.body["error"]["details"] == [{"version": 3}]


def test_an_unknown_pipeline_is_not_found(world: PipelineWorld) -> None:
    response = api("get_pipeline", path={"pipeline_id": "nope"})

    assert (response.status, response.error_code) == (404, "pipeline_not_found")


def test_the_built_in_pipeline_reads_as_its_compiled_definition(world: PipelineWorld) -> None:
    body = ok(api("get_pipeline", path={"pipeline_id": "training"}), 200)

    assert body["builtin"] is True
    assert body["definition"] == builtin_training_definition().model_dump(mode="json")
    assert (body["definition_version"], body["state_machine_arn"]) == (1, TRAINING_ARN)
    assert body["stages"][0] == ["preprocess"]


@pytest.mark.parametrize(
    "caller", [ENGINEER, SCIENTIST, REVIEWER], ids=["ml_engineer", "data_scientist", "model_reviewer"]
)
def test_every_role_reads_pipelines(defined: PipelineWorld, caller: dict[str, str]) -> None:
    assert api("list_pipelines", claims=caller).status == 200
    assert api("get_pipeline", claims=caller).status == 200


@pytest.mark.parametrize("route", ["list_pipelines", "get_pipeline"])
def test_a_user_in_no_cirrus_role_reads_nothing(defined: PipelineWorld, route: str) -> None:
    response = api(route, claims=NOBODY)

    assert (response.status, response.error_code) == (403, "access_denied")


def test_an_anonymous_request_is_unauthenticated(world: PipelineWorld) -> None:
    response = api("list_pipelines", claims=None)

    assert (response.status, response.error_code) == (401, "unauthenticated")


def test_a_bad_pipeline_id_in_the_path_is_refused_by_validation(world: PipelineWorld) -> None:
    response = api("get_pipeline", path={"pipeline_id": "Not_Valid"})

    assert (response.status, response.error_code) == (422, "validation_error")
