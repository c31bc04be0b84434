"""Deployment size (issue 9): each function's code plus its layers, unzipped, against Lambda's limit.

Lambda allows 250 MB unzipped for a function's code and all its layers together; the science layer
is held to ``SCIENCE_TARGET`` MB of that. Sizes are what ``sam build`` would produce:

- a layer (``AWS::Serverless::LayerVersion``, ``BuildMethod: python3.13``, ``BuildArchitecture:
  arm64``): its ``ContentUri`` directory plus what pip installs from its ``requirements.txt`` for
  that platform, built the same way here: ``pip install --target .cache/bench/layers/<name>/python
  --platform manylinux2014_aarch64 --implementation cp --python-version 3.13 --only-binary=:all:
  -r requirements.txt``, cached (``.cache/`` is git-ignored) and rebuilt when the requirements file
  changes. boto3 comes with the Lambda runtime and no layer lists it, so it is not counted; a
  package pip pulls in as a dependency although the runtime has it (botocore, through aws-xray-sdk)
  is counted, since ``sam build`` deploys it, and named on stderr;
- a function: its ``CodeUri`` directory (Globals merged), which many functions share
  (``functions/<module>/``, and for some the whole module directory including ``steps/``).

``__pycache__`` and ``*.pyc`` are left out, as the Lambda builders leave them out. Without network
for pip, the benchmark stops and says so.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from benchmarks.common import Figure, print_table
from benchmarks.imports import ROOT

if TYPE_CHECKING:
    from pathlib import Path

LAMBDA_LIMIT_MB = 250.0
SCIENCE_TARGET_MB = 130.0
SCIENCE_LAYER = "ScienceLayer"
CACHE = ROOT / ".cache" / "bench" / "layers"
PLATFORM = ("--platform", "manylinux2014_aarch64", "--implementation", "cp", "--python-version", "3.13")
_SKIPPED = {"__pycache__", ".pytest_cache", ".mypy_cache"}
MB = 1024 * 1024
# What the python3.13 runtime ships (/var/runtime): not listed in any layer's requirements.
RUNTIME_PACKAGES = {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py"}


class PipUnavailable(RuntimeError):
    """pip could not build a layer's requirements (no network, or no wheel for the platform)."""


def _log(message: str) -> None:
    print(f"deployment size bench: {message}", file=sys.stderr, flush=True)


def tree_bytes(root: Path) -> int:
    """Bytes of the files under ``root`` that a build keeps (no bytecode caches)."""
    total = 0
    for path in root.rglob("*"):
        if any(part in _SKIPPED for part in path.relative_to(root).parts) or path.suffix == ".pyc":
            continue
        if path.is_file() and not path.is_symlink():
            total += path.stat().st_size
    return total


