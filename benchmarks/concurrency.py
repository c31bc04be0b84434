"""64 concurrent registrations of one model on the local cloud: versions 1..64, no give-ups, throughput.

Each run registers one new model name WRITERS times at once: a ThreadPoolExecutor of WRITERS
threads, each sending one ``POST /api/v1/models/register`` (its own connection, no Idempotency-Key,
no client retry). A run passes when every answer is 201, the answers carry versions 1..WRITERS once
each, and listing the model's versions afterwards shows exactly 1..WRITERS. Statuses other than
201 (409, 429, or 502 when an invocation overruns the function's 15 s Timeout ...) are counted and
reported; any of them fails the run. The service retries a lost optimistic-locking race itself, so
the API shows none: the benchmark counts them where moto refuses the conditional write.

Baseline, in the same run: the same WRITERS registrations of another new name made one after
another on one connection. Sequential and concurrent runs alternate, so load affects both alike.
Throughput is registrations per second of wall-clock time, first request sent to last answer.

Untimed concurrent waves of WARM_STEP, 2 x WARM_STEP ... WRITERS registrations first bring up the
Lambda workers (the local cloud starts one worker process per concurrent invocation, as Lambda starts
execution environments); their cold starts are reported but not counted. ``main()`` exits non-zero
when a run fails its check.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from benchmarks.common import Figure, print_table

if TYPE_CHECKING:
    from cirrus.localcloud.cloud import LocalCloud

ROOT = Path(__file__).resolve().parents[1]
WRITERS = 64
RUNS = 3
WARM_STEP = 16
_TIMEOUT_S = 180
FAILED_MARK = "FAILED"


@dataclass(frozen=True)
class RunResult:
    """One batch of WRITERS registrations of one model."""

    model_id: str
    seconds: float
    statuses: Counter[int]
    answered_versions: list[int]
    listed_versions: list[int]
    latencies_ms: list[float]
    lost_races: int = 0  # conditional writes moto refused during the run: the service retried each

    @property
    def throughput(self) -> float:
        return len(self.latencies_ms) / self.seconds

    def problems(self, expected: int) -> list[str]:
        """What is wrong with the run, empty when it passed."""
        return check_versions(self.statuses, self.answered_versions, self.listed_versions, expected)


def check_versions(
    statuses: Counter[int], answered: list[int], listed: list[int], expected: int
) -> list[str]:
    """Every answer 201, versions 1..expected answered once each and listed exactly."""
    wanted = list(range(1, expected + 1))
    problems = []
    others = {status: count for status, count in statuses.items() if status != 201}
    if others:
        problems.append(f"non-201 answers (give-ups): {others}")
    if sorted(answered) != wanted:
        duplicates = sorted(v for v, n in Counter(answered).items() if n > 1)
        missing = sorted(set(wanted) - set(answered))
        problems.append(
            f"answered versions are not 1..{expected}: duplicates {duplicates}, missing {missing}"
        )
    if sorted(listed) != wanted:
        problems.append(
            f"listed versions are not 1..{expected}: {sorted(listed)[:10]}... ({len(listed)} listed)"
        )
    return problems


class _LostRaces:
    """Counts the registry's refused conditional writes (moto answers 400) as the emulator serves them.

    The service retries a lost race itself, so the API never shows one; this is where they are seen.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def install(self, stack: ExitStack) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication

        from cirrus.localcloud.hooks._patching import patch_attribute

        original = DomainDispatcherApplication.__call__

        def call(app: Any, environ: dict[str, Any], start_response: Any) -> Any:
            if not str(environ.get("HTTP_X_AMZ_TARGET", "")).endswith(".TransactWriteItems"):
                return original(app, environ, start_response)

            def counting(status: str, *args: Any) -> Any:
                if status.startswith("400"):
                    with self._lock:
                        self.count += 1
                return start_response(status, *args)

            return original(app, environ, counting)

        stack.callback(patch_attribute(DomainDispatcherApplication, "__call__", call))


class _Api:
    """The local cloud's registry, as the ml_engineer user."""

    def __init__(self, cloud: LocalCloud) -> None:
        self.url = cloud.state.api_url
        self.headers = {"Authorization": f"Bearer {cloud.token('ml_engineer')}"}
        self.artifact = f"s3://{cloud.state.artifact_bucket}/models/bench/model.tar.gz"

    def register(self, session: requests.Session, model_id: str) -> tuple[int, int | None, float]:
        """(status, version or None, milliseconds) of one registration."""
        body = {
            "model_name": model_id,
            "model_type": "xgboost",
            "framework_version": "1.7.6",
            "training_metadata": {"dataset_version": "d1", "metrics": {"auc": 0.9}},
            "artifact_location": self.artifact,
        }
        started = time.perf_counter()
        try:
            response = session.post(
                f"{self.url}/models/register", json=body, headers=self.headers, timeout=_TIMEOUT_S
            )
        except requests.RequestException as error:
            # A request that never got an answer is a give-up too: status 0, and the run fails.
            print(f"concurrency: {FAILED_MARK}: no answer: {error}", file=sys.stderr)
            return 0, None, (time.perf_counter() - started) * 1000
        elapsed = (time.perf_counter() - started) * 1000
        version = response.json().get("version") if response.status_code == 201 else None
        return response.status_code, version, elapsed

    def listed(self, model_id: str) -> list[int]:
        versions: list[int] = []
        token: str | None = None
        with requests.Session() as session:
            while True:
                params: dict[str, Any] = {"limit": 100, **({"next_token": token} if token else {})}
                response = session.get(
                    f"{self.url}/models/{model_id}/versions",
                    params=params,
                    headers=self.headers,
                    timeout=_TIMEOUT_S,
                )
                response.raise_for_status()
                page = response.json()
                versions += [int(item["version"]) for item in page["items"]]
                token = page.get("next_token")
                if not token:
                    return versions


