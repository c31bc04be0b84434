"""Monitoring request and response models (docs/monitoring.md). The OpenAPI document is generated from these.

Nothing here imports the science layer: the API functions that only store configs and read runs stay
light. The drift engine re-validates a stored config with `cirrus_science.drift.config.DriftConfig`;
the bounds below are the same.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    StringConstraints,
    field_validator,
    model_validator,
)

from cirrus_core.alerting.notification import Severity
from cirrus_core.metrics.query import MetricName
from cirrus_core.registry.primitives import Environment, ModelId, S3Uri, VersionNumber

RUN_ID_PATTERN = r"^\d{8}T\d{6}Z-[0-9a-f]{12}$"
ALERT_ID_PATTERN = r"^[0-9a-f]{32}$"
WINDOW_PATTERN = r"^[1-9]\d{0,4}[mhd]$"
MIN_WINDOW = timedelta(minutes=5)
MAX_WINDOW = timedelta(days=7)
# How far past the server's clock a given window_end may lie (the caller's clock may run ahead).
CLOCK_SKEW = timedelta(minutes=1)
_WINDOW_UNITS = {"m": 60, "h": 3600, "d": 86400}

RunId = Annotated[str, StringConstraints(pattern=RUN_ID_PATTERN)]
AlertId = Annotated[str, StringConstraints(pattern=ALERT_ID_PATTERN)]
# A feature (column) name as data capture and CSV headers carry it: printable, no control characters.
FeatureName = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]
ChannelName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
EvaluationWindow = Annotated[
    str,
    StringConstraints(pattern=WINDOW_PATTERN),
    Field(description="A duration: minutes, hours or days (`30m`, `1h`, `1d`), from 5m to 7d."),
]
FeatureKind = Literal["numeric", "categorical"]
DecisionGroup = Literal["test", "psi", "js"]
DEFAULT_DECISION: tuple[DecisionGroup, ...] = ("test", "psi")
# The feature kind each test applies to (the distances, psi and js, apply to both).
TEST_KINDS: dict[str, FeatureKind] = {"ks": "numeric", "chi_square": "categorical"}


def window_length(window: str) -> timedelta:
    """The duration of an evaluation window such as `1h` (the pattern is checked by the models)."""
    match = re.fullmatch(WINDOW_PATTERN, window)
    if match is None:
        raise ValueError(f"not an evaluation window: {window!r}")
    return timedelta(seconds=int(window[:-1]) * _WINDOW_UNITS[window[-1]])


# -- drift configs ----------------------------------------------------------------------------------


class MethodThresholds(BaseModel):
    """Fixed thresholds per method. A test's (`ks`, `chi_square`) is its significance level, used
    instead of Benjamini-Hochberg; a distance's (`psi`, `js`) is the score that counts as drift,
    used instead of the calibrated threshold."""

    model_config = ConfigDict(extra="forbid")

    ks: float | None = Field(default=None, gt=0, le=0.5)
    chi_square: float | None = Field(default=None, gt=0, le=0.5)
    psi: float | None = Field(default=None, ge=0, le=20)
    js: float | None = Field(default=None, ge=0, le=1)

    def given(self) -> dict[str, float]:
        return {name: value for name, value in self.model_dump().items() if value is not None}


class DistanceFloors(BaseModel):
    """The smallest distance that can count as drift, whatever the calibration says."""

    model_config = ConfigDict(extra="forbid")

    psi: float = Field(default=0.01, ge=0, le=20)
    js: float = Field(default=0.002, ge=0, le=1)


class DriftConfigRequest(BaseModel):
    """How a model's drift checks decide (docs/monitoring.md, "Verdicts")."""

    model_config = ConfigDict(extra="forbid")

    fdr: float = Field(default=0.05, gt=0, le=0.5, description="Benjamini-Hochberg false-discovery rate.")
    quantile: float = Field(
        default=0.95,
        ge=0.5,
        lt=1,
        description="Quantile of the resampled no-drift scores that sets a threshold.",
    )
    floors: DistanceFloors = Field(default_factory=DistanceFloors)
    thresholds: MethodThresholds = Field(default_factory=MethodThresholds)
    feature_thresholds: dict[FeatureName, MethodThresholds] = Field(
        default_factory=dict, max_length=500, description="Per-feature fixed thresholds; they win."
    )
    decision: list[DecisionGroup] = Field(
        default_factory=lambda: list(DEFAULT_DECISION),
        min_length=1,
        max_length=3,
        description="A feature drifts when every group listed flags it.",
    )
    drift_share: float = Field(
        default=0.25, gt=0, le=1, description="Share of drifted features for dataset drift."
    )
    min_rows: int = Field(
        default=100, ge=30, le=1_000_000, description="Fewest rows a window needs for a verdict."
    )
    resamples: int = Field(default=2000, ge=200, le=20_000, description="Resamples per calibration.")

    @model_validator(mode="after")
    def _distinct_groups(self) -> Self:
        if len(set(self.decision)) != len(self.decision):
            raise ValueError("decision lists a group twice")
        return self

    def engine_config(self) -> dict[str, Any]:
        """The config as `cirrus_science.drift.config.DriftConfig.from_dict` reads it."""
        return {
            "fdr": self.fdr,
            "quantile": self.quantile,
            "floors": self.floors.model_dump(),
            "thresholds": self.thresholds.given(),
            "feature_thresholds": {
                name: given
                for name, thresholds in self.feature_thresholds.items()
                if (given := thresholds.given())
            },
            "decision": list(self.decision),
            "drift_share": self.drift_share,
            "min_rows": self.min_rows,
            "resamples": self.resamples,
        }


