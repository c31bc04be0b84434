"""PipelineStore: the documented items, the optimistic lock on META, and reads of versions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cirrus_core.pipelines.definition import PipelineDefinitionRequest, TriggerRule
from cirrus_core.pipelines.store import (
    ConcurrentPipelineUpdate,
    PipelineChange,
    PipelineRecord,
    PipelineStore,
    StoredDefinition,
)
from cirrus_core.principal import ActorRecord
from tests.support.aws import AwsResources
from tests.unit.pipelines.api_support import PIPELINES_TABLE, sample_definition

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
ACTOR = ActorRecord(sub="3e1d2c4b", username="ada@example.com", groups=["admin"])


@pytest.fixture
def store(aws: AwsResources) -> PipelineStore:
    return PipelineStore(aws.dynamodb, PIPELINES_TABLE)


def change(
    version: int, expected: int | None, *, pipeline_id: str = "fraud", **definition: Any
) -> PipelineChange:
    request = PipelineDefinitionRequest.model_validate(
        sample_definition(pipeline_id=pipeline_id, **definition)
    )
    at = NOW + timedelta(minutes=version)
    record = PipelineRecord(
        pipeline_id=pipeline_id,
        definition_version=version,
        state_machine_arn=f"arn:aws:states:us-east-1:123456789012:stateMachine:p-{pipeline_id}",
        description=request.description,
        step_count=len(request.steps),
        trigger_count=len(request.triggers),
        created_by="ada@example.com",
        created_at=NOW,
        updated_by="ada@example.com",
        updated_at=at,
        updated_by_principal=ACTOR,
        revision=version,
    )
    stored = StoredDefinition(
        pipeline_id=pipeline_id,
        version=version,
        definition=request,
        asl_sha256="ab" * 32,
        created_by="ada@example.com",
        created_at=at,
    )
    return PipelineChange(record, expected, stored, put_triggers=list(request.triggers))


def test_a_committed_pipeline_reads_back_as_written(store: PipelineStore) -> None:
    first = change(1, None)

    store.commit(first)

    assert store.get_record("fraud") == first.record
    assert store.get_definition("fraud", 1) == first.definition
    assert store.get_definition("fraud", 2) is None
    assert store.get_record("other") is None


def test_a_new_pipeline_is_refused_when_it_exists_already(store: PipelineStore) -> None:
    store.commit(change(1, None))

    with pytest.raises(ConcurrentPipelineUpdate):
        store.commit(change(1, None, description="A racing first definition."))


def test_a_change_is_refused_when_the_revision_moved(store: PipelineStore) -> None:
    store.commit(change(1, None))
    store.commit(change(2, 1))

    with pytest.raises(ConcurrentPipelineUpdate):
        store.commit(change(3, 1))
    assert store.get_record("fraud").definition_version == 2  # type: ignore[union-attr]


def test_versions_are_listed_newest_first_without_their_definitions(store: PipelineStore) -> None:
    store.commit(change(1, None))
    store.commit(change(2, 1))
    store.commit(change(3, 2))

    versions = store.list_versions("fraud", 2)

    assert [(item.version, item.created_at) for item in versions] == [
        (3, NOW + timedelta(minutes=3)),
        (2, NOW + timedelta(minutes=2)),
    ]
    assert {item.asl_sha256 for item in versions} == {"ab" * 32}


def test_records_lists_every_pipeline_and_nothing_else(store: PipelineStore, aws: AwsResources) -> None:
    store.commit(change(1, None))
    store.commit(change(1, None, pipeline_id="churn"))
    aws.dynamodb.put_item(TableName=PIPELINES_TABLE, Item={"pk": {"S": "CACHE#x"}, "sk": {"S": "CACHE"}})

    assert sorted(record.pipeline_id for record in store.iter_records()) == ["churn", "fraud"]


def test_trigger_items_are_put_and_removed_with_the_change(store: PipelineStore, aws: AwsResources) -> None:
    store.commit(change(1, None))
    second = change(2, 1, triggers=[{"provider": "gitlab", "repository": "acme/ml/fraud"}])
    second.remove_triggers = [("github", "acme/fraud-models")]

    store.commit(second)

    items = aws.dynamodb.scan(TableName=PIPELINES_TABLE)["Items"]
    triggers = sorted(
        (item["pk"]["S"], item["sk"]["S"]) for item in items if item["pk"]["S"].startswith("TRIGGER#")
    )
    assert triggers == [("TRIGGER#gitlab#acme/ml/fraud", "PIPELINE#fraud")]
    (rule,) = [item["rule"]["S"] for item in items if item["pk"]["S"].startswith("TRIGGER#")]
    assert TriggerRule.model_validate_json(rule).events == ["push"]
