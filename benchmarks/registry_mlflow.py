"""The model registry against MLflow's, over HTTP, on this machine, in one run.

Both servers run on loopback: ``mlflow server`` (benchmarks/mlflow_env.py: its own venv, SQLite
backend store, its default uvicorn server with 4 workers, default security middleware, which admits
127.0.0.1) and the Cirrus local cloud (gateway, Cognito authorizer, Lambda workers, moto). Each side
has one ``requests.Session``; the operations alternate between the two systems in blocks of BLOCK
calls (which side goes first flips every round), after WARMUP untimed calls each, so machine load
affects both alike. What each timed call does:

- create version: MLflow ``POST /api/2.0/mlflow/model-versions/create`` on a registered model made
  up front (source an s3:// URI); Cirrus ``POST /api/v1/models/register`` of one model name, which
  creates its next version (no Idempotency-Key: MLflow's call has none either).
- get version: MLflow ``GET .../model-versions/get`` (name, version 1); Cirrus
  ``GET /api/v1/models/{name}/versions/1``.
- list versions: MLflow ``GET .../model-versions/search?filter=name='x'``; Cirrus
  ``GET /api/v1/models/{name}/versions``; both models hold LIST_VERSIONS versions, all returned.
- set alias: MLflow ``POST .../registered-models/alias`` (alias "staging"); Cirrus
  ``PUT /api/v1/models/{name}/promote`` to environment staging (ml_engineer holds model_deploy).
  Both alternate the alias between versions 1 and 2, so every call moves it (Cirrus answers a
  promotion of the version already there with changed=false and writes nothing, so that is avoided
  and each answer is checked for changed=true). The Cirrus versions were approved by model_reviewer,
  as staging takes approved versions only.

Reported: p50 and p95 of each side, and Cirrus/MLflow; issue 9's target is Cirrus <= 0.5x MLflow's
p50 on every operation. Then a separate, probed pass over Cirrus alone says where its time goes:
the local gateway and Cognito authorizer, moto's Lambda dispatch and the worker round trip, the
handler's own duration (its REPORT line), and the time moto spends serving the handler's AWS calls.
"""

from __future__ import annotations

import itertools
import re
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from benchmarks import mlflow_env
from benchmarks.common import Figure, print_table

if TYPE_CHECKING:
    from collections.abc import Callable

    from cirrus.localcloud.cloud import LocalCloud

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = 150  # timed calls per operation and system
BLOCK = 10
WARMUP = 15
PROBED = 30  # calls per operation in the breakdown pass
LIST_VERSIONS = 20
TARGET_RATIO = 0.5
_TIMEOUT_S = 30
# boto3 in a Lambda worker names its execution environment (AWS_EXECUTION_ENV) in its User-Agent.
_LAMBDA_AGENT = "exec-env/AWS_Lambda"
_REPORT = re.compile(r"REPORT RequestId: \S+\tDuration: ([0-9.]+) ms")


class BenchmarkError(RuntimeError):
    """A call did not answer as the benchmark requires (status, or a promotion that changed nothing)."""


@dataclass(frozen=True)
class Operation:
    """One operation on one system: `call` sends the request, `check` judges its answer (untimed)."""

    name: str
    call: Callable[[], requests.Response]
    check: Callable[[requests.Response], None]


def expect(status: int) -> Callable[[requests.Response], None]:
    """A check that the answer has `status`."""

    def check(response: requests.Response) -> None:
        if response.status_code != status:
            raise BenchmarkError(
                f"{response.request.method} {response.url}: {response.status_code} {response.text[:300]}"
            )

    return check


def expect_listed(
    ok: Callable[[requests.Response], None], key: str, system: str
) -> Callable[[requests.Response], None]:
    """A check that a list answer is fine and holds the LIST_VERSIONS versions both sides were given."""

    def listed(response: requests.Response) -> None:
        ok(response)
        count = len(response.json().get(key, []))
        if count != LIST_VERSIONS:
            raise BenchmarkError(f"{system} listed {count} versions, not {LIST_VERSIONS}")

    return listed


