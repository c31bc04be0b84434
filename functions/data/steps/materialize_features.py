"""Step Functions task `Materialize features`: every entity's latest offline row goes online.

Payload: `{"input": <execution input>, "execution_name", "execution_start"}`
(statemachines/data_features.asl.json). Returns `{"type", "job_id", "group", "status", "entities",
"written", "skipped"}` (skipped: the online row was newer); a repeated call answers with the recorded
outcome.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cirrus_core.data.feature_models import read_step_event
from cirrus_core.data.features_wiring import feature_job_runner
from cirrus_core.observability import logger, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Write the latest row of every entity to the online store, never over a newer one."""
    step = read_step_event(event)
    logger.set_correlation_id(step.execution_name)
    logger.append_keys(group=step.input.group, job_id=step.input.job_id)
    outcome = feature_job_runner().materialize(step)
    logger.info("Feature materialisation recorded", extra=outcome)
    return outcome
