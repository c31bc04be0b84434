"""Step Functions tasks `Announce start`, `Notify completion` and `Notify failure`.

Payload: `{"event": "started" | "completed" | "failed", "state": <working state>}`, and optionally
`"execution": {"name", "arn"}` (used when a failed `Prepare run` left no `run` in the state).
Publishes `pipeline.started`, `pipeline.completed` or `pipeline.failed`; a run that ends records
the jobs that succeeded in it in the step cache.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cirrus_core.observability import logger, tracer
from cirrus_core.pipelines.steps import run_notifier


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Publish the run's lifecycle event."""
    state = event.get("state") or {}
    execution = event.get("execution") or {}
    run_id = (state.get("run") or {}).get("run_id") or execution.get("name")
    logger.set_correlation_id(run_id)
    logger.append_keys(run_id=run_id, pipeline_id=(state.get("pipeline") or {}).get("pipeline_id"))
    return run_notifier().notify(str(event.get("event")), state, execution)
