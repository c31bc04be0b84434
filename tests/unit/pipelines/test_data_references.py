"""A run's `data_source` naming the data module's data: `dataset:<name>[@<version>]`,
`training-set:<id>` or a source's name resolve to one ready dataset version, read exactly as its parts
are listed, recorded on the model version, and part of the step cache's key; refusals start nothing."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from cirrus_core.caller import Caller
from cirrus_core.data.dataset_store import DatasetStore
from cirrus_core.data.datasets import (
    Column,
    DataFile,
    DatasetKind,
    DatasetVersion,
    Lineage,
    content_hash_of,
)
from cirrus_core.data.feature_group_store import FeatureGroupStore
from cirrus_core.data.training_sets import TrainingSet, TrainingSetGroup, TrainingSetLabels, TrainingSetStatus
from cirrus_core.errors import DataSourceUnavailable
from cirrus_core.pipelines.cache import StepCache
from cirrus_core.pipelines.data_sources import DataSources, DynamoDataCatalog
from cirrus_core.pipelines.prepare import SOURCE_FILES_PARAMETER, PrepareRun
from cirrus_core.pipelines.recipes_upload import RecipeStore, load_recipes
from cirrus_core.pipelines.registration import VersionRegistrar
from cirrus_core.pipelines.run_state import read_state
from cirrus_core.pipelines.samples import SamplePayloads
from cirrus_core.pipelines.settings import PipelineSettings
from cirrus_core.principal import Principal
from cirrus_core.registry.wiring import registry_service
from tests.support.api import LambdaContextStub
from tests.support.aws import (
    ALLOWLISTED_BUCKET,
    ARTIFACT_BUCKET,
    DATA_BUCKET,
    TABLE_NAMES,
    AwsResources,
    environment,
)
from tests.support.registry import REVIEWER_CLAIMS
from tests.unit.pipelines.steps_support import (
    PIPELINE_ID,
    PIPELINES_TABLE,
    definition,
    execution_event,
    finished_state,
    read_json,
    sagemaker_client,
    step,
    write_recipes,
)

DATA_TABLE = TABLE_NAMES["DataTable"]
TRAINING_SET_ID = "0190a1b2c3d4" + "ab" * 10
REVIEWER = Principal(
    sub=REVIEWER_CLAIMS["sub"],
    username=REVIEWER_CLAIMS["cognito:username"],
    groups=frozenset({"model_reviewer"}),
)


# -- the data module's side, as its producers leave it ---------------------------------------------


@pytest.fixture
def datasets(aws: AwsResources) -> DatasetStore:
    return DatasetStore(aws.dynamodb, DATA_TABLE, DATA_BUCKET, sleep=lambda _: None)


def add_version(
    datasets: DatasetStore,
    name: str,
    *,
    kind: DatasetKind = DatasetKind.SNAPSHOT,
    source: str | None = "production_db",
    lineage: Lineage | None = None,
    parts: int = 2,
    keys: list[str] | None = None,
    ready: bool = True,
) -> DatasetVersion:
    """The next version of `name`, ready with `parts` Parquet parts under its own prefix (or `keys`)."""
    recorded = lineage or Lineage(source=source, source_type="postgresql" if source else None)
    begun = datasets.begin_version(name, kind=kind, lineage=recorded, actor="ada")
    if not ready:
        return begun
    part_keys = keys or [
        f"datasets/{name}/v{begun.version}/part-{index:05d}.parquet" for index in range(parts)
    ]
    digests = [f"{begun.version:02x}{index:02x}" * 16 for index in range(len(part_keys))]
    return datasets.complete_version(
        name,
        begun.version,
        columns=[Column(name="tenure", type="int64"), Column(name="label", type="int64")],
        row_count=10 * len(part_keys),
        content_hash=content_hash_of(digests),
        files=[
            DataFile(key=key, rows=10, bytes=100, sha256=digest)
            for key, digest in zip(part_keys, digests, strict=True)
        ],
    )


def add_source(aws: AwsResources, name: str) -> None:
    aws.dynamodb.put_item(
        TableName=DATA_TABLE,
        Item={"pk": {"S": f"SOURCE#{name}"}, "sk": {"S": "META"}, "type": {"S": "postgresql"}},
    )


def add_training_set(aws: AwsResources, *, version: int | None, status: TrainingSetStatus) -> None:
    training_set = TrainingSet(
        training_set_id=TRAINING_SET_ID,
        dataset="churn_training",
        status=status,
        labels=TrainingSetLabels(dataset="churn_labels", version=1, label_time="observed_at"),
        feature_groups=[
            TrainingSetGroup(group="customer", version=2, features=["tenure"], entity_column="customer_id")
        ],
        dataset_version=version,
        created_at=datetime(2024, 6, 2, tzinfo=UTC),
        created_by="ada",
        execution_arn="arn:aws:states:us-east-1:123456789012:execution:cirrus-test-training-sets:x",
    )
    FeatureGroupStore(aws.dynamodb, DATA_TABLE).create_training_set(training_set, None)


# -- the pipeline's side ---------------------------------------------------------------------------


@pytest.fixture
def prepare(aws: AwsResources, tmp_path: Path) -> PrepareRun:
    """`Prepare run` with the data module's catalog, as its Lambda builds it when given the data table."""
    allowed = frozenset({ARTIFACT_BUCKET, ALLOWLISTED_BUCKET})
    recipes_root = write_recipes(tmp_path / "recipes")
    return PrepareRun(
        settings=PipelineSettings.from_environ(environment()),
        artifact_bucket=ARTIFACT_BUCKET,
        allowed_buckets=allowed,
        region="us-east-1",
        s3=aws.s3,
        data_sources=DataSources(aws.s3, allowed, DynamoDataCatalog(aws.dynamodb, DATA_TABLE, DATA_BUCKET)),
        recipes=lambda: load_recipes(recipes_root),
        recipe_store=RecipeStore(aws.s3, ARTIFACT_BUCKET),
        cache=StepCache(aws.dynamodb, PIPELINES_TABLE),
    )


