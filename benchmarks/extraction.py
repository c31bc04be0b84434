"""Extracting 1,000,000 PostgreSQL rows to Parquet: the connector and write_snapshot against pandas.

Data: a table of ROWS rows made on the server by `generate_series` in a LocalPostgres (8 columns:
bigint, int, numeric(12, 2), double with 10% nulls, a ~50-character text, bool, timestamptz, date),
deterministic, vacuumed and read once before timing so both sides find it in memory.

Measured, each run in a fresh interpreter (a subprocess), alternating so machine load affects both:
- Cirrus: `cirrus_connectors.postgresql` extracting the table (server-side cursor, CHUNK_ROWS rows a
  batch) into `write_snapshot` (zstd Parquet parts of PART_ROWS rows, each part's SHA-256);
- baseline: what a pandas user writes: `pandas.read_sql("SELECT * FROM ...", <psycopg connection>)`
  into one DataFrame, then `DataFrame.to_parquet(compression="zstd")`.

Each child reports its wall time from after its imports to the file(s) written, and its peak memory:
`resource.getrusage(RUSAGE_SELF).ru_maxrss` at the end minus its resident size right after its
imports, i.e. what the work itself added at its peak. Both outputs are checked (row count, sum of
ids) before any figure is printed.

The check: the connector's peak must stay under MEMORY_LIMIT_MB in every run, whatever the table's
size. It holds one fetch of FETCH_ROWS (10,000) rows as Python objects (~500 bytes a row: ~5 MB),
the batch being assembled from those fetches and its joined copy (50,000 rows at ~110 bytes: ~6 MB
each), and the Parquet writer's current row group and page buffers: 66-74 MB measured with the
interpreter's and allocators' overheads. The limit, 128 MB, is under twice that and an eighth of a
1 GB Lambda function; holding the whole table would take over 1 GB (the pandas figure). `main()`
exits non-zero when the check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Final

from benchmarks.common import Figure, print_table

ROOT = Path(__file__).resolve().parents[1]
ROWS: Final = 1_000_000
CHUNK_ROWS: Final = 50_000
PART_ROWS: Final = 500_000
REPEATS: Final = 3
MEMORY_LIMIT_MB: Final = 128
TABLE: Final = "bench_rows"
FAILED_MARK: Final = "FAILED"
_CHILD_TIMEOUT_S: Final = 900
_ENV_PREFIX: Final = "CIRRUS_BENCH_PG_"

CREATE_TABLE: Final = f"""
CREATE TABLE {TABLE} AS
SELECT i::bigint AS id,
       (i % 10000)::integer AS customer_id,
       ((i * 7919) % 1000000 / 100.0)::numeric(12, 2) AS amount,
       CASE WHEN i % 10 = 0 THEN NULL ELSE (i * 0.618033988749895) - floor(i * 0.618033988749895) END
           AS score,
       'customer-' || (i % 10000) || '-' || md5(i::text) AS name,
       (i % 3 = 0) AS active,
       timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second' AS created_at,
       date '2024-01-01' + (i % 365)::integer AS day
FROM generate_series(1::bigint, {ROWS}) AS i
"""  # noqa: S608  # constants only


def _rss_kb() -> int:
    """This process's resident set size now, in KiB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def _connection() -> dict[str, Any]:
    env = os.environ
    return {
        "host": env[f"{_ENV_PREFIX}HOST"],
        "port": int(env[f"{_ENV_PREFIX}PORT"]),
        "database": env[f"{_ENV_PREFIX}DATABASE"],
        "user": env[f"{_ENV_PREFIX}USER"],
    }


def _child(mode: str, out: Path) -> dict[str, Any]:
    """One measured extraction, in this (fresh) interpreter."""
    password = os.environ[f"{_ENV_PREFIX}PASSWORD"]
    connection = _connection()
    if mode == "connector":
        import pyarrow as pa

        from cirrus_connectors import postgresql
        from cirrus_connectors.base import ExtractRequest, SourceConfig
        from cirrus_connectors.snapshot import write_snapshot

        # pyarrow imports pandas, where it is installed, at its first conversion of Python values
        # (some 40 MB here; the connectors layer has no pandas): done now, so that neither side
        # counts importing pandas as memory the work used.
        pa.array([0])
        after_imports = _rss_kb()
        started = time.perf_counter()
        source = SourceConfig("bench", "postgresql", connection, secret={"password": password})
        connector = postgresql.open(source)
        try:
            batches = connector.extract(ExtractRequest(table=TABLE, chunk_rows=CHUNK_ROWS))
            written = write_snapshot(batches, out, part_rows=PART_ROWS)
        finally:
            connector.close()
        rows = written.row_count
    else:
        import pandas as pd
        import psycopg
        import pyarrow.parquet  # noqa: F401  # to_parquet's engine, imported before the baseline RSS

        after_imports = _rss_kb()
        started = time.perf_counter()
        with (
            psycopg.connect(
                host=connection["host"],
                port=connection["port"],
                dbname=connection["database"],
                user=connection["user"],
                password=password,
            ) as db,
            warnings.catch_warnings(),
        ):
            # pandas warns that it only tests SQLAlchemy and sqlite3 connections; psycopg's works.
            warnings.simplefilter("ignore", UserWarning)
            frame = pd.read_sql(f"SELECT * FROM {TABLE}", db)  # noqa: S608  # a constant
        out.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(out / "rows.parquet", compression="zstd")
        rows = len(frame)
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"rows": rows, "seconds": seconds, "peak_kb": peak_kb, "after_imports_kb": after_imports}


