"""Anchoring the chain head: a KMS-signed checkpoint in an S3 bucket under Object Lock.

An anchor is `anchors/<12-digit seq>.json` holding `{seq, hash, at}` and an asymmetric signature
over their canonical JSON. COMPLIANCE-mode retention means nobody, the account root included, can
delete or overwrite it before retention ends; so rewriting the table, however consistently,
cannot also rewrite what the anchors say the chain held.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from botocore.exceptions import ClientError

from cirrus_core.audit.models import Anchor

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client

    from cirrus_core.audit.log import AuditLog

ANCHOR_PREFIX = "anchors/"
SIGNING_ALGORITHM: Final = "ECDSA_SHA_256"


def anchor_key(seq: int) -> str:
    """The object key of the anchor for record `seq`: zero-padded, so key order is seq order."""
    return f"{ANCHOR_PREFIX}{seq:012d}.json"


class ChainAnchor:
    """Signs the chain head and stores it; finds and checks the latest anchor."""

    def __init__(
        self,
        log: AuditLog,
        kms: KMSClient,
        s3: S3Client,
        bucket: str,
        key_id: str,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._log = log
        self._kms = kms
        self._s3 = s3
        self._bucket = bucket
        self._key_id = key_id
        self._clock = clock

    def anchor(self) -> Anchor | None:
        """Anchor the current head; None when the chain is empty (there is nothing to vouch for)."""
        head = self._log.head()
        if head.seq == 0:
            return None
        unsigned = Anchor(
            seq=head.seq,
            hash=head.hash,
            at=self._clock().replace(microsecond=0),
            key_id=self._key_id,
            algorithm=SIGNING_ALGORITHM,
            signature="",
        )
        signature = self._kms.sign(
            KeyId=self._key_id,
            Message=unsigned.signed_message(),
            MessageType="RAW",
            SigningAlgorithm=SIGNING_ALGORITHM,
        )["Signature"]
        anchor = unsigned.model_copy(update={"signature": base64.b64encode(signature).decode("ascii")})
        # Retention comes from the bucket's default (COMPLIANCE): every object version is locked.
        self._s3.put_object(
            Bucket=self._bucket,
            Key=anchor_key(anchor.seq),
            Body=anchor.model_dump_json().encode("utf-8"),
            ContentType="application/json",
        )
        return anchor

    def latest(self) -> Anchor | None:
        """The anchor with the highest seq, or None before the first anchoring."""
        last_key = None
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=ANCHOR_PREFIX):
            for item in page.get("Contents", []):
                key = item.get("Key")
                if key and (last_key is None or key > last_key):
                    last_key = key
        if last_key is None:
            return None
        body = self._s3.get_object(Bucket=self._bucket, Key=last_key)["Body"].read()
        return Anchor.model_validate_json(body)

    def signature_valid(self, anchor: Anchor) -> bool:
        """Whether KMS confirms the anchor's signature over its seq, hash and time."""
        try:
            # The configured key, never the one the anchor names: whoever can add an object to the
            # bucket could otherwise vouch for a forged chain with a key of their own.
            response = self._kms.verify(
                KeyId=self._key_id,
                Message=anchor.signed_message(),
                MessageType="RAW",
                Signature=base64.b64decode(anchor.signature, validate=True),
                SigningAlgorithm=SIGNING_ALGORITHM,
            )
        except ClientError as error:
            # KMS answers an invalid signature with KMSInvalidSignatureException, not False.
            if error.response.get("Error", {}).get("Code") == "KMSInvalidSignatureException":
                return False
            raise
        except ValueError:
            return False  # not base64 at all
        return bool(response.get("SignatureValid"))
