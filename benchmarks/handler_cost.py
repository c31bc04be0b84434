"""In-process time of each registry handler under moto, and the Lambda cost it implies.

Each handler in functions/registry is called in this process with an API Gateway proxy event (the
route's sample from events/samples/api, changed as tests.support.api.build_event does) under
moto's ``mock_aws``, with the tables the template declares, the event bus and the artifact bucket
(no rule on the bus: real PutEvents returns before delivery, so none is timed here), and with the
local cloud's ``dynamodb_transactions`` hook installed (stock moto deep-copies every table a
transaction touches, a cost that grows with the audit chain and that DynamoDB does not have). One warm-up
call per handler, then REPEATS warm calls; figures are medians (min, max). What each timed call does:

- register_model: registers the next version of a model (no Idempotency-Key, as the sample);
- get_model, get_version (v1), list_versions (limit 20), list_models (prefix, limit 20),
  get_lineage, list_promotions (staging): reads of a model with READ_VERSIONS versions;
- request_review: asks for review of a pending version (again; it stays pending);
- approve_version, reject_version: decide a fresh pending version each call, as a reviewer;
- promote_model: moves the staging alias between two approved versions, so every call changes it;
- rollback_model: moves staging back one step (an untimed promotion re-arms it between calls);
- retire_model: retires a fresh, unaliased version each call.

Baseline, in the same run under the same ``mock_aws``: one DynamoDB GetItem of the model item.

Cost per million requests, AWS Lambda on arm64 in us-east-1: duration rounded up to 1 ms x memory in
GB x $0.0000133334 per GB-second (first tier, 7.5 billion GB-s a month) + $0.20 per million requests.
Source: aws.amazon.com/lambda/pricing, as transcribed 2026-09-20 (and the same arm64 rate, 1333340e-11,
in Artillery's prices.js); checked 2026-10 for this benchmark.

Caveat: in-process time on this machine under moto is not Lambda's billed duration. It leaves out
the network round trips to real DynamoDB, EventBridge and S3 (each a few ms), and runs on this
machine's CPU rather than a Lambda vCPU share at that memory size (at 128 MB Lambda gives about a
thirteenth of a vCPU, so the same code runs several times slower); X-Ray tracing is off here.
"""

from __future__ import annotations

import contextlib
import cProfile
import io
import json
import math
import os
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.common import Figure, print_table

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

REPEATS = 40
PROFILED = 15
READ_VERSIONS = 20
MEMORY_SIZES_MB = (128, 256, 512)
PRICE_PER_GB_SECOND = 0.0000133334  # arm64, us-east-1, first tier
PRICE_PER_MILLION_REQUESTS = 0.20
PRICE_SOURCE = (
    "AWS Lambda pricing, arm64, us-east-1 (aws.amazon.com/lambda/pricing, as transcribed 2026-09-20): "
    f"${PRICE_PER_GB_SECOND:.10f} per GB-second (first 7.5 billion GB-s/month), "
    f"${PRICE_PER_MILLION_REQUESTS:.2f} per 1M requests"
)
CAVEAT = (
    "caveat: in-process time under moto on this machine is not Lambda's duration: it excludes the "
    "network latency of real DynamoDB/EventBridge/S3 and runs on this CPU, not a Lambda vCPU share "
    "(at 128 MB Lambda gives a fraction of a vCPU); read the costs as a lower bound"
)
_READ_MODEL = "bench_reads"


def billed_ms(duration_ms: float) -> int:
    """Lambda bills duration rounded up to the next millisecond, at least 1 ms."""
    return max(1, math.ceil(duration_ms))


def cost_per_million(duration_ms: float, memory_mb: int) -> float:
    """Dollars per million invocations of `duration_ms` each at `memory_mb` on arm64."""
    gb_seconds = billed_ms(duration_ms) / 1000 * memory_mb / 1024
    return 1_000_000 * gb_seconds * PRICE_PER_GB_SECOND + PRICE_PER_MILLION_REQUESTS


@dataclass(frozen=True)
class HandlerTiming:
    """Warm in-process milliseconds of one handler."""

    route: str
    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


class SetupFailed(RuntimeError):
    """A call that sets the registry up (or a timed call) did not answer as expected."""


