"""Step Functions tasks that change SageMaker and Application Auto Scaling resources.

Payload: `{"action": ..., "state": <working state>}` (and `"target": "candidate" | "live"` for
`check_endpoint`). Actions: `create_model`, `create_endpoint_config`, `create_candidate`,
`check_endpoint`, `update_live`, `register_autoscaling`, `delete_candidate`. Returns the state with
the task's result under `steps`.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cirrus_core.errors import DeploymentStepError
from cirrus_core.observability import logger, tracer
from cirrus_core.serving.deployment_wiring import rollout

ACTIONS = frozenset(
    {
        "create_model",
        "create_endpoint_config",
        "create_candidate",
        "check_endpoint",
        "update_live",
        "register_autoscaling",
        "delete_candidate",
    }
)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Run one provisioning action."""
    action = str(event.get("action"))
    if action not in ACTIONS:
        raise DeploymentStepError(f"Unknown provisioning action {action!r}.")
    deployment = (event.get("state") or {}).get("deployment") or {}
    logger.set_correlation_id(deployment.get("deployment_id"))
    logger.append_keys(action=action, model_id=deployment.get("model_id"))
    result: dict[str, Any] = getattr(rollout(), action)(event)
    return result
