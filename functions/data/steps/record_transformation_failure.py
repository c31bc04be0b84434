"""Step Functions task `Record failure`: the run and its output version end failed with the error's cause.

Payload: the other steps' payload plus `error: {"Error", "Cause"}` from the state machine's Catch.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cirrus_core.data.transformations import read_step_event
from cirrus_core.data.transformations_wiring import run_ledger
from cirrus_core.observability import logger, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Mark the run and its version failed."""
    step = read_step_event(event)
    logger.set_correlation_id(step.execution_name or step.input.run_id)
    outcome = run_ledger().record_failure(step)
    logger.warning("Transformation run failed", extra=outcome)
    return outcome