@contextmanager
def _function_environment() -> Iterator[None]:
    """The registry's Lambda environment (tests.support's), restored afterwards with fresh caches."""
    from tests.support.aws import environment

    saved = dict(os.environ)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_DEFAULT_PROFILE"):
        os.environ.pop(name, None)
    os.environ.update(environment())
    _clear_caches()
    try:
        yield
    finally:
        _clear_caches()
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def _atomic_transactions() -> Iterator[None]:
    """The local cloud's DynamoDB hook: stock moto deep-copies every table a transaction touches,
    so each audited request would cost more than the last as the audit chain grows."""
    from cirrus.localcloud.hooks import HookContext
    from cirrus.localcloud.hooks.dynamodb_transactions import install

    with tempfile.TemporaryDirectory(prefix="cirrus-bench-") as work_dir:
        undo = install(HookContext(endpoint_url="http://127.0.0.1:4566", work_dir=Path(work_dir)))
        try:
            yield
        finally:
            undo()


def _clear_caches() -> None:
    # Settings and wiring are read once per execution environment; start and leave with none.
    from cirrus_core import idempotency, ratelimit
    from cirrus_core.authz import wiring as authz_wiring
    from cirrus_core.registry import wiring
    from cirrus_core.settings import get_settings

    get_settings.cache_clear()
    idempotency.idempotency_config.cache_clear()
    ratelimit.rate_limit_settings.cache_clear()
    wiring.registry_service.cache_clear()
    idempotency._persistence.cache_clear()
    authz_wiring.policy_service.cache_clear()
    authz_wiring.authorizer.cache_clear()
    authz_wiring.security_repository.cache_clear()


class _Registry:
    """Calls handlers in-process with sample events; every call must answer with its status."""

    def __init__(self) -> None:
        from tests.support.registry import REVIEWER_CLAIMS

        self.reviewer = REVIEWER_CLAIMS

    def event(self, route: str, **parts: Any) -> dict[str, Any]:
        from tests.support.api import build_event

        return build_event(route, **parts)

    def invoke(self, route: str, event: dict[str, Any], status: int) -> dict[str, Any]:
        from tests.support.api import call

        # Powertools prints each invocation's EMF metrics to stdout (CloudWatch's input in Lambda).
        with contextlib.redirect_stdout(io.StringIO()):
            response = call(route, event)
        if response.status != status:
            raise SetupFailed(f"{route}: expected {status}, got {response.status} {response.raw_body[:500]}")
        return dict(response.body or {})

    def register(self, model_id: str) -> int:
        body = _sample_body()
        body["model_name"] = model_id
        return int(self.invoke("register_model", self.event("register_model", body=body), 201)["version"])

    def approve(self, model_id: str, version: int) -> None:
        event = self.event(
            "approve_version",
            path=_version_path(model_id, version),
            body={"comment": ""},
            claims=self.reviewer,
        )
        self.invoke("approve_version", event, 200)

    def decisions(self, route: str, model_id: str, versions: list[int]) -> Callable[[int], dict[str, Any]]:
        """The i-th call's event: a reviewer's decision on the i-th of `versions`."""

        def event(index: int) -> dict[str, Any]:
            path = _version_path(model_id, versions[index])
            return self.event(route, path=path, body={"comment": ""}, claims=self.reviewer)

        return event

    def promote(self, model_id: str, version: int) -> None:
        body = {"version": version, "environment": "staging", "reason": "bench"}
        self.invoke("promote_model", self.event("promote_model", path={"model_id": model_id}, body=body), 200)


def _sample_body() -> dict[str, Any]:
    from tests.support.aws import load_sample

    return dict(json.loads(load_sample("api/register_model")["body"]))


def _same(event: dict[str, Any]) -> Callable[[int], dict[str, Any]]:
    """The same event for every call (reads, and writes that stay valid when repeated)."""
    return lambda _: event


def _version_path(model_id: str, version: int) -> dict[str, str]:
    return {"model_id": model_id, "version": str(version)}


def _time_calls(
    route: str,
    registry: _Registry,
    events: Callable[[int], dict[str, Any]],
    status: int,
    between: Callable[[], None],
) -> HandlerTiming:
    """One warm-up call, then REPEATS timed ones; `between` runs untimed after each call."""
    samples = []
    for index in range(REPEATS + 1):
        event = events(index)
        started = time.perf_counter()
        registry.invoke(route, event, status)
        elapsed = (time.perf_counter() - started) * 1000
        if index:
            samples.append(elapsed)
        between()
    return HandlerTiming(route, samples)


@dataclass(frozen=True)
class Profile:
    """Where one handler's in-process time goes, from cProfile's cumulative times (milliseconds a call)."""

    route: str
    total_ms: float
    moto_ms: float  # moto serving the AWS calls (its own request parsing, models, deep copies)
    botocore_ms: float  # the boto3 client side of those calls, moto's part taken out
    aws_calls: float  # AWS calls a handler invocation makes

    @property
    def own_ms(self) -> float:
        """Everything else: Powertools, validation, pydantic, Cedar, the domain code."""
        return self.total_ms - self.moto_ms - self.botocore_ms


