"""Step Functions task `Check compilation`: DescribeCompilationJob, behind the machine's Wait.

Payload `{"package_id", "model_id", "compilation_job_name", "attempts", "max_attempts"}`. Returns
`{"compilation_job_name", "attempts", "done", "artifact"?}`; raises EdgeCompilationFailed when the
job failed or stopped, or is still running after `max_attempts` checks.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cirrus_core.observability import logger, tracer
from cirrus_core.serving.edge_wiring import edge_steps


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Check compilation."""
    # The package id correlates the machine's logs and its lifecycle event.
    logger.set_correlation_id(event.get("package_id"))
    logger.append_keys(package_id=event.get("package_id"), model_id=event.get("model_id"))
    result = edge_steps().check_compilation(event)
    logger.info("Check compilation done", extra=result)
    return result
