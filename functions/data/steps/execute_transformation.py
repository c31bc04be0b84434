"""Step Functions task `Transform on DuckDB` / `Plan Spark job`: run a transformation on DuckDB, or
stage the plan of its Glue or EMR Serverless job.

Payload: `{"input": <execution input>, "execution_name"}` (statemachines/data_transformation.asl.json).
Returns `{"run_id", "transformation", "status", "output", "row_count"}`, plus `plan_uri` and `output_uri`
for a Spark runtime; a repeated call on a finished run returns its outcome.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cirrus_core.data.transformations import read_step_event
from cirrus_core.data.transformations_wiring import transformation_executor
from cirrus_core.observability import logger, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Transform the run's pinned inputs into its output version (or plan the Spark job)."""
    step = read_step_event(event)
    logger.set_correlation_id(step.execution_name or step.input.run_id)
    logger.append_keys(transformation=step.input.transformation, run_id=step.input.run_id)
    seconds_left = context.get_remaining_time_in_millis() / 1000
    outcome = transformation_executor().execute(step, time_left_seconds=seconds_left)
    logger.info("Transformation step done", extra=outcome)
    return outcome
