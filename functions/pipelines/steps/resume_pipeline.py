"""EventBridge target of `model.approved` and `model.rejected` (source `cirrus.registry`).

Sends the decision to the run waiting on the version, if one is: `SendTaskSuccess` with
`{"decision": "approved", "by", "comment"}`, or `SendTaskFailure` with the error `ApprovalRejected`
and the reviewer and comment as the cause. A version no run waits on is nothing to do.
"""

from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.envelopes import EventBridgeEnvelope
from aws_lambda_powertools.utilities.typing import LambdaContext

from cirrus_core.observability import logger, tracer
from cirrus_core.pipelines.approvals import RegistryDecision
from cirrus_core.pipelines.steps import approvals

DECISIONS = frozenset({"model.approved", "model.rejected"})


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Resume the run waiting on the decided version."""
    detail_type = event.get("detail-type")
    if detail_type not in DECISIONS:
        logger.warning("Not a review decision; ignored", extra={"detail_type": detail_type})
        return {"resumed": False}
    decision = RegistryDecision.model_validate(
        parse(event=event, model=RegistryDecision, envelope=EventBridgeEnvelope)
    )
    logger.set_correlation_id((event.get("detail") or {}).get("metadata", {}).get("correlation_id"))
    return approvals().resume(decision)
