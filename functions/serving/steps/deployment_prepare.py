"""Step Functions task `Prepare deployment`: from the execution input to the deployment's working state.

Payload: `{"input": <execution input>, "execution": {"name", "arn"}}` (docs/serving.md). Re-authorizes
the actor, re-checks the version, finds the restore point and records the deployment in progress.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cirrus_core.observability import logger, tracer
from cirrus_core.serving.deployment_wiring import rollout


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The working state every later task reads."""
    execution = event.get("execution") or {}
    logger.set_correlation_id(execution.get("name"))
    logger.append_keys(model_id=(event.get("input") or {}).get("model_id"))
    return rollout().prepare(event)
