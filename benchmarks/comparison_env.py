"""A separate virtual environment for a tool the benchmarks compare against (MLflow, Evidently).

Such tools are never project dependencies: each is installed once into its own venv under
``.cache/bench`` (git-ignored) with whatever version pip resolves on this interpreter, and reused
afterwards (a stamp file marks a finished install).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path  # noqa: TC003  # a dataclass field's type, read at run time

_INSTALL_TIMEOUT_S = 1200


@dataclass(frozen=True)
class ComparisonEnv:
    """A ready environment: its python and the version of the tool installed in it."""

    python: Path
    version: str


@dataclass(frozen=True)
class ComparisonTool:
    """What to install where, and the error that says it could not be."""

    package: str  # the distribution whose version is reported
    requirements: tuple[str, ...]
    venv_dir: Path
    unavailable: type[RuntimeError]
    label: str  # prefixes progress lines, e.g. "registry bench"

    @property
    def python(self) -> Path:
        return self.venv_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")

    @property
    def _stamp(self) -> Path:
        return self.venv_dir / ".cirrus-bench-installed"

    def installed_version(self) -> str:
        """The tool's version in its venv; `unavailable` when it does not import."""
        result = subprocess.run(  # noqa: S603
            [str(self.python), "-c", f"import importlib.metadata as m; print(m.version({self.package!r}))"],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise self.unavailable(
                f"{self.package} does not import in {self.venv_dir}: {result.stderr.strip()[-500:]}"
            )
        return result.stdout.strip()

    def ensure(self) -> ComparisonEnv:
        """The environment, created and installed on first use (progress on stderr), reused afterwards."""
        if self._stamp.exists() and self.python.exists():
            return ComparisonEnv(self.python, self.installed_version())
        wanted = " ".join(self.requirements)
        print(f"{self.label}: creating {self.venv_dir} and installing {wanted} ...", file=sys.stderr)
        self.venv_dir.parent.mkdir(parents=True, exist_ok=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(self.venv_dir)
        env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        try:
            installed = subprocess.run(  # noqa: S603
                [str(self.python), "-m", "pip", "install", "--quiet", *self.requirements],
                capture_output=True,
                text=True,
                check=False,
                env=env,
                timeout=_INSTALL_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired as error:
            raise self.unavailable(f"pip install {wanted} timed out: {error}") from error
        if installed.returncode != 0:
            raise self.unavailable(f"pip install {wanted} failed: {installed.stderr.strip()[-1500:]}")
        version = self.installed_version()
        self._stamp.write_text(json.dumps({self.package: version}) + "\n")
        print(f"{self.label}: installed {self.package} {version}", file=sys.stderr)
        return ComparisonEnv(self.python, version)
