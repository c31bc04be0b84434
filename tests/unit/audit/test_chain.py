"""The record format and the chain: canonical hashing, links, the head, concurrent appends."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest

from cirrus.localcloud.hooks import HookContext
from cirrus.localcloud.hooks.dynamodb_transactions import install
from cirrus_core.audit.log import AuditLog
from cirrus_core.audit.models import GENESIS_HASH, AuditRecord, canonical_json
from cirrus_core.audit.verify import verify_chain
from tests.support.aws import TABLE_NAMES
from tests.unit.audit.conftest import AuditWorld, entry


def test_canonical_json_sorts_keys_drops_whitespace_and_keeps_utf8() -> None:
    assert canonical_json({"b": 1, "a": ["é", None]}) == '{"a":["é",null],"b":1}'.encode()


def test_a_record_hash_is_the_sha256_of_its_canonical_json_without_the_hash() -> None:
    record = AuditRecord.link(entry(1), 1, GENESIS_HASH)

    body = json.loads(record.model_dump_json())
    del body["hash"]
    assert record.hash == hashlib.sha256(canonical_json(body)).hexdigest()
    assert record.computed_hash() == record.hash


def test_an_instant_hashes_the_same_whatever_its_zone() -> None:
    utc = entry(1)
    shifted = utc.model_copy(update={"at": utc.at.astimezone(timezone(timedelta(hours=5)))})

    assert AuditRecord.link(utc, 1, GENESIS_HASH).hash == AuditRecord.link(shifted, 1, GENESIS_HASH).hash


def test_records_link_to_their_predecessor_from_the_genesis_hash(world: AuditWorld) -> None:
    records = [world.log.append(entry(number)) for number in range(1, 4)]

    assert [record.seq for record in records] == [1, 2, 3]
    assert records[0].prev_hash == GENESIS_HASH
    assert [record.prev_hash for record in records[1:]] == [record.hash for record in records[:-1]]
    head = world.log.head()
    assert (head.seq, head.hash) == (3, records[-1].hash)
    assert [record for _, record in world.log.iter_chain()] == records


@pytest.fixture
def atomic_dynamodb(tmp_path: Path) -> Iterator[None]:
    """moto's DynamoDB made atomic under threads, as AWS is (see the registry's concurrency test)."""
    undo = install(HookContext(endpoint_url="http://127.0.0.1:4566", work_dir=tmp_path))
    yield
    undo()


def test_concurrent_appends_never_fork_the_chain(world: AuditWorld, atomic_dynamodb: None) -> None:
    writers = 8
    start = threading.Barrier(writers)
    failures: list[BaseException] = []

    def writer(index: int) -> None:
        # Each thread has its own client, as each Lambda execution environment would.
        log = AuditLog(
            boto3.session.Session().client("dynamodb", region_name="us-east-1"), TABLE_NAMES["AuditTable"]
        )
        start.wait()
        try:
            log.append(entry(index))
        except Exception as error:  # reported by the assertion below
            failures.append(error)

    threads = [threading.Thread(target=writer, args=(index,)) for index in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not failures
    report = verify_chain(world.log, None)
    assert report.intact
    assert report.records == writers


def test_entries_keep_caller_fields_and_normalise_time_to_utc(world: AuditWorld) -> None:
    moment = datetime(2026, 1, 1, 17, 0, tzinfo=timezone(timedelta(hours=5)))
    record = world.log.append(entry(1).model_copy(update={"at": moment}))

    item = world.aws.dynamodb.scan(TableName=TABLE_NAMES["AuditTable"])["Items"][0]
    stored = json.loads(item["doc"]["S"])
    assert stored["at"] == "2026-01-01T12:00:00.000000+00:00"
    assert stored["source_ip"] == "203.0.113.10"
    assert stored["request_id"] == "req-1"
    assert record.at == moment
