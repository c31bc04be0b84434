"""Every minute: each serving endpoint's CPU and memory (CloudWatch, /aws/sagemaker/Endpoints) -> gauges."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cirrus_core.metrics.wiring import endpoint_metrics_collector
from cirrus_core.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    stored = endpoint_metrics_collector().collect()
    logger.info("Endpoint metrics collected", extra={"endpoints": stored})
    return {"endpoints": stored}
