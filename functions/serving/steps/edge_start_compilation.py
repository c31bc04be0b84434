"""Step Functions task `Start compilation`: CreateCompilationJob of the version's model.

The compiled model goes to the package's compiled/ folder.

Payload `{"package_id", "model_id"}`. Returns `{"compilation_job_name", "attempts": 0, "done": false}`.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cirrus_core.observability import logger, tracer
from cirrus_core.serving.edge_wiring import edge_steps


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Start compilation."""
    # The package id correlates the machine's logs and its lifecycle event.
    logger.set_correlation_id(event.get("package_id"))
    logger.append_keys(package_id=event.get("package_id"), model_id=event.get("model_id"))
    result = edge_steps().start_compilation(event)
    logger.info("Start compilation done", extra=result)
    return result
