"""Step Functions task `Record failure`: the snapshot's version and job end failed.

Payload: `{"input": {job_id, dataset, version}, "error": {"Error", "Cause"}}` from the state machine's Catch.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cirrus_core.data.datasets_wiring import snapshot_runner
from cirrus_core.data.snapshot_runner import read_step_event
from cirrus_core.observability import logger, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Fail the version and the job; publish dataset.snapshot_failed."""
    step = read_step_event(event)
    logger.set_correlation_id(step.input.job_id)
    return snapshot_runner().record_failure(step)
