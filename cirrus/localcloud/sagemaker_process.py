"""Running a SageMaker container's process on the host: output, logs, metrics, stops and timeouts.

A job's "container" is a subprocess of this interpreter's host: it gets a clean environment (as a
container has) with the emulator's endpoint and fake credentials, its own session (so SIGTERM and
SIGKILL reach the children it starts), and its stdout and stderr are read line by line into an
`OutputSink`, which forwards them to CloudWatch Logs, matches metric regexes and keeps the last
lines for a failure reason. Stops follow AWS: SIGTERM, then SIGKILL after the grace period.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess  # jobs run the user's own code, as SageMaker's containers do  # nosec B404
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from cirrus.localcloud.clients import FAKE_CREDENTIALS
from cirrus.localcloud.sagemaker_common import utc_now

if TYPE_CHECKING:
    import re
    from collections.abc import Mapping, Sequence
    from datetime import datetime

    from cirrus.localcloud.hooks import HookContext

logger = logging.getLogger(__name__)

# AWS sends SIGTERM, then kills the job 120 s later if it has not exited.
STOP_GRACE_SECONDS = 120.0
MAX_RUNTIME_EXCEEDED = "MaxRuntimeExceeded"
_POLL_SECONDS = 0.05
_LOG_FLUSH_SECONDS = 1.0
_TAIL_LINES = 20
# PutLogEvents takes at most 10,000 events a call.
_LOG_BATCH = 10_000


class ProcessStartError(Exception):
    """The container's program could not be started (not found, not executable)."""


class Stopper:
    """A stop request for a running job: why, and how long the process gets after SIGTERM."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reason: str | None = None
        self.kill_at: float | None = None
        self.requested = threading.Event()

    def request(self, reason: str, grace_seconds: float) -> None:
        """Ask the job to stop; a later request may only shorten the grace, never extend it."""
        with self._lock:
            kill_at = time.monotonic() + grace_seconds
            if self.reason is None:
                self.reason = reason
            self.kill_at = kill_at if self.kill_at is None else min(self.kill_at, kill_at)
        self.requested.set()


@dataclass(frozen=True)
class ProcessOutcome:
    """How a container process ended: its exit code, and the stop reason if it was stopped."""

    exit_code: int
    stop_reason: str | None


class OutputSink:
    """A job's output lines, sent to CloudWatch Logs, matched against metric regexes, tail kept."""

    def __init__(
        self, logs: Any, group: str, stream: str, metrics: Sequence[tuple[str, re.Pattern[str]]]
    ) -> None:
        self._logs = logs
        self._group = group
        self._stream = stream
        self._metric_patterns = list(metrics)
        self._lock = threading.Lock()
        self._pending: list[dict[str, Any]] = []
        self._stream_ready = False
        self.tail: deque[str] = deque(maxlen=_TAIL_LINES)
        self.metrics: dict[str, tuple[float, datetime]] = {}

    def line(self, text: str) -> None:
        """Record one line of the process's stdout or stderr."""
        now = utc_now()
        with self._lock:
            if text:  # CloudWatch Logs refuses empty messages
                self._pending.append({"timestamp": int(now.timestamp() * 1000), "message": text})
            self.tail.append(text)
            for name, pattern in self._metric_patterns:
                match = pattern.search(text)
                if match is None:
                    continue
                try:
                    value = float(match.group(1) if pattern.groups else match.group(0))
                except ValueError:
                    continue
                self.metrics[name] = (value, now)

    def flush(self) -> None:
        """Send pending lines to CloudWatch Logs; a logging failure never fails the job."""
        with self._lock:
            events, self._pending = self._pending, []
        if not events:
            return
        events.sort(key=lambda event: event["timestamp"])  # stdout and stderr interleave
        try:
            if not self._stream_ready:
                self._create_stream()
            for start in range(0, len(events), _LOG_BATCH):
                self._logs.put_log_events(
                    logGroupName=self._group,
                    logStreamName=self._stream,
                    logEvents=events[start : start + _LOG_BATCH],
                )
        except (BotoCoreError, ClientError):
            logger.warning("could not write %d log lines to %s/%s", len(events), self._group, self._stream)

    def _create_stream(self) -> None:
        for create, kwargs in (
            (self._logs.create_log_group, {"logGroupName": self._group}),
            (self._logs.create_log_stream, {"logGroupName": self._group, "logStreamName": self._stream}),
        ):
            try:
                create(**kwargs)
            except ClientError as error:
                if error.response["Error"]["Code"] != "ResourceAlreadyExistsException":
                    raise
        self._stream_ready = True


def run_process(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    max_runtime_seconds: float,
    stopper: Stopper,
    sink: OutputSink,
) -> ProcessOutcome:
    """Run a container's process to its end, streaming its output to `sink`.

    The process gets its own session so that SIGTERM and SIGKILL reach its children too. Past
    `max_runtime_seconds` it is stopped as MaxRuntimeExceeded; a `stopper` request stops it too.
    """
    try:
        process = subprocess.Popen(  # noqa: S603  # a list, no shell: the job's own code  # nosec B603
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as error:
        raise ProcessStartError(f"cannot start {argv[0]}: {error}") from error
    readers = [
        threading.Thread(target=_read_lines, args=(pipe, sink), daemon=True)
        for pipe in (process.stdout, process.stderr)
    ]
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + max_runtime_seconds
    terminated = killed = False
    next_flush = time.monotonic() + _LOG_FLUSH_SECONDS
    while True:
        try:
            exit_code = process.wait(timeout=_POLL_SECONDS)
            break
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        if now >= deadline and stopper.reason is None:
            stopper.request(MAX_RUNTIME_EXCEEDED, STOP_GRACE_SECONDS)
        if stopper.requested.is_set() and not terminated:
            _signal_group(process, signal.SIGTERM)
            terminated = True
        if terminated and not killed and stopper.kill_at is not None and now >= stopper.kill_at:
            _signal_group(process, signal.SIGKILL)
            killed = True
        if now >= next_flush:
            sink.flush()
            next_flush = now + _LOG_FLUSH_SECONDS
    # The whole group goes: a child the script left behind would keep the pipes open.
    _signal_group(process, signal.SIGKILL)
    for reader in readers:
        reader.join(timeout=5)
    sink.flush()
    return ProcessOutcome(exit_code, stopper.reason if terminated else None)


def _read_lines(pipe: Any, sink: OutputSink) -> None:
    with pipe:
        for raw in iter(pipe.readline, b""):
            sink.line(raw.decode("utf-8", errors="replace").rstrip("\r\n"))


def _signal_group(process: subprocess.Popen[bytes], signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group has already exited
        os.killpg(process.pid, signum)


def base_environment(context: HookContext) -> dict[str, str]:
    """What every job process gets: a clean environment, as a container has, plus the emulator's
    endpoint and fake credentials, and this interpreter first on PATH (so `python` means it)."""
    env = {
        name: os.environ[name]
        for name in ("HOME", "LANG", "LC_ALL", "TMPDIR", "TZ", "SYSTEMROOT")
        if name in os.environ
    }
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath)])
    env.update({name.upper(): value for name, value in FAKE_CREDENTIALS.items()})
    env.update(
        AWS_ENDPOINT_URL=context.endpoint_url,
        AWS_DEFAULT_REGION=context.region,
        AWS_REGION=context.region,
        PYTHONUNBUFFERED="1",  # lines reach the logs (and metrics their timestamps) as printed
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env
