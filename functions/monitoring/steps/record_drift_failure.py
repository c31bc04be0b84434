"""Step Functions task `Record failure`: the drift run ends `failed` with the error's cause.

Payload: the `Check drift` payload plus `error: {"Error", "Cause"}` from the state machine's Catch.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cirrus_core.monitoring.drift_runner import read_step_event
from cirrus_core.monitoring.runner_wiring import drift_runner
from cirrus_core.observability import logger, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Mark the run failed."""
    step = read_step_event(event)
    logger.set_correlation_id(step.execution_name)
    outcome = drift_runner().record_failure(step)
    logger.warning("Drift run failed", extra=outcome)
    return outcome