@dataclass(frozen=True)
class Layer:
    name: str
    content: Path
    requirements: Path | None

    def installed(self) -> Path:
        """The layer's requirements installed for arm64 / Python 3.13, cached until they change."""
        target = CACHE / self.name / "python"
        if self.requirements is None:
            return target
        digest = hashlib.sha256(self.requirements.read_bytes() + " ".join(PLATFORM).encode()).hexdigest()
        stamp = CACHE / self.name / "requirements.sha256"
        if target.is_dir() and stamp.is_file() and stamp.read_text() == digest:
            return target
        shutil.rmtree(CACHE / self.name, ignore_errors=True)
        target.mkdir(parents=True)
        _log(f"{self.name}: pip install -r {self.requirements.relative_to(ROOT)} for arm64 / cp313")
        result = subprocess.run(  # noqa: S603
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-compile",
                "--target",
                str(target),
                *PLATFORM,
                "--only-binary=:all:",
                "-r",
                str(self.requirements),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            shutil.rmtree(CACHE / self.name, ignore_errors=True)
            raise PipUnavailable(
                f"pip could not install {self.requirements.relative_to(ROOT)} for manylinux2014_aarch64 / "
                f"cp313 (no network, or no wheel for the platform?): {result.stderr.strip()[-1200:]}"
            )
        stamp.write_text(digest)
        return target

    def size(self) -> tuple[int, int]:
        """(own code bytes, installed requirements bytes)."""
        installed = self.installed()
        code = tree_bytes(self.content)
        if self.requirements is not None:
            code -= self.requirements.stat().st_size  # sam build does not copy it into the layer
        return code, tree_bytes(installed) if installed.is_dir() else 0


def _layers(template: dict[str, Any]) -> dict[str, Layer]:
    resources = template["Resources"]
    out = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::LayerVersion":
            continue
        content = ROOT / resource["Properties"]["ContentUri"]
        requirements = content / "requirements.txt"
        out[logical_id] = Layer(logical_id, content, requirements if requirements.is_file() else None)
    return out


def run() -> list[Figure]:
    from cirrus.template import load_template

    template = load_template()
    layers = _layers(template)
    sizes: dict[str, int] = {}
    for name, layer in layers.items():
        code, installed = layer.size()
        sizes[name] = code + installed
        _log(
            f"{name}: {(code + installed) / MB:.1f} MB unzipped = its code {code / MB:.2f} MB + "
            f"requirements {installed / MB:.1f} MB"
        )
        runtime_owned = [
            f"{path.name} {tree_bytes(path) / MB:.1f} MB"
            for path in sorted(layer.installed().glob("*"))
            if path.is_dir() and path.name in RUNTIME_PACKAGES
        ]
        if runtime_owned:
            _log(
                f"{name}: pip brought packages the runtime already has, counted as they are deployed "
                f"(and shadow the runtime's copies on sys.path): {', '.join(runtime_owned)}"
            )
        biggest = sorted(
            ((tree_bytes(p), p.name) for p in layer.installed().iterdir() if p.is_dir()), reverse=True
        )[:6]
        _log(f"{name}: largest installed packages: " + ", ".join(f"{n} {b / MB:.1f} MB" for b, n in biggest))

    function_globals = template.get("Globals", {}).get("Function", {})
    code_sizes: dict[str, int] = {}
    totals: dict[str, tuple[int, str, list[str]]] = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        own = resource.get("Properties", {})
        code_uri = own.get("CodeUri", function_globals.get("CodeUri"))
        names = [ref["Ref"] for ref in [*function_globals.get("Layers", []), *own.get("Layers", [])]]
        if code_uri not in code_sizes:
            code_sizes[code_uri] = tree_bytes(ROOT / code_uri)
        totals[logical_id] = (code_sizes[code_uri] + sum(sizes[n] for n in names), code_uri, names)

    for code_uri, size in sorted(code_sizes.items()):
        _log(f"CodeUri {code_uri}: {size / 1024:.0f} KB")
    for logical_id, (total, code_uri, names) in sorted(totals.items(), key=lambda item: -item[1][0])[:5]:
        _log(f"function {logical_id}: {total / MB:.1f} MB ({code_uri} + {' + '.join(names)})")

    limit = f"Lambda limit {LAMBDA_LIMIT_MB:.0f}"
    rows = [
        Figure(
            "deployment size: Lambda's unzipped limit, function + layers (baseline)", "MB", [LAMBDA_LIMIT_MB]
        )
    ]
    for name, size in sizes.items():
        rows.append(
            Figure(f"deployment size: layer {name}, unzipped", "MB", [size / MB], limit, LAMBDA_LIMIT_MB)
        )
    if SCIENCE_LAYER in sizes:
        rows.append(
            Figure(
                f"deployment size: layer {SCIENCE_LAYER} (target <= {SCIENCE_TARGET_MB:.0f} MB)",
                "MB",
                [sizes[SCIENCE_LAYER] / MB],
                f"target {SCIENCE_TARGET_MB:.0f}",
                SCIENCE_TARGET_MB,
                1.0,
            )
        )
    largest_code = max(code_sizes, key=lambda uri: code_sizes[uri])
    rows.append(
        Figure(
            f"deployment size: largest function code ({largest_code})",
            "MB",
            [code_sizes[largest_code] / MB],
            limit,
            LAMBDA_LIMIT_MB,
        )
    )
    largest = max(totals, key=lambda logical_id: totals[logical_id][0])
    total, code_uri, names = totals[largest]
    rows.append(
        Figure(
            f"deployment size: largest function total, {largest} ({' + '.join(names)})",
            "MB",
            [total / MB],
            limit,
            LAMBDA_LIMIT_MB,
            1.0,
        )
    )
    return rows


def main() -> None:
    try:
        rows = run()
    except PipUnavailable as error:
        _log(f"FAILED: {error}")
        raise SystemExit(1) from error
    print_table(rows)


if __name__ == "__main__":
    main()
