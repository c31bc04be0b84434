"""The lineage view upstream of a model version trained on a data module dataset version: training
set -> label and transformation inputs -> feature group versions -> the versions ingested into them ->
sources, bounded, cycle-safe, and with what the data module cannot give shown as missing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from cirrus_core.caller import Caller
from cirrus_core.data.dataset_store import DatasetStore
from cirrus_core.data.datasets import (
    Column,
    DataFile,
    DatasetInput,
    DatasetKind,
    FeatureGroupInput,
    Lineage,
    content_hash_of,
)
from cirrus_core.data.feature_group_store import FeatureGroupStore
from cirrus_core.data.feature_models import FeatureJobStatus, IngestionJob
from cirrus_core.principal import Principal
from cirrus_core.registry.data_lineage import DynamoDataLineage, UpstreamWalker
from cirrus_core.registry.repository import RegistryRepository
from cirrus_core.registry.service import RegistryService
from tests.support.api import ApiResponse, call
from tests.support.aws import ARTIFACT_BUCKET, DATA_BUCKET, TABLE_NAMES, AwsResources
from tests.support.registry import REVIEWER_CLAIMS
from tests.unit.registry.registration import MODEL_ID, assert_refused, registration, with_training

DATA_TABLE = TABLE_NAMES["DataTable"]
TRAINING_SET_ID = "0190a1b2c3d4" + "cd" * 10
CODE_HASH = "sha256:" + "c0" * 32
READER = Principal(
    sub=REVIEWER_CLAIMS["sub"],
    username=REVIEWER_CLAIMS["cognito:username"],
    groups=frozenset({"model_reviewer"}),
)


# -- the data module's records, as its producers leave them ---------------------------------------


@pytest.fixture
def datasets(aws: AwsResources) -> DatasetStore:
    return DatasetStore(aws.dynamodb, DATA_TABLE, DATA_BUCKET, sleep=lambda _: None)


def add_version(
    datasets: DatasetStore, name: str, lineage: Lineage, kind: DatasetKind = DatasetKind.SNAPSHOT
) -> int:
    """The next version of `name`, ready, with one part and `lineage`."""
    number = datasets.begin_version(name, kind=kind, lineage=lineage, actor="ada").version
    digest = f"{number:02x}" * 32
    datasets.complete_version(
        name,
        number,
        columns=[Column(name="customer_id", type="int64")],
        row_count=42,
        content_hash=content_hash_of([digest]),
        files=[
            DataFile(key=f"datasets/{name}/v{number}/part-00000.parquet", rows=42, bytes=9, sha256=digest)
        ],
    )
    return number


def add_ingestion(
    aws: AwsResources,
    group: str,
    version: int,
    dataset: str,
    dataset_version: int,
    status: FeatureJobStatus,
    n: int,
) -> None:
    store = FeatureGroupStore(aws.dynamodb, DATA_TABLE)
    job = IngestionJob(
        ingestion_id=f"{n:032x}",
        group=group,
        version=version,
        dataset=dataset,
        dataset_version=dataset_version,
        status=FeatureJobStatus.RUNNING,
        started_at=datetime(2024, 6, 1, tzinfo=UTC),
        started_by="ada",
        execution_arn=f"arn:aws:states:us-east-1:123456789012:execution:cirrus-test-features:{n}",
    )
    store.create_ingestion(job, None)
    store.finish_ingestion(job.model_copy(update={"status": status}))


def add_source(aws: AwsResources, name: str, source_type: str) -> None:
    """A source's item as the sources service stores it: its type, and its connection (no secret)."""
    connection = {"host": "db.internal", "port": 5432, "user": "etl"}
    document = json.dumps({"name": name, "type": source_type, "connection": connection})
    aws.dynamodb.put_item(
        TableName=DATA_TABLE,
        Item={
            "pk": {"S": f"SOURCE#{name}"},
            "sk": {"S": "META"},
            "type": {"S": source_type},
            "source": {"S": document},
        },
    )