def _concurrent(api: _Api, model_id: str, races: _LostRaces, writers: int = WRITERS) -> RunResult:
    local = threading.local()

    def one(_: int) -> tuple[int, int | None, float]:
        # A requests.Session is not for two threads: each thread has its own connection.
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        return api.register(session, model_id)

    before = races.count
    with ThreadPoolExecutor(max_workers=writers) as pool:
        started = time.perf_counter()
        answers = list(pool.map(one, range(writers)))
        seconds = time.perf_counter() - started
    return _result(api, model_id, seconds, answers, races.count - before)


def _sequential(api: _Api, model_id: str, races: _LostRaces) -> RunResult:
    before = races.count
    with requests.Session() as session:
        started = time.perf_counter()
        answers = [api.register(session, model_id) for _ in range(WRITERS)]
        seconds = time.perf_counter() - started
    return _result(api, model_id, seconds, answers, races.count - before)


def _result(
    api: _Api, model_id: str, seconds: float, answers: list[tuple[int, int | None, float]], lost_races: int
) -> RunResult:
    return RunResult(
        model_id=model_id,
        seconds=seconds,
        statuses=Counter(status for status, _, _ in answers),
        answered_versions=[version for _, version, _ in answers if version is not None],
        listed_versions=api.listed(model_id),
        latencies_ms=[ms for _, _, ms in answers],
        lost_races=lost_races,
    )


def _describe(kind: str, result: RunResult) -> str:
    latencies = sorted(result.latencies_ms)
    verdict = "ok" if not result.problems(WRITERS) else FAILED_MARK
    return (
        f"concurrency: {kind} {result.model_id}: {result.throughput:.1f} reg/s in {result.seconds:.2f} s, "
        f"latency p50 {statistics.median(latencies):.0f} ms max {latencies[-1]:.0f} ms, "
        f"statuses {dict(result.statuses)}, lost races retried {result.lost_races}: {verdict}"
    )


def _warm_up(api: _Api, races: _LostRaces) -> None:
    """Bring up WRITERS warm workers in waves of WARM_STEP more at a time (untimed, unchecked).

    All at once, WRITERS processes importing the handler on a small machine overrun Lambda's init
    limit and the gateway's 29 s integration timeout (502s and 504s); a few more per wave do not.
    """
    for size in range(WARM_STEP, WRITERS + 1, WARM_STEP):
        wave = _concurrent(api, "bench_concurrency_warmup", races, size)
        print(
            f"concurrency: warm-up wave of {size}: {wave.seconds:.1f} s, statuses {dict(wave.statuses)}",
            file=sys.stderr,
        )


def failed(rows: list[Figure]) -> bool:
    """Whether any figure is marked as a failed run."""
    return any(FAILED_MARK in row.name for row in rows)


def run() -> list[Figure]:
    """Three concurrent runs against the sequential baseline; failed runs are named FAILED."""
    from cirrus.localcloud.cloud import LocalCloud

    started = time.perf_counter()
    cloud = LocalCloud(ROOT, state_dir=Path(tempfile.mkdtemp(prefix="cirrus-bench-")), api_port=0, aws_port=0)
    races = _LostRaces()
    with ExitStack() as stack:
        cloud.start()
        stack.callback(cloud.stop)
        races.install(stack)
        print(f"concurrency: local cloud up after {time.perf_counter() - started:.1f} s", file=sys.stderr)
        api = _Api(cloud)
        _warm_up(api, races)
        sequential: list[RunResult] = []
        concurrent: list[RunResult] = []
        for index in range(1, RUNS + 1):
            sequential.append(_sequential(api, f"bench_sequential_{index}", races))
            print(_describe("sequential", sequential[-1]), file=sys.stderr)
            concurrent.append(_concurrent(api, f"bench_concurrent_{index}", races))
            print(_describe("concurrent", concurrent[-1]), file=sys.stderr)
    rows = _figures(sequential, concurrent)
    for result in [*sequential, *concurrent]:
        for problem in result.problems(WRITERS):
            print(f"concurrency: {FAILED_MARK}: {result.model_id}: {problem}", file=sys.stderr)
    print(f"concurrency benchmark took {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return rows


def _figures(sequential: list[RunResult], concurrent: list[RunResult]) -> list[Figure]:
    base_failed = any(result.problems(WRITERS) for result in sequential)
    base = Figure(
        f"{WRITERS} sequential registrations (baseline){' ' + FAILED_MARK if base_failed else ''}",
        "/s",
        [result.throughput for result in sequential],
    )
    rows = [base]
    for index, result in enumerate(concurrent, start=1):
        mark = f" {FAILED_MARK}" if result.problems(WRITERS) else ""
        rows.append(
            Figure(
                f"{WRITERS} concurrent registrations, run {index}{mark}",
                "/s",
                [result.throughput],
                base.name,
                base.median,
            )
        )
    return rows


def main() -> None:
    rows = run()
    print_table(rows)
    if failed(rows):
        print(f"\nconcurrency: {FAILED_MARK}: a run broke the version sequence or gave up", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
