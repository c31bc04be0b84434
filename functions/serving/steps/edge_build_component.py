"""Step Functions task `Build component`: the Greengrass recipe, the public key and the signed manifest.

Payload `{"package_id", "model_id", "artifact"}` (the compiled model's s3:// URI). Marks the
package ready and publishes edge.package_created.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cirrus_core.observability import logger, tracer
from cirrus_core.serving.edge_wiring import edge_steps


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Build component."""
    # The package id correlates the machine's logs and its lifecycle event.
    logger.set_correlation_id(event.get("package_id"))
    logger.append_keys(package_id=event.get("package_id"), model_id=event.get("model_id"))
    result = edge_steps().build_component(event)
    logger.info("Build component done", extra=result)
    return result
