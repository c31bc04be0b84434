"""Settings of the channel and delivery functions, read once per cold start."""

from __future__ import annotations

import functools
import os

from pydantic import BaseModel, ConfigDict, Field

from cirrus_core.settings import CsvTuple


class AlertingSettings(BaseModel):
    """What the channel and delivery functions read from their environment (names are the aliases)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    monitoring_table: str = Field(default="", alias="MONITORING_TABLE_NAME")
    # Local cloud only: http://127.0.0.1:<port> origins channels may use although they are loopback.
    local_receivers: CsvTuple = Field(default=(), alias="LOCAL_RECEIVER_ORIGINS")
    max_attempts: int = Field(default=5, ge=1, le=10, alias="ALERT_DELIVERY_MAX_ATTEMPTS")
    backoff_seconds: int = Field(default=30, ge=1, le=900, alias="ALERT_DELIVERY_BACKOFF_SECONDS")
    delivery_queue_url: str = Field(default="", alias="ALERT_DELIVERY_QUEUE_URL")
    dead_letter_queue_url: str = Field(default="", alias="ALERT_DELIVERY_DLQ_URL")
    email_topic_arn: str = Field(default="", alias="ALERT_EMAIL_TOPIC_ARN")
    # The KMS key channel secrets are encrypted with (empty: Secrets Manager's own key).
    secrets_kms_key_id: str = Field(default="", alias="ALERT_CHANNEL_SECRETS_KEY_ID")
    # One HTTP attempt's connect + answer timeout.
    send_timeout_seconds: float = Field(default=5.0, gt=0, le=30, alias="ALERT_DELIVERY_TIMEOUT_SECONDS")


@functools.cache
def get_alerting_settings() -> AlertingSettings:
    """The alerting settings of this execution environment."""
    return AlertingSettings.model_validate(os.environ)
