"""Cold start of every function (issue 9): its handler module's import time against ``import boto3``.

Every ``AWS::Serverless::Function`` of template.yaml (Globals merged as SAM merges them) is imported
the way Lambda imports it: a fresh interpreter whose ``sys.path`` starts with the function's
``CodeUri`` (Lambda's ``/var/task``) then its layers' ``ContentUri`` (``/opt/python``), working
directory the code directory, the handler module imported by its top-level name; the environment is
``benchmarks.imports.lambda_environment`` (the unit tests' settings, the runtime's variables for this
function) plus the function's own ``Environment`` (intrinsics resolved to the tests' values or a
placeholder), tracing on (``Tracing: Active``). The interpreter's start is excluded. The layers'
installed requirements (Powertools, pydantic, cedarpy, numpy) and the runtime's boto3 come from this
interpreter's site-packages; bytecode is compiled beforehand (the runtime's boto3 ships its .pyc).

Each function is imported ``COLD_START_RUNS`` times (default 3), rounds alternating over every
function with ``import boto3`` interleaved (every ``BASELINE_EVERY`` functions), so machine load
affects both alike; medians, min and max. The clock is the probe process's CPU time over the imports
(``COLD_START_CLOCK=wall`` for ``time.perf_counter``): an import is CPU-bound and a Lambda's init has
its core to itself, whereas on a shared machine the wall clock mostly measures the wait for a core.
A function's ratio is to the median of the ``import boto3`` runs taken next to its own (the
machine's load drifts over a run of minutes when it is shared).

First call: when a handler leaves imports to its first invocation (the drift engine, the lazy
imports inside the wiring functions the handler module imports), a second row imports the handler
and then those modules: deferring work that every invocation needs moves the cost, it does not
remove it, so that row is the one held to the target.

Targets (issue 9): API handlers (functions with an ``Api`` event) at most ``API_TARGET`` x import
boto3; drift functions (the science layer) at most ``DRIFT_TARGET`` x; other functions (steps,
EventBridge and queue consumers) are shown without a target. Every function's row goes in the table;
stderr adds the per-group worst and median, every miss, and for the worst of each group the time per
top-level package (``-X importtime``, self times summed).
"""

from __future__ import annotations

import ast
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from benchmarks.common import Figure, print_table
from benchmarks.imports import ROOT, ImportRun, import_seconds, lambda_environment, package_times

if TYPE_CHECKING:
    from pathlib import Path

RUNS = int(os.environ.get("COLD_START_RUNS", "3"))
# "cpu" (default): the probe process's CPU time, which others' load on a shared machine does not
# inflate (an import is CPU-bound; a Lambda's init has its core to itself); "wall": perf_counter.
CLOCK = os.environ.get("COLD_START_CLOCK", "cpu")
BASELINE_EVERY = 6
BASELINE = "boto3"
API_TARGET = 1.6
DRIFT_TARGET = 2.5
SCIENCE_LAYER_DIR = "layers/science"

# What a first invocation imports besides the lazy imports of the wiring functions the handler module
# imports (found by reading their source): the drift engine, imported by methods deeper down.
FIRST_CALL_IMPORTS: dict[str, tuple[str, ...]] = {
    "run_drift_check": (
        "cirrus_science.drift.baseline",
        "cirrus_science.drift.config",
        "cirrus_science.drift.engine",
        "cirrus_science.drift.report",
    ),
    "create_baseline": ("cirrus_science.drift.baseline",),
    "profile_baseline": ("cirrus_science.drift.baseline",),
}

_STARTED = time.perf_counter()


def _log(message: str) -> None:
    print(
        f"cold start bench [{time.perf_counter() - _STARTED:4.0f} s]: {message}", file=sys.stderr, flush=True
    )


@dataclass(frozen=True)
class Function:
    """One function of the template, as Lambda would load it."""

    logical_id: str
    code_dir: Path
    module: str
    layers: tuple[Path, ...]
    variables: dict[str, str]
    api: bool
    drift: bool
    first_call: tuple[str, ...]

    @property
    def group(self) -> str:
        return "drift" if self.drift else "api" if self.api else "other"

    @property
    def target(self) -> float | None:
        return DRIFT_TARGET if self.drift else API_TARGET if self.api else None