def block_order(round_index: int) -> tuple[str, str]:
    """Which system runs its block first in a round: alternating, so neither always follows the other."""
    return ("cirrus", "mlflow") if round_index % 2 == 0 else ("mlflow", "cirrus")


def report_duration_ms(logs: str) -> float | None:
    """The Duration of an invocation's REPORT line, or None when the logs have none."""
    match = _REPORT.search(logs)
    return float(match.group(1)) if match else None


def alternating(first: int, second: int) -> Callable[[], int]:
    """A counter yielding first, second, first, ... (each alias move then does real work)."""
    cycle = itertools.cycle((first, second))
    return lambda: next(cycle)


# ------------------------------------------------------------------------------------------ MLflow


def mlflow_operations(url: str) -> dict[str, Operation]:
    """The four operations against an MLflow server, with their models set up."""
    session = requests.Session()
    api = f"{url}/api/2.0/mlflow"

    def post(path: str, body: dict[str, Any]) -> requests.Response:
        return session.post(f"{api}{path}", json=body, timeout=_TIMEOUT_S)

    ok = expect(200)
    for name in ("bench_create", "bench_list", "bench_alias"):
        ok(post("/registered-models/create", {"name": name}))
    source = "s3://bench-artifacts/models/bench/model.tar.gz"
    for _ in range(LIST_VERSIONS):
        ok(post("/model-versions/create", {"name": "bench_list", "source": source}))
    for _ in range(2):
        ok(post("/model-versions/create", {"name": "bench_alias", "source": source}))
    ok(post("/registered-models/alias", {"name": "bench_alias", "alias": "staging", "version": "1"}))
    alias_version = alternating(2, 1)

    listed = expect_listed(ok, "model_versions", "MLflow")

    return {
        "create version": Operation(
            "create version",
            lambda: post("/model-versions/create", {"name": "bench_create", "source": source}),
            ok,
        ),
        "get version": Operation(
            "get version",
            lambda: session.get(
                f"{api}/model-versions/get", params={"name": "bench_list", "version": "1"}, timeout=_TIMEOUT_S
            ),
            ok,
        ),
        "list versions": Operation(
            "list versions",
            lambda: session.get(
                f"{api}/model-versions/search", params={"filter": "name='bench_list'"}, timeout=_TIMEOUT_S
            ),
            listed,
        ),
        "set alias": Operation(
            "set alias",
            lambda: post(
                "/registered-models/alias",
                {"name": "bench_alias", "alias": "staging", "version": str(alias_version())},
            ),
            ok,
        ),
    }


# ------------------------------------------------------------------------------------------- Cirrus


def cirrus_operations(cloud: LocalCloud) -> dict[str, Operation]:
    """The four operations against the local cloud, with their models set up."""
    state = cloud.state
    api = state.api_url
    session = requests.Session()
    engineer = {"Authorization": f"Bearer {cloud.token('ml_engineer')}"}
    reviewer = {"Authorization": f"Bearer {cloud.token('model_reviewer')}"}
    artifact = f"s3://{state.artifact_bucket}/models/bench/model.tar.gz"

    def register(name: str) -> requests.Response:
        body = {
            "model_name": name,
            "model_type": "xgboost",
            "framework_version": "1.7.6",
            "training_metadata": {"dataset_version": "d1", "metrics": {"auc": 0.9}},
            "artifact_location": artifact,
        }
        return session.post(f"{api}/models/register", json=body, headers=engineer, timeout=_TIMEOUT_S)

    def promote(name: str, version: int) -> requests.Response:
        body = {"version": version, "environment": "staging", "reason": "bench"}
        return session.put(f"{api}/models/{name}/promote", json=body, headers=engineer, timeout=_TIMEOUT_S)

    created, ok = expect(201), expect(200)
    for _ in range(LIST_VERSIONS):
        created(register("bench_list"))
    for version in (1, 2):
        created(register("bench_alias"))
        approve = f"{api}/models/bench_alias/versions/{version}/approve"
        ok(session.post(approve, json={"comment": "bench"}, headers=reviewer, timeout=_TIMEOUT_S))
    ok(promote("bench_alias", 1))
    alias_version = alternating(2, 1)

    listed = expect_listed(ok, "items", "Cirrus")

    def moved(response: requests.Response) -> None:
        ok(response)
        if response.json().get("changed") is not True:
            raise BenchmarkError(f"a Cirrus promotion changed nothing: {response.text[:300]}")

    return {
        "create version": Operation("create version", lambda: register("bench_create"), created),
        "get version": Operation(
            "get version",
            lambda: session.get(f"{api}/models/bench_list/versions/1", headers=engineer, timeout=_TIMEOUT_S),
            ok,
        ),
        "list versions": Operation(
            "list versions",
            lambda: session.get(f"{api}/models/bench_list/versions", headers=engineer, timeout=_TIMEOUT_S),
            listed,
        ),
        "set alias": Operation("set alias", lambda: promote("bench_alias", alias_version()), moved),
    }


