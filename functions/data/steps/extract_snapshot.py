"""Step Functions task `Extract`: read the job's source into the dataset version's Parquet parts.

Payload: `{"input": {job_id, dataset, version}}` (the execution input). Errors of the extraction leave as
SnapshotFailed with the source's message, secrets removed; the state machine catches them.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cirrus_core.data.datasets_wiring import snapshot_runner
from cirrus_core.data.snapshot_runner import read_step_event
from cirrus_core.observability import logger, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Extract, upload, complete the version; the job's outcome."""
    step = read_step_event(event)
    logger.set_correlation_id(step.input.job_id)
    return snapshot_runner().extract(step)
