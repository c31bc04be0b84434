"""Step Functions task `Record failure`: a feature job ends failed with the error's cause.

Payload: a job step's payload plus `error: {"Error", "Cause"}` from the state machine's Catch. A
training set's dataset version, when one was allocated, ends failed too.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cirrus_core.data.feature_models import read_step_event
from cirrus_core.data.features_wiring import feature_jobs
from cirrus_core.observability import logger, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Mark the job failed."""
    step = read_step_event(event)
    logger.set_correlation_id(step.execution_name)
    outcome = feature_jobs().record_failure(step)
    logger.warning("Feature job failed", extra=outcome)
    return outcome
