"""A per-principal request rate limit, counted in DynamoDB in fixed windows.

API Gateway's stage throttling protects the platform as a whole; this limit keeps one caller (one
Cognito subject) from using up everybody's share. Each request costs one conditional `UpdateItem`
that adds 1 to the caller's counter for the current window: when the counter already stands at the
limit, the condition fails, nothing is written, and the caller is told to retry when the window ends.
Counters carry a TTL so DynamoDB deletes past windows by itself.

A fixed window lets a caller send up to twice the limit across a window boundary; a sliding window
would cost a read and a write per request, and one call per request is the budget here.
"""

from __future__ import annotations

import functools
import math
import os
import time
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field

from cirrus_core.errors import RateLimited
from cirrus_core.observability import logger

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

# Counters expire one window after their window ends: execution environments' clocks differ a
# little, and a counter must not expire while a host whose clock lags still counts into it.
_TTL_MARGIN_WINDOWS = 1


class RateLimitSettings(BaseModel):
    """The limit's configuration. Environment variable names are the field aliases."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    table_name: str = Field(default="", alias="RATE_LIMIT_TABLE_NAME")
    requests_per_window: int = Field(default=600, ge=0, alias="RATE_LIMIT_PER_MINUTE")
    window_seconds: int = Field(default=60, gt=0, le=3600, alias="RATE_LIMIT_WINDOW_SECONDS")

    @property
    def enabled(self) -> bool:
        """A table to count in and a non-zero limit; 0 switches the limit off."""
        return bool(self.table_name) and self.requests_per_window > 0

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> RateLimitSettings:
        """Build settings from an environment mapping (the process environment by default)."""
        source = os.environ if environ is None else environ
        known = {field.alias for field in cls.model_fields.values() if field.alias}
        return cls.model_validate({key: value for key, value in source.items() if key in known})


class RateLimiter:
    """Counts a principal's requests in the current window and refuses those over the limit."""

    def __init__(
        self,
        client: Any,
        table_name: str,
        *,
        limit: int,
        window_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._table_name = table_name
        self._limit = limit
        self._window = window_seconds
        self._clock = clock

    def check(self, principal_id: str) -> None:
        """Count one request of `principal_id`; raise RateLimited when its window is already full."""
        now = self._clock()
        window_start = int(now // self._window) * self._window
        window_end = window_start + self._window
        try:
            self._client.update_item(
                TableName=self._table_name,
                Key={"pk": {"S": f"{principal_id}#{window_start}"}},
                UpdateExpression="ADD #count :one SET #expires = :expires",
                ConditionExpression="attribute_not_exists(#count) OR #count < :limit",
                ExpressionAttributeNames={"#count": "request_count", "#expires": "expires_at"},
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":limit": {"N": str(self._limit)},
                    ":expires": {"N": str(window_end + _TTL_MARGIN_WINDOWS * self._window)},
                },
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                # Availability over strictness: a throttled or failing counter table must not take
                # the whole API down; stage throttling still bounds the total rate.
                logger.warning("Rate limit not checked", extra={"error": str(error)})
                return
            retry_after = max(1, math.ceil(window_end - now))
            raise RateLimited(
                f"Too many requests: at most {self._limit} every {self._window} seconds; "
                f"retry after {retry_after} seconds.",
                retry_after,
            ) from None
        except BotoCoreError as error:
            logger.warning("Rate limit not checked", extra={"error": str(error)})


@functools.cache
def _dynamodb() -> Any:
    # One client per execution environment; the limiter itself follows the settings.
    return boto3.client("dynamodb")


@functools.cache
def rate_limit_settings() -> RateLimitSettings:
    """The rate-limit settings of this execution environment, read on first use."""
    return RateLimitSettings.from_environ()


def check_rate_limit(principal_id: str) -> None:
    """Count one request of the principal against the configured limit (no-op when switched off)."""
    settings = rate_limit_settings()
    if not settings.enabled:
        return
    RateLimiter(
        _dynamodb(),
        settings.table_name,
        limit=settings.requests_per_window,
        window_seconds=settings.window_seconds,
    ).check(principal_id)
