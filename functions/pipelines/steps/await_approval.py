"""Step Functions task `Await approval` (`lambda:invoke.waitForTaskToken`).

Payload: `{"task_token", "state"}`. Stores the token as the version's approval wait and asks for
a review; the execution waits until `resume_pipeline` (or this function, for a version already
decided) sends the decision. The return value is not the task's result.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cirrus_core.errors import PipelineStepError
from cirrus_core.observability import logger, tracer
from cirrus_core.pipelines.run_state import read_state
from cirrus_core.pipelines.steps import approvals


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Record the wait; answer at once if the version is already decided."""
    token = event.get("task_token")
    if not isinstance(token, str) or not token:
        raise PipelineStepError("Await approval needs the task token ($$.Task.Token) as task_token.")
    state = read_state(event)
    logger.set_correlation_id(state.run.run_id)
    logger.append_keys(run_id=state.run.run_id, pipeline_id=state.pipeline.pipeline_id)
    outcome = approvals().await_decision(token, state)
    logger.info("Approval wait recorded", extra=outcome)
    return outcome
