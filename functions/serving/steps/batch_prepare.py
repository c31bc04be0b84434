"""Step Functions task `Prepare batch job`: the version's SageMaker model and the transform job request.

Payload: the execution input `{"job": <BatchJob>, "actor"}`. Returns `{"request": <CreateTransformJob
request>}`. Refusals are domain errors, whose class name Step Functions reports as the error
(`VersionNotApproved`, `UnservableVersion`, ...).
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cirrus_core.observability import logger, tracer
from cirrus_core.serving.batch_wiring import batch_steps


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Ensure the model; build the request."""
    job = event.get("job") or {}
    logger.set_correlation_id(job.get("job_id"))
    logger.append_keys(job_id=job.get("job_id"), model_id=job.get("model_id"))
    prepared = batch_steps().prepare(event)
    logger.info("Batch job prepared", extra={"model_name": prepared["request"]["ModelName"]})
    return prepared
