"""Step Functions task `Check drift`: one drift monitor run over one window of captured traffic.

Payload: `{"input": <execution input>, "execution_name", "execution_start"}`
(statemachines/drift_monitor.asl.json).
Returns `{"run_id", "model_id", "status", "drifted_features", "report_uri"}`; a repeated call returns
the recorded outcome.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cirrus_core.monitoring.drift_runner import read_step_event
from cirrus_core.monitoring.runner_wiring import drift_runner
from cirrus_core.observability import logger, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Check the window's captured traffic against the serving version's baseline."""
    step = read_step_event(event)
    logger.set_correlation_id(step.execution_name)
    logger.append_keys(model_id=step.input.model_id, environment=step.input.environment.value)
    outcome = drift_runner().run(step)
    logger.info("Drift run recorded", extra=outcome)
    return outcome
