"""Step Functions tasks `Roll back` and `Roll back failed`.

Payload: `{"action": "roll_back" | "give_up", "state": <working state, or the execution input when
Prepare failed>}`. `roll_back` brings the restore point back and answers `steps.rollback.done`
(false: wait and call again); it then ends the deployment `rolled_back` and publishes
`model.deployment_failed` (and `model.rolled_back` when a previous version keeps serving).
`give_up` ends it `failed` when the roll back itself failed.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cirrus_core.errors import DeploymentStepError
from cirrus_core.observability import logger, tracer
from cirrus_core.serving.deployment_wiring import rollout


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Roll a failed deployment back, or record that it could not be."""
    action = event.get("action")
    state = event.get("state") or {}
    deployment = state.get("deployment") or state
    logger.set_correlation_id(deployment.get("deployment_id"))
    logger.append_keys(action=action, model_id=deployment.get("model_id"))
    if action == "roll_back":
        return rollout().roll_back(event)
    if action == "give_up":
        return rollout().give_up(event)
    raise DeploymentStepError(f"Unknown roll back action {action!r}.")
