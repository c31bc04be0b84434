"""Step Functions task `Collect evaluation`: the evaluation job's metrics and the gate's verdict.

Payload: `{"state": <working state>}`. Returns `{"metrics", "gate": {"metric", "value", "threshold",
"direction", "enforced", "passed", "explanation"}}`; the `Quality gate` Choice acts on it.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cirrus_core.observability import logger, tracer
from cirrus_core.pipelines.evaluation import collect_evaluation
from cirrus_core.pipelines.run_state import read_state
from cirrus_core.pipelines.steps import evaluation_reader


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Read evaluation.json and judge it against the run's gate."""
    state = read_state(event)
    logger.set_correlation_id(state.run.run_id)
    logger.append_keys(run_id=state.run.run_id, pipeline_id=state.pipeline.pipeline_id)
    result = collect_evaluation(state, evaluation_reader())
    logger.info("Evaluation collected", extra={"gate": result["gate"]})
    return result