class DriftConfigView(DriftConfigRequest):
    """A model's drift config: its own (`source: model`) or the defaults (`source: default`)."""

    model_id: ModelId
    source: Literal["model", "default"]
    updated_at: datetime | None = None
    updated_by: str | None = None


# -- baselines ----------------------------------------------------------------------------------------


class DatasetFormat(StrEnum):
    CSV = "csv"
    JSONLINES = "jsonl"


class CreateBaselineRequest(BaseModel):
    """Build a version's drift baseline from a dataset in the artifact bucket (a CSV with a header row,
    or JSON Lines of records), in the raw feature space the model is served with."""

    model_config = ConfigDict(extra="forbid")

    model_id: ModelId
    version: VersionNumber
    dataset_uri: S3Uri = Field(description="s3:// object in the artifact bucket or the allowlist.")
    format: DatasetFormat = DatasetFormat.CSV
    target_column: FeatureName | None = Field(default=None, description="Left out of the baseline.")
    exclude_columns: list[FeatureName] = Field(default_factory=list, max_length=500)
    feature_types: dict[FeatureName, FeatureKind] = Field(
        default_factory=dict, max_length=2000, description="Kinds to force; others are inferred."
    )
    n_bins: int = Field(default=10, ge=2, le=50, description="Equal-frequency bins per numeric feature.")
    max_sample_size: int = Field(
        default=10_000, ge=100, le=100_000, description="Sorted reference sample kept per numeric feature."
    )


class BaselineFeature(BaseModel):
    name: str
    kind: FeatureKind


class BaselineView(BaseModel):
    """A built baseline, linked to its version."""

    model_id: ModelId
    version: int
    baseline_uri: str
    fingerprint: str
    row_count: int
    features: list[BaselineFeature]
    source_uri: str
    created_at: datetime
    created_by: str


# -- alert rules (issue 8, owner: alerts) -----------------------------------------------------------


class AlertType(StrEnum):
    DRIFT_DETECTION = "drift_detection"
    PERFORMANCE_DEGRADATION = "performance_degradation"
    SYSTEM_FAILURES = "system_failures"


