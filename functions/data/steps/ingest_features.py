"""Step Functions task `Ingest features`: a dataset version becomes an offline partition of a group version.

Payload: `{"input": <execution input>, "execution_name", "execution_start"}`
(statemachines/data_features.asl.json). Returns `{"type", "job_id", "group", "status", "rows"}`; data
that does not fit ends the ingestion `failed` with its problems (and answers so); a repeated call
answers with the recorded outcome.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cirrus_core.data.feature_models import read_step_event
from cirrus_core.data.features_wiring import feature_job_runner
from cirrus_core.observability import logger, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Check the dataset against the group version and write the partition."""
    step = read_step_event(event)
    logger.set_correlation_id(step.execution_name)
    logger.append_keys(group=step.input.group, job_id=step.input.job_id)
    outcome = feature_job_runner().ingest(step)
    logger.info("Feature ingestion recorded", extra=outcome)
    return outcome
