"""Walking the chain: recompute every hash and link, then hold the result against the latest anchor.

The walk finds edits (a record's content no longer gives its hash), deletions (a sequence number
missing), reordering (a record stored under another record's number, or linking to the wrong
predecessor) and a cut tail the head still remembers. What the table alone cannot reveal, a tail
cut together with the head or a chain rewritten and re-hashed from some record on, the anchor does:
the chain must still hold the anchored seq, with the anchored hash.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cirrus_core.audit.models import GENESIS_HASH, VerifyReport

if TYPE_CHECKING:
    from cirrus_core.audit.anchor import ChainAnchor
    from cirrus_core.audit.log import AuditLog


def verify_chain(log: AuditLog, anchors: ChainAnchor | None) -> VerifyReport:
    """Check the whole chain; report the first bad sequence number and why, or that it is intact."""
    head = log.head()
    anchor = anchors.latest() if anchors is not None else None
    anchored_seq = anchor.seq if anchor is not None else None

    def bad(seq: int, records: int, reason: str) -> VerifyReport:
        return VerifyReport(
            intact=False,
            records=records,
            head_seq=head.seq,
            anchored_seq=anchored_seq,
            first_bad_seq=seq,
            reason=reason,
        )

    if anchor is not None and anchors is not None and not anchors.signature_valid(anchor):
        return bad(anchor.seq, 0, f"the anchor of seq {anchor.seq} does not carry a valid signature")

    expected = 1
    previous_hash = GENESIS_HASH
    for key_seq, record in log.iter_chain():
        if key_seq != expected:
            return bad(expected, expected - 1, f"record {expected} is missing (the next stored is {key_seq})")
        if record is None:
            return bad(expected, expected - 1, f"record {expected} is not a valid audit record")
        if record.seq != key_seq:
            return bad(expected, expected - 1, f"record {expected} holds the content of record {record.seq}")
        if record.computed_hash() != record.hash:
            return bad(expected, expected - 1, f"record {expected} does not match its hash (content edited)")
        if record.prev_hash != previous_hash:
            return bad(expected, expected - 1, f"record {expected} does not link to record {expected - 1}")
        if anchor is not None and record.seq == anchor.seq and record.hash != anchor.hash:
            return bad(
                expected, expected - 1, f"record {expected} differs from its signed anchor (chain rewritten)"
            )
        previous_hash = record.hash
        expected += 1
    count = expected - 1
    if head.seq > count:
        return bad(count + 1, count, f"the chain ends at {count} but its head is at {head.seq} (truncated)")
    if anchor is not None and anchor.seq > count:
        return bad(
            count + 1, count, f"the chain ends at {count} but seq {anchor.seq} was anchored (truncated)"
        )
    if head.seq < count or (count and head.hash != previous_hash):
        return bad(
            head.seq + 1, count, f"the chain head ({head.seq}) does not match the last record ({count})"
        )
    return VerifyReport(intact=True, records=count, head_seq=head.seq, anchored_seq=anchored_seq)
