"""Reading the registry: models, versions and lineage, with pagination any caller can follow."""

from __future__ import annotations

from typing import Any

import pytest

from cirrus_core.pagination import encode_token
from tests.support.api import ApiResponse, call
from tests.support.aws import AwsResources
from tests.support.registry import RegistryDriver
from tests.unit.registry.registration import MODEL_ID, assert_refused, registration

EXECUTION_ARN = "arn:aws:states:us-east-1:123456789012:execution:cirrus-train:run-42"
JUNE = "s3://cirrus-data-123456789012/datasets/transactions/2024-06-01/"
JULY = "s3://cirrus-data-123456789012/datasets/transactions/2024-07-01/"


def register(model_id: str = MODEL_ID, **fields: Any) -> int:
    response = call("register_model", body=registration(model_name=model_id, **fields))
    assert response.status == 201, response.body
    return int(response.body["version"])


def list_models(**query: str) -> ApiResponse:
    return call("list_models", query=query or None)


def list_versions(model_id: str = MODEL_ID, **query: str) -> ApiResponse:
    return call("list_versions", path={"model_id": model_id}, query=query or None)


def lineage(model_id: str = MODEL_ID, **query: str) -> ApiResponse:
    return call("get_lineage", path={"model_id": model_id}, query=query or None)


def all_pages(fetch: Any, limit: int) -> list[list[Any]]:
    """Follow next_token from the first page to the last; the ids or versions of each page."""
    pages: list[list[Any]] = []
    token: str | None = None
    while True:
        query = {"limit": str(limit)} | ({"next_token": token} if token else {})
        response = fetch(**query)
        assert response.status == 200, response.body
        pages.append([item.get("version", item["model_id"]) for item in response.body["items"]])
        token = response.body["next_token"]
        if token is None:
            return pages


# -- GET /models -----------------------------------------------------------------------------------


@pytest.fixture
def five_models(aws: AwsResources) -> list[str]:
    """Five models, registered out of name order; returned in name order."""
    ids = ["zeta", "fraud_scoring", "a_model", "fraud_detection_v2", "churn"]
    for model_id in ids:
        register(model_id)
    return sorted(ids)


def test_models_are_listed_in_name_order(five_models: list[str]) -> None:
    response = list_models()

    assert response.status == 200
    assert [model["model_id"] for model in response.body["items"]] == five_models
    assert response.body["next_token"] is None


def test_a_prefix_lists_only_the_models_whose_id_starts_with_it(five_models: list[str]) -> None:
    response = list_models(prefix="fraud")

    assert [model["model_id"] for model in response.body["items"]] == ["fraud_detection_v2", "fraud_scoring"]


def test_a_prefix_matching_nothing_lists_nothing(five_models: list[str]) -> None:
    assert list_models(prefix="nothing").body == {"items": [], "next_token": None}


def test_pages_of_models_follow_each_other_through_next_token(five_models: list[str]) -> None:
    pages = all_pages(list_models, limit=2)

    assert pages == [five_models[0:2], five_models[2:4], five_models[4:]]


def test_a_page_exactly_as_long_as_the_listing_has_no_next_token(five_models: list[str]) -> None:
    assert list_models(limit="5").body["next_token"] is None


def test_pagination_works_with_a_prefix(five_models: list[str]) -> None:
    pages = all_pages(lambda **query: list_models(prefix="fraud", **query), limit=1)

    assert pages == [["fraud_detection_v2"], ["fraud_scoring"]]


def test_a_listed_model_shows_its_latest_version_and_counts(aws: AwsResources) -> None:
    register()
    register()

    [model] = list_models().body["items"]

    assert model["latest_version"] == 2
    assert model["counts"]["total"] == 2


@pytest.mark.parametrize(
    "query",
    [
        pytest.param({"limit": "101"}, id="limit-over-100"),
        pytest.param({"limit": "0"}, id="limit-0"),
        pytest.param({"limit": "ten"}, id="limit-not-a-number"),
        pytest.param({"prefix": "Fraud"}, id="uppercase-prefix"),
        pytest.param({"next_token": "t" * 1025}, id="next-token-over-1024"),
    ],
)
def test_a_bad_listing_parameter_is_422(aws: AwsResources, query: dict[str, str]) -> None:
    assert_refused(list_models(**query), 422, "validation_error")


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("garbage!", id="garbage"),
        pytest.param(encode_token({"v": 2}), id="a-versions-token"),
        pytest.param(encode_token({"m": 5}), id="position-of-the-wrong-type"),
    ],
)
def test_a_next_token_this_listing_did_not_issue_is_400_invalid_next_token(
    aws: AwsResources, token: str
) -> None:
    assert_refused(list_models(next_token=token), 400, "invalid_next_token")