# (file suffix, function) of the entry points whose cumulative time splits a handler's time.
_MOTO_ENTRY = ("moto/core/botocore_stubber.py", "__call__")
_BOTOCORE_ENTRY = ("botocore/client.py", "_make_api_call")


def cumulative(stats: dict[Any, Any], entry: tuple[str, str]) -> tuple[int, float]:
    """(calls, cumulative seconds) of one function in `pstats.Stats.stats`, (0, 0.0) if absent."""
    suffix, function = entry
    for (filename, _, name), (_, calls, _, cumtime, _) in stats.items():
        if name == function and str(filename).replace("\\", "/").endswith(suffix):
            return int(calls), float(cumtime)
    return 0, 0.0


def _profile(
    registry: _Registry, route: str, events: Callable[[int], dict[str, Any]], status: int
) -> Profile:
    """cProfile over PROFILED calls (it slows them; its shares, not its totals, are the point)."""
    import pstats

    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for index in range(PROFILED):
        registry.invoke(route, events(index), status)
    profiler.disable()
    total = (time.perf_counter() - started) * 1000 / PROFILED
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    calls, botocore_s = cumulative(stats, _BOTOCORE_ENTRY)
    _, moto_s = cumulative(stats, _MOTO_ENTRY)
    return Profile(
        route,
        total,
        moto_s * 1000 / PROFILED,
        (botocore_s - moto_s) * 1000 / PROFILED,
        calls / PROFILED,
    )


def _measure_handlers() -> tuple[list[HandlerTiming], list[float], list[Profile]]:
    """Every handler's timings, and the GetItem baseline's, under one mock_aws."""
    from moto import mock_aws

    from tests.support.aws import ARTIFACT_BUCKET, EVENT_BUS, TABLE_NAMES, create_template_tables

    with _function_environment(), mock_aws(), _atomic_transactions():
        import boto3

        session = boto3.session.Session()
        dynamodb = session.client("dynamodb", region_name="us-east-1")
        create_template_tables(dynamodb)
        session.client("events", region_name="us-east-1").create_event_bus(Name=EVENT_BUS)
        session.client("s3", region_name="us-east-1").create_bucket(Bucket=ARTIFACT_BUCKET)
        registry = _Registry()
        none: Callable[[], None] = lambda: None  # noqa: E731

        # The read model: READ_VERSIONS versions, two approved, staging promoted v1 then v2.
        for _ in range(READ_VERSIONS):
            registry.register(_READ_MODEL)
        for version in (1, 2):
            registry.approve(_READ_MODEL, version)
            registry.promote(_READ_MODEL, version)
        model = {"model_id": _READ_MODEL}
        reads = {
            "get_model": registry.event("get_model", path=model),
            "get_version": registry.event("get_version", path=_version_path(_READ_MODEL, 1)),
            "list_versions": registry.event("list_versions", path=model, query={"limit": "20"}),
            "list_models": registry.event("list_models", query={"prefix": "bench", "limit": "20"}),
            "get_lineage": registry.event("get_lineage", path=model),
            "list_promotions": registry.event(
                "list_promotions", path=model, query={"environment": "staging"}
            ),
        }
        timings = []
        body = _sample_body()
        body["model_name"] = "bench_register"
        register_event = registry.event("register_model", body=body)
        timings.append(_time_calls("register_model", registry, _same(register_event), 201, none))
        for route, event in reads.items():
            timings.append(_time_calls(route, registry, _same(event), 200, none))

        registry.register("bench_review")
        review = registry.event(
            "request_review", path=_version_path("bench_review", 1), body={"comment": "again"}
        )
        timings.append(_time_calls("request_review", registry, _same(review), 200, none))

        for route in ("approve_version", "reject_version"):
            model_id = f"bench_{route.split('_')[0]}"
            versions = [registry.register(model_id) for _ in range(REPEATS + 1)]
            timings.append(
                _time_calls(route, registry, registry.decisions(route, model_id, versions), 200, none)
            )

        for model_id in ("bench_promote", "bench_rollback"):
            for _ in range(2):
                version = registry.register(model_id)
                registry.approve(model_id, version)
        # Warm-up promotes v1, then the timed calls alternate v2, v1, v2 ...: each moves the alias.
        timings.append(
            _time_calls(
                "promote_model",
                registry,
                lambda i: registry.event(
                    "promote_model",
                    path={"model_id": "bench_promote"},
                    body={"version": 1 + i % 2, "environment": "staging", "reason": "bench"},
                ),
                200,
                none,
            )
        )
        registry.promote("bench_rollback", 1)
        registry.promote("bench_rollback", 2)
        rollback = registry.event(
            "rollback_model",
            path={"model_id": "bench_rollback"},
            body={"environment": "staging", "reason": "b"},
        )
        timings.append(
            _time_calls(
                "rollback_model",
                registry,
                _same(rollback),
                200,
                lambda: registry.promote("bench_rollback", 2),
            )
        )

        retire_versions = [registry.register("bench_retire") for _ in range(REPEATS + 1)]
        timings.append(
            _time_calls(
                "retire_model",
                registry,
                lambda i: registry.event(
                    "retire_model",
                    path={"model_id": "bench_retire"},
                    query={"version": str(retire_versions[i])},
                ),
                200,
                none,
            )
        )

        profiles = [
            _profile(registry, "get_version", _same(reads["get_version"]), 200),
            _profile(registry, "list_versions", _same(reads["list_versions"]), 200),
            _profile(registry, "register_model", _same(register_event), 201),
        ]

        key = {"pk": {"S": f"MODEL#{_READ_MODEL}"}, "sk": {"S": "MODEL"}}
        table = TABLE_NAMES["RegistryTable"]
        baseline = []
        for index in range(REPEATS + 1):
            started = time.perf_counter()
            item = dynamodb.get_item(TableName=table, Key=key)
            elapsed = (time.perf_counter() - started) * 1000
            if "Item" not in item:
                raise SetupFailed(f"the baseline GetItem found no item at {key}")
            if index:
                baseline.append(elapsed)
    return timings, baseline, profiles