# ------------------------------------------------------------------------------------------ timing


def _timed(operation: Operation) -> float:
    started = time.perf_counter()
    response = operation.call()
    elapsed = (time.perf_counter() - started) * 1000
    operation.check(response)
    return elapsed


def compare(systems: dict[str, dict[str, Operation]]) -> dict[str, dict[str, list[float]]]:
    """Milliseconds per system and operation: warm-ups, then alternating blocks."""
    names = list(systems["cirrus"])
    for operations in systems.values():
        for name in names:
            for _ in range(WARMUP):
                _timed(operations[name])
    samples: dict[str, dict[str, list[float]]] = {s: {n: [] for n in names} for s in systems}
    rounds = SAMPLES // BLOCK
    for round_index in range(rounds):
        for name in names:
            for system in block_order(round_index):
                operation = systems[system][name]
                samples[system][name] += [_timed(operation) for _ in range(BLOCK)]
        if (round_index + 1) % 5 == 0:
            print(f"registry bench: round {round_index + 1}/{rounds}", file=sys.stderr)
    return samples


# --------------------------------------------------------------------------------------- breakdown


@dataclass
class _Request:
    """What the probes saw during one Cirrus request (all in this process, in milliseconds)."""

    gateway: float = 0.0  # ApiGatewayApp.handle: routing, authorizer, proxy event, invoke, response
    authorizer: float = 0.0  # CognitoVerifier.verify
    proxy: float = 0.0  # the gateway's Lambda integration: event, boto3 Invoke, response shaping
    invoke: float = 0.0  # moto serving the Invoke request (dispatch + the worker round trip)
    worker: float = 0.0  # Worker.invoke: the pipe round trip to the warm worker process
    handler: float = 0.0  # the REPORT line's Duration, measured inside the worker
    aws: float = 0.0  # moto serving the handler's own AWS calls
    aws_calls: Counter[str] = field(default_factory=Counter)