def run(prepare: PrepareRun, data_source: str, **parameters: Any) -> dict[str, Any]:
    return prepare.prepare(execution_event(parameters={"data_source": data_source, **parameters}))


def source_input(state: dict[str, Any]) -> str:
    """The S3 URI the preprocessing job's source channel downloads."""
    inputs = state["jobs"]["preprocess"]["request"]["ProcessingInputs"]
    return str(next(item["S3Input"]["S3Uri"] for item in inputs if item["InputName"] == "data-source"))


def preprocess_parameters(aws: AwsResources, state: dict[str, Any]) -> dict[str, Any]:
    parameters: dict[str, Any] = read_json(aws, f"{state['run']['prefix']}config/preprocess/parameters.json")
    return parameters


def refused(prepare: PrepareRun, aws: AwsResources, data_source: str) -> DataSourceUnavailable:
    """The refusal of a run on `data_source`, checked to have written nothing."""
    with pytest.raises(DataSourceUnavailable) as caught:
        run(prepare, data_source)
    assert aws.s3.list_objects_v2(Bucket=ARTIFACT_BUCKET).get("KeyCount", 0) == 0
    return caught.value


def location(name: str, version: int) -> str:
    return f"s3://{DATA_BUCKET}/datasets/{name}/v{version}/"


# -- dataset:<name>[@<version>] --------------------------------------------------------------------


def test_a_dataset_without_a_version_is_its_latest_ready_version(
    prepare: PrepareRun, datasets: DatasetStore
) -> None:
    add_version(datasets, "customers")
    add_version(datasets, "customers")
    add_version(datasets, "customers", ready=False)  # v3 is still building

    state = run(prepare, "dataset:customers")

    assert state["run"]["dataset"] == {"uri": location("customers", 2), "version": "dataset:customers@2"}


def test_a_pinned_dataset_version_is_that_version(prepare: PrepareRun, datasets: DatasetStore) -> None:
    add_version(datasets, "customers")
    add_version(datasets, "customers")

    state = run(prepare, "dataset:customers@1")

    assert state["run"]["dataset"] == {"uri": location("customers", 1), "version": "dataset:customers@1"}


def test_the_source_channel_is_the_versions_prefix_and_the_step_reads_exactly_its_parts(
    aws: AwsResources, prepare: PrepareRun, datasets: DatasetStore
) -> None:
    add_version(datasets, "customers", parts=3)

    state = run(prepare, "dataset:customers@1")

    assert source_input(state) == location("customers", 1)
    assert preprocess_parameters(aws, state)[SOURCE_FILES_PARAMETER] == [
        "part-00000.parquet",
        "part-00001.parquet",
        "part-00002.parquet",
    ]
    # Only the step that reads the source is told which files to read.
    features = read_json(aws, f"{state['run']['prefix']}config/features/parameters.json")
    assert SOURCE_FILES_PARAMETER not in features


def test_parts_kept_from_an_earlier_version_are_read_from_the_datasets_prefix(
    aws: AwsResources, prepare: PrepareRun, datasets: DatasetStore
) -> None:
    add_version(datasets, "events")
    add_version(
        datasets,
        "events",
        keys=["datasets/events/v1/part-00000.parquet", "datasets/events/v2/part-00000.parquet"],
    )

    state = run(prepare, "dataset:events@2")

    assert state["run"]["dataset"]["uri"] == location("events", 2)
    assert source_input(state) == f"s3://{DATA_BUCKET}/datasets/events/"
    assert preprocess_parameters(aws, state)[SOURCE_FILES_PARAMETER] == [
        "v1/part-00000.parquet",
        "v2/part-00000.parquet",
    ]


