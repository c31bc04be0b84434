"""EventBridge target of the events the live feed pushes (drift, alerts, deployments, pipelines).

Each event goes to every connection subscribed to its model (or to `*`) whose caller may read the
model, as `{"type": <detail-type>, "model_id", "occurred_at", "data", "correlation_id"}`, through
API Gateway's management API; a connection that is gone (410) is removed.
"""

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from cirrus_core.feed.models import EventDetail
from cirrus_core.feed.wiring import feed_service
from cirrus_core.observability import logger, metrics, tracer


class CirrusEvent(EventBridgeModel):
    """An EventBridge envelope whose detail is a Cirrus event (`metadata` and `data`)."""

    detail: EventDetail


@logger.inject_lambda_context(correlation_id_path="detail.metadata.correlation_id", clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Push one event to its subscribers."""
    parsed: CirrusEvent = parse(event=event, model=CirrusEvent)
    report = feed_service().publish(parsed.detail_type, parsed.detail)
    logger.info("Event pushed to the live feed", extra=asdict(report))
    metrics.add_metric(name="FeedNoticesDelivered", unit=MetricUnit.Count, value=report.delivered)
    metrics.add_metric(name="FeedConnectionsGone", unit=MetricUnit.Count, value=report.gone)
    return asdict(report)
