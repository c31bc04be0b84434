"""A separate virtual environment with MLflow, for the registry benchmark's comparison only.

MLflow is never a project dependency: the full ``mlflow`` package (``mlflow-skinny`` lacks the tracking
server) is installed here, once, into ``.cache/bench/mlflow-venv`` (git-ignored) with whatever version
pip resolves on this interpreter, and reused afterwards. ``server()`` starts ``mlflow server`` on a
SQLite backend store in a temporary directory, on a free loopback port, and waits until it answers.

``python -m benchmarks.mlflow_env`` creates (or checks) the environment and prints its MLflow version.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import requests

from benchmarks.comparison_env import ComparisonEnv, ComparisonTool

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

ROOT = Path(__file__).resolve().parents[1]
VENV_DIR = ROOT / ".cache" / "bench" / "mlflow-venv"
REQUIREMENTS = ("mlflow",)
_START_TIMEOUT_S = 120.0


MlflowEnv = ComparisonEnv


@dataclass(frozen=True)
class MlflowServer:
    """A running tracking server: its base URL and the command line that started it."""

    url: str
    command: tuple[str, ...]


class MlflowUnavailable(RuntimeError):
    """MLflow could not be installed, imported or started (the message says why)."""


TOOL = ComparisonTool("mlflow", REQUIREMENTS, VENV_DIR, MlflowUnavailable, "registry bench")


def ensure() -> MlflowEnv:
    """The environment, created and installed on first use, reused afterwards."""
    return TOOL.ensure()


def free_port() -> int:
    """A loopback port free right now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise MlflowUnavailable(
                f"mlflow server exited with {process.returncode}: {log.read_text()[-2000:]}"
            )
        try:
            if requests.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass  # not listening yet: keep polling until the deadline
        time.sleep(0.25)
    raise MlflowUnavailable(
        f"mlflow server did not answer within {_START_TIMEOUT_S:.0f} s: {log.read_text()[-2000:]}"
    )


@contextmanager
def server(env: MlflowEnv, while_starting: Callable[[], None] = lambda: None) -> Iterator[MlflowServer]:
    """``mlflow server`` on SQLite in a temporary directory, with its default workers; stopped on exit.

    `while_starting` runs after the process is launched and before waiting for it to answer, so a
    caller can start something else while MLflow imports.
    """
    workdir = Path(tempfile.mkdtemp(prefix="cirrus-bench-mlflow-"))
    port = free_port()
    command = (
        str(env.python),
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        f"sqlite:///{workdir / 'mlflow.db'}",
        "--default-artifact-root",
        str(workdir / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    )
    log = workdir / "server.log"
    with log.open("wb") as output:
        # Its own session, so stopping it ends the workers it forks and nothing else.
        process = subprocess.Popen(  # noqa: S603
            command, stdout=output, stderr=subprocess.STDOUT, cwd=str(workdir), start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        while_starting()
        _wait_ready(url, process, log)
        yield MlflowServer(url, command)
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, 15)
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.wait(timeout=15)
    except ProcessLookupError:
        return


if __name__ == "__main__":
    ready = ensure()
    print(f"mlflow {ready.version} at {ready.python}")
