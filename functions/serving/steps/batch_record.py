"""Step Functions task `Record batch result`: the job's outcome stored, `batch.completed` or `batch.failed`.

Payload: `{"input": <execution input>, "outcome": "succeeded" | "failed", "transform": <DescribeTransformJob>
| "error": {"Error", "Cause"}}`. Returns `{"job_id", "status", "recorded"}`; a repeated call records
and publishes nothing.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cirrus_core.observability import logger, tracer
from cirrus_core.serving.batch_wiring import batch_steps


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Record and announce how the job ended."""
    job = (event.get("input") or {}).get("job") or {}
    logger.set_correlation_id(job.get("job_id"))
    logger.append_keys(job_id=job.get("job_id"), model_id=job.get("model_id"))
    result = batch_steps().record(event)
    logger.info("Batch job recorded", extra=result)
    return result
