"""Settings of the channel and delivery functions, read once per cold start."""

from __future__ import annotations

import functools

from pydantic import Field, field_validator

from cirrus_core.monitoring.destinations import local_receiver_origin
from cirrus_core.settings import CsvTuple, EnvironmentSettings


class AlertingSettings(EnvironmentSettings):
    """What the channel and delivery functions read from their environment (names are the aliases)."""

    monitoring_table: str = Field(default="", alias="MONITORING_TABLE_NAME")
    # Local cloud only: origins channels may use although they are loopback, each exactly
    # http://127.0.0.1:<port>, http://localhost:<port> or http://[::1]:<port> (anything else: an error).
    local_receivers: CsvTuple = Field(default=(), alias="LOCAL_RECEIVER_ORIGINS")
    max_attempts: int = Field(default=5, ge=1, le=10, alias="ALERT_DELIVERY_MAX_ATTEMPTS")
    backoff_seconds: int = Field(default=30, ge=1, le=900, alias="ALERT_DELIVERY_BACKOFF_SECONDS")
    delivery_queue_url: str = Field(default="", alias="ALERT_DELIVERY_QUEUE_URL")
    dead_letter_queue_url: str = Field(default="", alias="ALERT_DELIVERY_DLQ_URL")
    email_topic_arn: str = Field(default="", alias="ALERT_EMAIL_TOPIC_ARN")
    # The KMS key channel secrets are encrypted with (empty: Secrets Manager's own key).
    secrets_kms_key_id: str = Field(default="", alias="ALERT_CHANNEL_SECRETS_KEY_ID")
    # One HTTP attempt's whole duration (connect, TLS, request and answer), across all its addresses.
    send_timeout_seconds: float = Field(default=5.0, gt=0, le=30, alias="ALERT_DELIVERY_TIMEOUT_SECONDS")

    @field_validator("local_receivers")
    @classmethod
    def _only_local_receivers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(local_receiver_origin(origin) for origin in value)

    @property
    def reserve_seconds(self) -> float:
        """The least time left in the sender's invocation to start another record: one whole attempt
        plus the reads and writes around it."""
        return self.send_timeout_seconds + 5.0


@functools.cache
def get_alerting_settings() -> AlertingSettings:
    """The alerting settings of this execution environment."""
    return AlertingSettings.from_environ()