@pytest.fixture
def feature_store(aws: AwsResources, datasets: DatasetStore) -> None:
    """production_db -> customers v1 (snapshot) -> customer_features v1 (transformation) -> ingested
    into feature group customer v2; billing_db -> churn_labels v1; churn_training v1 is the training
    set joining churn_labels v1 with customer v2."""
    add_version(datasets, "customers", Lineage(source="production_db", source_type="postgresql"))
    add_version(
        datasets,
        "customer_features",
        Lineage(
            inputs=[DatasetInput(dataset="customers", version=1)],
            transformation="build_features",
            code_hash=CODE_HASH,
        ),
        DatasetKind.TRANSFORMATION,
    )
    add_ingestion(aws, "customer", 2, "customer_features", 1, FeatureJobStatus.SUCCEEDED, 1)
    add_ingestion(aws, "customer", 2, "customers", 1, FeatureJobStatus.FAILED, 2)  # wrote nothing
    add_ingestion(aws, "customer", 1, "customers", 1, FeatureJobStatus.SUCCEEDED, 3)  # another version
    add_version(datasets, "churn_labels", Lineage(source="billing_db", source_type="mysql"))
    add_version(
        datasets,
        "churn_training",
        Lineage(
            inputs=[DatasetInput(dataset="churn_labels", version=1)],
            feature_groups=[FeatureGroupInput(group="customer", version=2, features=["tenure", "spend"])],
            training_set=TRAINING_SET_ID,
        ),
        DatasetKind.TRAINING_SET,
    )


def register(dataset_version: str, **fields: Any) -> None:
    body = with_training(dataset_version=dataset_version) | fields
    response = call("register_model", body=registration(**body))
    assert response.status == 201, response.body


def lineage(**query: str) -> ApiResponse:
    response = call("get_lineage", path={"model_id": MODEL_ID}, query=query or None)
    assert response.status == 200, response.body
    return response


def nodes(response: ApiResponse) -> dict[str, dict[str, Any]]:
    return {node["id"]: node for node in response.body["nodes"]}


def edges(response: ApiResponse) -> set[tuple[str, str, str]]:
    return {(edge["source"], edge["target"], edge["relation"]) for edge in response.body["edges"]}


# -- the chain ------------------------------------------------------------------------------------------


def test_a_version_trained_on_a_training_set_shows_the_chain_back_to_its_sources(feature_store: None) -> None:
    register(
        "dataset:churn_training@1",
        dataset_uri=f"s3://{DATA_BUCKET}/datasets/churn_training/v1/",
        data_source=f"training-set:{TRAINING_SET_ID}",
    )

    response = lineage()

    assert {node_id: node["kind"] for node_id, node in nodes(response).items()} == {
        "version:1": "model_version",
        "dataset_version:churn_training@1": "dataset_version",
        "dataset_version:churn_labels@1": "dataset_version",
        "feature_group_version:customer@2": "feature_group_version",
        "dataset_version:customer_features@1": "dataset_version",
        "transformation:build_features": "transformation",
        "dataset_version:customers@1": "dataset_version",
        "source:production_db": "data_source",
        "source:billing_db": "data_source",
        "training_job:fraud-detection-v2-20240601": "training_job",
    }
    assert edges(response) == {
        ("version:1", "dataset_version:churn_training@1", "trained_on"),
        ("version:1", "training_job:fraud-detection-v2-20240601", "produced_by"),
        ("dataset_version:churn_training@1", "dataset_version:churn_labels@1", "derived_from"),
        ("dataset_version:churn_training@1", "feature_group_version:customer@2", "joined_from"),
        ("feature_group_version:customer@2", "dataset_version:customer_features@1", "ingested_from"),
        ("dataset_version:customer_features@1", "transformation:build_features", "produced_by"),
        ("dataset_version:customer_features@1", "dataset_version:customers@1", "derived_from"),
        ("dataset_version:customers@1", "source:production_db", "snapshot_of"),
        ("dataset_version:churn_labels@1", "source:billing_db", "snapshot_of"),
    }


