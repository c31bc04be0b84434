"""Settings of the monitoring functions, read once per cold start."""

from __future__ import annotations

import functools
import os

from pydantic import BaseModel, ConfigDict, Field


class MonitoringSettings(BaseModel):
    """What monitoring functions read from their environment. Names are the field aliases."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    monitoring_table: str = Field(default="", alias="MONITORING_TABLE_NAME")
    monitoring_bucket: str = Field(default="", alias="MONITORING_BUCKET")
    capture_bucket: str = Field(default="", alias="CAPTURE_BUCKET")
    serving_table: str = Field(default="", alias="SERVING_TABLE_NAME")
    drift_state_machine_arn: str = Field(default="", alias="DRIFT_STATE_MACHINE_ARN")
    scheduler_group: str = Field(default="", alias="MONITORING_SCHEDULE_GROUP")
    scheduler_role_arn: str = Field(default="", alias="MONITORING_SCHEDULER_ROLE_ARN")
    # The most captured rows one run reads (the newest are kept when a window holds more).
    max_window_rows: int = Field(default=200_000, ge=1_000, le=2_000_000, alias="DRIFT_MAX_WINDOW_ROWS")
    # The most rows a baseline built through the API reads from its dataset.
    max_baseline_rows: int = Field(default=200_000, ge=1_000, le=2_000_000, alias="BASELINE_MAX_ROWS")
    # Capture objects read at once.
    capture_read_concurrency: int = Field(default=16, ge=1, le=64, alias="CAPTURE_READ_CONCURRENCY")


@functools.cache
def get_monitoring_settings() -> MonitoringSettings:
    """The monitoring settings of this execution environment."""
    return MonitoringSettings.model_validate(os.environ)
