"""Python transformations run in a child process: inputs as frames of the declared engine, the entry
point's frame written as Parquet, no environment of the parent (no AWS credentials), and a clear error
when the module raises, returns something else, or runs too long."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from cirrus_core.errors import TransformationFailed
from cirrus_frames.dataset_files import write_parquet
from cirrus_frames.python_runner import PythonJob, child_environment, run_python


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, list[Path]]:
    """Two inputs: orders (3 rows, in two parts) and customers (2 rows)."""
    connection = duckdb.connect()
    orders = [tmp_path / "orders-0.parquet", tmp_path / "orders-1.parquet"]
    customers = tmp_path / "customers.parquet"
    write = functools.partial(write_parquet, connection, row_group_rows=1000)
    write("SELECT * FROM (VALUES (1, 10, 5.0), (2, 20, 7.5)) t(order_id, customer_id, amount)", orders[0])
    write("SELECT 3 AS order_id, 10 AS customer_id, 2.5 AS amount", orders[1])
    write("SELECT * FROM (VALUES (10, 'FR'), (20, 'DE')) t(customer_id, country)", customers)
    return {"orders": orders, "customers": [customers]}


def job(
    tmp_path: Path, source: str, inputs: dict[str, list[Path]], engine: str = "pandas", **extra: object
) -> PythonJob:
    module = tmp_path / "module" / "transformation.py"
    module.parent.mkdir(parents=True, exist_ok=True)
    module.write_text(textwrap.dedent(source), encoding="utf-8")
    return PythonJob(
        module=module,
        entrypoint=str(extra.get("entrypoint", "transform")),
        engine=engine,
        inputs=inputs,
        output=tmp_path / "output" / "part-00000.parquet",
        parameters=dict(extra.get("parameters", {})),  # type: ignore[call-overload]
    )


def rows(path: Path, order: str) -> list[tuple[object, ...]]:
    return duckdb.connect().execute(f"SELECT * FROM read_parquet('{path}') ORDER BY {order}").fetchall()


PANDAS_JOIN = """
    import pandas as pd

    def transform(inputs, parameters):
        joined = inputs["orders"].merge(inputs["customers"], on="customer_id")
        totals = joined.groupby("country", as_index=False)["amount"].sum()
        totals["amount"] = totals["amount"] * parameters["factor"]
        return totals
"""

POLARS_JOIN = """
    import polars as pl

    def transform(inputs, parameters):
        joined = inputs["orders"].join(inputs["customers"], on="customer_id")
        return joined.group_by("country").agg((pl.col("amount").sum() * parameters["factor"]).alias("amount"))
