"""Warm Lambda execution environments for the local cloud: worker processes, pooled per function.

Each worker is a `runtime_bootstrap` process serving one invocation at a time, so a handler gets
what it gets in Lambda: its own module namespace (two functions may both ship `app.py`), its own
`os.environ`, its own `sys.path` (code directory, then layers, then the local cloud's own
site-packages), module-level state that survives between warm invocations, and a Timeout that is
enforced by killing the process. POSIX only (pipes passed by descriptor, process groups).

The interpreter is the emulator's own (`sys.executable`), whatever Runtime the function declares,
and third-party packages that a layer's requirements.txt names come from the local cloud's
environment rather than from the layer, so install them there. MemorySize is reported to the handler
(`context.memory_limit_in_mb`) but not enforced.

Cold starts come partly from a reserve (`WorkerReserve`, `RESERVE_SIZE` workers, set with
$CIRRUS_LOCAL_RESERVE_WORKERS): processes started ahead of need that import the third-party packages
nearly every function imports (`PRELOAD_MODULES`) and parse the service models of the clients most
functions create (`PRELOAD_CLIENTS`; later botocore loaders in that process start from those parsed
models). A function that takes one replaces its whole environment, gets its code and layers at the
front of sys.path, changes directory to its code, and only then imports its handler: it keeps its
own process, process group (Timeout kills), module namespace and environment. A reserve worker is
used only when a fresh process would behave the same (`spare_refusal`): same interpreter settings
(PYTHON*, LANG, LC_*, TZ), the same value of every variable the preloaded imports read (recorded
while they ran; the reserve's environment mirrors the template's Globals, `ReservePlan`), and no
top-level module in the function's code or layers that the reserve already imported. Otherwise, or
when none is ready, the function gets a plain worker, started as before.

Deviation from Lambda: a cold start served from the reserve is faster than in AWS, and its Init
Duration (the handler's import only) is shorter than the same function's in Lambda, where the
runtime imports boto3 and the layer's packages inside the init phase. Max Memory Used includes the
preloaded packages, even those the function does not import.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import logging
import os
import select
import shutil
import signal
import subprocess  # Lambda execution environments are worker processes  # nosec B404
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cirrus.localcloud import runtime_bootstrap
from cirrus.localcloud.clients import FAKE_SECRET

BOOTSTRAP = Path(runtime_bootstrap.__file__)
# Lambda allows 10 s for a function's init phase; a cold import of scipy on a busy CI runner can
# take longer than in Lambda, so the local limit is the larger of that and the function's Timeout.
INIT_LIMIT_SECONDS = 10.0
# How long to wait, after a result arrives, for the rest of the invocation's output to be read:
# the worker writes its REPORT line before the result, so this only bounds a pathological case.
_LOG_DRAIN_SECONDS = 2.0
_STOP_GRACE_SECONDS = 1.0
LOG = logging.getLogger(__name__)

# The reserve: worker processes started ahead of need, which import what nearly every function of
# the template imports (boto3, pydantic, Powertools, the X-Ray SDK, cedarpy) and parse the models of
# the AWS services they call most, then wait for a function to take them on.
RESERVE_SIZE = 2
RESERVE_SIZE_ENV = "CIRRUS_LOCAL_RESERVE_WORKERS"  # in the local cloud's own environment; 0: none
FUNCTION_CONCURRENCY_ENV = "CIRRUS_LOCAL_FUNCTION_CONCURRENCY"  # see function_concurrency
PRELOAD_MODULES: tuple[str, ...] = (
    "boto3",
    "botocore.session",
    "botocore.client",
    "pydantic",
    # pydantic imports these on the first model a module defines
    "pydantic.main",
    "pydantic.types",
    "pydantic.functional_validators",
    "pydantic._internal._generate_schema",
    "pydantic._internal._model_construction",
    "requests",
    "aws_lambda_powertools",
    "aws_lambda_powertools.logging",
    "aws_lambda_powertools.metrics",
    "aws_lambda_powertools.tracing",
    "aws_xray_sdk.core",
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.event_handler.openapi.params",
    "aws_lambda_powertools.utilities.data_classes",
    "aws_lambda_powertools.utilities.typing",
    "cedarpy",
)
PRELOAD_CLIENTS: tuple[str, ...] = ("dynamodb", "s3", "events", "stepfunctions")
# Read at import, but only for whether they are set (aws_xray_sdk 2.15's check_in_lambda): any
# value the function has is as good as the reserve's.
_PRESENCE_ONLY = frozenset({"LAMBDA_TASK_ROOT"})
_SPARE_START_SECONDS = 60.0
_REFILL_PATIENCE_SECONDS = 3.0

LogWriter = Callable[[str], None]


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker process is started from; two functions share nothing."""

    function_name: str
    version: str
    runtime: str
    handler: str
    memory_mb: int
    timeout_seconds: float
    code_dir: Path
    layer_dirs: tuple[Path, ...]
    variables: Mapping[str, str]  # the function's Environment.Variables
    endpoint_url: str
    region: str
    log_group: str

    @functools.cached_property
    def fingerprint(self) -> str:
        """Identity of the execution environment: new code, layers or configuration mean new workers."""
        material = json.dumps(
            [
                self.handler,
                self.runtime,
                self.memory_mb,
                self.timeout_seconds,
                str(self.code_dir),
                [str(path) for path in self.layer_dirs],
                sorted(self.variables.items()),
            ]
        )
        return hashlib.sha256(material.encode()).hexdigest()

    def python_path(self) -> list[str]:
        """The code directory, then each layer where Lambda would put it on the path."""
        entries = [str(self.code_dir)]
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        for layer in self.layer_dirs:
            python_dir = layer / "python"
            if python_dir.is_dir():
                # Lambda mounts a layer at /opt and puts /opt/python and its site-packages on the path.
                entries.append(str(python_dir))
                site = python_dir / "lib" / version / "site-packages"
                if site.is_dir():
                    entries.append(str(site))
            else:
                # A layer zipped from a plain folder (our provisioner's ContentUri) holds its packages
                # at the root.
                entries.append(str(layer))
        return entries


