"""Request and response bodies of the pipelines API. The OpenAPI document is generated from these.

A pipeline's definition (`PipelineDefinitionRequest`) and a run's parameters (`RunParameters`) live
in `cirrus_core.pipelines.definition`; a run's steps (`StepStatus`) in `cirrus_core.pipelines.history`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from cirrus_core.pipelines.definition import PipelineDefinitionRequest, PipelineId, TriggerRule
from cirrus_core.pipelines.history import StepStatus
from cirrus_core.principal import ActorRecord

# Step Functions execution names: the run id. Ours are `<UTC time>-<8 hex>`; a schedule's are UUIDs.
RUN_ID_PATTERN = r"^[A-Za-z0-9_-]{1,80}$"
# EventBridge Scheduler schedule names.
SCHEDULE_NAME_PATTERN = r"^[0-9A-Za-z_.-]{1,64}$"
# An IANA zone name (Europe/Paris, America/Argentina/Buenos_Aires, UTC, Etc/GMT+2).
TIMEZONE_PATTERN = r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$"
MAX_DEFINITION_VERSION = 1_000_000_000

RunId = Annotated[str, StringConstraints(pattern=RUN_ID_PATTERN)]
ScheduleName = Annotated[str, StringConstraints(pattern=SCHEDULE_NAME_PATTERN)]
# Checked by the service, so that a bad one is refused as invalid_schedule naming the problem.
Cron = Annotated[str, StringConstraints(max_length=256)]
Timezone = Annotated[str, StringConstraints(max_length=64)]
Links = dict[str, str]


class RunStatus(StrEnum):
    """Step Functions' execution statuses."""

    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    ABORTED = "ABORTED"
    PENDING_REDRIVE = "PENDING_REDRIVE"


CANCELLABLE = frozenset({RunStatus.RUNNING})
RETRYABLE = frozenset({RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.ABORTED})


class TriggerType(StrEnum):
    """What started a run."""

    API = "api"
    SCHEDULE = "schedule"
    WEBHOOK = "webhook"
    RETRY = "retry"


class RunTrigger(BaseModel):
    """What started a run, with what the starter knew (`schedule`, `retry_of`, a webhook's commit)."""

    type: TriggerType
    detail: dict[str, Any] = Field(default_factory=dict)


# -- definitions ------------------------------------------------------------------------------------


class DefinitionVersion(BaseModel):
    """One stored version of a pipeline's definition."""

    version: int
    created_at: datetime | None = None
    created_by: str | None = None
    asl_sha256: str | None = Field(default=None, description="SHA-256 of the state machine definition.")


class PipelineSummary(BaseModel):
    """A pipeline as lists show it."""

    pipeline_id: str
    description: str = ""
    builtin: bool = Field(default=False, description="The built-in `training` pipeline.")
    definition_version: int
    state_machine_arn: str
    step_count: int
    trigger_count: int
    updated_at: datetime | None = None
    updated_by: str | None = None
    links: Links = Field(default_factory=dict)


class PipelinePage(BaseModel):
    items: list[PipelineSummary]
    next_token: str | None = None


class PipelineDetail(BaseModel):
    """A pipeline with one version of its definition (the current one unless another was asked for)."""

    pipeline_id: str
    description: str = ""
    builtin: bool = False
    definition_version: int = Field(description="The version of `definition`.")
    latest_version: int = Field(description="The current version: what new runs use.")
    definition: PipelineDefinitionRequest
    stages: list[list[str]] = Field(description="Step ids by stage: a stage's steps run in parallel.")
    triggers: list[TriggerRule] = Field(description="The repository events that start runs (no secrets).")
    versions: list[DefinitionVersion] = Field(description="Stored versions, newest first (at most 100).")
    state_machine_arn: str
    created_at: datetime | None = None
    created_by: str | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None
    links: Links = Field(default_factory=dict)


class PipelineStored(PipelineDetail):
    """The answer to storing a definition: `changed` is false when it equalled the current one."""

    changed: bool


# -- runs -------------------------------------------------------------------------------------------


class ExecutePipelineRequest(BaseModel):
    """The spec's execute payload: start a run now, or on a cron schedule when `schedule` is given."""

    model_config = ConfigDict(extra="forbid")

    pipeline_id: PipelineId
    parameters: dict[str, Any] = Field(
        default_factory=dict,
        max_length=100,
        description=(
            "Run parameters (`data_source`: s3://, `dataset:<name>[@<version>]`, `training-set:<id>` "
            "or a data source's name; `model_type`, `target_accuracy`, `task`, `target_column`, "
            "`exclude_columns` (columns that are not features: ids, label times), `metric`, "
            "`metric_threshold`, `model_name`, `hyperparameters`, `use_cache`, `deploy_to`, "
            "`approval_timeout_seconds`, `seed`, and step parameters), merged over the definition's "
            "default_parameters; refused with invalid_run_parameters when they do not validate."
        ),
    )
    schedule: Cron | None = Field(
        default=None, description="A five-field cron expression (`0 2 * * *`): schedule runs instead."
    )
    timezone: Timezone = Field(default="UTC", description="The schedule's IANA time zone.")


class RunStarted(BaseModel):
    """A run that was started: follow it at `links.self`."""

    run_id: str
    pipeline_id: str
    execution_arn: str
    status: RunStatus
    started_at: datetime
    definition_version: int
    trigger: RunTrigger
    links: Links = Field(default_factory=dict)


class RunReference(BaseModel):
    """A run by its pipeline and id (what a retry's Idempotency-Key is checked against)."""

    pipeline_id: str
    run_id: str


class RunSummary(BaseModel):
    """A run as lists show it."""

    run_id: str
    pipeline_id: str
    execution_arn: str
    status: RunStatus
    started_at: datetime
    stopped_at: datetime | None = None
    links: Links = Field(default_factory=dict)


class RunPage(BaseModel):
    items: list[RunSummary]
    next_token: str | None = None


class RunFailure(BaseModel):
    """Where and why a run failed."""

    step: str | None = None
    error: str | None = None
    cause: str | None = None


class RunRegistration(BaseModel):
    """The model version a run registered."""

    model_id: str
    version: int
    approval_status: str | None = None


class RunDetail(BaseModel):
    """A run: its status, what started it, for whom, each step's progress and its outcome."""

    run_id: str
    pipeline_id: str
    execution_arn: str
    status: RunStatus
    started_at: datetime
    stopped_at: datetime | None = None
    definition_version: int | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    trigger: RunTrigger | None = None
    actor: ActorRecord | None = None
    steps: list[StepStatus] = Field(default_factory=list)
    failure: RunFailure | None = None
    registration: RunRegistration | None = None
    links: Links = Field(default_factory=dict)


# -- schedules --------------------------------------------------------------------------------------


class PipelineSchedule(BaseModel):
    """An EventBridge Scheduler schedule that starts runs of a pipeline."""

    schedule_name: str
    pipeline_id: str
    cron: str | None = Field(default=None, description="The cron expression as it was given.")
    expression: str = Field(description="The schedule expression EventBridge Scheduler runs by.")
    timezone: str
    state: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    next_runs: list[datetime] = Field(default_factory=list, description="The next fire times (UTC).")
    created_at: datetime | None = None
    links: Links = Field(default_factory=dict)


class SchedulePage(BaseModel):
    items: list[PipelineSchedule]
