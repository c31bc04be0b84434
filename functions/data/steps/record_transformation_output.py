"""Step Functions task `Record output`: after the Glue or EMR Serverless job, take its Parquet parts into
the output version's layout, describe them and complete the version; the run ends succeeded.

Payload: `{"input": <execution input>, "execution_name"}` (statemachines/data_transformation.asl.json).
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cirrus_core.data.transformations import read_step_event
from cirrus_core.data.transformations_wiring import transformation_executor
from cirrus_core.observability import logger, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Complete the output version from the Spark job's parts."""
    step = read_step_event(event)
    logger.set_correlation_id(step.execution_name or step.input.run_id)
    logger.append_keys(transformation=step.input.transformation, run_id=step.input.run_id)
    outcome = transformation_executor().record_spark_output(step)
    logger.info("Spark output recorded", extra=outcome)
    return outcome