@dataclass
class Outcome:
    """What one invocation produced, in the form moto's `_invoke_lambda` returns."""

    payload: str  # JSON text: the handler's result, or Lambda's error shape
    error_type: str | None  # None when the handler returned normally
    logs: str  # this invocation's log lines, START to REPORT
    reusable: bool  # whether the worker may serve another invocation

    @property
    def errored(self) -> bool:
        """True when the invocation failed (moto's `errored`, Lambda's FunctionError)."""
        return self.error_type is not None


def error_payload(error_type: str, message: str, request_id: str) -> str:
    """Lambda's error shape for a failure of the runtime rather than of the handler."""
    return json.dumps(
        {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": []}
    )


@dataclass
class _Invocation:
    request_id: str
    lines: list[str] = field(default_factory=list)
    reported: threading.Event = field(default_factory=threading.Event)


class WorkerError(Exception):
    """A worker could not be started (the process died or did not report ready in time)."""


def _base_environment(endpoint_url: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        # Handlers reach the emulator through the SDK's standard endpoint setting.
        "AWS_ENDPOINT_URL": endpoint_url,
    }


def _function_path(spec: WorkerSpec) -> list[str]:
    user_path = spec.variables.get("PYTHONPATH")
    return [*spec.python_path(), *([user_path] if user_path else [])]


def function_environment(spec: WorkerSpec, log_stream: str) -> dict[str, str]:
    """The whole environment of a function's worker: its variables and the names Lambda sets."""
    env = _base_environment(spec.endpoint_url)
    env.update(spec.variables)
    # Lambda reserves these names: a function's own variables cannot override them.
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(_function_path(spec)),
            "_HANDLER": spec.handler,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            "AWS_ACCESS_KEY_ID": FAKE_SECRET,
            "AWS_SECRET_ACCESS_KEY": FAKE_SECRET,
            "AWS_SESSION_TOKEN": FAKE_SECRET,
            "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group,
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            # Tells handlers they run on the local cloud, whose SageMaker Neo only copies the
            # model: edge packages say so in their metadata.
            "CIRRUS_LOCAL_CLOUD": "1",
        }
    )
    return env