def _placeholder(name: str, value: Any, template: dict[str, Any], known: dict[str, str]) -> str:
    """A template value as a string: literals as they are, intrinsics as the tests' value of the same
    variable, a parameter's default, or a name shaped like the resource's."""
    if isinstance(value, str | int | float | bool):
        return str(value).lower() if isinstance(value, bool) else str(value)
    if name in known:
        return known[name]
    if isinstance(value, dict) and "Ref" in value:
        parameter = template.get("Parameters", {}).get(value["Ref"])
        if parameter is not None:
            return str(parameter.get("Default", ""))
        return f"cirrus-dev-{value['Ref']}"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        logical = target[0] if isinstance(target, list) else str(target).split(".")[0]
        return f"arn:aws:lambda:us-east-1:123456789012:function:cirrus-dev-{logical}"
    return f"cirrus-dev-{name.lower()}"


def _module_file(module: str, roots: tuple[Path, ...]) -> Path | None:
    for root in roots:
        base = root.joinpath(*module.split("."))
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def _lazy_imports(handler: Path, roots: tuple[Path, ...]) -> tuple[str, ...]:
    """Modules imported inside the bodies of the functions the handler module imports from the
    layers (the wiring functions its route calls), inside the functions of the same module those
    call, and inside what those import in turn (a few levels deep)."""
    found: list[str] = []
    seen: set[tuple[str, str]] = set()

    def follow(module: str, name: str, depth: int) -> None:
        if (module, name) in seen or depth > 4:
            return
        seen.add((module, name))
        path = _module_file(module, roots)
        if path is None:
            return
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == name:
                for inner in ast.walk(node):
                    if isinstance(inner, ast.ImportFrom) and inner.module and inner.level == 0:
                        if inner.module not in found:
                            found.append(inner.module)
                        for alias in inner.names:
                            follow(inner.module, alias.name, depth + 1)
                    elif isinstance(inner, ast.Import):
                        found.extend(alias.name for alias in inner.names if alias.name not in found)
                    elif isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name):
                        follow(module, inner.func.id, depth + 1)  # a wiring function calling another

    source = handler.read_text(encoding="utf-8")
    # The API entry point's lazy imports are the refusal path (a denial's audit record) and, for
    # idempotent routes only, the idempotency layer, which those routes need at every call.
    seen.update({("cirrus_core.api", "entrypoint"), ("cirrus_core.api", "_audit_denial")})
    if "idempotent=True" in source:
        found.append("cirrus_core.idempotency")
    for node in ast.parse(source).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cirrus_"):
            for alias in node.names:
                follow(node.module, alias.name, 0)
    return tuple(found)


def template_functions() -> list[Function]:
    """Every serverless function of template.yaml, Globals merged (Environment, Layers) as SAM does."""
    from cirrus.template import load_template
    from tests.support.aws import environment

    template = load_template()
    known = environment()
    function_globals = template.get("Globals", {}).get("Function", {})
    resources = template["Resources"]
    out = []
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        own = resource.get("Properties", {})
        properties = {**function_globals, **own}
        # SAM appends a function's list to the Globals' list and merges maps key by key.
        layer_refs = [*function_globals.get("Layers", []), *own.get("Layers", [])]
        layers = []
        for ref in layer_refs:
            layer = resources[ref["Ref"]]["Properties"]["ContentUri"]
            layers.append(ROOT / layer)
        variables = {
            **function_globals.get("Environment", {}).get("Variables", {}),
            **own.get("Environment", {}).get("Variables", {}),
        }
        code_dir = ROOT / properties["CodeUri"]
        module = properties["Handler"].rpartition(".")[0]
        roots = (code_dir, *layers)
        out.append(
            Function(
                logical_id=logical_id,
                code_dir=code_dir,
                module=module,
                layers=tuple(layers),
                variables={
                    key: _placeholder(key, value, template, known) for key, value in variables.items()
                },
                api=any(event.get("Type") == "Api" for event in properties.get("Events", {}).values()),
                drift=any(layer == ROOT / SCIENCE_LAYER_DIR for layer in layers)
                or module in FIRST_CALL_IMPORTS,
                first_call=(
                    *_lazy_imports(code_dir / f"{module}.py", roots),
                    *FIRST_CALL_IMPORTS.get(module, ()),
                ),
            )
        )
    return out


