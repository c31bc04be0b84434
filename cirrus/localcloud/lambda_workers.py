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
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
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
from collections.abc import Callable, Mapping
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


class Worker:
    """One warm execution environment: a `runtime_bootstrap` process and the pipes to it."""

    def __init__(self, spec: WorkerSpec, log_stream: str, write_log: LogWriter) -> None:
        self.spec = spec
        self.log_stream = log_stream
        self._write_log = write_log
        self._process: subprocess.Popen[bytes] | None = None
        self._request_fd = -1
        self._response_fd = -1
        self._poller = select.poll()
        self._reader: threading.Thread | None = None
        self._current: _Invocation | None = None
        self._lock = threading.Lock()
        self.init_error: dict[str, Any] | None = None
        self.init_duration_ms = 0.0

    @property
    def alive(self) -> bool:
        """True while the process runs (a handler can end its own process between invocations)."""
        return self._process is not None and self._process.poll() is None

    def _environment(self, fds: str) -> dict[str, str]:
        spec = self.spec
        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            # Handlers reach the emulator through the SDK's standard endpoint setting.
            "AWS_ENDPOINT_URL": spec.endpoint_url,
        }
        env.update(spec.variables)
        user_path = spec.variables.get("PYTHONPATH")
        path = [*spec.python_path(), *([user_path] if user_path else [])]
        # Lambda reserves these names: a function's own variables cannot override them.
        env.update(
            {
                "PYTHONPATH": os.pathsep.join(path),
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
                "AWS_LAMBDA_LOG_STREAM_NAME": self.log_stream,
                "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
                "LAMBDA_TASK_ROOT": str(spec.code_dir),
                # Tells handlers they run on the local cloud, whose SageMaker Neo only copies the
                # model: edge packages say so in their metadata.
                "CIRRUS_LOCAL_CLOUD": "1",
                runtime_bootstrap.FDS_ENV: fds,
            }
        )
        return env

    def start(self) -> None:
        """Start the process and wait for its init phase (the handler module's import) to finish.

        An init failure (import error, exception at module level) is kept in `init_error`: Lambda
        reports it as the invocation's error and discards the environment.
        """
        request_read, request_write = os.pipe()
        response_read, response_write = os.pipe()
        try:
            # -P keeps the bootstrap's own directory off sys.path: the handler sees its code, its
            # layers and site-packages, never the local cloud's modules.
            self._process = subprocess.Popen(  # noqa: S603  # our own interpreter and module  # nosec B603
                [sys.executable, "-P", str(BOOTSTRAP)],
                cwd=self.spec.code_dir,
                env=self._environment(f"{request_read},{response_write}"),
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
        self._request_fd = request_write
        self._response_fd = response_read
        self._poller.register(response_read, select.POLLIN)
        if self._process.stdout is None:  # pragma: no cover - Popen was given stdout=PIPE
            raise RuntimeError("the worker has no output pipe")
        self._reader = threading.Thread(
            target=self._read_output,
            args=(self._process.stdout,),
            name=f"lambda-logs-{self.spec.function_name}",
            daemon=True,
        )
        self._reader.start()
        try:
            ready = self._read_frame(time.monotonic() + max(INIT_LIMIT_SECONDS, self.spec.timeout_seconds))
        except TimeoutError as exc:
            self.stop()
            raise WorkerError(f"init of {self.spec.function_name} timed out") from exc
        if ready is None:
            code = self._process.wait()
            self.stop()
            raise WorkerError(f"worker of {self.spec.function_name} exited during init (status {code})")
        self.init_error = ready.get("initError")
        self.init_duration_ms = float(ready.get("initDurationMs", 0.0))

    def _read_output(self, stream: IO[bytes]) -> None:
        # Every line the handler prints goes to CloudWatch Logs; lines printed during an invocation
        # also make up that invocation's log tail (LogType=Tail).
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            with self._lock:
                current = self._current
                if current is not None:
                    current.lines.append(line)
            self._write_log(line)
            if current is not None and line.startswith(f"REPORT RequestId: {current.request_id}"):
                current.reported.set()

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

    def _read_frame(self, deadline: float) -> dict[str, Any] | None:
        header = self._read_exact(4, deadline)
        if header is None:
            return None
        body = self._read_exact(int.from_bytes(header, "big"), deadline)
        return None if body is None else dict(json.loads(body))

    def invoke(self, request_id: str, event: Any, function_arn: str) -> Outcome:
        """Run one invocation, killing the worker if it exceeds the function's Timeout."""
        if self._process is None:
            raise RuntimeError("start() the worker before invoking it")
        timeout = self.spec.timeout_seconds
        invocation = _Invocation(request_id)
        with self._lock:
            self._current = invocation
        started = time.monotonic()
        try:
            runtime_bootstrap.write_frame(
                self._request_fd,
                {
                    "requestId": request_id,
                    "event": event,
                    "functionArn": function_arn,
                    "deadlineMs": int((time.time() + timeout) * 1000),
                },
            )
            response = self._read_frame(started + timeout)
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
        if self._process is None:  # pragma: no cover - only called for a started worker
            raise RuntimeError("the worker was never started")
        try:
            code = self._process.wait(_STOP_GRACE_SECONDS)
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
        if self._process is not None and self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)

    def request_stop(self) -> None:
        """Close the request pipe: the worker exits at end of file, once its invocation is done."""
        if self._request_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._request_fd)
            self._request_fd = -1

    def stop(self) -> None:
        """Ask the worker to exit, give it a moment, kill it if it lingers; idempotent."""
        process = self._process
        if process is None:
            return
        self.request_stop()
        try:
            process.wait(_STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()
            process.wait()
        if self._reader is not None:
            self._reader.join(_STOP_GRACE_SECONDS)
        if process.stdout is not None:
            process.stdout.close()
        if self._response_fd >= 0:
            with contextlib.suppress(KeyError):
                self._poller.unregister(self._response_fd)
            os.close(self._response_fd)
            self._response_fd = -1


class WorkerPool:
    """The warm workers of one function configuration: one per concurrent invocation, reused after."""

    def __init__(self, spec: WorkerSpec, new_worker: Callable[[WorkerSpec], Worker]) -> None:
        self.spec = spec
        self._new_worker = new_worker
        self._idle: list[Worker] = []
        self._busy: set[Worker] = set()
        self._retired = False
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """Workers alive in this pool, idle or busy."""
        with self._lock:
            return len(self._idle) + len(self._busy)

    def acquire(self) -> tuple[Worker, bool]:
        """A worker for one invocation, and whether it was started for it (a cold start)."""
        dead: list[Worker] = []
        chosen: Worker | None = None
        with self._lock:
            while self._idle and chosen is None:
                candidate = self._idle.pop()  # the most recently used: warmest caches
                if candidate.alive:
                    chosen = candidate
                    self._busy.add(candidate)
                else:
                    dead.append(candidate)
        stop_all(dead)
        if chosen is not None:
            return chosen, False
        worker = self._new_worker(self.spec)  # slow (a process start): outside the lock
        with self._lock:
            self._busy.add(worker)
        return worker, True

    def release(self, worker: Worker, *, reusable: bool) -> None:
        """Return a worker after an invocation; a broken one, or one of a retired pool, is stopped."""
        with self._lock:
            self._busy.discard(worker)
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


def stop_all(workers: list[Worker]) -> None:
    """Stop workers together: all are asked to exit first, so their shutdowns overlap."""
    for worker in workers:
        worker.request_stop()
    for worker in workers:
        worker.stop()


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
