"""Scheduled (rate(1 minute)): evaluate every alert rule that is due, move its alerts, notify.

Drift rules read the newest finished drift run of their model's environment, performance rules their
metric over the last window, system rules the stack's Lambda errors, dead-letter queues and the
failures their events recorded (docs/monitoring.md, "Alert rules and their evaluation").
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cirrus_core.alerting.rules_wiring import alert_evaluator
from cirrus_core.observability import logger, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Evaluate the due rules; what changed, by action."""
    outcomes = alert_evaluator().evaluate_due()
    changed = [outcome for outcome in outcomes if outcome.action != "unchanged"]
    return {
        "evaluated": len(outcomes),
        "changed": [
            {"alert_id": outcome.alert_id, "subject": outcome.subject, "action": outcome.action}
            for outcome in changed
        ],
    }