def _report(timings: list[HandlerTiming], baseline: list[float], profiles: Sequence[Profile]) -> None:
    """The handler -> median ms and cost table, with the prices' source and the caveat, on stderr."""
    print(
        "\nwhere in-process handler time goes (cProfile, which inflates totals; read the shares):",
        file=sys.stderr,
    )
    for item in profiles:
        shares = ", ".join(
            f"{label} {100 * value / item.total_ms:.0f}%"
            for label, value in (
                ("moto serving AWS calls", item.moto_ms),
                ("boto3 client side", item.botocore_ms),
                ("Powertools/pydantic/Cedar/domain", item.own_ms),
            )
        )
        print(f"  {item.route}: {item.aws_calls:g} AWS calls a request; {shares}", file=sys.stderr)
    width = max(len("GetItem (baseline)"), *(len(t.route) for t in timings))
    header = "".join(f"  $/1M@{size}MB" for size in MEMORY_SIZES_MB)
    print(f"\n{'handler':<{width}}  median ms  billed ms{header}", file=sys.stderr)
    rows = [("GetItem (baseline)", statistics.median(baseline)), *((t.route, t.median) for t in timings)]
    for name, median in rows:
        costs = "".join(f"  {cost_per_million(median, size):>11.4f}" for size in MEMORY_SIZES_MB)
        print(f"{name:<{width}}  {median:>9.2f}  {billed_ms(median):>9d}{costs}", file=sys.stderr)
    print(PRICE_SOURCE, file=sys.stderr)
    print(CAVEAT, file=sys.stderr)


def run() -> list[Figure]:
    """Handler timings against the GetItem baseline, then the implied cost rows."""
    started = time.perf_counter()
    print(f"handler cost: {REPEATS} warm calls of each registry handler under mock_aws ...", file=sys.stderr)
    timings, baseline, profiles = _measure_handlers()
    _report(timings, baseline, profiles)
    base = Figure("handler: DynamoDB GetItem under mock_aws (baseline)", "ms", baseline)
    rows = [base]
    rows += [
        Figure(f"handler {t.route} (in-process, mock_aws)", "ms", t.samples, base.name, base.median)
        for t in timings
    ]
    for size in MEMORY_SIZES_MB:
        floor = Figure(
            f"cost/1M GetItem-only function @{size}MB arm64",
            "$",
            [cost_per_million(s, size) for s in baseline],
        )
        rows.append(floor)
        rows += [
            Figure(
                f"cost/1M {t.route} @{size}MB arm64",
                "$",
                [cost_per_million(s, size) for s in t.samples],
                floor.name,
                floor.median,
            )
            for t in timings
        ]
    print(f"handler cost benchmark took {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return rows


def main() -> None:
    print_table(run())
    print(f"\n{PRICE_SOURCE}\n{CAVEAT}")


if __name__ == "__main__":
    main()
