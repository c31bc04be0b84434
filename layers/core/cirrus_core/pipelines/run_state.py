"""The working state a run's states pass along (docs/pipelines.md, "Working state").

`Prepare run` builds it; every later Lambda reads it with `WorkingState`. Fields the state machine
adds on the way (`steps`, `evaluation`, `baseline`, `registration`, `approval_decision`, `error`,
`failure`) are optional here, and unknown ones are kept.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cirrus_core.errors import PipelineStepError
from cirrus_core.pipelines.definition import (
    JobType,
    PipelineDefinitionRequest,
    RunParameters,
    StepDefinition,
)
from cirrus_core.pipelines.models import RunTrigger
from cirrus_core.principal import ActorRecord, Principal


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class PipelineRef(_Lenient):
    pipeline_id: str
    definition_version: int = 0
    definition: PipelineDefinitionRequest


class DatasetRef(_Lenient):
    uri: str
    version: str


class RunInfo(_Lenient):
    run_id: str
    execution_arn: str
    started_at: str
    model_name: str
    dataset: DatasetRef
    prefix: str


class JobEntry(_Lenient):
    kind: Literal["processing", "training", "deployment"]
    job_name: str | None = None
    request: dict[str, Any] | None = None
    output: dict[str, str] | None = None


class CacheEntry(_Lenient):
    key: str
    hit: bool = False
    output: dict[str, Any] | None = None


class GateSpec(_Lenient):
    """What the quality gate checks: a metric against a threshold, in a direction."""

    metric: str
    threshold: float | None
    direction: Literal["max", "min"]
    enforced: bool


class GateResult(GateSpec):
    """The gate judged: the metric's value, whether it passed, and why, in words."""

    value: float | None
    passed: bool
    explanation: str


class Evaluation(_Lenient):
    metrics: dict[str, float] = Field(default_factory=dict)
    gate: GateResult | None = None


class BaselineResult(_Lenient):
    """What `Profile baseline` left: the version's drift baseline, or why there is none."""

    baseline_uri: str | None = None
    reason: str | None = None


class Registration(_Lenient):
    model_id: str
    version: int
    approval_status: str | None = None


class WorkingState(_Lenient):
    """A run's working state, as the Lambdas after `Prepare run` receive it."""

    pipeline: PipelineRef
    parameters: dict[str, Any]
    actor: ActorRecord
    trigger: RunTrigger
    run: RunInfo
    jobs: dict[str, JobEntry]
    cache: dict[str, CacheEntry] = Field(default_factory=dict)
    gate: GateSpec | None = None
    approval: dict[str, Any] | None = None
    steps: dict[str, Any] = Field(default_factory=dict)
    evaluation: Evaluation | None = None
    baseline: BaselineResult | None = None
    registration: Registration | None = None
    approval_decision: dict[str, Any] | None = None

    @property
    def definition(self) -> PipelineDefinitionRequest:
        return self.pipeline.definition

    @property
    def principal(self) -> Principal:
        """The principal the run acts for."""
        return self.actor.principal()

    def run_parameters(self) -> RunParameters:
        return RunParameters.model_validate(self.parameters)

    def step_of_type(self, job_type: JobType) -> StepDefinition | None:
        """The definition's step of a type (training, evaluation and deployment are singletons)."""
        return next((step for step in self.definition.steps if step.type is job_type), None)

    def output_of(self, step_id: str) -> dict[str, Any]:
        """Where a step's output is: the cached run's when the step was reused, else this run's."""
        cached = self.cache.get(step_id)
        if cached is not None and cached.hit and cached.output:
            return dict(cached.output)
        job = self.jobs.get(step_id)
        return dict(job.output or {}) if job is not None else {}

    def job_name_of(self, step_id: str) -> str | None:
        """The SageMaker job that produced a step's output (an earlier run's when cached)."""
        cached = self.cache.get(step_id)
        if cached is not None and cached.hit and cached.output and cached.output.get("job_name"):
            return str(cached.output["job_name"])
        job = self.jobs.get(step_id)
        return job.job_name if job is not None else None


def read_state(event: dict[str, Any]) -> WorkingState:
    """The working state of a step Lambda's payload: `{"state": ...}`, or the state itself."""
    raw = event.get("state", event) if isinstance(event, dict) else event
    try:
        return WorkingState.model_validate(raw)
    except ValidationError as error:
        raise PipelineStepError(
            "The step was not given a run's working state.",
            [
                {"field": ".".join(map(str, item["loc"])), "message": item["msg"]}
                for item in error.errors()[:10]
            ],
        ) from error