class _Probes:
    """Class-level timing wrappers on the gateway, authorizer, Lambda workers and moto's WSGI app."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.current = _Request()

    def _add(self, name: str, value: float) -> None:
        with self._lock:
            setattr(self.current, name, getattr(self.current, name) + value)

    def install(self, stack: ExitStack) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication

        from cirrus.localcloud import lambda_workers
        from cirrus.localcloud.authorizer import CognitoVerifier
        from cirrus.localcloud.gateway import ApiGatewayApp
        from cirrus.localcloud.hooks._patching import patch_attribute

        for owner, name, slot in (
            (ApiGatewayApp, "handle", "gateway"),
            (ApiGatewayApp, "_proxy", "proxy"),
            (CognitoVerifier, "verify", "authorizer"),
        ):
            stack.callback(patch_attribute(owner, name, self._timing(getattr(owner, name), slot)))
        stack.callback(
            patch_attribute(lambda_workers.Worker, "invoke", self._worker(lambda_workers.Worker.invoke))
        )
        stack.callback(
            patch_attribute(
                DomainDispatcherApplication, "__call__", self._wsgi(DomainDispatcherApplication.__call__)
            )
        )

    def _timing(self, original: Callable[..., Any], slot: str) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self._add(slot, (time.perf_counter() - started) * 1000)

        return timed

    def _worker(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def invoke(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            outcome = original(*args, **kwargs)
            self._add("worker", (time.perf_counter() - started) * 1000)
            self._add("handler", report_duration_ms(outcome.logs) or 0.0)
            return outcome

        return invoke

    def _wsgi(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def call(app: Any, environ: dict[str, Any], start_response: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(app, environ, start_response)
            finally:
                elapsed = (time.perf_counter() - started) * 1000
                path = str(environ.get("PATH_INFO", ""))
                if "/functions/" in path and path.endswith("/invocations"):
                    self._add("invoke", elapsed)
                elif _LAMBDA_AGENT in str(environ.get("HTTP_USER_AGENT", "")):
                    # Only calls from Lambda workers: the local cloud's own pollers call moto too.
                    target = (
                        str(environ.get("HTTP_X_AMZ_TARGET", ""))
                        or f"{environ.get('REQUEST_METHOD')} {path[:40]}"
                    )
                    self._add("aws", elapsed)
                    with self._lock:
                        self.current.aws_calls[target.split(".")[-1]] += 1

        return call


@dataclass(frozen=True)
class Breakdown:
    """Medians of one Cirrus operation's parts over the probed pass, in milliseconds."""

    operation: str
    parts: dict[str, list[float]]
    aws_calls: Counter[str]
    requests: int

    def median(self, part: str) -> float:
        return statistics.median(self.parts[part])


# The parts a request's time splits into, each the difference of two nested probes.
PARTS: tuple[tuple[str, Callable[[float, _Request], float]], ...] = (
    ("HTTP client + gateway server", lambda t, r: t - r.gateway),
    ("gateway routing/event/response", lambda t, r: r.gateway - r.authorizer - r.proxy),
    ("Cognito authorizer", lambda t, r: r.authorizer),
    ("boto3 Invoke from the gateway", lambda t, r: r.proxy - r.invoke),
    ("moto Lambda dispatch", lambda t, r: r.invoke - r.worker),
    ("worker round trip (pipes, logs)", lambda t, r: r.worker - r.handler),
    ("handler: own code, boto3, HTTP to moto", lambda t, r: r.handler - r.aws),
    ("handler: moto serving its AWS calls", lambda t, r: r.aws),
)


def probe(cloud_ops: dict[str, Operation]) -> list[Breakdown]:
    """A separate pass over Cirrus alone with the probes installed (they add a little time)."""
    probes = _Probes()
    results = []
    with ExitStack() as stack:
        probes.install(stack)
        for name, operation in cloud_ops.items():
            parts: dict[str, list[float]] = defaultdict(list)
            calls: Counter[str] = Counter()
            for _ in range(PROBED):
                probes.current = _Request()
                total = _timed(operation)
                request = probes.current
                parts["total"].append(total)
                for part, value in PARTS:
                    parts[part].append(value(total, request))
                parts["handler (REPORT Duration)"].append(request.handler)
                calls += request.aws_calls
            results.append(Breakdown(name, dict(parts), calls, PROBED))
    return results


