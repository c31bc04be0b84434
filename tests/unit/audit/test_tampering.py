"""Tampering with the stored chain: each kind is caught by verification, at the right seq."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cirrus_core.audit.anchor import anchor_key
from cirrus_core.audit.log import HEAD_KEY, record_sk
from cirrus_core.audit.models import AuditEntry, AuditRecord, ChainHead, VerifyReport
from cirrus_core.audit.verify import verify_chain
from tests.support.api import call
from tests.support.aws import TABLE_NAMES
from tests.unit.audit.conftest import ARCHIVE_BUCKET, AuditWorld, entry

TABLE = TABLE_NAMES["AuditTable"]
RECORDS = 10


@pytest.fixture
def chain(world: AuditWorld) -> AuditWorld:
    """Ten records, anchored at the tenth."""
    for number in range(1, RECORDS + 1):
        world.log.append(entry(number, actor="alice" if number % 2 else "bob"))
    anchor = world.anchors.anchor()
    assert anchor is not None
    assert anchor.seq == RECORDS
    return world


def verified_over_the_api() -> VerifyReport:
    """What GET /api/v1/audit/verify reports, through its handler, as the issue's tests require."""
    response = call("verify_audit", package="audit")
    assert response.status == 200, response.raw_body
    return VerifyReport.model_validate(response.body)


def _key(seq: int) -> dict[str, Any]:
    return {"pk": {"S": "CHAIN"}, "sk": {"S": record_sk(seq)}}


def _item(world: AuditWorld, seq: int) -> dict[str, Any]:
    return dict(world.aws.dynamodb.get_item(TableName=TABLE, Key=_key(seq))["Item"])


def _put_doc(world: AuditWorld, seq: int, doc: str) -> None:
    item = _item(world, seq)
    item["doc"] = {"S": doc}
    world.aws.dynamodb.put_item(TableName=TABLE, Item=item)


def _set_head(world: AuditWorld, head: ChainHead) -> None:
    world.aws.dynamodb.put_item(
        TableName=TABLE, Item={**HEAD_KEY, "seq": {"N": str(head.seq)}, "hash": {"S": head.hash}}
    )


def test_an_untouched_chain_is_intact_up_to_its_anchor(chain: AuditWorld) -> None:
    report = verified_over_the_api()

    assert report.intact
    assert (report.records, report.head_seq, report.anchored_seq) == (RECORDS, RECORDS, RECORDS)
    assert report.first_bad_seq is None
    assert report.reason is None


def test_records_after_the_anchor_are_verified_by_their_links(chain: AuditWorld) -> None:
    chain.log.append(entry(99))

    report = verified_over_the_api()
    assert report.intact
    assert report.records == RECORDS + 1
    assert report.anchored_seq == RECORDS


def test_an_edited_field_is_caught_at_its_record(chain: AuditWorld) -> None:
    doc = json.loads(_item(chain, 4)["doc"]["S"])
    doc["actor"] = "mallory"
    _put_doc(chain, 4, json.dumps(doc))

    report = verified_over_the_api()
    assert not report.intact
    assert report.first_bad_seq == 4
    assert "content edited" in (report.reason or "")


def test_a_deleted_record_is_caught_at_its_seq(chain: AuditWorld) -> None:
    chain.aws.dynamodb.delete_item(TableName=TABLE, Key=_key(6))

    report = verified_over_the_api()
    assert (report.intact, report.first_bad_seq) == (False, 6)
    assert "missing" in (report.reason or "")


def test_two_swapped_records_are_caught_at_the_first(chain: AuditWorld) -> None:
    third, fourth = _item(chain, 3)["doc"]["S"], _item(chain, 4)["doc"]["S"]
    _put_doc(chain, 3, fourth)
    _put_doc(chain, 4, third)

    report = verified_over_the_api()
    assert (report.intact, report.first_bad_seq) == (False, 3)
    assert "content of record 4" in (report.reason or "")