def function_environment(function: Function) -> dict[str, str]:
    """The environment of a deployed ``function`` while its handler module is imported."""
    runtime = {
        "LAMBDA_TASK_ROOT": "/var/task",
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "AWS_LAMBDA_FUNCTION_NAME": f"cirrus-dev-{function.logical_id}",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_REGION": "us-east-1",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
        "_HANDLER": f"{function.module}.lambda_handler",
    }
    env = lambda_environment(runtime, function.variables)
    env.pop("POWERTOOLS_TRACE_DISABLED", None)  # Tracing: Active: the tracer and X-Ray SDK load
    return env


def _compile(functions: list[Function]) -> None:
    """Bytecode for every code and layer directory, so no run pays for compiling."""
    directories = sorted({str(f.code_dir) for f in functions} | {str(p) for f in functions for p in f.layers})
    subprocess.run(  # noqa: S603
        [sys.executable, "-m", "compileall", "-q", *directories], check=False, capture_output=True
    )


@dataclass
class Measured:
    function: Function
    handler: list[float]
    first_call: list[float]
    # The import boto3 run nearest before each of this function's runs: the machine's load then.
    adjacent: list[float]
    error: str | None = None


def _ms(outcome: ImportRun) -> float:
    return (outcome.cpu_seconds if CLOCK == "cpu" else outcome.seconds) * 1000


def measure(functions: list[Function], runs: int) -> tuple[list[float], list[Measured]]:
    """Milliseconds per import: ``import boto3`` interleaved with every function's, ``runs`` rounds."""
    base_env = lambda_environment()
    base_env.pop("POWERTOOLS_TRACE_DISABLED", None)
    baseline: list[float] = []
    results = [Measured(function, [], [], []) for function in functions]

    def probe_baseline() -> None:
        outcome = import_seconds((BASELINE,), base_env)
        if isinstance(outcome, str):
            raise RuntimeError(f"import {BASELINE} failed: {outcome}")
        baseline.append(_ms(outcome))

    for round_number in range(runs):
        _log(f"round {round_number + 1}/{runs}: {len(functions)} functions")
        for index, measured in enumerate(results):
            if index % BASELINE_EVERY == 0:
                probe_baseline()
            function = measured.function
            if measured.error is not None:
                continue
            env = function_environment(function)
            paths: list[tuple[tuple[str, ...], list[float]]] = [((function.module,), measured.handler)]
            if function.first_call:
                paths.append(((function.module, *function.first_call), measured.first_call))
            for modules, samples in paths:
                outcome = import_seconds(
                    modules, env, path=(function.code_dir, *function.layers), cwd=function.code_dir
                )
                if isinstance(outcome, str):
                    measured.error = outcome
                    break
                samples.append(_ms(outcome))
            if measured.error is None:
                measured.adjacent.append(baseline[-1])
    probe_baseline()
    return baseline, results


def _first_call_adds(measured: Measured) -> bool:
    """Whether the first call's imports add anything measurable (1 ms) to the handler's import."""
    return bool(measured.first_call) and (
        statistics.median(measured.first_call) - statistics.median(measured.handler) > 1.0
    )


def _judged(measured: Measured) -> list[float]:
    return measured.first_call if _first_call_adds(measured) else measured.handler


def _base(measured: Measured) -> float:
    """The baseline a function is compared with: the median of the import boto3 runs taken next to
    its own runs (within ``BASELINE_EVERY`` functions), which follows the machine's load better than
    one median over the whole run when others share the machine."""
    return statistics.median(measured.adjacent)


