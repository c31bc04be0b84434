"""Step Functions task `Mark deployed`: the environment serves the version.

Payload: `{"state": <working state>}`. Moves the environment's registry alias (acting for the
deployment's actor), records the environment and the deployment, publishes `model.deployed`.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cirrus_core.observability import logger, tracer
from cirrus_core.serving.deployment_wiring import rollout


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Finish a successful deployment."""
    deployment = (event.get("state") or {}).get("deployment") or {}
    logger.set_correlation_id(deployment.get("deployment_id"))
    logger.append_keys(model_id=deployment.get("model_id"))
    return rollout().mark_deployed(event)
