"""Step Functions tasks `Smoke test candidate` and `Smoke test live`.

Payload: `{"target": "candidate" | "live", "state": <working state>}`. Sends every sample payload
through InvokeEndpoint; any error or non-2xx answer fails the task (`SmokeTestFailed`).
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cirrus_core.observability import logger, tracer
from cirrus_core.serving.deployment_wiring import rollout


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Smoke-test one endpoint."""
    deployment = (event.get("state") or {}).get("deployment") or {}
    logger.set_correlation_id(deployment.get("deployment_id"))
    logger.append_keys(target=event.get("target"), model_id=deployment.get("model_id"))
    return rollout().smoke_test(event)