def figures(baseline: list[float], results: list[Measured]) -> list[Figure]:
    base = Figure(f"cold start: import {BASELINE} (baseline, all runs)", "ms", baseline)
    out = [base]
    for measured in sorted(results, key=lambda m: (m.function.group, m.function.logical_id)):
        function = measured.function
        if measured.error is not None:
            continue
        target = f"<={function.target}" if function.target else "no target"
        name = f"cold start [{function.group} {target}] {function.logical_id}"
        out.append(Figure(name, "ms", measured.handler, BASELINE, _base(measured), function.target))
        if _first_call_adds(measured):
            out.append(
                Figure(
                    f"{name} + first call",
                    "ms",
                    measured.first_call,
                    BASELINE,
                    _base(measured),
                    function.target,
                )
            )
    return out


def summary(baseline: list[float], results: list[Measured], *, breakdown: bool = True) -> None:
    for measured in results:
        if measured.error is not None:
            _log(
                f"CANNOT IMPORT {measured.function.logical_id} ({measured.function.module}): {measured.error}"
            )
    ok = [m for m in results if m.error is None]
    for group in ("api", "drift", "other"):
        members = sorted(
            (m for m in ok if m.function.group == group), key=lambda m: -statistics.median(_judged(m))
        )
        if not members:
            continue
        ratios = [statistics.median(_judged(m)) / _base(m) for m in members]
        floor = [min(_judged(m)) / min(baseline) for m in members]
        target = members[0].function.target
        misses = [(m, r) for m, r in zip(members, ratios, strict=True) if target and r > target]
        _log(
            f"{group} ({len(members)} functions): worst x{ratios[0]:.2f} ({members[0].function.logical_id}), "
            f"median x{statistics.median(ratios):.2f} (fastest run / fastest boto3: worst x{max(floor):.2f}, "
            f"median x{statistics.median(floor):.2f})"
            + (f", target <= {target}: {len(misses)} miss it" if target else ", no target")
            + (": " + ", ".join(f"{m.function.logical_id} x{r:.2f}" for m, r in misses) if misses else "")
        )
        if breakdown:
            worst = members[0].function
            modules = (worst.module, *worst.first_call) if _first_call_adds(members[0]) else (worst.module,)
            times = package_times(
                modules, function_environment(worst), path=(worst.code_dir, *worst.layers), cwd=worst.code_dir
            )
            _log(
                f"{group} worst, {worst.logical_id}: ms per top-level package (-X importtime, self times "
                "summed, one run): " + ", ".join(f"{name} {ms:.0f}" for name, ms in list(times.items())[:14])
            )


def print_per_function(results: list[Measured]) -> None:
    """Every function's median ratio on stderr, worst first (the table has them by group)."""
    ratios = {
        m.function.logical_id: (m.function.group, statistics.median(_judged(m)) / _base(m))
        for m in results
        if m.error is None
    }
    for logical_id, (group, ratio) in sorted(ratios.items(), key=lambda item: -item[1][1]):
        print(f"  {group:<5} x{ratio:5.2f}  {logical_id}", file=sys.stderr)


def run() -> list[Figure]:
    global _STARTED  # the log's clock starts with this benchmark, not with the import
    started = _STARTED = time.perf_counter()
    functions = template_functions()
    only = os.environ.get("COLD_START_ONLY")  # comma-separated logical ids or handler modules
    if only:
        wanted = set(only.split(","))
        functions = [f for f in functions if f.logical_id in wanted or f.module in wanted]
    _log(
        f"{len(functions)} functions, {RUNS} fresh interpreters each, import {BASELINE} interleaved; "
        f"clock: {'process CPU time' if CLOCK == 'cpu' else 'wall (perf_counter)'}"
    )
    _log(f"load average at the start: {', '.join(f'{load:.1f}' for load in os.getloadavg())}")
    _compile(functions)
    baseline, results = measure(functions, RUNS)
    summary(baseline, results)
    _log(f"load average at the end: {', '.join(f'{load:.1f}' for load in os.getloadavg())}")
    print_per_function(results)
    _log(f"took {time.perf_counter() - started:.0f} s")
    return figures(baseline, results)


def main() -> None:
    print_table(run())


if __name__ == "__main__":
    main()