class Comparison(StrEnum):
    """How a performance rule compares the metric with its threshold (`value <op> threshold` fires)."""

    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"

    def holds(self, value: float, threshold: float) -> bool:
        if self is Comparison.GT:
            return value > threshold
        if self is Comparison.GTE:
            return value >= threshold
        if self is Comparison.LT:
            return value < threshold
        return value <= threshold

    @property
    def symbol(self) -> str:
        return {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[self.value]


class SystemFailureSource(StrEnum):
    """What a `system_failures` rule watches."""

    PIPELINE_FAILURES = "pipeline_failures"  # pipeline.failed events, per pipeline
    DEPLOYMENT_ROLLBACKS = "deployment_rollbacks"  # model.rolled_back from cirrus.serving, per model/env
    FUNCTION_ERRORS = "function_errors"  # CloudWatch AWS/Lambda Errors of the stack's functions
    DLQ_MESSAGES = "dlq_messages"  # messages waiting in the stack's dead-letter queues


ALL_SYSTEM_SOURCES: tuple[SystemFailureSource, ...] = tuple(SystemFailureSource)
# Subjects fed by events: they hold while events keep coming and clear after a quiet window.
EVENT_SOURCES = frozenset({SystemFailureSource.PIPELINE_FAILURES, SystemFailureSource.DEPLOYMENT_ROLLBACKS})
DEFAULT_SEVERITY: dict[AlertType, Severity] = {
    AlertType.DRIFT_DETECTION: Severity.WARNING,
    AlertType.PERFORMANCE_DEGRADATION: Severity.ERROR,
    AlertType.SYSTEM_FAILURES: Severity.CRITICAL,
}
# The model resource a rule without a model (a platform-wide system_failures rule) is authorized on.
PLATFORM_WIDE = "*"
MIN_COOLDOWN = timedelta(minutes=1)
MAX_COOLDOWN = timedelta(days=7)
Cooldown = Annotated[
    str,
    StringConstraints(pattern=WINDOW_PATTERN),
    Field(description="While an alert fires, at most one reminder per cooldown (`15m`, `1h`): 1m to 7d."),
]


def check_window_bounds(length: timedelta) -> None:
    if length < MIN_WINDOW:
        raise ValueError(f"evaluation_window is shorter than {int(MIN_WINDOW.total_seconds() // 60)} minutes")
    if length > MAX_WINDOW:
        raise ValueError(f"evaluation_window is longer than {MAX_WINDOW.days} days")


class _AlertSettings(BaseModel):
    """The fields every rule has and `PUT` replaces."""

    model_config = ConfigDict(extra="forbid")

    notification_channels: list[ChannelName] = Field(
        default_factory=list, max_length=10, description="Channel names (POST /monitoring/channels)."
    )
    evaluation_window: EvaluationWindow = "1h"
    cooldown: Cooldown = "1h"
    severity: Severity | None = Field(
        default=None,
        description="critical | error | warning | info; by default warning (drift), error (performance), "
        "critical (system failures).",
    )
    description: str = Field(default="", max_length=512, description="Free text shown with the alert.")

    @field_validator("evaluation_window")
    @classmethod
    def _window_bounds(cls, value: str) -> str:
        check_window_bounds(window_length(value))
        return value

    @field_validator("cooldown")
    @classmethod
    def _cooldown_bounds(cls, value: str) -> str:
        length = window_length(value)
        if length < MIN_COOLDOWN or length > MAX_COOLDOWN:
            raise ValueError("cooldown must be from 1 minute to 7 days")
        return value

    @field_validator("notification_channels")
    @classmethod
    def _distinct_channels(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a channel is named twice")
        return value


class DriftAlertSettings(_AlertSettings):
    """`threshold`: the share of the model's features that must drift in one monitor run, (0, 1]."""

    alert_type: Literal[AlertType.DRIFT_DETECTION]
    threshold: float = Field(gt=0, le=1, description="Share of drifted features that fires, (0, 1].")


class PerformanceAlertSettings(_AlertSettings):
    """Fires when `metric` over the last `evaluation_window` compares to `threshold` as `comparison` says."""

    alert_type: Literal[AlertType.PERFORMANCE_DEGRADATION]
    metric: MetricName
    comparison: Comparison
    threshold: float = Field(allow_inf_nan=False, description="In the metric's unit (ms, share, count).")


class SystemAlertSettings(_AlertSettings):
    """Fires per subject (a pipeline, a model's environment, a function, a queue) when it fails at least
    `threshold` times within `evaluation_window` (for a dead-letter queue: holds that many messages)."""

    alert_type: Literal[AlertType.SYSTEM_FAILURES]
    threshold: int = Field(default=1, ge=1, le=1_000_000, description="Failures per subject that fire.")
    sources: list[SystemFailureSource] = Field(
        default_factory=lambda: list(ALL_SYSTEM_SOURCES), min_length=1, max_length=4
    )

    @field_validator("sources")
    @classmethod
    def _distinct_sources(cls, value: list[SystemFailureSource]) -> list[SystemFailureSource]:
        if len(set(value)) != len(value):
            raise ValueError("a source is named twice")
        return value


class CreateDriftAlert(DriftAlertSettings):
    model_id: ModelId
    environment: Environment = Field(default=Environment.PROD, description="The environment watched.")


class CreatePerformanceAlert(PerformanceAlertSettings):
    model_id: ModelId
    environment: Environment = Field(default=Environment.PROD, description="The environment watched.")


class CreateSystemAlert(SystemAlertSettings):
    model_id: ModelId | None = Field(default=None, description="Only this model's rollbacks; none: all.")
    environment: Environment | None = Field(default=None, description="Only this environment's rollbacks.")


CreateAlertBody = Annotated[
    CreateDriftAlert | CreatePerformanceAlert | CreateSystemAlert, Field(discriminator="alert_type")
]
UpdateAlertBody = Annotated[
    DriftAlertSettings | PerformanceAlertSettings | SystemAlertSettings, Field(discriminator="alert_type")
]


class CreateAlertRequest(RootModel[CreateAlertBody]):
    """The spec's alert payload `{model_id, alert_type, threshold, notification_channels,
    evaluation_window}` plus `environment`, `cooldown`, `severity`, `description` and the fields of its
    type: `metric` and `comparison` (performance_degradation), `sources` (system_failures)."""


class UpdateAlertRequest(RootModel[UpdateAlertBody]):
    """A rule's mutable fields, all replaced (`alert_type` must stay the rule's; the model and the
    environment cannot change)."""


class AlertRule(BaseModel):
    """A stored alert rule."""

    alert_id: AlertId
    model_id: ModelId | None = None
    alert_type: AlertType
    environment: Environment | None = None
    threshold: float
    notification_channels: list[str]
    evaluation_window: str
    cooldown: str = "1h"
    severity: Severity | None = None
    description: str = ""
    metric: MetricName | None = None
    comparison: Comparison | None = None
    sources: list[SystemFailureSource] | None = None
    schedule_name: str | None = None
    schedule_expression: str | None = None
    created_at: datetime
    created_by: str
    updated_at: datetime | None = None
    updated_by: str | None = None
    links: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _default_severity(self) -> Self:
        if self.severity is None:
            self.severity = DEFAULT_SEVERITY[self.alert_type]
        return self

    @property
    def window(self) -> timedelta:
        return window_length(self.evaluation_window)

    @property
    def cooldown_length(self) -> timedelta:
        return window_length(self.cooldown)

    @property
    def effective_severity(self) -> Severity:
        return self.severity or DEFAULT_SEVERITY[self.alert_type]

    @property
    def watched_sources(self) -> list[SystemFailureSource]:
        return list(self.sources or ALL_SYSTEM_SOURCES)


class AlertStatus(StrEnum):
    OK = "ok"
    FIRING = "firing"


class AlertStateView(BaseModel):
    """The alert of one subject of a rule (`-` for drift and performance rules)."""

    subject: str
    status: AlertStatus
    dedup_key: str | None = None
    fired_at: datetime | None = None
    last_notified_at: datetime | None = None
    resolved_at: datetime | None = None
    value: float | None = None


class AlertRuleDetail(AlertRule):
    """A rule with the state of its alert(s)."""

    states: list[AlertStateView] = Field(default_factory=list)


class AlertRulePage(BaseModel):
    items: list[AlertRule]
    next_token: str | None = None


# -- drift runs ------------------------------------------------------------------------------------


class DriftRunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    INSUFFICIENT_DATA = "insufficient_data"
    FAILED = "failed"


FINAL_RUN_STATUSES = frozenset(
    {DriftRunStatus.SUCCEEDED, DriftRunStatus.INSUFFICIENT_DATA, DriftRunStatus.FAILED}
)


class DriftRunTrigger(StrEnum):
    API = "api"
    SCHEDULE = "schedule"


class StartDriftRunRequest(BaseModel):
    """Check a window of an environment's captured traffic now: the last `window` (5m to 7d), or from
    `window_start` to `window_end` (both, with a time zone, at most 7 days apart, not in the future)."""

    model_config = ConfigDict(extra="forbid")

    environment: Environment = Environment.PROD
    window: EvaluationWindow | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None

    @model_validator(mode="after")
    def _one_window(self) -> Self:
        explicit = self.window_start is not None or self.window_end is not None
        if explicit and self.window is not None:
            raise ValueError("give window, or window_start and window_end, not both")
        if explicit and (self.window_start is None or self.window_end is None):
            raise ValueError("give both window_start and window_end")
        if self.window_start is not None and self.window_end is not None:
            if self.window_start.tzinfo is None or self.window_end.tzinfo is None:
                raise ValueError("window_start and window_end need a time zone (e.g. Z)")
            if self.window_end <= self.window_start:
                raise ValueError("window_end must be after window_start")
            if self.window_end > datetime.now(UTC) + CLOCK_SKEW:
                raise ValueError("window_end is in the future: no traffic has been captured there yet")
            # An explicit window may be short (a past incident, a test): min_rows decides whether it
            # holds enough traffic. Only its length is bounded.
            if self.window_end - self.window_start > MAX_WINDOW:
                raise ValueError(f"evaluation_window is longer than {MAX_WINDOW.days} days")
        if self.window is not None:
            check_window_bounds(window_length(self.window))
        return self


class MethodScore(BaseModel):
    method: Literal["ks", "chi_square", "psi", "js"]
    score: float = Field(description="A test's p-value; a distance's value.")
    statistic: float | None = Field(default=None, description="The test statistic (KS D, chi-square).")
    threshold: float
    threshold_source: Literal["feature", "model", "calibrated", "floor", "benjamini_hochberg"]
    drifted: bool


class FeatureScore(BaseModel):
    name: str
    kind: FeatureKind
    status: Literal["checked", "missing", "type_mismatch"]
    drifted: bool
    present_rows: int
    methods: list[MethodScore]
    quality: dict[str, Any]


class DriftRunSummary(BaseModel):
    """A drift monitor run: its window, verdict and where its report is."""

    run_id: RunId
    model_id: ModelId
    environment: Environment
    version: int | None = None
    status: DriftRunStatus
    trigger: DriftRunTrigger
    alert_id: str | None = None
    window_start: datetime
    window_end: datetime
    rows: int | None = None
    drifted_features: list[str] = Field(default_factory=list)
    drift_share: float | None = None
    dataset_drift: bool | None = None
    started_at: datetime
    started_by: str = Field(
        description="Who started the run: a user, or `scheduler` for an alert's schedule."
    )
    finished_at: datetime | None = None
    failure_reason: str | None = None
    baseline_uri: str | None = None
    report_uri: str | None = None
    violations_uri: str | None = None
    result_uri: str | None = None
    execution_arn: str | None = None
    links: dict[str, str] = Field(default_factory=dict)


class DriftRun(DriftRunSummary):
    """A run with every feature's scores, thresholds and verdicts."""

    features: list[FeatureScore] = Field(default_factory=list)
    calibration_window_size: int | None = None
    calibration_reused: bool | None = None


class DriftRunPage(BaseModel):
    items: list[DriftRunSummary]
    next_token: str | None = None


def drift_run_links(model_id: str, run_id: str, *, report: bool) -> dict[str, str]:
    from cirrus_core.api import API_PREFIX

    base = f"{API_PREFIX}/monitoring/models/{model_id}/drift-runs/{run_id}"
    links = {"self": base, "model": f"{API_PREFIX}/models/{model_id}"}
    if report:
        links["report"] = f"{base}/report"
    return links


def new_run_id(at: datetime, seed: str | None = None) -> str:
    """`<yyyymmddThhmmssZ>-<12 hex>`: time first, so runs sort by start; the hex from `seed` when
    given (a retried scheduled step derives the same id), else random."""
    suffix = hashlib.sha256(seed.encode()).hexdigest()[:12] if seed else uuid.uuid4().hex[:12]
    return f"{at.astimezone(UTC):%Y%m%dT%H%M%SZ}-{suffix}"
