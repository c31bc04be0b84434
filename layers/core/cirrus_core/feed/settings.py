"""Settings of the live feed's functions, read once per cold start."""

from __future__ import annotations

import functools

from pydantic import Field

from cirrus_core.settings import CsvTuple, EnvironmentSettings


class FeedSettings(EnvironmentSettings):
    """What the feed functions read from their environment. Names are the field aliases."""

    connections_table: str = Field(default="", alias="FEED_CONNECTIONS_TABLE_NAME")
    # https://<api id>.execute-api.<region>.amazonaws.com/<stage>: API Gateway's management API.
    callback_url: str = Field(default="", alias="FEED_CALLBACK_URL")
    user_pool_id: str = Field(default="", alias="COGNITO_USER_POOL_ID")
    # The app clients whose tokens open a connection (ID tokens by `aud`, access tokens by `client_id`).
    token_audiences: CsvTuple = Field(default=(), alias="FEED_TOKEN_AUDIENCES")
    region: str = Field(default="us-east-1", alias="AWS_REGION")
    # API Gateway closes a WebSocket after 2 hours; the TTL removes what a lost $disconnect left.
    connection_ttl_seconds: int = Field(
        default=3 * 3600, ge=7200, le=86400, alias="FEED_CONNECTION_TTL_SECONDS"
    )
    max_subscriptions: int = Field(default=100, ge=1, le=1000, alias="FEED_MAX_SUBSCRIPTIONS")

    @property
    def issuer(self) -> str:
        """The `iss` of the user pool's tokens."""
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool_id}"


@functools.cache
def get_feed_settings() -> FeedSettings:
    """The feed settings of this execution environment."""
    return FeedSettings.from_environ()
