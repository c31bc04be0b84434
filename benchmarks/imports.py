"""Import-time measurement shared by the cold-start benchmarks (``drift``, ``cold_start``).

A probe imports modules in a fresh interpreter (``time.perf_counter`` around
``importlib.import_module``; the interpreter's own start is excluded), with a Lambda-like
environment (``lambda_environment``) and, optionally, a Lambda-like ``sys.path``: the function's code
directory first (``/var/task``), then its layers' directories (``/opt/python``), then the
interpreter's own paths, which stand in for the layers' installed requirements and the runtime's
boto3. ``-X importtime`` says where the time goes (``heaviest_imports``, ``package_times``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# What the Lambda runtime sets and libraries look at while importing: with LAMBDA_TASK_ROOT the X-Ray
# SDK takes its Lambda path (the invocation's sampling decision) instead of building a botocore
# client for centralised sampling rules at import, which a function never does.
LAMBDA_RUNTIME = {
    "LAMBDA_TASK_ROOT": "/var/task",
    "AWS_LAMBDA_FUNCTION_NAME": "cirrus-dev-RunDriftCheckFunction",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
    "_HANDLER": "run_drift_check.lambda_handler",
}

# The probe: argv[1] is the sys.path prefix (os.pathsep-separated, may be empty), argv[2] the
# modules to report as present afterwards (comma-separated), the rest the modules to import.
_IMPORT_PROBE = """
import importlib, os, sys, time
prefix = [entry for entry in sys.argv[1].split(os.pathsep) if entry]
if prefix:
    cwd = os.getcwd()
    sys.path[:] = prefix + [entry for entry in sys.path if entry not in ("", cwd)]
started, cpu_started = time.perf_counter(), time.process_time()
for module in sys.argv[3:]:
    importlib.import_module(module)
elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
print(elapsed, cpu, ",".join(name for name in sys.argv[2].split(",") if name and name in sys.modules))
"""

_IMPORTTIME_PROBE = """
import importlib, os, sys
prefix = [entry for entry in sys.argv[1].split(os.pathsep) if entry]
if prefix:
    cwd = os.getcwd()
    sys.path[:] = prefix + [entry for entry in sys.path if entry not in ("", cwd)]
for module in sys.argv[2:]:
    importlib.import_module(module)
"""


def lambda_environment(
    runtime: dict[str, str] | None = None, variables: dict[str, str] | None = None
) -> dict[str, str]:
    """The process environment plus what a deployed function has: the unit tests' settings, the
    template's globals that change imports, the runtime's own variables (``LAMBDA_RUNTIME``, or
    ``runtime``) and the function's own ``variables``."""
    from tests.support.aws import environment

    env = {
        **os.environ,
        **environment(),
        **(runtime if runtime is not None else LAMBDA_RUNTIME),
        "POWERTOOLS_SERVICE_NAME": "cirrus-monitoring",
        # template.yaml's Globals set it for every function (no pydantic plugin is used).
        "PYDANTIC_DISABLE_PLUGINS": "1",
        **(variables or {}),
    }
    env.pop("PYTHONPATH", None)
    return env


@dataclass(frozen=True)
class ImportRun:
    """One probe's outcome: seconds spent importing (wall clock, and the process's CPU time, which
    waiting for a core on a shared machine does not inflate), and which watched modules came along."""

    seconds: float
    cpu_seconds: float
    present: frozenset[str]


def import_seconds(
    modules: tuple[str, ...],
    env: dict[str, str],
    *,
    path: tuple[Path, ...] = (),
    cwd: Path = ROOT,
    watch: tuple[str, ...] = ("scipy.stats",),
) -> ImportRun | str:
    """Seconds to import ``modules`` in a fresh interpreter (``path`` first on sys.path, the
    working directory off it), or why it failed."""
    result = subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-c",
            _IMPORT_PROBE,
            os.pathsep.join(map(str, path)),
            ",".join(watch),
            *modules,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        check=False,
    )
    if result.returncode != 0:
        return result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "failed"
    seconds, cpu, *present = result.stdout.split()
    return ImportRun(float(seconds), float(cpu), frozenset(present[0].split(",") if present else ()))


def _importtime(
    modules: tuple[str, ...], env: dict[str, str], path: tuple[Path, ...], cwd: Path
) -> list[tuple[str, float, float]]:
    """``-X importtime`` of ``modules``: (module, self ms, cumulative ms) per imported module."""
    result = subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-X",
            "importtime",
            "-c",
            _IMPORTTIME_PROBE,
            os.pathsep.join(map(str, path)),
            *modules,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        check=False,
    )
    rows = []
    for line in result.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue
        rows.append((parts[2].strip(), int(parts[0]) / 1000, int(parts[1]) / 1000))
    return rows


def package_times(
    modules: tuple[str, ...], env: dict[str, str], *, path: tuple[Path, ...] = (), cwd: Path = ROOT
) -> dict[str, float]:
    """Milliseconds of module bodies per top-level package (self times summed: no double counting),
    heaviest first."""
    totals: dict[str, float] = {}
    for name, own, _ in _importtime(modules, env, path, cwd):
        package = name.split(".")[0]
        totals[package] = totals.get(package, 0.0) + own
    return dict(sorted(totals.items(), key=lambda item: -item[1]))


def heaviest_imports(
    modules: tuple[str, ...],
    env: dict[str, str],
    top: int = 6,
    *,
    path: tuple[Path, ...] = (),
    cwd: Path = ROOT,
) -> str:
    """Where an import path's time goes (-X importtime): the slowest module bodies (self time) and
    the heaviest top-level packages (cumulative)."""
    own: dict[str, float] = {}
    packages: dict[str, float] = {}
    for name, self_ms, cumulative_ms in _importtime(modules, env, path, cwd):
        own[name] = self_ms
        if "." not in name:
            packages[name] = max(packages.get(name, 0.0), cumulative_ms)

    def listed(times: dict[str, float]) -> str:
        ranked = sorted(times.items(), key=lambda item: -item[1])[:top]
        return ", ".join(f"{name} {ms:.0f}" for name, ms in ranked)

    return (
        f"slowest module bodies (ms): {listed(own)}; heaviest packages (ms, cumulative): {listed(packages)}"
    )
