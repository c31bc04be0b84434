"""Step Functions task `Prepare run`: from the execution input to the run's working state.

Payload: `{"input": <execution input>, "execution": {"name", "arn", "start_time",
"state_machine_arn"}}` (docs/pipelines.md). Refusals are domain errors, whose class name Step
Functions reports as the error (`InvalidRunParameters`, `DataSourceUnavailable`, ...).
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cirrus_core.observability import logger, tracer
from cirrus_core.pipelines.steps import prepare_run


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The working state every later state of the run reads."""
    execution = event.get("execution") or {}
    pipeline = (event.get("input") or {}).get("pipeline") or {}
    logger.set_correlation_id(execution.get("name"))
    logger.append_keys(run_id=execution.get("name"), pipeline_id=pipeline.get("pipeline_id"))
    state = prepare_run().prepare(event)
    logger.info(
        "Run prepared",
        extra={
            "jobs": sorted(state["jobs"]),
            "cache_hits": sorted(step for step, entry in state["cache"].items() if entry["hit"]),
            "dataset_version": state["run"]["dataset"]["version"],
        },
    )
    return state
