"""Step Functions task `Profile baseline`: the version's drift baseline, from its raw training split.

Payload: `{"state": <working state>}`. Returns `{"baseline_uri": "s3://<artifact bucket>/pipelines/
<pipeline_id>/runs/<run_id>/profile-baseline/baseline.json", "reason": null}`, or
`{"baseline_uri": null, "reason": "<why>"}` when the run has no raw training split to profile; the
state machine puts it at `$.baseline`, which `Register version` registers as the version's
`baseline_uri` (docs/pipelines.md, "Baseline"). A retry writes the same object again.

Runs with the science layer (numpy): `cirrus_core.pipelines.baseline_profile` imports it only when
it builds a baseline.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from cirrus_core.observability import logger, tracer
from cirrus_core.pipelines.run_state import read_state
from cirrus_core.pipelines.steps import baseline_profiler


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Profile the run's raw training split into the version's drift baseline, when it has one."""
    state = read_state(event)
    logger.set_correlation_id(state.run.run_id)
    logger.append_keys(run_id=state.run.run_id, pipeline_id=state.pipeline.pipeline_id)
    return baseline_profiler().profile(state)
