"""EventBridge target of drift.detected, pipeline.failed and model.rolled_back (cirrus.serving): evaluate
the alert rules each event concerns at once, without waiting for the scheduled evaluation."""

from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.envelopes import EventBridgeEnvelope
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from cirrus_core.alerting.rules_wiring import alert_evaluator
from cirrus_core.observability import logger, tracer


class LifecycleDetail(BaseModel):
    """A Cirrus event's detail: its metadata and data (the data is checked per detail-type)."""

    metadata: dict[str, Any]
    data: dict[str, Any]


HANDLED = {
    ("cirrus.monitoring", "drift.detected"),
    ("cirrus.pipelines", "pipeline.failed"),
    ("cirrus.serving", "model.rolled_back"),
}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Evaluate the rules the event concerns; what changed."""
    kind = (event.get("source"), event.get("detail-type"))
    if kind not in HANDLED:
        logger.warning(
            "Not an event alert rules watch; ignored", extra={"source": kind[0], "detail_type": kind[1]}
        )
        return {"changed": []}
    detail = LifecycleDetail.model_validate(
        parse(event=event, model=LifecycleDetail, envelope=EventBridgeEnvelope)
    )
    logger.set_correlation_id(detail.metadata.get("correlation_id"))
    evaluator = alert_evaluator()
    if kind[1] == "drift.detected":
        outcomes = evaluator.on_drift_detected(detail.data)
    elif kind[1] == "pipeline.failed":
        outcomes = evaluator.on_pipeline_failed(detail.data)
    else:
        outcomes = evaluator.on_deployment_rolled_back(detail.data)
    return {
        "changed": [
            {"alert_id": outcome.alert_id, "subject": outcome.subject, "action": outcome.action}
            for outcome in outcomes
            if outcome.action != "unchanged"
        ]
    }