class _Process:
    """A `runtime_bootstrap` process: its control pipes, and a thread that forwards its output.

    Each line the process prints goes to `on_line`, which its owner may change at any time (a
    reserve worker's output goes nowhere until a function takes it).
    """

    def __init__(self, env: Mapping[str, str], cwd: Path, name: str) -> None:
        self.on_line: Callable[[str], None] = _drop_line
        self._poller = select.poll()
        request_read, request_write = os.pipe()
        response_read, response_write = os.pipe()
        try:
            # -P keeps the bootstrap's own directory off sys.path: the handler sees its code, its
            # layers and site-packages, never the local cloud's modules.
            self.process = subprocess.Popen(  # noqa: S603  # our own interpreter and module  # nosec B603
                [sys.executable, "-P", str(BOOTSTRAP)],
                cwd=cwd,
                env={**env, runtime_bootstrap.FDS_ENV: f"{request_read},{response_write}"},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(request_read, response_write),
                start_new_session=True,  # its own process group, so a kill takes its children too
            )
        except BaseException:
            os.close(request_write)
            os.close(response_read)
            raise
        finally:
            os.close(request_read)  # the child holds its own copies
            os.close(response_write)
        self.request_fd = request_write
        self._response_fd = response_read
        self._poller.register(response_read, select.POLLIN)
        if self.process.stdout is None:  # pragma: no cover - Popen was given stdout=PIPE
            raise RuntimeError("the worker has no output pipe")
        self._reader = threading.Thread(
            target=self._pump, args=(self.process.stdout,), name=f"lambda-logs-{name}", daemon=True
        )
        self._reader.start()

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def _pump(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            self.on_line(raw.decode("utf-8", errors="replace").rstrip("\n"))

    def _read_exact(self, size: int, deadline: float) -> bytes | None:
        data = bytearray()
        while len(data) < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._poller.poll(remaining * 1000):
                raise TimeoutError
            chunk = os.read(self._response_fd, size - len(data))
            if not chunk:
                return None
            data.extend(chunk)
        return bytes(data)

    def read_frame(self, deadline: float) -> dict[str, Any] | None:
        """The next frame from the process; None when it closed its end (it exited)."""
        header = self._read_exact(4, deadline)
        if header is None:
            return None
        body = self._read_exact(int.from_bytes(header, "big"), deadline)
        return None if body is None else dict(json.loads(body))

    def write_frame(self, value: Any) -> None:
        runtime_bootstrap.write_frame(self.request_fd, value)

    def kill(self) -> None:
        """Kill the process group at once (a Timeout, or a stop that took too long)."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def request_stop(self) -> None:
        """Close the request pipe: the worker exits at end of file, once its invocation is done."""
        if self.request_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.request_fd)
            self.request_fd = -1

    def stop(self, deadline: float) -> None:
        """Wait for the exit asked for by `request_stop` until `deadline`, then kill; idempotent."""
        self.request_stop()
        try:
            self.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.kill()
            self.process.wait()
        self._reader.join(max(0.05, deadline - time.monotonic()))
        if self.process.stdout is not None:
            self.process.stdout.close()
        if self._response_fd >= 0:
            with contextlib.suppress(KeyError):
                self._poller.unregister(self._response_fd)
            os.close(self._response_fd)
            self._response_fd = -1


def _drop_line(line: str) -> None:
    if line.strip():
        LOG.debug("reserve worker: %s", line)


class Worker:
    """One warm execution environment: a `runtime_bootstrap` process and the pipes to it."""

    def __init__(self, spec: WorkerSpec, log_stream: str, write_log: LogWriter) -> None:
        self.spec = spec
        self.log_stream = log_stream
        self._write_log = write_log
        self._proc: _Process | None = None
        self._current: _Invocation | None = None
        self._lock = threading.Lock()
        self.init_error: dict[str, Any] | None = None
        self.init_duration_ms = 0.0
        self.from_reserve = False

    @property
    def alive(self) -> bool:
        """True while the process runs (a handler can end its own process between invocations)."""
        return self._proc is not None and self._proc.alive

    @property
    def pid(self) -> int | None:
        """The process id (diagnostics and tests)."""
        return None if self._proc is None else self._proc.process.pid

    def start(self, spare: SpareWorker | None = None) -> None:
        """Start the process and wait for its init phase (the handler module's import) to finish.

        With `spare`, a reserve worker that already imported the common packages takes on this
        function instead of a new process. An init failure (import error, exception at module
        level) is kept in `init_error`: Lambda reports it as the invocation's error and discards
        the environment.
        """
        env = function_environment(self.spec, self.log_stream)
        deadline = time.monotonic() + max(INIT_LIMIT_SECONDS, self.spec.timeout_seconds)
        if spare is None:
            self._proc = _Process(env, self.spec.code_dir, self.spec.function_name)
            self._proc.on_line = self._on_line
        else:
            self._proc = spare.process
            self._proc.on_line = self._on_line
            self.from_reserve = True
            try:
                self._proc.write_frame(
                    {
                        "type": "spec",
                        "environ": env,
                        "path": _function_path(self.spec),
                        "cwd": str(self.spec.code_dir),
                    }
                )
            except OSError as exc:
                self.stop()
                raise WorkerError(f"the reserve worker for {self.spec.function_name} is gone") from exc
        try:
            ready = self._proc.read_frame(deadline)
        except TimeoutError as exc:
            self.stop()
            raise WorkerError(f"init of {self.spec.function_name} timed out") from exc
        if ready is None:
            code = self._proc.process.wait()
            self.stop()
            raise WorkerError(f"worker of {self.spec.function_name} exited during init (status {code})")
        self.init_error = ready.get("initError")
        self.init_duration_ms = float(ready.get("initDurationMs", 0.0))

    def _on_line(self, line: str) -> None:
        # Every line the handler prints goes to CloudWatch Logs; lines printed during an invocation
        # also make up that invocation's log tail (LogType=Tail).
        with self._lock:
            current = self._current
            if current is not None:
                current.lines.append(line)
        self._write_log(line)
        if current is not None and line.startswith(f"REPORT RequestId: {current.request_id}"):
            current.reported.set()

    def invoke(self, request_id: str, event: Any, function_arn: str) -> Outcome:
        """Run one invocation, killing the worker if it exceeds the function's Timeout."""
        if self._proc is None:
            raise RuntimeError("start() the worker before invoking it")
        timeout = self.spec.timeout_seconds
        invocation = _Invocation(request_id)
        with self._lock:
            self._current = invocation
        started = time.monotonic()
        try:
            self._proc.write_frame(
                {
                    "requestId": request_id,
                    "event": event,
                    "functionArn": function_arn,
                    "deadlineMs": int((time.time() + timeout) * 1000),
                },
            )
            response = self._proc.read_frame(started + timeout)
        except TimeoutError:
            return self._timed_out(invocation, timeout)
        except OSError:  # the pipe broke: the process is gone
            response = None
        if response is None:
            return self._exited(invocation)
        invocation.reported.wait(_LOG_DRAIN_SECONDS)
        with self._lock:
            self._current = None
        logs = "\n".join(invocation.lines)
        error = response.get("error")
        if error is not None:
            return Outcome(json.dumps(error), str(error.get("errorType")), logs, reusable=True)
        return Outcome(str(response["payload"]), None, logs, reusable=True)

    def _finish_failed(self, invocation: _Invocation, message: str, status: str) -> str:
        self.kill()
        with self._lock:
            self._current = None
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        lines = [
            f"{stamp}Z {invocation.request_id} {message}",
            f"END RequestId: {invocation.request_id}",
            f"REPORT RequestId: {invocation.request_id}\tStatus: {status}",
        ]
        for line in lines:
            self._write_log(line)
        return "\n".join([*invocation.lines, *lines])

    def _timed_out(self, invocation: _Invocation, timeout: float) -> Outcome:
        message = f"Task timed out after {timeout:.2f} seconds"
        logs = self._finish_failed(invocation, message, "timeout")
        payload = error_payload(
            "Sandbox.Timedout", f"RequestId: {invocation.request_id} Error: {message}", invocation.request_id
        )
        return Outcome(payload, "Sandbox.Timedout", logs, reusable=False)

    def _exited(self, invocation: _Invocation) -> Outcome:
        if self._proc is None:  # pragma: no cover - only called for a started worker
            raise RuntimeError("the worker was never started")
        try:
            code = self._proc.process.wait(_STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            code = None
        status = "signal: killed" if code is None or code < 0 else f"exit status {code}"
        message = f"Runtime exited with error: {status}"
        logs = self._finish_failed(invocation, message, "error")
        payload = error_payload(
            "Runtime.ExitError", f"RequestId: {invocation.request_id} Error: {message}", invocation.request_id
        )
        return Outcome(payload, "Runtime.ExitError", logs, reusable=False)

    def kill(self) -> None:
        """Kill the worker's whole process group at once (a Timeout, or a stop that took too long)."""
        if self._proc is not None:
            self._proc.kill()

    def request_stop(self) -> None:
        """Close the request pipe: the worker exits at end of file, once its invocation is done."""
        if self._proc is not None:
            self._proc.request_stop()

    def stop(self, deadline: float | None = None) -> None:
        """Ask the worker to exit, give it a moment (until `deadline`), kill it if it lingers."""
        if self._proc is not None:
            self._proc.stop(time.monotonic() + _STOP_GRACE_SECONDS if deadline is None else deadline)


class ConcurrencyLimitReached(WorkerError):
    """Every execution environment a function may have is busy for longer than the invocation may wait."""

    error_type = "TooManyRequestsException"


def function_concurrency(reserved: int | None = None) -> int:
    """How many execution environments one function may run at once on this machine.

    Lambda starts one per concurrent invocation up to the account's limit; here each is a process
    on the same few cores, and beyond a couple per core they only slow each other down until their
    invocations time out (64 concurrent registrations once gave 55 timeouts of 64 while a handful
    of workers served them in seconds). So invocations beyond the limit wait for a worker instead.
    A function's ReservedConcurrentExecutions lowers the limit as it does in Lambda.
    """
    configured = os.environ.get(FUNCTION_CONCURRENCY_ENV)
    limit = int(configured) if configured else max(4, 2 * (os.cpu_count() or 1))
    if reserved:
        limit = min(limit, reserved)
    return max(1, limit)


class WorkerPool:
    """The warm workers of one function configuration: one per concurrent invocation, reused after,
    at most `max_size` at once (see `function_concurrency`)."""

    def __init__(
        self, spec: WorkerSpec, new_worker: Callable[[WorkerSpec], Worker], max_size: int | None = None
    ) -> None:
        self.spec = spec
        self._new_worker = new_worker
        self._max_size = max_size
        self._idle: list[Worker] = []
        self._busy: set[Worker] = set()
        self._starting = 0
        self._retired = False
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    @property
    def size(self) -> int:
        """Workers alive in this pool, idle or busy."""
        with self._lock:
            return len(self._idle) + len(self._busy)

    def acquire(self, wait_seconds: float | None = None) -> tuple[Worker, bool]:
        """A worker for one invocation, and whether it was started for it (a cold start).

        At the pool's limit, waits up to `wait_seconds` (default: the function's Timeout) for one
        to come free, then raises ConcurrencyLimitReached.
        """
        deadline = time.monotonic() + (self.spec.timeout_seconds if wait_seconds is None else wait_seconds)
        dead: list[Worker] = []
        chosen: Worker | None = None
        with self._changed:
            while True:
                while self._idle and chosen is None:
                    candidate = self._idle.pop()  # the most recently used: warmest caches
                    if candidate.alive:
                        chosen = candidate
                        self._busy.add(candidate)
                    else:
                        dead.append(candidate)
                if chosen is not None or self._has_room():
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ConcurrencyLimitReached(
                        f"{self.spec.function_name}: all {self._max_size} execution environments stayed "
                        "busy while the invocation waited"
                    )
                self._changed.wait(remaining)
            if chosen is None:
                self._starting += 1
        stop_all(dead)
        if chosen is not None:
            return chosen, False
        try:
            worker = self._new_worker(self.spec)  # slow (a process start): outside the lock
        except BaseException:
            with self._changed:
                self._starting -= 1
                self._changed.notify()
            raise
        with self._changed:
            self._starting -= 1
            self._busy.add(worker)
        return worker, True

    def _has_room(self) -> bool:
        return self._max_size is None or len(self._busy) + self._starting < self._max_size

    def release(self, worker: Worker, *, reusable: bool) -> None:
        """Return a worker after an invocation; a broken one, or one of a retired pool, is stopped."""
        with self._changed:
            self._busy.discard(worker)
            self._changed.notify()
            if reusable and not self._retired:
                self._idle.append(worker)
                return
        worker.stop()

    def retire(self) -> None:
        """Stop the idle workers now and the busy ones when they finish (a redeploy, or shutdown)."""
        stop_all(self.retire_idle())

    def retire_idle(self) -> list[Worker]:
        """Mark the pool retired and hand over its idle workers for the caller to stop."""
        with self._lock:
            self._retired = True
            idle, self._idle = self._idle, []
        return idle

    def kill_busy(self) -> None:
        """Kill workers still running an invocation (shutdown must not wait for a slow handler)."""
        with self._lock:
            busy = list(self._busy)
        for worker in busy:
            worker.kill()


def stop_all(workers: Sequence[Worker | SpareWorker]) -> None:
    """Stop workers together: all are asked to exit first, and all share one grace period."""
    for worker in workers:
        worker.request_stop()
    deadline = time.monotonic() + _STOP_GRACE_SECONDS
    for worker in workers:
        worker.stop(deadline)


@dataclass(frozen=True)
class ReservePlan:
    """What reserve workers import ahead of need, and the environment they do it in.

    `runtime` and `variables` stand for the template's Globals (every function of ours runs
    python3.13 with PYDANTIC_DISABLE_PLUGINS=1): the imports run under them, and a function whose
    own environment differs in anything the imports read gets a plain worker instead.
    """

    modules: tuple[str, ...] = PRELOAD_MODULES
    clients: tuple[str, ...] = PRELOAD_CLIENTS
    runtime: str = "python3.13"
    variables: Mapping[str, str] = field(default_factory=lambda: {"PYDANTIC_DISABLE_PLUGINS": "1"})

    def environment(self, endpoint_url: str, region: str, task_root: Path) -> dict[str, str]:
        env = _base_environment(endpoint_url)
        env.update(self.variables)
        env.update(
            {
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{self.runtime}",
                "AWS_REGION": region,
                "AWS_DEFAULT_REGION": region,
                "AWS_ACCESS_KEY_ID": FAKE_SECRET,
                "AWS_SECRET_ACCESS_KEY": FAKE_SECRET,
                "AWS_SESSION_TOKEN": FAKE_SECRET,
                "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
                "LAMBDA_TASK_ROOT": str(task_root),
                "CIRRUS_LOCAL_CLOUD": "1",
                runtime_bootstrap.RESERVE_ENV: json.dumps(
                    {"modules": list(self.modules), "clients": list(self.clients)}
                ),
            }
        )
        return env


class SpareWorker:
    """A reserve worker: a process that preloaded the common packages and waits for a function."""

    def __init__(self, env: Mapping[str, str], cwd: Path) -> None:
        self.environment = {k: v for k, v in env.items() if k != runtime_bootstrap.RESERVE_ENV}
        self.process = _Process(env, cwd, "reserve")
        self.report: dict[str, Any] = {}

    def wait_ready(self, deadline: float) -> None:
        """Wait for the preload to finish (the worker's "spare" report)."""
        try:
            report = self.process.read_frame(deadline)
        except TimeoutError as exc:
            self.stop(time.monotonic())
            raise WorkerError("a reserve worker did not finish its preload in time") from exc
        if report is None or report.get("type") != "spare":
            self.stop(time.monotonic())
            raise WorkerError("a reserve worker exited during its preload")
        self.report = report

    @property
    def alive(self) -> bool:
        return self.process.alive

    def request_stop(self) -> None:
        self.process.request_stop()

    def stop(self, deadline: float | None = None) -> None:
        self.process.stop(time.monotonic() + _STOP_GRACE_SECONDS if deadline is None else deadline)


def top_level_names(entries: Iterable[str]) -> set[str]:
    """The top-level modules and packages importable from these sys.path entries."""
    names: set[str] = set()
    for entry in entries:
        try:
            children = list(os.scandir(entry))
        except OSError:
            continue
        for child in children:
            name = child.name
            if child.is_dir():
                if name.isidentifier():
                    names.add(name)
            elif name.endswith((".py", ".pyc", ".so", ".pyd")):
                stem = name.partition(".")[0]
                if stem.isidentifier():
                    names.add(stem)
    return names


def spare_refusal(spec: WorkerSpec, env: Mapping[str, str], spare: SpareWorker) -> str | None:
    """Why `spec` (whose worker environment is `env`) cannot use this reserve worker; None if it can.

    A reserve worker imported its packages before it knew the function, so it serves only a function
    for which a fresh process would have done the same: the same interpreter settings, the same
    value of every variable the imports read, and no module of its own (code, layers) that shadows
    one the reserve already imported.
    """
    report = spare.report
    if report.get("envIterated"):
        return "the preload read the whole environment"
    if int(report.get("threads", 1)) > 1:
        return "the preload left threads running"
    startup = {
        key
        for key in {*env, *spare.environment}
        if key in ("LANG", "TZ")
        or key.startswith("LC_")
        or (key.startswith("PYTHON") and key != "PYTHONPATH")
    }
    for key in sorted(startup):
        if env.get(key) != spare.environment.get(key):
            return f"{key} differs from the reserve's"
    for key, value in dict(report.get("envReads", {})).items():
        mine = env.get(key)
        if key in _PRESENCE_ONLY:
            if bool(mine) != bool(value):
                return f"{key} differs from the reserve's"
        elif mine != value:
            return f"{key} differs from the reserve's"
    shadowed = top_level_names(_function_path(spec)) & set(report.get("modules", ()))
    if shadowed:
        return f"its code or layers ship {', '.join(sorted(shadowed))}"
    return None


class WorkerReserve:
    """A few reserve workers, started ahead of need and refilled in the background.

    `take` hands one to a function that can use it (`spare_refusal`), or None: the caller then
    starts a plain worker, as without a reserve. Filling starts with the first `take` or `fill`.
    """

    def __init__(self, size: int, plan: ReservePlan, endpoint_url: str, region: str, root: Path) -> None:
        self.size = max(0, size)
        self._plan = plan
        self._endpoint_url = endpoint_url
        self._region = region
        self._root = root
        self._ready: list[SpareWorker] = []
        self._starting: SpareWorker | None = None
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._inits = 0  # functions in their init phase: a refill waits for them (CPU is scarce)
        self.taken = 0
        self.refused: dict[str, str] = {}  # function name -> why it got a plain worker

    def fill(self) -> None:
        """Start filling the reserve in the background (idempotent)."""
        with self._cond:
            if self.size == 0 or self._closed or self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="lambda-reserve", daemon=True)
            self._thread.start()

    @property
    def ready(self) -> int:
        """Reserve workers waiting for a function."""
        with self._cond:
            return len(self._ready)

    def wait_full(self, timeout: float) -> bool:
        """Wait until the reserve holds `size` workers (tests, benchmarks)."""
        self.fill()
        with self._cond:
            return self._cond.wait_for(lambda: len(self._ready) >= self.size or self._closed, timeout)

    @contextlib.contextmanager
    def init_phase(self) -> Iterator[None]:
        """Marks a function's init phase (a cold start): refills wait for it, up to a bound."""
        with self._cond:
            self._inits += 1
        try:
            yield
        finally:
            with self._cond:
                self._inits -= 1
                self._cond.notify_all()

    def take(self, spec: WorkerSpec, env: Mapping[str, str]) -> SpareWorker | None:
        """A reserve worker `spec` can use, or None (none ready, or it cannot use one)."""
        if self.size == 0:
            return None
        self.fill()
        dead: list[SpareWorker] = []
        chosen: SpareWorker | None = None
        with self._cond:
            while self._ready and chosen is None:
                spare = self._ready.pop(0)
                if not spare.alive:
                    dead.append(spare)
                    continue
                reason = spare_refusal(spec, env, spare)
                if reason is not None:
                    self._ready.insert(0, spare)
                    self.refused[spec.function_name] = reason
                    break
                chosen = spare
                self.taken += 1
            self._cond.notify_all()
        stop_all(dead)
        return chosen

    def _is_closed(self) -> bool:
        with self._cond:
            return self._closed

    def _run(self) -> None:
        failures = 0
        self._root.mkdir(parents=True, exist_ok=True)
        env = self._plan.environment(self._endpoint_url, self._region, self._root)
        while not self._is_closed():
            with self._cond:
                self._cond.wait_for(lambda: self._closed or len(self._ready) < self.size)
                # Refill when idle: a cold start in its init phase gets the CPU first.
                self._cond.wait_for(lambda: self._closed or self._inits == 0, _REFILL_PATIENCE_SECONDS)
                if self._closed:
                    return
                try:
                    spare = SpareWorker(env, self._root)
                except OSError:
                    LOG.exception("could not start a reserve worker")
                    return
                self._starting = spare  # close() kills it; this thread then stops it
            try:
                spare.wait_ready(time.monotonic() + _SPARE_START_SECONDS)
            except WorkerError as exc:
                with self._cond:
                    self._starting = None
                if self._is_closed():
                    return
                failures += 1
                LOG.warning("%s (%d in a row)", exc, failures)
                if failures >= 3:
                    LOG.warning("no reserve of Lambda workers: every function starts a plain worker")
                    return
                continue
            failures = 0
            with self._cond:
                self._starting = None
                keep = not self._closed
                if keep:
                    self._ready.append(spare)
                    self._cond.notify_all()
            if not keep:
                spare.stop(time.monotonic())

    def close(self) -> None:
        """Stop filling and stop every reserve worker, the one starting included."""
        with self._cond:
            self._closed = True
            spares, self._ready = self._ready, []
            starting = self._starting
            self._cond.notify_all()
        if starting is not None:
            # Mid-preload, nothing worth finishing: the filling thread sees it die and stops it.
            starting.process.kill()
        stop_all(spares)
        if self._thread is not None:
            self._thread.join(_STOP_GRACE_SECONDS * 2)


def extract_zip(data: bytes, digest: str, root: Path) -> Path:
    """Extract a code or layer zip once per content hash under `root`, and return its directory.

    Extraction goes to a temporary sibling first and is renamed into place, so a concurrent cold
    start never sees a half-written tree.
    """
    target = root / digest
    if target.is_dir():
        return target
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}-", dir=root))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            archive.extractall(staging)  # extractall drops absolute and ".." member paths
        try:
            staging.rename(target)
        except OSError:
            if not target.is_dir():  # lost a race to another thread: theirs is identical
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target
