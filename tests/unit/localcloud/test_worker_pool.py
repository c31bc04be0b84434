"""The per-function limit on execution environments: invocations beyond it wait for a free worker."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from cirrus.localcloud.lambda_workers import (
    FUNCTION_CONCURRENCY_ENV,
    ConcurrencyLimitReached,
    Worker,
    WorkerPool,
    WorkerSpec,
    function_concurrency,
)


class _Environment:
    """Stands in for a worker process: alive until stopped."""

    def __init__(self) -> None:
        self.alive = True

    def stop(self, deadline: float | None = None) -> None:
        self.alive = False

    def request_stop(self) -> None:
        self.alive = False


def _spec() -> WorkerSpec:
    return WorkerSpec(
        function_name="fn",
        version="$LATEST",
        runtime="python3.13",
        handler="app.handler",
        memory_mb=128,
        timeout_seconds=3.0,
        code_dir=Path("/nonexistent"),
        layer_dirs=(),
        variables={},
        endpoint_url="http://127.0.0.1:1",
        region="us-east-1",
        log_group="/aws/lambda/fn",
    )


def _pool(max_size: int | None) -> tuple[WorkerPool, list[_Environment]]:
    started: list[_Environment] = []

    def start(_: WorkerSpec) -> Worker:
        environment = _Environment()
        started.append(environment)
        return environment  # type: ignore[return-value]

    return WorkerPool(_spec(), start, max_size), started


def test_an_invocation_at_the_limit_waits_for_a_worker_to_come_free_and_reuses_it() -> None:
    # GIVEN a pool limited to one environment, busy
    pool, started = _pool(max_size=1)
    first, cold = pool.acquire()
    assert cold
    got: list[tuple[Worker, bool]] = []
    waiter = threading.Thread(target=lambda: got.append(pool.acquire(wait_seconds=5)))
    # WHEN a second invocation arrives and the first finishes a little later
    waiter.start()
    time.sleep(0.1)
    assert not got  # still waiting
    pool.release(first, reusable=True)
    waiter.join(5)
    # THEN the second got the same, warm, environment and no second one was started
    assert got == [(first, False)]
    assert len(started) == 1


def test_an_invocation_that_waits_longer_than_allowed_is_throttled() -> None:
    pool, _ = _pool(max_size=1)
    pool.acquire()
    with pytest.raises(ConcurrencyLimitReached, match="busy") as refused:
        pool.acquire(wait_seconds=0.05)
    assert refused.value.error_type == "TooManyRequestsException"


def test_a_broken_environment_frees_its_place() -> None:
    pool, started = _pool(max_size=1)
    first, _ = pool.acquire()
    pool.release(first, reusable=False)
    second, cold = pool.acquire(wait_seconds=0.05)
    assert cold
    assert second is not first
    assert len(started) == 2


def test_without_a_limit_every_concurrent_invocation_gets_its_own_environment() -> None:
    pool, started = _pool(max_size=None)
    workers = [pool.acquire(wait_seconds=0)[0] for _ in range(10)]
    assert len(set(map(id, workers))) == 10
    assert len(started) == 10


def test_the_limit_defaults_to_two_per_core_and_reserved_concurrency_lowers_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(FUNCTION_CONCURRENCY_ENV, raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert function_concurrency() == 16
    assert function_concurrency(reserved=3) == 3
    monkeypatch.setenv(FUNCTION_CONCURRENCY_ENV, "6")
    assert function_concurrency() == 6
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    monkeypatch.delenv(FUNCTION_CONCURRENCY_ENV)
    assert function_concurrency() == 4
