"""A separate virtual environment with Evidently, for the drift benchmark's comparison only.

Evidently is never a project dependency: it is installed here, once, into ``.cache/bench/evidently-venv``
(git-ignored) with whatever version pip resolves on this interpreter, and reused afterwards. The
benchmark runs ``benchmarks/evidently_runner.py`` with that venv's python; the runner imports only
``benchmarks/drift_data.py`` from this repository (numpy only), so both sides see the same data.

``python -m benchmarks.evidently_env`` creates (or checks) the environment and prints its Evidently version.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from benchmarks.comparison_env import ComparisonEnv, ComparisonTool

ROOT = Path(__file__).resolve().parents[1]
VENV_DIR = ROOT / ".cache" / "bench" / "evidently-venv"
RUNNER = Path(__file__).resolve().parent / "evidently_runner.py"
# Evidently 0.7 imports a pandas internal that pandas 3 removed, while its metadata allows pandas 3.
REQUIREMENTS = ("evidently", "numpy", "pandas<3")


EvidentlyEnv = ComparisonEnv


class EvidentlyUnavailable(RuntimeError):
    """Evidently could not be installed or imported (the message says why)."""


TOOL = ComparisonTool("evidently", REQUIREMENTS, VENV_DIR, EvidentlyUnavailable, "drift bench")


def ensure() -> EvidentlyEnv:
    """The environment, created and installed on first use, reused afterwards."""
    return TOOL.ensure()


def run_runner(env: EvidentlyEnv, request: dict[str, Any], *, timeout_s: float = 1800) -> dict[str, Any]:
    """Run the Evidently runner in its environment with a JSON request; return its JSON answer."""
    result = subprocess.run(  # noqa: S603
        [str(env.python), str(RUNNER), json.dumps(request)],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout_s,
        cwd=str(RUNNER.parent),
    )
    if result.returncode != 0:
        raise EvidentlyUnavailable(f"the Evidently runner failed: {result.stderr.strip()[-2000:]}")
    answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


if __name__ == "__main__":
    ready = ensure()
    print(f"evidently {ready.version} at {ready.python}")