# -- GET /models/{model_id} ------------------------------------------------------------------------


def test_a_model_shows_its_latest_version(registry: RegistryDriver) -> None:
    register()
    latest = call("register_model", body=registration(description="The second one.")).body

    model = registry.model()

    assert model["model_id"] == MODEL_ID
    assert model["latest_version"] == 2
    assert model["latest"] == latest


def test_a_model_shows_its_aliases(registry: RegistryDriver) -> None:
    register()
    registry.promote(1, "dev")

    assert registry.model()["aliases"] == {"dev": 1}


def test_a_model_counts_its_versions_by_status(registry: RegistryDriver) -> None:
    for _ in range(4):
        register()
    registry.approve(1)
    registry.reject(2)
    registry.retire(3)

    assert registry.model()["counts"] == {
        "total": 4,
        "pending": 2,
        "approved": 1,
        "rejected": 1,
        "retired": 1,
    }


def test_an_unknown_model_is_404_model_not_found(aws: AwsResources) -> None:
    response = call("get_model", path={"model_id": "nobody"})

    assert_refused(response, 404, "model_not_found")


def test_a_malformed_model_id_in_the_path_is_422(aws: AwsResources) -> None:
    assert_refused(call("get_model", path={"model_id": "Nobody"}), 422, "validation_error")


# -- GET /models/{model_id}/versions ---------------------------------------------------------------


def test_versions_are_listed_newest_first(aws: AwsResources) -> None:
    for _ in range(3):
        register()

    response = list_versions()

    assert [version["version"] for version in response.body["items"]] == [3, 2, 1]
    assert response.body["next_token"] is None


def test_versions_can_be_listed_by_approval_status(registry: RegistryDriver) -> None:
    for _ in range(4):
        register()
    registry.approve(1)
    registry.approve(3)
    registry.reject(4)

    approved = list_versions(status="Approved").body["items"]
    pending = list_versions(status="PendingManualApproval").body["items"]

    assert [version["version"] for version in approved] == [3, 1]
    assert [version["version"] for version in pending] == [2]


def test_pages_of_versions_follow_each_other_through_next_token(aws: AwsResources) -> None:
    for _ in range(5):
        register()

    assert all_pages(list_versions, limit=2) == [[5, 4], [3, 2], [1]]


def test_pages_of_filtered_versions_skip_the_other_statuses(registry: RegistryDriver) -> None:
    for _ in range(5):
        register()
    for version in (1, 2, 4):
        registry.approve(version)

    pages = all_pages(lambda **query: list_versions(status="Approved", **query), limit=2)

    assert pages == [[4, 2], [1]]


def test_listing_the_versions_of_an_unknown_model_is_404(aws: AwsResources) -> None:
    assert_refused(list_versions("nobody"), 404, "model_not_found")


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        pytest.param({"status": "Approvd"}, 422, "validation_error", id="unknown-status"),
        pytest.param({"limit": "101"}, 422, "validation_error", id="limit-over-100"),
        pytest.param(
            {"next_token": encode_token({"m": MODEL_ID})}, 400, "invalid_next_token", id="models-token"
        ),
        pytest.param(
            {"next_token": encode_token({"v": -1})}, 400, "invalid_next_token", id="negative-position"
        ),
        pytest.param(
            {"next_token": encode_token({"v": True})}, 400, "invalid_next_token", id="boolean-position"
        ),
        pytest.param({"next_token": "%%%"}, 400, "invalid_next_token", id="garbage"),
    ],
)
def test_a_bad_versions_listing_parameter_is_refused(
    aws: AwsResources, query: dict[str, str], status: int, code: str
) -> None:
    register()

    assert_refused(list_versions(**query), status, code)


# -- GET /models/{model_id}/versions/{version} -----------------------------------------------------


def test_a_version_is_read_as_it_was_registered(aws: AwsResources) -> None:
    registered = call("register_model", body=registration()).body

    response = call("get_version", path={"model_id": MODEL_ID, "version": "1"})

    assert response.status == 200
    assert response.body == registered


def test_a_version_of_a_retired_model_reads_as_retired(registry: RegistryDriver) -> None:
    register()
    registry.retire()

    version = registry.version(1)

    assert version["retired"] is True
    assert version["retired_by"] == "alice@example.com"


def test_an_unknown_version_is_404_version_not_found(aws: AwsResources) -> None:
    register()

    response = call("get_version", path={"model_id": MODEL_ID, "version": "2"})

    assert_refused(response, 404, "version_not_found")


