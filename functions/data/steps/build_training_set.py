"""Step Functions task `Build training set`: labels joined point-in-time with feature groups.

Payload: `{"input": <execution input>, "execution_name", "execution_start"}`
(statemachines/data_features.asl.json). Returns `{"type", "job_id", "status", "version", "rows"}`: the
dataset version (kind training_set) holding the rows; a repeated call answers with the recorded outcome.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cirrus_core.data.feature_models import read_step_event
from cirrus_core.data.features_wiring import feature_job_runner
from cirrus_core.observability import logger, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Build the training set's rows and store them as a new dataset version with lineage."""
    step = read_step_event(event)
    logger.set_correlation_id(step.execution_name)
    logger.append_keys(job_id=step.input.job_id)
    outcome = feature_job_runner().build_training_set(step)
    logger.info("Training set recorded", extra=outcome)
    return outcome
