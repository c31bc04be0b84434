"""Observations of the predict route, and the metrics API's request and response models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from cirrus_core.registry.primitives import Environment, ModelId

INFERENCE_ID_PATTERN: Final = r"^[0-9a-f]{32}$"
InferenceId = Annotated[str, StringConstraints(pattern=INFERENCE_ID_PATTERN)]
OBSERVATION_VERSION: Final = 1
MAX_GROUND_TRUTH_RECORDS: Final = 500
# The model label of observations whose model id has no environment in the serving table (a made-up
# or mistyped id): counted together, so that no caller can create an aggregate item (and a Prometheus
# series) per invented id. It cannot be a model id: those start with a letter or digit.
UNKNOWN_MODEL: Final = "_unknown"


class Outcome(StrEnum):
    """What became of one predict request."""

    ANSWERED = "answered"  # the model answered (200)
    REFUSED = "refused"  # the platform refused the request (4xx other than a model error)
    FAILED = "failed"  # the platform failed (5xx: the endpoint could not serve, or a crash)
    MODEL_ERROR = "model_error"  # the model's container failed (424)


class Observation(BaseModel):
    """One message on the metrics queue: one predict request's outcome."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    v: int = OBSERVATION_VERSION
    outcome: Outcome
    model_id: ModelId | Literal["_unknown"]
    environment: Environment
    at: datetime = Field(description="When the request was answered (UTC).")
    status: int = Field(ge=100, le=599)
    version: int | None = Field(default=None, ge=1, description="The version that served it, if any.")
    inference_id: InferenceId | None = None
    latency_ms: float | None = Field(default=None, ge=0)
    prediction: Any = None
    prediction_stored: bool = Field(
        default=False, description="False when the answer was too large to keep (no ground truth then)."
    )


class Resolution(StrEnum):
    MINUTE = "1m"
    HOUR = "1h"
    DAY = "1d"


RESOLUTION_STEP: Final = {
    Resolution.MINUTE: timedelta(minutes=1),
    Resolution.HOUR: timedelta(hours=1),
    Resolution.DAY: timedelta(days=1),
}
# The longest range one history request may ask for at each resolution (1440, 744, 400 points).
MAX_RANGE: Final = {
    Resolution.MINUTE: timedelta(days=1),
    Resolution.HOUR: timedelta(days=31),
    Resolution.DAY: timedelta(days=400),
}


def bucket_start(at: datetime, resolution: Resolution) -> datetime:
    """The start of the bucket `at` falls in (UTC, whatever zone `at` is in)."""
    at = at.astimezone(UTC).replace(second=0, microsecond=0)
    if resolution is Resolution.MINUTE:
        return at
    at = at.replace(minute=0)
    if resolution is Resolution.HOUR:
        return at
    return at.replace(hour=0)


# -- ground truth -------------------------------------------------------------------------------------

Scalar = str | bool | int | float
Label = Annotated[
    Scalar | list[Scalar],
    Field(description="The true value: one, or a list with one per row of a multi-row prediction."),
]


class GroundTruthRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inference_id: InferenceId = Field(description="The predict answer's `inference_id`.")
    label: Label


class GroundTruthRequest(BaseModel):
    """Labels for earlier predictions, joined on their inference ids (1 to 500 records)."""

    model_config = ConfigDict(extra="forbid")

    records: list[GroundTruthRecord] = Field(min_length=1, max_length=MAX_GROUND_TRUTH_RECORDS)


class GroundTruthResult(BaseModel):
    """What a ground truth request recorded."""

    recorded: int = Field(description="Labels newly joined to their predictions.")
    unchanged: int = Field(description="Labels already recorded with the same value (idempotent).")
    rows_compared: int = Field(description="Prediction rows the new labels were compared with.")
    rows_correct: int


# -- history -------------------------------------------------------------------------------------------


class MetricPoint(BaseModel):
    timestamp: datetime = Field(description="The bucket's start (UTC).")
    value: float


class MetricHistory(BaseModel):
    model_id: str
    environment: Environment
    metric: str
    resolution: Resolution
    start: datetime = Field(alias="from", serialization_alias="from")
    end: datetime = Field(alias="to", serialization_alias="to")
    points: list[MetricPoint] = Field(description="Buckets with data, oldest first, all versions together.")
    versions: dict[str, list[MetricPoint]] = Field(
        default_factory=dict, description="The same per version (`none`: requests refused before one)."
    )

    model_config = ConfigDict(populate_by_name=True)


class DriftFeaturePoint(BaseModel):
    feature: str
    drifted: bool
    scores: dict[str, float] = Field(description="Per method its score (a test's p-value, a distance).")


class DriftHistoryRun(BaseModel):
    run_id: str
    timestamp: datetime = Field(description="The run's window end.")
    window_start: datetime
    window_end: datetime
    version: int | None = None
    status: str
    drift_share: float | None = None
    dataset_drift: bool | None = None
    features: list[DriftFeaturePoint]


class DriftHistory(BaseModel):
    model_id: str
    environment: Environment | None = None
    start: datetime = Field(alias="from", serialization_alias="from")
    end: datetime = Field(alias="to", serialization_alias="to")
    runs: list[DriftHistoryRun] = Field(description="Runs started in the range, oldest first.")
    features: dict[str, list[MetricPoint]] = Field(
        default_factory=dict, description="Per feature and method (`amount.psi`): its scores over time."
    )

    model_config = ConfigDict(populate_by_name=True)
