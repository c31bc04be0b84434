"""Scheduled: anchor the audit chain's head in the Object Lock bucket, signed with the KMS key."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cirrus_core.audit.wiring import chain_anchor
from cirrus_core.observability import logger


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Sign and store the current head; reports the anchored seq (None while the chain is empty)."""
    anchor = chain_anchor().anchor()
    if anchor is None:
        logger.info("Audit chain is empty; nothing to anchor")
        return {"anchored_seq": None}
    logger.info("Anchored audit chain", extra={"seq": anchor.seq, "hash": anchor.hash})
    return {"anchored_seq": anchor.seq, "hash": anchor.hash}