def test_a_version_with_parts_outside_its_dataset_is_refused(
    aws: AwsResources, prepare: PrepareRun, datasets: DatasetStore
) -> None:
    add_version(datasets, "events", keys=["datasets/other/v1/part-00000.parquet"])

    error = refused(prepare, aws, "dataset:events@1")

    assert "outside its dataset" in error.message


def test_a_version_still_building_is_refused(
    aws: AwsResources, prepare: PrepareRun, datasets: DatasetStore
) -> None:
    add_version(datasets, "customers", ready=False)

    error = refused(prepare, aws, "dataset:customers@1")

    assert error.details[0] == {
        "field": "data_source",
        "value": "dataset:customers@1",
        "error": "dataset_version_not_ready",
    }
    assert "building, not ready" in error.message


def test_a_dataset_without_a_ready_version_is_refused(
    aws: AwsResources, prepare: PrepareRun, datasets: DatasetStore
) -> None:
    add_version(datasets, "customers", ready=False)

    assert refused(prepare, aws, "dataset:customers").details[0]["error"] == "no_ready_version"


@pytest.mark.parametrize(
    ("data_source", "code"),
    [
        ("dataset:unknown", "dataset_not_found"),
        ("dataset:customers@7", "dataset_version_not_found"),
        ("dataset:Customers", "invalid_dataset_reference"),
        ("dataset:customers@0", "invalid_dataset_reference"),
    ],
)
def test_an_unknown_or_malformed_dataset_reference_is_refused(
    aws: AwsResources, prepare: PrepareRun, datasets: DatasetStore, data_source: str, code: str
) -> None:
    add_version(datasets, "customers")

    assert refused(prepare, aws, data_source).details[0]["error"] == code


# -- training-set:<id> -----------------------------------------------------------------------------


def test_a_training_set_is_the_dataset_version_it_wrote(
    aws: AwsResources, prepare: PrepareRun, datasets: DatasetStore
) -> None:
    add_version(datasets, "churn_training", kind=DatasetKind.TRAINING_SET, source=None)
    add_training_set(aws, version=1, status=TrainingSetStatus.READY)

    state = run(prepare, f"training-set:{TRAINING_SET_ID}")

    assert state["run"]["dataset"] == {
        "uri": location("churn_training", 1),
        "version": "dataset:churn_training@1",
    }


def test_a_training_set_still_building_is_refused(aws: AwsResources, prepare: PrepareRun) -> None:
    add_training_set(aws, version=None, status=TrainingSetStatus.BUILDING)

    error = refused(prepare, aws, f"training-set:{TRAINING_SET_ID}")

    assert "is building, not ready" in error.message


@pytest.mark.parametrize("training_set_id", [TRAINING_SET_ID, "not-an-id"])
def test_an_unknown_or_malformed_training_set_is_refused(
    aws: AwsResources, prepare: PrepareRun, training_set_id: str
) -> None:
    error = refused(prepare, aws, f"training-set:{training_set_id}")

    assert training_set_id in error.message


def test_a_training_set_naming_a_version_of_another_kind_is_refused(
    aws: AwsResources, prepare: PrepareRun, datasets: DatasetStore
) -> None:
    add_version(datasets, "churn_training")  # a snapshot, not a training set
    add_training_set(aws, version=1, status=TrainingSetStatus.READY)

    assert "not a training set" in refused(prepare, aws, f"training-set:{TRAINING_SET_ID}").message


# -- a source's name -------------------------------------------------------------------------------


def test_a_source_name_reads_the_latest_snapshot_of_the_dataset_named_like_it(
    aws: AwsResources, prepare: PrepareRun, datasets: DatasetStore
) -> None:
    add_source(aws, "production_db")
    add_version(datasets, "production_db")
    add_version(datasets, "production_db")
    add_version(datasets, "orders")  # another snapshot of the same source: the namesake wins

    state = run(prepare, "production_db")

    assert state["run"]["dataset"]["version"] == "dataset:production_db@2"


def test_a_source_name_reads_its_only_snapshot_dataset(
    aws: AwsResources, prepare: PrepareRun, datasets: DatasetStore
) -> None:
    add_source(aws, "production_db")
    add_version(datasets, "customers")
    add_version(datasets, "invoices", source="billing_db")

    state = run(prepare, "production_db")

    assert state["run"]["dataset"]["version"] == "dataset:customers@1"


def test_a_source_with_several_snapshot_datasets_is_refused_naming_them(
    aws: AwsResources, prepare: PrepareRun, datasets: DatasetStore
) -> None:
    add_source(aws, "production_db")
    add_version(datasets, "orders")
    add_version(datasets, "customers")

    error = refused(prepare, aws, "production_db")

    assert "dataset:customers, dataset:orders" in error.message
    assert error.details[0]["candidates"] == ["customers", "orders"]