def _run_child(mode: str, environment: dict[str, str], out: Path) -> dict[str, Any]:
    done = subprocess.run(  # noqa: S603  # this interpreter and this module
        [sys.executable, "-m", "benchmarks.extraction", "--child", mode, "--out", str(out)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=_CHILD_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the {mode} run failed (exit {done.returncode}): {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    _check_output(mode, out, result)
    return result


def _check_output(mode: str, out: Path, result: dict[str, Any]) -> None:
    """Raise unless the run wrote every row once: the row count and the sum of the ids."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(out, columns=["id"])
    expected_sum = ROWS * (ROWS + 1) // 2
    if result["rows"] != ROWS or table.num_rows != ROWS or pc.sum(table["id"]).as_py() != expected_sum:
        raise RuntimeError(f"the {mode} run wrote {table.num_rows:,} rows, not the table's {ROWS:,}")


def _peak_mb(result: dict[str, Any]) -> float:
    return float(result["peak_kb"] - result["after_imports_kb"]) / 1024


def _rows_per_second(result: dict[str, Any]) -> float:
    return float(result["rows"]) / float(result["seconds"]) / 1000


def run() -> list[Figure]:
    """Both extractions REPEATS times, alternated; the connector's memory checked against the limit."""
    from cirrus.localcloud.databases import LocalPostgres

    started = time.perf_counter()
    with LocalPostgres() as server, tempfile.TemporaryDirectory(prefix="cirrus-bench-extract-") as scratch:
        import psycopg

        with psycopg.connect(server.dsn, autocommit=True) as db:
            db.execute(CREATE_TABLE.encode())
            db.execute(f"VACUUM ANALYZE {TABLE}".encode())
            db.execute(f"SELECT count(*) FROM {TABLE}".encode())  # noqa: S608  # a constant
            size = db.execute(f"SELECT pg_size_pretty(pg_table_size('{TABLE}'))".encode()).fetchone()
        environment = {
            **os.environ,
            f"{_ENV_PREFIX}HOST": server.host,
            f"{_ENV_PREFIX}PORT": str(server.port),
            f"{_ENV_PREFIX}DATABASE": server.database,
            f"{_ENV_PREFIX}USER": server.user,
            f"{_ENV_PREFIX}PASSWORD": server.password,
        }
        results: dict[str, list[dict[str, Any]]] = {"pandas": [], "connector": []}
        for repeat in range(REPEATS):
            for mode in ("pandas", "connector"):
                out = Path(scratch) / f"{mode}-{repeat}"
                results[mode].append(_run_child(mode, environment, out))
                parquet_mb = sum(path.stat().st_size for path in out.glob("*.parquet")) / 1e6
                print(
                    f"extraction: {mode} run {repeat + 1}: {results[mode][-1]['seconds']:.2f} s, "
                    f"peak +{_peak_mb(results[mode][-1]):.0f} MB, Parquet {parquet_mb:.1f} MB",
                    file=sys.stderr,
                )

    ours_mb = [_peak_mb(result) for result in results["connector"]]
    over = max(ours_mb) > MEMORY_LIMIT_MB
    base_rate = Figure(
        "pandas.read_sql + to_parquet: throughput (baseline)",
        "krow/s",
        [_rows_per_second(result) for result in results["pandas"]],
    )
    base_mb = Figure(
        "pandas.read_sql + to_parquet: peak memory (baseline)", "MB", [_peak_mb(r) for r in results["pandas"]]
    )
    rows = [
        base_rate,
        Figure(
            "connector + write_snapshot: throughput",
            "krow/s",
            [_rows_per_second(result) for result in results["connector"]],
            base_rate.name,
            base_rate.median,
        ),
        base_mb,
        Figure(
            f"connector + write_snapshot: peak memory (limit {MEMORY_LIMIT_MB} MB)"
            + (f" {FAILED_MARK}" if over else ""),
            "MB",
            ours_mb,
            base_mb.name,
            base_mb.median,
        ),
    ]
    print(
        f"extraction of {ROWS:,} rows ({size[0] if size else '?'} in PostgreSQL {server.version}), "
        f"chunks of {CHUNK_ROWS:,}: took {time.perf_counter() - started:.1f} s; every run wrote every row",
        file=sys.stderr,
    )
    if over:
        print(
            f"extraction: {FAILED_MARK}: the connector's peak memory {max(ours_mb):.0f} MB is over "
            f"{MEMORY_LIMIT_MB} MB",
            file=sys.stderr,
        )
    return rows


def failed(rows: list[Figure]) -> bool:
    """Whether the connector's memory went over its limit."""
    return any(FAILED_MARK in row.name for row in rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.extraction")
    parser.add_argument("--child", choices=["connector", "pandas"], help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, args.out)))
        return
    rows = run()
    print_table(rows)
    if failed(rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
