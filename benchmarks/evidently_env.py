"""A separate virtual environment with Evidently, for the drift benchmark's comparison only.

Evidently is never a project dependency: it is installed here, once, into ``.cache/bench/evidently-venv``
(git-ignored) with whatever version pip resolves on this interpreter, and reused afterwards. The
benchmark runs ``benchmarks/evidently_runner.py`` with that venv's python; the runner imports only
``benchmarks/drift_data.py`` from this repository (numpy only), so both sides see the same data.

``python -m benchmarks.evidently_env`` creates (or checks) the environment and prints its Evidently version.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VENV_DIR = ROOT / ".cache" / "bench" / "evidently-venv"
RUNNER = Path(__file__).resolve().parent / "evidently_runner.py"
# Evidently 0.7 imports a pandas internal that pandas 3 removed, while its metadata allows pandas 3.
REQUIREMENTS = ("evidently", "numpy", "pandas<3")
_STAMP = VENV_DIR / ".cirrus-bench-installed"
_INSTALL_TIMEOUT_S = 1200


@dataclass(frozen=True)
class EvidentlyEnv:
    """A ready environment: its python and the Evidently version installed in it."""

    python: Path
    version: str


class EvidentlyUnavailable(RuntimeError):
    """Evidently could not be installed or imported (the message says why)."""


def _python() -> Path:
    return VENV_DIR / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _installed_version(python: Path) -> str:
    result = subprocess.run(  # noqa: S603
        [str(python), "-c", "import importlib.metadata as m; print(m.version('evidently'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise EvidentlyUnavailable(f"evidently does not import in {VENV_DIR}: {result.stderr.strip()[-500:]}")
    return result.stdout.strip()


def ensure() -> EvidentlyEnv:
    """The environment, created and installed on first use (progress on stderr), reused afterwards."""
    python = _python()
    if _STAMP.exists() and python.exists():
        return EvidentlyEnv(python, _installed_version(python))
    print(f"drift bench: creating {VENV_DIR} and installing {' '.join(REQUIREMENTS)} ...", file=sys.stderr)
    VENV_DIR.parent.mkdir(parents=True, exist_ok=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(VENV_DIR)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    try:
        installed = subprocess.run(  # noqa: S603
            [str(python), "-m", "pip", "install", "--quiet", *REQUIREMENTS],
            capture_output=True,
            text=True,
            check=False,
            env=env,
            timeout=_INSTALL_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as error:
        raise EvidentlyUnavailable(f"pip install {' '.join(REQUIREMENTS)} timed out: {error}") from error
    if installed.returncode != 0:
        raise EvidentlyUnavailable(
            f"pip install {' '.join(REQUIREMENTS)} failed: {installed.stderr.strip()[-1500:]}"
        )
    version = _installed_version(python)
    _STAMP.write_text(json.dumps({"evidently": version}) + "\n")
    print(f"drift bench: installed evidently {version}", file=sys.stderr)
    return EvidentlyEnv(python, version)


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