def test_swapped_and_renumbered_records_are_caught_at_the_first(chain: AuditWorld) -> None:
    # Subtler: the swapped records keep their hashes but take each other's seq: the hashes break.
    third = json.loads(_item(chain, 3)["doc"]["S"])
    fourth = json.loads(_item(chain, 4)["doc"]["S"])
    third["seq"], fourth["seq"] = 4, 3
    _put_doc(chain, 3, json.dumps(fourth))
    _put_doc(chain, 4, json.dumps(third))

    report = verified_over_the_api()
    assert (report.intact, report.first_bad_seq) == (False, 3)


def test_a_truncated_tail_is_caught_by_the_head(chain: AuditWorld) -> None:
    for seq in (8, 9, 10):
        chain.aws.dynamodb.delete_item(TableName=TABLE, Key=_key(seq))

    report = verified_over_the_api()
    assert (report.intact, report.first_bad_seq, report.records) == (False, 8, 7)
    assert "truncated" in (report.reason or "")


def test_a_tail_truncated_with_its_head_is_caught_by_the_anchor(chain: AuditWorld) -> None:
    for seq in (8, 9, 10):
        chain.aws.dynamodb.delete_item(TableName=TABLE, Key=_key(seq))
    seventh = AuditRecord.model_validate_json(_item(chain, 7)["doc"]["S"])
    _set_head(chain, ChainHead(seq=7, hash=seventh.hash))

    assert verify_chain(chain.log, None).intact  # the table alone looks consistent
    report = verified_over_the_api()
    assert (report.intact, report.first_bad_seq) == (False, 8)
    assert "anchored" in (report.reason or "")


def test_a_rewritten_and_rehashed_chain_is_caught_at_the_anchored_seq(chain: AuditWorld) -> None:
    # Rewrite record 2 and re-hash everything after it, head included: every link checks out.
    previous = AuditRecord.model_validate_json(_item(chain, 1)["doc"]["S"]).hash
    for seq in range(2, RECORDS + 1):
        original = AuditRecord.model_validate_json(_item(chain, seq)["doc"]["S"])
        fields = original.model_dump(exclude={"seq", "prev_hash", "hash"})
        if seq == 2:
            fields["actor"] = "mallory"
        forged = AuditRecord.link(AuditEntry.model_validate(fields), seq, previous)
        _put_doc(chain, seq, forged.model_dump_json())
        previous = forged.hash
    _set_head(chain, ChainHead(seq=RECORDS, hash=previous))

    assert verify_chain(chain.log, None).intact  # the table alone cannot tell
    report = verified_over_the_api()
    assert (report.intact, report.first_bad_seq) == (False, RECORDS)
    assert "signed anchor" in (report.reason or "")


def test_a_forged_anchor_is_refused(chain: AuditWorld) -> None:
    # Object Lock keeps the real anchor; a forger can only add a later one, signed by another key.
    other_key = chain.kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    from cirrus_core.audit.anchor import ChainAnchor

    chain.log.append(entry(11))
    ChainAnchor(chain.log, chain.kms, chain.aws.s3, ARCHIVE_BUCKET, other_key).anchor()

    report = verified_over_the_api()
    assert (report.intact, report.first_bad_seq) == (False, RECORDS + 1)
    assert "signature" in (report.reason or "")


def test_an_anchor_is_signed_with_the_kms_key(chain: AuditWorld) -> None:
    anchor = chain.anchors.latest()

    assert anchor is not None
    assert chain.anchors.signature_valid(anchor)
    assert not chain.anchors.signature_valid(anchor.model_copy(update={"hash": "0" * 64}))


def test_object_lock_refuses_to_delete_an_anchor(chain: AuditWorld) -> None:
    from botocore.exceptions import ClientError

    key = anchor_key(RECORDS)
    version = chain.aws.s3.head_object(Bucket=ARCHIVE_BUCKET, Key=key)
    assert version["ObjectLockMode"] == "COMPLIANCE"
    with pytest.raises(ClientError) as refused:
        chain.aws.s3.delete_object(Bucket=ARCHIVE_BUCKET, Key=key, VersionId=version["VersionId"])
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert chain.anchors.latest() is not None


def test_an_empty_chain_is_not_anchored_and_is_intact(world: AuditWorld) -> None:
    assert world.anchors.anchor() is None
    report = verify_chain(world.log, world.anchors)
    assert report.intact
    assert report.records == 0
    assert report.anchored_seq is None