def test_a_version_of_an_unknown_model_is_404_model_not_found(aws: AwsResources) -> None:
    response = call("get_version", path={"model_id": "nobody", "version": "1"})

    assert_refused(response, 404, "model_not_found")


@pytest.mark.parametrize("version", ["0", "-1", "one", "1.5", "1000000001"])
def test_a_version_that_is_not_a_version_number_is_422(aws: AwsResources, version: str) -> None:
    register()

    response = call("get_version", path={"model_id": MODEL_ID, "version": version})

    assert_refused(response, 422, "validation_error")


# -- GET /models/{model_id}/lineage ----------------------------------------------------------------


@pytest.fixture
def family(aws: AwsResources) -> None:
    """v1 from June's data by a training job in a pipeline run; v2 retrained from v1 on July's data;
    v3 fine-tuned from v2 (no dataset URI, only a dataset version); v4 a fresh start on June's data."""
    register(dataset_uri=JUNE, training_job_name="fraud-job-1", pipeline_execution_arn=EXECUTION_ARN)
    register(dataset_uri=JULY, training_job_name="fraud-job-2", parent_version=1)
    register(
        drop=("dataset_uri", "training_job_name"),
        training_metadata={"dataset_version": "2024-07-15"},
        parent_version=2,
    )
    register(dataset_uri=JUNE, drop=("training_job_name",))


def nodes(response: ApiResponse) -> dict[str, str]:
    return {node["id"]: node["kind"] for node in response.body["nodes"]}


def edges(response: ApiResponse) -> set[tuple[str, str, str]]:
    return {(edge["source"], edge["target"], edge["relation"]) for edge in response.body["edges"]}


def test_lineage_links_each_version_to_its_dataset_job_run_and_parent(family: None) -> None:
    response = lineage()

    assert response.status == 200
    assert response.body["model_id"] == MODEL_ID
    assert nodes(response) == {
        "version:1": "model_version",
        "version:2": "model_version",
        "version:3": "model_version",
        "version:4": "model_version",
        f"dataset:{JUNE}": "dataset",
        f"dataset:{JULY}": "dataset",
        "dataset:2024-07-15": "dataset",
        "training_job:fraud-job-1": "training_job",
        "training_job:fraud-job-2": "training_job",
        f"pipeline_execution:{EXECUTION_ARN}": "pipeline_execution",
    }
    assert edges(response) == {
        ("version:1", f"dataset:{JUNE}", "trained_on"),
        ("version:1", "training_job:fraud-job-1", "produced_by"),
        ("version:1", f"pipeline_execution:{EXECUTION_ARN}", "registered_by"),
        ("version:2", f"dataset:{JULY}", "trained_on"),
        ("version:2", "training_job:fraud-job-2", "produced_by"),
        ("version:2", "version:1", "derived_from"),
        ("version:3", "dataset:2024-07-15", "trained_on"),
        ("version:3", "version:2", "derived_from"),
        ("version:4", f"dataset:{JUNE}", "trained_on"),
    }


def test_lineage_nodes_carry_what_a_reader_needs(family: None) -> None:
    by_id = {node["id"]: node for node in lineage().body["nodes"]}

    assert by_id["version:1"]["label"] == f"{MODEL_ID} v1"
    assert by_id["version:1"]["attributes"]["approval_status"] == "PendingManualApproval"
    assert by_id[f"dataset:{JULY}"]["attributes"]["uri"] == JULY
    assert by_id[f"pipeline_execution:{EXECUTION_ARN}"]["label"] == "run-42"


def test_lineage_of_one_version_holds_only_it_and_its_ancestors(family: None) -> None:
    response = lineage(version="3")

    assert {node for node, kind in nodes(response).items() if kind == "model_version"} == {
        "version:1",
        "version:2",
        "version:3",
    }
    assert ("version:4", f"dataset:{JUNE}", "trained_on") not in edges(response)
    assert ("version:3", "version:2", "derived_from") in edges(response)
    assert ("version:2", "version:1", "derived_from") in edges(response)


def test_lineage_of_a_version_without_parent_holds_only_that_version(family: None) -> None:
    response = lineage(version="4")

    assert nodes(response) == {"version:4": "model_version", f"dataset:{JUNE}": "dataset"}


def test_lineage_of_an_unknown_version_is_404_version_not_found(family: None) -> None:
    assert_refused(lineage(version="5"), 404, "version_not_found")


def test_lineage_of_version_0_is_422(family: None) -> None:
    assert_refused(lineage(version="0"), 422, "validation_error")


def test_lineage_of_an_unknown_model_is_404_model_not_found(aws: AwsResources) -> None:
    assert_refused(lineage("nobody"), 404, "model_not_found")