def test_the_chains_nodes_carry_what_a_reader_needs(feature_store: None) -> None:
    register("dataset:churn_training@1", data_source=f"training-set:{TRAINING_SET_ID}")

    by_id = nodes(lineage())

    training = by_id["dataset_version:churn_training@1"]
    assert training["label"] == "churn_training v1"
    assert training["attributes"]["kind"] == "training_set"
    assert training["attributes"]["row_count"] == 42
    assert training["attributes"]["content_hash"] == content_hash_of(["01" * 32])
    assert training["attributes"]["created_at"].startswith("20")
    assert training["attributes"]["training_set"] == TRAINING_SET_ID
    assert by_id["transformation:build_features"]["attributes"] == {"code_hash": CODE_HASH}
    assert by_id["feature_group_version:customer@2"]["attributes"]["features"] == "tenure,spend"
    assert by_id["source:production_db"]["attributes"] == {"type": "postgresql"}
    assert by_id["version:1"]["attributes"]["data_source"] == f"training-set:{TRAINING_SET_ID}"


def test_a_source_node_shows_the_sources_type_and_nothing_of_its_connection(
    aws: AwsResources, datasets: DatasetStore
) -> None:
    add_source(aws, "warehouse", "postgresql")
    add_version(datasets, "orders", Lineage(source="warehouse"))  # no type recorded on the version
    register("dataset:orders@1")

    response = lineage()

    assert nodes(response)["source:warehouse"]["attributes"] == {"type": "postgresql"}
    assert "db.internal" not in response.raw_body


def test_the_versions_of_a_model_share_the_nodes_upstream(feature_store: None) -> None:
    register("dataset:customer_features@1")
    register("dataset:customers@1")

    response = lineage()

    assert ("version:1", "dataset_version:customer_features@1", "trained_on") in edges(response)
    assert ("version:2", "dataset_version:customers@1", "trained_on") in edges(response)
    assert [node["id"] for node in response.body["nodes"]].count("dataset_version:customers@1") == 1


def test_the_lineage_of_one_version_walks_only_its_own_data(feature_store: None) -> None:
    register("dataset:churn_labels@1")
    register("dataset:customers@1")

    response = lineage(version="1")

    assert "dataset_version:customers@1" not in nodes(response)
    assert ("dataset_version:churn_labels@1", "source:billing_db", "snapshot_of") in edges(response)


# -- what the data module cannot give ------------------------------------------------------------------------


def test_a_deleted_dataset_version_is_a_missing_node(aws: AwsResources, datasets: DatasetStore) -> None:
    add_version(
        datasets,
        "customer_features",
        Lineage(inputs=[DatasetInput(dataset="gone", version=3)]),
        DatasetKind.TRANSFORMATION,
    )
    register("dataset:customer_features@1")

    by_id = nodes(lineage())

    assert by_id["dataset_version:gone@3"] == {
        "id": "dataset_version:gone@3",
        "kind": "dataset_version",
        "label": "gone v3",
        "attributes": {"missing": True},
    }


def test_a_version_trained_on_a_dataset_never_recorded_still_has_its_lineage(aws: AwsResources) -> None:
    register("dataset:customers@9")

    by_id = nodes(lineage())

    assert by_id["dataset_version:customers@9"]["attributes"] == {"missing": True}


def service(aws: AwsResources, walker: UpstreamWalker | None) -> RegistryService:
    """The registry service over the test tables, with `walker` as its data lineage."""
    return RegistryService(
        RegistryRepository(aws.dynamodb, TABLE_NAMES["RegistryTable"]),
        _NoEvents(),
        frozenset({ARTIFACT_BUCKET}),
        data_lineage=walker,
    )


class _NoEvents:
    def publish(self, events: list[Any]) -> None:
        del events


def test_without_the_data_table_the_dataset_version_is_missing(
    feature_store: None, aws: AwsResources
) -> None:
    register("dataset:churn_training@1")

    graph = service(aws, None).lineage(MODEL_ID, None, Caller(READER))

    data_nodes = [node for node in graph.nodes if node.kind == "dataset_version"]
    assert [(node.id, node.attributes) for node in data_nodes] == [
        ("dataset_version:churn_training@1", {"missing": True})
    ]


def test_a_data_table_that_cannot_be_read_shows_missing_nodes(feature_store: None, aws: AwsResources) -> None:
    register("dataset:churn_training@1")
    unreadable = DynamoDataLineage(boto3.client("dynamodb", region_name="us-east-1"), "no-such-table")

    graph = service(aws, UpstreamWalker(unreadable)).lineage(MODEL_ID, None, Caller(READER))

    assert {node.id: node.attributes for node in graph.nodes if node.kind == "dataset_version"} == {
        "dataset_version:churn_training@1": {"missing": True}
    }


