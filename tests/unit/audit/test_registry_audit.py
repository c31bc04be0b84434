"""The registry's audit records: one per change in the change's own transaction, one per read,
one per denial; and the audit API over them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import pytest

from cirrus_core.audit.log import AuditLog
from cirrus_core.audit.models import AuditRecord, state_hash
from cirrus_core.registry.models import ModelVersion
from cirrus_core.registry.repository import ConcurrentUpdate, RegistryRepository
from tests.support.api import call
from tests.support.aws import TABLE_NAMES, AwsResources
from tests.support.registry import MODEL_ID, RegistryDriver
from tests.unit.audit.conftest import AuditWorld, entry

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

SAMPLE_REQUEST_ID = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
SAMPLE_SOURCE_IP = "203.0.113.10"


def records(log: AuditLog) -> list[AuditRecord]:
    """Every record of the chain, oldest first."""
    return [record for _, record in log.iter_chain() if record is not None]


def table(aws: AwsResources, logical_id: str) -> list[dict[str, Any]]:
    return list(aws.dynamodb.scan(TableName=TABLE_NAMES[logical_id], ConsistentRead=True)["Items"])


@pytest.fixture
def repository(world: AuditWorld) -> RegistryRepository:
    return RegistryRepository(world.aws.dynamodb, TABLE_NAMES["RegistryTable"], world.log)


def test_a_registration_writes_exactly_one_change_record_with_state_hashes(
    world: AuditWorld, repository: RegistryRepository
) -> None:
    RegistryDriver(world.aws).register()

    (record,) = records(world.log)
    assert (record.category, record.action, record.decision) == ("change", "register_model", "allow")
    assert record.resource == f"model/{MODEL_ID}/version/1"
    assert (record.actor, record.groups) == ("alice@example.com", ["ml_engineer"])
    assert (record.request_id, record.source_ip) == (SAMPLE_REQUEST_ID, SAMPLE_SOURCE_IP)
    assert record.before_hash is None  # the model did not exist
    stored = repository.get_model(MODEL_ID)
    version = repository.get_version(MODEL_ID, 1)
    assert stored is not None
    assert isinstance(version, ModelVersion)
    assert record.after_hash == state_hash(stored, version)


def test_a_change_of_an_existing_model_hashes_the_state_it_replaced(
    world: AuditWorld, repository: RegistryRepository
) -> None:
    registry = RegistryDriver(world.aws)
    registry.register()
    before = repository.get_model(MODEL_ID)
    assert before is not None

    registry.approve(1)

    approval = records(world.log)[-1]
    assert (approval.action, approval.actor) == ("approve_version", "bob@example.com")
    assert approval.before_hash == state_hash(before)


def test_a_refused_registry_change_writes_no_audit_record(
    world: AuditWorld, repository: RegistryRepository
) -> None:
    RegistryDriver(world.aws).register()
    stored = repository.get_model(MODEL_ID)
    assert stored is not None
    audit_before = table(world.aws, "AuditTable")
    stale = stored.model_copy(update={"revision": stored.revision + 1})
    from cirrus_core.registry.repository import Changes

    # A lost race on the model: the transaction is cancelled, audit record and head update with it.
    with pytest.raises(ConcurrentUpdate):
        repository.commit(Changes(stale, expected_revision=stored.revision - 1, audit=entry(7)))

    assert table(world.aws, "AuditTable") == audit_before


def test_a_change_whose_audit_append_loses_its_race_is_not_written(
    world: AuditWorld, repository: RegistryRepository
) -> None:
    RegistryDriver(world.aws).register()
    stored = repository.get_model(MODEL_ID)
    assert stored is not None
    registry_before = table(world.aws, "RegistryTable")
    bumped = stored.model_copy(update={"revision": stored.revision + 1})

    class StaleHead(AuditLog):
        """Reads the head as it was before another writer appended: the head update must fail."""

        def head(self) -> Any:
            stale = super().head()
            world.log.append(entry(8))
            return stale

    racing = RegistryRepository(
        world.aws.dynamodb, TABLE_NAMES["RegistryTable"], StaleHead(world.aws.dynamodb, world.log.table_name)
    )
    from cirrus_core.registry.repository import Changes

    with pytest.raises(ConcurrentUpdate):
        racing.commit(Changes(bumped, expected_revision=stored.revision, audit=entry(9)))

    assert table(world.aws, "RegistryTable") == registry_before


def test_reads_of_model_metadata_write_model_access_records(world: AuditWorld) -> None:
    registry = RegistryDriver(world.aws)
    registry.register()

    registry.model()
    registry.version(1)
    assert call("list_versions", path={"model_id": MODEL_ID}).status == 200
    assert call("get_lineage", path={"model_id": MODEL_ID}).status == 200

    reads = [record for record in records(world.log) if record.category == "model_access"]
    assert [record.action for record in reads] == ["get_model", "get_version", "list_versions", "get_lineage"]
    assert reads[1].resource == f"model/{MODEL_ID}/version/1"
    assert {record.actor for record in reads} == {"alice@example.com"}
    assert {(record.before_hash, record.after_hash) for record in reads} == {(None, None)}


def test_a_denied_call_is_recorded_as_a_denial(world: AuditWorld) -> None:
    # Reviewers review; they do not register (DESIGN.md, Security model).
    response = call("register_model", groups="model_reviewer")
    assert response.status == 403

    (record,) = records(world.log)
    assert (record.category, record.decision) == ("denial", "deny")
    assert record.action == response.body["error"]["details"][0]["action"]
    assert record.resource == "/api/v1/models/register"


def test_the_audit_api_filters_and_paginates_newest_first(world: AuditWorld) -> None:
    for number in range(1, 6):
        world.log.append(entry(number, actor="alice" if number % 2 else "bob"))
    world.log.append(entry(6, actor="alice", action="get_model"))

    first = call("list_audit", package="audit", query={"actor": "alice", "limit": "2"})
    assert first.status == 200
    assert [item["seq"] for item in first.body["items"]] == [6, 5]
    second = call(
        "list_audit",
        package="audit",
        query={"actor": "alice", "limit": "2", "next_token": first.body["next_token"]},
    )
    assert [item["seq"] for item in second.body["items"]] == [3, 1]
    assert second.body["next_token"] is None

    by_action = call("list_audit", package="audit", query={"action": "get_model"})
    assert [item["seq"] for item in by_action.body["items"]] == [6]
    by_resource = call("list_audit", package="audit", query={"resource": "model/m2"})
    assert [item["seq"] for item in by_resource.body["items"]] == [2]
    window = {"since": "2026-01-01T12:00:02Z", "until": "2026-01-01T12:00:04Z"}
    by_time = call("list_audit", package="audit", query=window)
    assert [item["seq"] for item in by_time.body["items"]] == [3, 2]


def test_the_verify_api_reports_an_intact_anchored_chain(world: AuditWorld) -> None:
    for number in range(1, 4):
        world.log.append(entry(number))
    world.anchors.anchor()

    response = call("verify_audit", package="audit")

    assert response.status == 200
    assert response.body == {
        "intact": True,
        "records": 3,
        "head_seq": 3,
        "anchored_seq": 3,
        "first_bad_seq": None,
        "reason": None,
    }


def test_the_anchor_function_anchors_the_head(world: AuditWorld) -> None:
    from functions.audit.anchor_chain import lambda_handler
    from tests.support.api import LambdaContextStub

    world.log.append(entry(1))
    result = lambda_handler({"source": "aws.events"}, cast("LambdaContext", LambdaContextStub()))

    assert result["anchored_seq"] == 1
    latest = world.anchors.latest()
    assert latest is not None
    assert (latest.seq, latest.hash) == (1, world.log.head().hash)


@pytest.mark.parametrize("route", ["list_audit", "verify_audit"])
def test_only_admins_and_reviewers_read_the_audit_trail(world: AuditWorld, route: str) -> None:
    assert call(route, package="audit", groups="admin").status == 200
    refused = call(route, package="audit", groups="data_scientist")

    assert refused.status == 403
    (denial,) = records(world.log)
    assert (denial.category, denial.action) == ("denial", refused.body["error"]["details"][0]["action"])