"""


def test_a_pandas_module_gets_its_inputs_as_frames_and_its_frame_is_written(
    tmp_path: Path, inputs: dict[str, list[Path]]
) -> None:
    given = job(tmp_path, PANDAS_JOIN, inputs, parameters={"factor": 2})

    run_python(given, work_dir=tmp_path / "child", timeout_seconds=120)

    assert rows(given.output, "country") == [("DE", 15.0), ("FR", 15.0)]


def test_a_polars_module_gets_polars_frames(tmp_path: Path, inputs: dict[str, list[Path]]) -> None:
    given = job(tmp_path, POLARS_JOIN, inputs, engine="polars", parameters={"factor": 10})

    run_python(given, work_dir=tmp_path / "child", timeout_seconds=120)

    assert rows(given.output, "country") == [("DE", 75.0), ("FR", 75.0)]


def test_the_child_sees_none_of_the_parents_environment(
    tmp_path: Path, inputs: dict[str, list[Path]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "parent-secret-never-shown")
    monkeypatch.setenv("DATA_TABLE_NAME", "cirrus-data")
    source = """
        import os
        import pandas as pd

        def transform(inputs, parameters):
            names = sorted(os.environ)
            return pd.DataFrame({"name": names, "value": [os.environ[n] for n in names], "cwd": os.getcwd()})
    """
    given = job(tmp_path, source, inputs)

    run_python(given, work_dir=tmp_path / "child", timeout_seconds=120)

    seen = {str(name): str(value) for name, value, _ in rows(given.output, "name")}
    assert not [name for name in seen if name.startswith("AWS_")]
    assert "parent-secret-never-shown" not in seen.values()
    assert "DATA_TABLE_NAME" not in seen
    assert set(seen) <= set(child_environment(tmp_path / "child")) | {"LC_CTYPE"}
    assert rows(given.output, "name")[0][2] == str(tmp_path / "child")


def test_a_module_that_raises_fails_with_its_traceback(tmp_path: Path, inputs: dict[str, list[Path]]) -> None:
    source = """
        def transform(inputs, parameters):
            raise ValueError("amount must be positive")
    """

    with pytest.raises(TransformationFailed) as failed:
        run_python(job(tmp_path, source, inputs), work_dir=tmp_path / "child", timeout_seconds=120)

    assert "failed (exit code 1)" in failed.value.message
    assert "ValueError: amount must be positive" in failed.value.message
    assert "line 3, in transform" in failed.value.message


def test_a_module_that_returns_no_frame_of_its_engine_is_refused(
    tmp_path: Path, inputs: dict[str, list[Path]]
) -> None:
    returns_dict = """
        def transform(inputs, parameters):
            return {"a": [1]}
    """
    returns_pandas = """
        import pandas as pd

        def transform(inputs, parameters):
            return pd.DataFrame({"a": [1]})
    """
    returns_lazy = """
        def transform(inputs, parameters):
            return inputs["orders"].lazy()
    """

    with pytest.raises(TransformationFailed, match="returned dict, not a pandas DataFrame"):
        run_python(job(tmp_path, returns_dict, inputs), work_dir=tmp_path / "a", timeout_seconds=120)
    with pytest.raises(TransformationFailed, match="returned DataFrame, not a polars DataFrame"):
        run_python(
            job(tmp_path, returns_pandas, inputs, "polars"), work_dir=tmp_path / "b", timeout_seconds=120
        )
    with pytest.raises(TransformationFailed, match=r"LazyFrame: return frame.collect\(\)"):
        run_python(
            job(tmp_path, returns_lazy, inputs, "polars"), work_dir=tmp_path / "c", timeout_seconds=120
        )


def test_a_module_that_runs_too_long_is_stopped(tmp_path: Path, inputs: dict[str, list[Path]]) -> None:
    source = """
        import time

        def transform(inputs, parameters):
            time.sleep(60)
    """

    with pytest.raises(TransformationFailed, match="did not finish within 2 s"):
        run_python(job(tmp_path, source, inputs), work_dir=tmp_path / "child", timeout_seconds=2)


def test_the_pandas_child_needs_no_pyarrow(tmp_path: Path, inputs: dict[str, list[Path]]) -> None:
    # The frames layer has no pyarrow: run the same request in a child where importing it fails.
    given = job(tmp_path, PANDAS_JOIN, inputs, parameters={"factor": 1})
    run_python(given, work_dir=tmp_path / "child", timeout_seconds=120)
    given.output.unlink()
    request = tmp_path / "child" / "request.json"
    assert json.loads(request.read_text())["engine"] == "pandas"
    blocked = (
        "import sys; sys.modules['pyarrow'] = None; import runpy; "
        f"sys.argv = ['runner', {str(request)!r}]; "
        "runpy.run_module('cirrus_frames.python_runner', run_name='__main__')"
    )

    finished = subprocess.run(  # noqa: S603 - the test's own interpreter
        [sys.executable, "-c", blocked],
        env=child_environment(tmp_path / "child"),
        cwd=tmp_path / "child",
        capture_output=True,
        timeout=120,
        check=False,
    )

    assert finished.returncode == 0, finished.stderr.decode()
    assert rows(given.output, "country") == [("DE", 7.5), ("FR", 7.5)]
    assert "pyarrow" not in os.environ.get("PYTHONPATH", "")