def _print_breakdown(breakdowns: list[Breakdown]) -> None:
    for item in breakdowns:
        total = item.median("total")
        print(
            f"\nwhere Cirrus '{item.operation}' spends its time (medians of {item.requests}, probed):",
            file=sys.stderr,
        )
        print(f"  {'total over HTTP':<38} {total:8.2f} ms", file=sys.stderr)
        for part, _ in PARTS:
            value = item.median(part)
            print(f"  {part:<38} {value:8.2f} ms  {100 * value / total:5.1f}%", file=sys.stderr)
        per_call = ", ".join(
            f"{name} x{count / item.requests:g}" for name, count in item.aws_calls.most_common()
        )
        print(f"  AWS calls per request: {per_call}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------- run


def _figures(samples: dict[str, dict[str, list[float]]], breakdowns: list[Breakdown]) -> list[Figure]:
    rows = []
    for name, mlflow_ms in samples["mlflow"].items():
        cirrus_ms = samples["cirrus"][name]
        base = Figure(f"registry {name}: MLflow p50 (baseline)", "ms", mlflow_ms)
        p50 = Figure(f"registry {name}: Cirrus p50", "ms", cirrus_ms, base.name, base.median, TARGET_RATIO)
        p95 = Figure(
            f"registry {name}: Cirrus p95", "ms", [p50.percentile(95)], "MLflow p95", base.percentile(95)
        )
        rows += [base, p50, p95]
    for item in breakdowns:
        total = Figure(f"Cirrus {item.operation} probed total", "ms", item.parts["total"])
        rows.append(total)
        rows += [
            Figure(f"  {item.operation}: {part}", "ms", item.parts[part], "probed total", total.median)
            for part in (
                "Cognito authorizer",
                "moto Lambda dispatch",
                "worker round trip (pipes, logs)",
                "handler (REPORT Duration)",
                "handler: moto serving its AWS calls",
            )
        ]
    return rows


def _print_summary(samples: dict[str, dict[str, list[float]]]) -> None:
    print(
        f"\n{'operation':<16} {'MLflow p50':>10} {'p95':>8} {'Cirrus p50':>11} {'p95':>8}  ratio p50  target",
        file=sys.stderr,
    )
    for name, mlflow_ms in samples["mlflow"].items():
        cirrus_ms = samples["cirrus"][name]
        base, ours = Figure(name, "ms", mlflow_ms), Figure(name, "ms", cirrus_ms)
        ratio = ours.median / base.median
        verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
        print(
            f"{name:<16} {base.median:>10.2f} {base.percentile(95):>8.2f} {ours.median:>11.2f} "
            f"{ours.percentile(95):>8.2f}  x{ratio:<8.2f} {verdict} (<= x{TARGET_RATIO})",
            file=sys.stderr,
        )


def _cloud_starter(stack: ExitStack) -> tuple[LocalCloud, Callable[[], None]]:
    """The local cloud, and a callable that starts it (registering its stop on `stack`)."""
    from cirrus.localcloud.cloud import LocalCloud

    cloud = LocalCloud(ROOT, state_dir=Path(tempfile.mkdtemp(prefix="cirrus-bench-")), api_port=0, aws_port=0)

    def start() -> None:
        cloud.start()
        stack.callback(cloud.stop)

    return cloud, start


def run() -> list[Figure]:
    """Both registries, compared; then the Cirrus breakdown."""
    started = time.perf_counter()
    try:
        env = mlflow_env.ensure()
    except mlflow_env.MlflowUnavailable as error:
        print(f"registry bench: MLFLOW UNAVAILABLE, its figures are left out: {error}", file=sys.stderr)
        return []
    print(
        f"registry bench: mlflow {env.version}; starting mlflow server and the local cloud ...",
        file=sys.stderr,
    )
    with ExitStack() as stack:
        # The local cloud starts while MLflow's workers import: the two starts overlap.
        cloud, start_cloud = _cloud_starter(stack)
        server = stack.enter_context(mlflow_env.server(env, start_cloud))
        print(f"registry bench: both up after {time.perf_counter() - started:.1f} s", file=sys.stderr)
        systems = {"cirrus": cirrus_operations(cloud), "mlflow": mlflow_operations(server.url)}
        samples = compare(systems)
        _print_summary(samples)
        breakdowns = probe(systems["cirrus"])
        _print_breakdown(breakdowns)
    print(f"registry benchmark took {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return _figures(samples, breakdowns)


def main() -> None:
    print_table(run())


if __name__ == "__main__":
    main()