def test_a_source_without_a_snapshot_is_refused_saying_to_snapshot_it(
    aws: AwsResources, prepare: PrepareRun
) -> None:
    add_source(aws, "production_db")

    assert "cirrus data snapshot" in refused(prepare, aws, "production_db").message


def test_a_source_whose_only_snapshot_has_no_ready_version_is_refused(
    aws: AwsResources, prepare: PrepareRun, datasets: DatasetStore
) -> None:
    add_source(aws, "production_db")
    add_version(datasets, "production_db", ready=False)

    assert refused(prepare, aws, "production_db").details[0]["error"] == "no_ready_version"


def test_a_dataset_name_written_as_a_source_is_refused_saying_how_to_write_it(
    aws: AwsResources, prepare: PrepareRun, datasets: DatasetStore
) -> None:
    add_version(datasets, "features_daily", kind=DatasetKind.TRANSFORMATION, source=None)

    assert "write dataset:features_daily" in refused(prepare, aws, "features_daily").message


def test_a_name_of_nothing_is_refused(aws: AwsResources, prepare: PrepareRun) -> None:
    assert "names no data source and no dataset" in refused(prepare, aws, "churn_events").message


@pytest.mark.parametrize("data_source", ["Production DB", "ftp://host/data.csv", "dataset:"])
def test_text_that_names_nothing_readable_is_refused(
    aws: AwsResources, prepare: PrepareRun, data_source: str
) -> None:
    refused(prepare, aws, data_source)


def test_the_step_function_reads_the_data_table_it_is_given(datasets: DatasetStore) -> None:
    from functions.pipelines.steps.prepare_run import lambda_handler

    add_version(datasets, "customers")
    steps = [step("preprocess", "data_preprocessing"), step("train", "model_training", "preprocess")]
    event = execution_event(definition(steps), {"data_source": "dataset:customers", "model_type": "sklearn"})

    state = lambda_handler(event, LambdaContextStub())

    assert state["run"]["dataset"]["version"] == "dataset:customers@1"


def test_without_the_data_table_only_s3_uris_are_read(aws: AwsResources) -> None:
    sources = DataSources(aws.s3, frozenset({ARTIFACT_BUCKET}))

    with pytest.raises(DataSourceUnavailable, match="data module is not configured"):
        sources.resolve("dataset:customers")


# -- the step cache --------------------------------------------------------------------------------


def cache_keys(state: dict[str, Any]) -> dict[str, str]:
    return {step: entry["key"] for step, entry in state["cache"].items()}


def test_the_cache_key_changes_when_the_latest_ready_version_changes(
    prepare: PrepareRun, datasets: DatasetStore
) -> None:
    add_version(datasets, "customers")
    before = cache_keys(run(prepare, "dataset:customers"))
    again = cache_keys(run(prepare, "dataset:customers"))

    add_version(datasets, "customers")
    after = cache_keys(run(prepare, "dataset:customers"))

    assert again == before
    assert all(after[step] != before[step] for step in before)


def test_the_same_version_named_two_ways_reads_the_same_data(
    prepare: PrepareRun, datasets: DatasetStore
) -> None:
    add_version(datasets, "customers")

    latest = run(prepare, "dataset:customers")
    pinned = run(prepare, "dataset:customers@1")

    assert latest["run"]["dataset"] == pinned["run"]["dataset"]
    assert (
        latest["jobs"]["preprocess"]["request"]["ProcessingInputs"]
        == (pinned["jobs"]["preprocess"]["request"]["ProcessingInputs"])
    )


# -- what the model version records ----------------------------------------------------------------


@pytest.fixture
def registered(prepare: PrepareRun, datasets: DatasetStore) -> Any:
    """The version a run on `dataset:customers` (v2 the latest ready) registered."""
    add_version(datasets, "customers")
    add_version(datasets, "customers")
    prepared = run(prepare, "dataset:customers")
    sagemaker_client().create_training_job(
        **prepared["jobs"]["train"]["request"], RoleArn=os.environ["SAGEMAKER_ROLE_ARN"]
    )
    state = finished_state(prepared, evaluation={"metrics": {"accuracy": 0.9}, "gate": None})
    samples = SamplePayloads(boto3.client("s3", region_name="us-east-1"), ARTIFACT_BUCKET)
    VersionRegistrar(registry_service, sagemaker_client(), samples).register(read_state({"state": state}))
    return registry_service().get_version(PIPELINE_ID, 1, Caller(REVIEWER))


def test_the_version_records_the_resolved_version_its_location_and_what_was_asked(registered: Any) -> None:
    assert registered.training_metadata.dataset_version == "dataset:customers@2"
    assert registered.dataset_uri == location("customers", 2)
    assert registered.data_source == "dataset:customers"
