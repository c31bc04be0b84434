"""Runs a registered Python transformation module in a child process.

The child gets no environment of the parent: no AWS credentials, no settings, nothing but the module
search path (so it finds DuckDB, pandas or polars) and a few fixed variables; its working directory and
HOME are a scratch directory. It loads the inputs' Parquet parts as frames of the declared engine (pandas
through DuckDB, because the frames layer has no pyarrow; polars with its own reader), calls
`entrypoint(inputs, parameters)`, checks that it returned a DataFrame of that engine, writes it as one
Parquet file and exits. A timeout kills its whole process group. On failure the error carries the tail
of what the child wrote to stderr (its traceback).

The parent side imports nothing heavy; `python -m cirrus_frames.python_runner <request.json>` is the
child.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess  # runs the registered transformation module in a child of its own  # nosec B404
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from cirrus_core.errors import TransformationFailed

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

STDERR_TAIL_CHARS: Final = 2000
_REQUEST = "request.json"
# Exit code of a child that ran the module but refuses what it returned (or could not load the inputs).
_REFUSED: Final = 3


@dataclass(frozen=True)
class PythonJob:
    """What the child runs: the module file, its entry point and engine, the inputs and the output."""

    module: Path
    entrypoint: str
    engine: str
    inputs: Mapping[str, Sequence[Path]]
    output: Path
    parameters: Mapping[str, Any] = field(default_factory=dict)
    row_group_rows: int = 100_000


def child_environment(work_dir: Path) -> dict[str, str]:
    """The child's whole environment: the module path and fixed, non-secret variables only."""
    return {
        "PYTHONPATH": os.pathsep.join(entry for entry in sys.path if entry),
        "HOME": str(work_dir),
        "TMPDIR": str(work_dir),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": "1",
    }


def run_python(job: PythonJob, *, work_dir: Path, timeout_seconds: float) -> None:
    """Run the job in a child process; TransformationFailed with the child's error if it fails."""
    work_dir.mkdir(parents=True, exist_ok=True)
    job.output.parent.mkdir(parents=True, exist_ok=True)
    request = work_dir / _REQUEST
    request.write_text(
        json.dumps(
            {
                "module": str(job.module),
                "entrypoint": job.entrypoint,
                "engine": job.engine,
                "inputs": {alias: [str(path) for path in paths] for alias, paths in job.inputs.items()},
                "parameters": dict(job.parameters),
                "output": str(job.output),
                "row_group_rows": job.row_group_rows,
            }
        ),
        encoding="utf-8",
    )
    stdout, stderr = work_dir / "stdout.log", work_dir / "stderr.log"
    command = [sys.executable, "-m", "cirrus_frames.python_runner", str(request)]
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(  # noqa: S603  # nosec B603 - our own interpreter and module, no shell
            command,
            cwd=work_dir,
            env=child_environment(work_dir),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        try:
            code = process.wait(timeout=timeout_seconds)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise TransformationFailed(
                f"The Python transformation did not finish within {int(timeout_seconds)} s and was stopped."
            ) from None
    if code != 0:
        tail = _tail(stderr)
        what = "refused its result" if code == _REFUSED else f"failed (exit code {code})"
        raise TransformationFailed(f"The Python transformation {what}:\n{tail}".rstrip())
    if not job.output.is_file():
        raise TransformationFailed("The Python transformation wrote no output.")


def _tail(path: Path) -> str:
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - STDERR_TAIL_CHARS * 4))
        text = handle.read().decode("utf-8", errors="replace")
    return text[-STDERR_TAIL_CHARS:].strip()


# -- the child ------------------------------------------------------------------------------------------


class _Refused(Exception):
    """The child cannot go on: a message for the parent, without a traceback."""


def _scan(paths: Sequence[str]) -> str:
    quoted = ", ".join("'" + path.replace("'", "''") + "'" for path in paths)
    return f"read_parquet([{quoted}])"


def _load(engine: str, paths: Sequence[str]) -> Any:
    if engine == "polars":
        try:
            import polars as pl
        except ImportError:
            raise _Refused(
                "polars is not installed where this transformation runs: use engine pandas."
            ) from None
        return pl.read_parquet(list(paths)) if paths else pl.DataFrame()
    import duckdb

    if not paths:
        import pandas as pd

        return pd.DataFrame()
    return duckdb.connect().sql(f"SELECT * FROM {_scan(paths)}").df()  # noqa: S608  # nosec B608 - quoted paths


def _write(engine: str, frame: Any, output: str, row_group_rows: int) -> None:
    if engine == "polars":
        import polars as pl

        if isinstance(frame, pl.LazyFrame):
            raise _Refused("the entry point returned a polars LazyFrame: return frame.collect().")
        if not isinstance(frame, pl.DataFrame):
            raise _Refused(f"the entry point returned {type(frame).__name__}, not a polars DataFrame.")
        # polars writes Parquet itself: DuckDB would read a polars frame through pyarrow.
        frame.write_parquet(output, compression="zstd", row_group_size=row_group_rows)
        return
    import duckdb
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise _Refused(f"the entry point returned {type(frame).__name__}, not a pandas DataFrame.")
    connection = duckdb.connect(config={"threads": 1})
    connection.register("result_frame", frame)
    target = output.replace("'", "''")
    options = f"FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {int(row_group_rows)}"
    connection.execute(f"COPY result_frame TO '{target}' ({options})")


def _child(request_path: str) -> int:
    import importlib.util

    request = json.loads(Path(request_path).read_text(encoding="utf-8"))
    engine = request["engine"]
    try:
        inputs = {alias: _load(engine, paths) for alias, paths in request["inputs"].items()}
        spec = importlib.util.spec_from_file_location("cirrus_transformation", request["module"])
        if spec is None or spec.loader is None:
            raise _Refused("the module cannot be loaded.")
        module = importlib.util.module_from_spec(spec)
        sys.modules["cirrus_transformation"] = module
        spec.loader.exec_module(module)
        entrypoint = getattr(module, request["entrypoint"], None)
        if not callable(entrypoint):
            raise _Refused(f"the module defines no function {request['entrypoint']}.")
        result = entrypoint(inputs, request["parameters"])
        _write(engine, result, request["output"], int(request["row_group_rows"]))
    except _Refused as refusal:
        sys.stderr.write(f"{refusal}\n")
        return _REFUSED
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1]))
