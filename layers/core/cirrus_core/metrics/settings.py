"""Settings of the metrics functions (and of the predict route's publisher), read once per cold start."""

from __future__ import annotations

import functools

from pydantic import Field

from cirrus_core.settings import EnvironmentSettings


class MetricsSettings(EnvironmentSettings):
    metrics_table: str = Field(default="", alias="METRICS_TABLE_NAME")
    metrics_queue_url: str = Field(default="", alias="METRICS_QUEUE_URL")
    monitoring_table: str = Field(default="", alias="MONITORING_TABLE_NAME")
    serving_table: str = Field(default="", alias="SERVING_TABLE_NAME")
    # The Secrets Manager secret holding the Prometheus scrape token; empty: scrape-token mode is off.
    scrape_token_secret: str = Field(default="", alias="SCRAPE_TOKEN_SECRET_ARN")
    # How long a read scrape token is trusted before it is read again (rotation takes effect then).
    secret_max_age_seconds: int = Field(default=300, ge=0, le=3600, alias="SECRET_MAX_AGE_SECONDS")


@functools.cache
def get_metrics_settings() -> MetricsSettings:
    return MetricsSettings.from_environ()
