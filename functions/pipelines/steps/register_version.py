"""Step Functions task `Register version`: the run's model becomes a registry version.

Payload: `{"state": <working state>}`. Returns `{"model_id", "version", "approval_status"}`. The
version is registered for the run's actor, with the run's lineage and its sample payloads
(`pipelines/<pipeline_id>/runs/<run_id>/register-version/samples.jsonl`, from the held-out test
split; docs/pipelines.md, "Sample payloads"); a retry returns the version the first attempt
registered.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cirrus_core.observability import logger, tracer
from cirrus_core.pipelines.run_state import read_state
from cirrus_core.pipelines.steps import version_registrar


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Register (once) the version the run trained."""
    state = read_state(event)
    # The registry's model.registered event carries the run id as its correlation id.
    logger.set_correlation_id(state.run.run_id)
    logger.append_keys(run_id=state.run.run_id, pipeline_id=state.pipeline.pipeline_id)
    return version_registrar().register(state)