# -- bounds and cycles -------------------------------------------------------------------------------------


def test_recorded_lineage_that_loops_is_walked_once(datasets: DatasetStore) -> None:
    # Versions are immutable, so only a hand-edited or corrupt table can loop: the walk still ends.
    add_version(
        datasets, "a", Lineage(inputs=[DatasetInput(dataset="b", version=1)]), DatasetKind.TRANSFORMATION
    )
    add_version(
        datasets, "b", Lineage(inputs=[DatasetInput(dataset="a", version=1)]), DatasetKind.TRANSFORMATION
    )
    register("dataset:a@1")

    response = lineage()

    assert {"dataset_version:a@1", "dataset_version:b@1"} <= set(nodes(response))
    assert {
        ("dataset_version:a@1", "dataset_version:b@1", "derived_from"),
        ("dataset_version:b@1", "dataset_version:a@1", "derived_from"),
    } <= edges(response)
    assert len(response.body["edges"]) == len(edges(response))


def chain_of(datasets: DatasetStore, length: int) -> None:
    """step0 v1 <- step1 v1 <- ... <- step<length-1> v1 (each made from the one before)."""
    add_version(datasets, "step0", Lineage(source="production_db", source_type="postgresql"))
    for index in range(1, length):
        add_version(
            datasets,
            f"step{index}",
            Lineage(inputs=[DatasetInput(dataset=f"step{index - 1}", version=1)]),
            DatasetKind.TRANSFORMATION,
        )


def test_the_walk_stops_at_its_depth_and_marks_where(aws: AwsResources, datasets: DatasetStore) -> None:
    chain_of(datasets, 6)
    register("dataset:step5@1")
    walker = UpstreamWalker(DynamoDataLineage(aws.dynamodb, DATA_TABLE), max_depth=2)

    graph = service(aws, walker).lineage(MODEL_ID, None, Caller(READER))

    by_id = {node.id: node for node in graph.nodes}
    assert {"dataset_version:step5@1", "dataset_version:step4@1", "dataset_version:step3@1"} <= set(by_id)
    assert by_id["dataset_version:step2@1"].attributes == {"truncated": True}
    assert "dataset_version:step1@1" not in by_id
    assert "source:production_db" not in by_id


def test_the_walk_reads_at_most_its_number_of_versions(aws: AwsResources, datasets: DatasetStore) -> None:
    chain_of(datasets, 6)
    register("dataset:step5@1")
    walker = UpstreamWalker(DynamoDataLineage(aws.dynamodb, DATA_TABLE), max_dataset_versions=3)

    graph = service(aws, walker).lineage(MODEL_ID, None, Caller(READER))

    read = [
        node.id
        for node in graph.nodes
        if node.kind == "dataset_version" and "truncated" not in node.attributes
    ]
    assert read == ["dataset_version:step5@1", "dataset_version:step4@1", "dataset_version:step3@1"]


def test_the_default_bounds_walk_a_long_chain_to_its_source(datasets: DatasetStore) -> None:
    chain_of(datasets, 9)  # eight transformations above one snapshot: within the default depth
    register("dataset:step8@1")

    assert ("dataset_version:step0@1", "source:production_db", "snapshot_of") in edges(lineage())


# -- what stays as it was ------------------------------------------------------------------------------------


def test_a_dataset_version_that_is_not_a_pinned_reference_keeps_its_dataset_node(aws: AwsResources) -> None:
    register("dataset:customers")  # no version: it never named one

    response = lineage()

    assert (
        "version:1",
        "dataset:s3://cirrus-data-123456789012/datasets/transactions/2024-06-01/",
        "trained_on",
    ) in edges(response)
    assert not [node for node in response.body["nodes"] if node["kind"] == "dataset_version"]


def test_the_lineage_still_needs_a_role(feature_store: None) -> None:
    register("dataset:churn_training@1")

    response = call("get_lineage", path={"model_id": MODEL_ID}, query=None, groups="nobody")

    assert_refused(response, 403, "access_denied")
