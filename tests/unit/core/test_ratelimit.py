"""The per-principal rate limit: one counter per caller and window, 429 with Retry-After past it."""

from __future__ import annotations

import time
from typing import Any

import pytest

from cirrus_core.errors import RateLimited
from cirrus_core.ratelimit import RateLimiter, RateLimitSettings
from tests.support.api import build_event, call
from tests.support.aws import TABLE_NAMES, AwsResources

WINDOW_START = 1_700_000_040.0  # a multiple of 60: the start of a one-minute window
# The handler-level tests' few calls take well under this many seconds, even on a loaded machine.
HANDLER_CALLS_FIT_IN_SECONDS = 50


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def claims_of(sub: str, username: str) -> dict[str, str]:
    claims: dict[str, str] = build_event("list_models")["requestContext"]["authorizer"]["claims"]
    return {**claims, "sub": sub, "cognito:username": username}


@pytest.fixture
def limit_of_two(monkeypatch: pytest.MonkeyPatch) -> None:
    """A limit of two calls a minute, for tests that call handlers on the real clock.

    Their calls must fall in one one-minute window: near a minute's end, wait for the next one to
    begin, or a window boundary between the calls would reset the count.
    """
    monkeypatch.setenv("RATE_LIMIT_PER_MINUTE", "2")
    into_minute = time.time() % 60
    if into_minute > HANDLER_CALLS_FIT_IN_SECONDS:
        time.sleep(60 - into_minute + 0.05)


def limiter(aws: AwsResources, clock: Clock, limit: int = 2) -> RateLimiter:
    return RateLimiter(
        aws.dynamodb, TABLE_NAMES["RateLimitTable"], limit=limit, window_seconds=60, clock=clock
    )


@pytest.mark.usefixtures("limit_of_two")
def test_a_caller_over_its_limit_gets_429_with_retry_after_and_the_error_body(aws: AwsResources) -> None:
    alice = claims_of("sub-alice", "alice")
    assert [call("list_models", claims=alice).status for _ in range(2)] == [200, 200]
    before = aws.table_items()

    refused = call("list_models", claims=alice)

    assert refused.status == 429
    assert refused.error_code == "rate_limited"
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert refused.body["error"]["details"] == [{"retry_after_seconds": retry_after}]
    assert refused.body["request_id"] == build_event("list_models")["requestContext"]["requestId"]
    assert aws.table_items() == before


@pytest.mark.usefixtures("limit_of_two")
def test_a_refused_write_runs_nothing(aws: AwsResources) -> None:
    alice = claims_of("sub-alice", "alice")
    for _ in range(2):
        call("list_models", claims=alice)

    refused = call("register_model", claims=alice)

    assert refused.status == 429
    assert aws.published_events() == []
    assert aws.table_items() == {name: [] for name in aws.table_items()}


@pytest.mark.usefixtures("limit_of_two")
def test_the_limit_is_per_principal(aws: AwsResources) -> None:
    alice, bob = claims_of("sub-alice", "alice"), claims_of("sub-bob", "bob")
    for _ in range(2):
        call("list_models", claims=alice)

    assert call("list_models", claims=alice).status == 429
    assert call("list_models", claims=bob).status == 200


def test_an_anonymous_request_is_refused_before_it_is_counted(aws: AwsResources) -> None:
    assert call("list_models", claims=None).status == 401
    assert aws.dynamodb.scan(TableName=TABLE_NAMES["RateLimitTable"])["Items"] == []


def test_the_count_starts_again_in_the_next_window(aws: AwsResources) -> None:
    clock = Clock(WINDOW_START + 15)
    limit = limiter(aws, clock)
    limit.check("sub-alice")
    limit.check("sub-alice")
    with pytest.raises(RateLimited) as refused:
        limit.check("sub-alice")
    assert refused.value.retry_after == 45
    assert refused.value.headers == {"Retry-After": "45"}

    clock.now = WINDOW_START + 60
    limit.check("sub-alice")
    limit.check("sub-alice")
    with pytest.raises(RateLimited):
        limit.check("sub-alice")


def test_retry_after_rounds_up_and_is_never_zero(aws: AwsResources) -> None:
    clock = Clock(WINDOW_START + 59.5)
    limit = limiter(aws, clock, limit=1)
    limit.check("sub-alice")

    with pytest.raises(RateLimited) as refused:
        limit.check("sub-alice")

    assert refused.value.retry_after == 1


def test_counters_expire_after_their_window(aws: AwsResources) -> None:
    limiter(aws, Clock(WINDOW_START + 1)).check("sub-alice")

    (item,) = aws.dynamodb.scan(TableName=TABLE_NAMES["RateLimitTable"])["Items"]

    assert item["pk"] == {"S": f"sub-alice#{int(WINDOW_START)}"}
    assert item["request_count"] == {"N": "1"}
    assert int(item["expires_at"]["N"]) == int(WINDOW_START) + 120


def test_a_failing_counter_table_lets_the_request_through(
    aws: AwsResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Availability over strictness: stage throttling still bounds the total rate.
    monkeypatch.setenv("RATE_LIMIT_TABLE_NAME", "no-such-table")

    assert call("list_models", claims=claims_of("sub-alice", "alice")).status == 200


@pytest.mark.parametrize(
    ("environ", "enabled"),
    [
        ({"RATE_LIMIT_TABLE_NAME": "t", "RATE_LIMIT_PER_MINUTE": "10"}, True),
        ({"RATE_LIMIT_TABLE_NAME": "t", "RATE_LIMIT_PER_MINUTE": "0"}, False),
        ({"RATE_LIMIT_PER_MINUTE": "10"}, False),
    ],
)
def test_the_limit_is_off_without_a_table_or_at_zero(environ: dict[str, str], enabled: bool) -> None:
    assert RateLimitSettings.from_environ(environ).enabled is enabled


def test_the_default_limit_is_600_a_minute() -> None:
    settings: Any = RateLimitSettings.from_environ({})
    assert (settings.requests_per_window, settings.window_seconds) == (600, 60)
