"""Notification channels: what a user sends to create one, what is stored, and what is shown.

A channel's secret parts (a webhook URL and its signing secret, a Slack incoming-webhook URL, a
PagerDuty routing key and events URL) live in Secrets Manager, one secret per channel; the table and
every response hold only the non-secret view: the kind, the destination's host, the email addresses,
who made it and when, and the secret's version (docs/monitoring.md, "Channels and deliveries").
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from cirrus_core.monitoring.destinations import secret_key

CHANNEL_NAME_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]{0,62}$"
DEFAULT_PAGERDUTY_EVENTS_URL: Final = "https://events.pagerduty.com/v2/enqueue"
EMAIL_PATTERN: Final = r"^[^@\s\x00-\x1f]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$"

ChannelName = Annotated[str, StringConstraints(pattern=CHANNEL_NAME_PATTERN)]
Url = Annotated[str, StringConstraints(min_length=8, max_length=2048)]
EmailAddress = Annotated[str, StringConstraints(pattern=EMAIL_PATTERN, max_length=254)]


class ChannelType(StrEnum):
    WEBHOOK = "webhook"
    SLACK = "slack"
    PAGERDUTY = "pagerduty"
    EMAIL = "email"


class WebhookConfig(BaseModel):
    """A generic webhook: JSON bodies signed per Standard Webhooks with the user's `whsec_` secret."""

    model_config = ConfigDict(extra="forbid")

    url: Url = Field(description="https:// URL receiving the signed JSON notification.")
    signing_secret: str = Field(
        max_length=256, description="`whsec_<base64 key of 24 bytes or more>`; never shown again."
    )

    @field_validator("signing_secret")
    @classmethod
    def _secret_format(cls, value: str) -> str:
        secret_key(value)  # raises ValueError saying what is wrong, without the value
        return value


class SlackConfig(BaseModel):
    """A Slack incoming webhook: the URL is the secret."""

    model_config = ConfigDict(extra="forbid")

    webhook_url: Url = Field(description="The incoming webhook's https:// URL; never shown again.")


class PagerDutyConfig(BaseModel):
    """A PagerDuty service integration (Events API v2)."""

    model_config = ConfigDict(extra="forbid")

    routing_key: str = Field(
        pattern=r"^[A-Za-z0-9]{32}$", description="The integration's 32-character routing key; never shown."
    )
    events_url: Url = Field(default=DEFAULT_PAGERDUTY_EVENTS_URL, description="Events API v2 enqueue URL.")


class EmailConfig(BaseModel):
    """Email through SNS: every address is subscribed to the alert email topic (and must confirm)."""

    model_config = ConfigDict(extra="forbid")

    addresses: list[EmailAddress] = Field(min_length=1, max_length=10)

    @field_validator("addresses")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        lowered = [address.lower() for address in value]
        if len(set(lowered)) != len(lowered):
            raise ValueError("addresses must be distinct")
        return lowered


ChannelConfig = WebhookConfig | SlackConfig | PagerDutyConfig | EmailConfig
CONFIG_TYPES: Final[dict[ChannelType, type[BaseModel]]] = {
    ChannelType.WEBHOOK: WebhookConfig,
    ChannelType.SLACK: SlackConfig,
    ChannelType.PAGERDUTY: PagerDutyConfig,
    ChannelType.EMAIL: EmailConfig,
}


_TYPE_VALUES: Final = frozenset(kind.value for kind in ChannelType)


class ChannelSettings(BaseModel):
    """The body of PUT /channels/{name} (everything but the name, which the path gives)."""

    model_config = ConfigDict(extra="forbid")

    type: ChannelType
    description: str = Field(default="", max_length=512)
    config: ChannelConfig = Field(
        description=(
            "webhook {url, signing_secret}; slack {webhook_url}; pagerduty {routing_key, events_url?}; "
            "email {addresses}."
        )
    )

    @model_validator(mode="before")
    @classmethod
    def _config_of_its_type(cls, data: Any) -> Any:
        # Validate `config` as the model of `type`, so that a mismatch says which fields that type takes.
        if isinstance(data, dict) and isinstance(data.get("config"), dict):
            model = CONFIG_TYPES.get(data["type"]) if data.get("type") in _TYPE_VALUES else None
            if model is not None:
                try:
                    return {**data, "config": model.model_validate(data["config"])}
                except ValidationError as error:
                    # The messages only: a ValidationError's text would quote the input (a secret).
                    problems = "; ".join(
                        f"config.{'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
                        for item in error.errors(include_input=False, include_url=False)
                    )
                    raise ValueError(problems) from None
        return data

    @model_validator(mode="after")
    def _type_matches(self) -> Self:
        if not isinstance(self.config, CONFIG_TYPES[self.type]):
            raise ValueError(f"config does not fit a {self.type.value} channel")
        return self

    def destination_urls(self) -> dict[str, str]:
        """The URLs notifications go to, by config field (checked at creation and at each send)."""
        config = self.config
        if isinstance(config, WebhookConfig):
            return {"url": config.url}
        if isinstance(config, SlackConfig):
            return {"webhook_url": config.webhook_url}
        if isinstance(config, PagerDutyConfig):
            return {"events_url": config.events_url}
        return {}

    def secret(self) -> dict[str, str] | None:
        """What goes to Secrets Manager (None for email, which has no secret)."""
        if isinstance(self.config, EmailConfig):
            return None
        return {key: str(value) for key, value in self.config.model_dump().items()}

    def addresses(self) -> list[str]:
        return list(self.config.addresses) if isinstance(self.config, EmailConfig) else []


class CreateChannelRequest(ChannelSettings):
    """The body of POST /channels."""

    name: ChannelName


class ChannelView(BaseModel):
    """A channel as the API shows it: never a secret."""

    name: str
    type: ChannelType
    description: str = ""
    host: str | None = Field(
        default=None, description="The destination URL's host (webhook, slack, pagerduty)."
    )
    addresses: list[str] = Field(default_factory=list, description="email: the subscribed addresses.")
    secret_version: str | None = Field(default=None, description="Secrets Manager version of its secret.")
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str


class ChannelRecord(ChannelView):
    """What the monitoring table stores of a channel: the view plus its SNS subscriptions."""

    subscriptions: dict[str, str] = Field(default_factory=dict, description="email address -> SNS ARN")

    def view(self) -> ChannelView:
        return ChannelView.model_validate(self.model_dump(exclude={"subscriptions"}))


class ChannelPage(BaseModel):
    items: list[ChannelView]
    next_token: str | None = None
