"""The transformation engine: SQL, processors and Python modules over pinned dataset versions.

A run on the duckdb runtime (`TransformationExecutor.execute`): fetch every input version's parts to a
scratch directory, register each alias as a DuckDB view over them, lock DuckDB down
(`enable_external_access=false`, reads allowed of the input parts only, writes of the output directory
only, configuration locked) and write the query's rows as one Parquet part; or run the registered Python
module in a child process (cirrus_frames.python_runner). Then describe the part, upload it as
`datasets/<output>/v<version>/part-00000.parquet` and complete the version with its schema, row count,
content hash and files; the run ends succeeded.

DuckDB runs on one thread: a parallel hash join or aggregate emits rows in a varying order, and the same
inputs must give the same bytes (and so the same content hash) every time.

On the Spark runtimes `execute` only plans: it renders the SQL (a processor's, in Spark's dialect, from
the pinned versions' schemas), stores the plan beside the run and returns its URI for the Glue or EMR
Serverless job (glue/cirrus_transform_job.py). `record_spark_output` then takes the job's parts one at a
time (disk bounded by one part): hashes and describes each, copies it to the version's layout and
completes the version.

`check_transformation` is what the API runs at PUT: DuckDB parses the SQL (one SELECT; tables are the
aliases or the query's own CTEs; no table function but range, generate_series and unnest), Spark SQL
gets the lexical check, a processor's parameters are validated. It is the only entry the API imports,
and it imports DuckDB only when there is DuckDB SQL to parse.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

from cirrus_core.data.datasets import Column, DataFile, content_hash_of, version_prefix
from cirrus_core.data.transformations import (
    PutTransformationRequest,
    TransformationKind,
    TransformationRunStatus,
    check_spark_sql,
    outcome,
)
from cirrus_core.errors import InvalidTransformationSql, TransformationFailed, TransformationStepError
from cirrus_core.observability import logger
from cirrus_frames.dataset_files import (
    PART_NAME,
    describe_parquet,
    fetch_version,
    file_sha256,
    parquet_scan,
    upload_parts,
    write_parquet,
)
from cirrus_frames.processors import DUCKDB, SPARK, ProcessorInput, prepare, render
from cirrus_frames.python_runner import PythonJob, run_python

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Mapping, Sequence

    import duckdb
    from mypy_boto3_s3 import S3Client

    from cirrus_core.audit.models import AuditEntry
    from cirrus_core.data.dataset_store import DatasetStore
    from cirrus_core.data.datasets import DatasetVersion
    from cirrus_core.data.transformations import ProcessorCall, StoredRun, TransformationStepEvent

ALLOWED_TABLE_FUNCTIONS: Final = frozenset({"range", "generate_series", "unnest"})
OUTPUT_PART: Final = PART_NAME.format(index=0)
ROW_GROUP_ROWS: Final = 100_000
# Time kept for describing, uploading and recording after a Python module's child process ends (at
# most a quarter of what is left).
RECORD_MARGIN_SECONDS: Final = 90.0


# -- checking SQL -----------------------------------------------------------------------------------------


def check_sql(sql: str, aliases: Collection[str]) -> str:
    """The statement's text if `sql` is one DuckDB SELECT reading only the aliases (else a 422)."""
    import duckdb

    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as error:
        raise InvalidTransformationSql(str(error), [{"field": "sql", "reason": "parse_error"}]) from None
    if len(statements) != 1:
        raise InvalidTransformationSql(
            f"sql must be a single statement, not {len(statements)}.",
            [{"field": "sql", "reason": "multiple_statements"}],
        )
    (statement,) = statements
    if statement.type != duckdb.StatementType.SELECT:
        kind = statement.type.name
        raise InvalidTransformationSql(
            f"sql must be a query (SELECT or WITH ... SELECT), not {kind}.",
            [{"field": "sql", "reason": "not_a_query", "statement": kind}],
        )
    text = statement.query.strip().rstrip(";")
    serialized = duckdb.connect().execute("SELECT json_serialize_sql(?)", [text]).fetchone()
    tree = json.loads(serialized[0]) if serialized else {"error": True}
    if tree.get("error"):
        raise InvalidTransformationSql(
            f"sql cannot be checked: {tree.get('error_message', 'unsupported query')}.",
            [{"field": "sql", "reason": "unsupported"}],
        )
    _check_references(tree, {alias.lower() for alias in aliases})
    return text


def _check_references(tree: Any, aliases: set[str]) -> None:
    ctes: set[str] = set()
    tables: list[dict[str, Any]] = []
    functions: list[str] = []
    for node in _nodes(tree):
        for entry in (
            (node.get("cte_map") or {}).get("map", []) if isinstance(node.get("cte_map"), dict) else []
        ):
            ctes.add(str(entry.get("key", "")).lower())
        if node.get("type") == "BASE_TABLE":
            tables.append(node)
        elif node.get("type") == "TABLE_FUNCTION":
            function = node.get("function") or {}
            functions.append(str(function.get("function_name", "")).lower())
    for name in functions:
        if name not in ALLOWED_TABLE_FUNCTIONS:
            raise InvalidTransformationSql(
                f"sql calls the table function {name}: a transformation reads its inputs only.",
                [{"field": "sql", "reason": "table_function", "function": name}],
            )
    known = aliases | ctes
    for table in tables:
        name = str(table.get("table_name", ""))
        if table.get("schema_name") or table.get("catalog_name") or name.lower() not in known:
            raise InvalidTransformationSql(
                f"sql reads {name!r}, which is not one of the inputs ({', '.join(sorted(aliases))}).",
                [{"field": "sql", "reason": "unknown_table", "table": name[:200]}],
            )


def _nodes(tree: Any) -> Iterable[dict[str, Any]]:
    stack = [tree]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            yield current
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)


def check_transformation(request: PutTransformationRequest) -> ProcessorCall | None:
    """Check a declared SQL or processor transformation before it is stored; the processor call to store."""
    if request.kind is TransformationKind.PROCESSOR and request.processor is not None:
        return prepare(request.processor.name, request.processor.parameters)
    if request.sql is not None:
        if request.runtime.spark:
            check_spark_sql(request.sql)
        else:
            check_sql(request.sql, request.inputs)
    return None


# -- running on DuckDB ----------------------------------------------------------------------------------


def open_sandbox(
    inputs: Mapping[str, Sequence[Path]],
    columns: Mapping[str, Sequence[Column]],
    output_directory: Path,
    scratch: Path,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection whose tables are the input views and which reads and writes nothing else."""
    import duckdb

    spill = scratch / "duckdb-spill"
    spill.mkdir(parents=True, exist_ok=True)
    output_directory.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect(config={"threads": 1, "temp_directory": str(spill)})
    for alias, paths in inputs.items():
        # The scan quotes its paths; aliases match ALIAS_PATTERN.
        source = (
            f"SELECT * FROM {parquet_scan(paths)}"  # noqa: S608  # nosec B608
            if paths
            else _empty_select(columns.get(alias, []))
        )
        connection.execute(f'CREATE VIEW "{alias}" AS {source}')
    readable = [str(path) for paths in inputs.values() for path in paths]
    connection.execute("SET allowed_paths = ?", [readable])
    connection.execute("SET allowed_directories = ?", [[str(output_directory) + "/"]])
    connection.execute("SET enable_external_access = false")
    connection.execute("SET lock_configuration = true")
    return connection


# A ready version without parts (nothing matched) still has its columns: an empty view of their types.
_DUCKDB_TYPES: Final = {
    "bool": "BOOLEAN",
    "int8": "TINYINT",
    "int16": "SMALLINT",
    "int32": "INTEGER",
    "int64": "BIGINT",
    "float": "FLOAT",
    "double": "DOUBLE",
    "string": "VARCHAR",
    "large_string": "VARCHAR",
    "binary": "BLOB",
    "date32[day]": "DATE",
    "timestamp[us]": "TIMESTAMP",
    "timestamp[us, tz=UTC]": "TIMESTAMPTZ",
}


def _empty_select(columns: Sequence[Column]) -> str:
    if not columns:
        raise TransformationFailed(
            "An input version has neither parts nor columns: there is nothing to read."
        )
    typed = ", ".join(
        f"CAST(NULL AS {_DUCKDB_TYPES.get(column.type, 'VARCHAR')}) AS {DUCKDB.identifier(column.name)}"
        for column in columns
    )
    return f"SELECT {typed} WHERE false"


def view_columns(connection: duckdb.DuckDBPyConnection, alias: str) -> list[str]:
    described = connection.execute(f'DESCRIBE SELECT * FROM "{alias}"').fetchall()  # noqa: S608  # nosec B608
    return [str(row[0]) for row in described]


def run_query(
    connection: duckdb.DuckDBPyConnection, sql: str, aliases: Collection[str], output: Path
) -> None:
    """Check the SQL again (it was checked at PUT) and write its rows as one Parquet part."""
    import duckdb

    text = check_sql(sql, aliases)
    try:
        # The query on lines of its own: a trailing line comment cannot swallow the closing parenthesis.
        write_parquet(connection, f"\n{text}\n", output, row_group_rows=ROW_GROUP_ROWS)
    except duckdb.Error as error:
        raise TransformationFailed(str(error)[:2000]) from None


# -- the executor -----------------------------------------------------------------------------------------


class LedgerPort(Protocol):
    def run_for(self, event: TransformationStepEvent) -> StoredRun: ...

    def audit(self, run: StoredRun, action: str) -> AuditEntry | None: ...

    def succeed(self, run: StoredRun, version: DatasetVersion) -> StoredRun: ...

    def fail(self, run: StoredRun, reason: str) -> StoredRun: ...


class RunFilesPort(Protocol):
    @property
    def bucket(self) -> str: ...

    def put_plan(self, name: str, run_id: str, plan: dict[str, Any]) -> str: ...

    def output_uri(self, name: str, run_id: str) -> str: ...

    def output_parts(self, name: str, run_id: str) -> list[str]: ...

    def download(self, key: str, path: str) -> None: ...

    def copy(self, source_key: str, key: str) -> None: ...


class TransformationExecutor:
    """The state machine's work: run on DuckDB, plan a Spark job, or take a Spark job's output."""

    def __init__(
        self,
        ledger: LedgerPort,
        datasets: DatasetStore,
        s3: S3Client,
        files: RunFilesPort,
        *,
        work_root: Path | None = None,
        python: Callable[..., None] = run_python,
    ) -> None:
        self._ledger = ledger
        self._datasets = datasets
        self._s3 = s3
        self._files = files
        self._work_root = work_root
        self._python = python

    def execute(self, event: TransformationStepEvent, *, time_left_seconds: float = 840.0) -> dict[str, Any]:
        """Run the transformation (duckdb), or plan its Spark job (glue, emr_serverless).

        `time_left_seconds`: the invocation's remaining time; a Python module's child process gets what
        is left of it once the inputs are fetched, less the time kept for recording.
        """
        deadline = time.monotonic() + time_left_seconds
        run = self._ledger.run_for(event)
        if run.status is not TransformationRunStatus.RUNNING:
            return outcome(run)
        versions = {
            item.alias: self._datasets.ready_version(item.dataset, item.version) for item in run.inputs
        }
        if run.runtime.spark:
            return self._plan(run, versions)
        with tempfile.TemporaryDirectory(prefix="cirrus-transform-", dir=self._work_root) as directory:
            scratch = Path(directory)
            output = scratch / "output" / OUTPUT_PART
            inputs = {
                alias: fetch_version(self._s3, self._files.bucket, version, scratch / "inputs")
                for alias, version in versions.items()
            }
            if run.spec.kind is TransformationKind.PYTHON:
                margin = min(RECORD_MARGIN_SECONDS, time_left_seconds / 4)
                self._run_python(run, inputs, output, scratch, deadline - time.monotonic() - margin)
            else:
                columns = {alias: version.columns for alias, version in versions.items()}
                connection = open_sandbox(inputs, columns, output.parent, scratch)
                try:
                    sql = self._sql(run, connection)
                    run_query(connection, sql, list(inputs), output)
                finally:
                    connection.close()
            return outcome(self._complete(run, [output]))

    def record_spark_output(self, event: TransformationStepEvent) -> dict[str, Any]:
        """Take the Spark job's parts into the version's layout and complete the version."""
        run = self._ledger.run_for(event)
        if run.status is not TransformationRunStatus.RUNNING:
            return outcome(run)
        import duckdb

        keys = self._files.output_parts(run.transformation, run.run_id)
        if not keys:
            raise TransformationFailed("The Spark job wrote no Parquet part.")
        prefix = version_prefix(run.output.dataset, run.output.version)
        columns: list[Column] | None = None
        files: list[DataFile] = []
        connection = duckdb.connect(config={"threads": 1})
        with tempfile.TemporaryDirectory(prefix="cirrus-spark-", dir=self._work_root) as directory:
            for index, source_key in enumerate(keys):
                path = Path(directory) / "part.parquet"
                self._files.download(source_key, str(path))
                part_columns, rows = describe_parquet(connection, [path])
                if columns is None:
                    columns = part_columns
                elif [(c.name, c.type) for c in part_columns] != [(c.name, c.type) for c in columns]:
                    raise TransformationFailed(
                        f"The Spark job's part {source_key} has another schema than the first."
                    )
                key = prefix + PART_NAME.format(index=index)
                files.append(
                    DataFile(key=key, rows=rows, bytes=path.stat().st_size, sha256=file_sha256(path))
                )
                self._files.copy(source_key, key)
                path.unlink()
        connection.close()
        version = self._datasets.complete_version(
            run.output.dataset,
            run.output.version,
            columns=columns or [],
            row_count=sum(item.rows for item in files),
            content_hash=content_hash_of([item.sha256 for item in files]),
            files=files,
            audit=self._ledger.audit(run, "complete_transformation"),
        )
        return outcome(self._ledger.succeed(run, version))

    # -- internals -------------------------------------------------------------------------------------

    def _sql(self, run: StoredRun, connection: duckdb.DuckDBPyConnection) -> str:
        spec = run.spec
        if spec.processor is not None:
            (alias,) = spec.inputs
            return render(spec.processor, ProcessorInput(alias, view_columns(connection, alias), DUCKDB))
        if spec.sql is None:
            raise TransformationStepError(f"Run {run.run_id} has neither SQL nor a processor.")
        return spec.sql

    def _run_python(
        self,
        run: StoredRun,
        inputs: Mapping[str, Sequence[Path]],
        output: Path,
        scratch: Path,
        timeout: float,
    ) -> None:
        module = run.spec.python
        if module is None:
            raise TransformationStepError(f"Run {run.run_id} has no Python module.")
        path = scratch / "module" / "transformation.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        self._s3.download_file(self._files.bucket, module.key, str(path))
        if file_sha256(path) != module.sha256:
            raise TransformationFailed(f"The stored module {module.key} does not match its digest.")
        output.parent.mkdir(parents=True, exist_ok=True)
        job = PythonJob(
            module=path,
            entrypoint=module.entrypoint,
            engine=module.engine.value,
            inputs=inputs,
            output=output,
            parameters=run.spec.parameters,
            row_group_rows=ROW_GROUP_ROWS,
        )
        self._python(job, work_dir=scratch / "child", timeout_seconds=max(timeout, 1.0))

    def _complete(self, run: StoredRun, parts: Sequence[Path]) -> StoredRun:
        import duckdb

        connection = duckdb.connect(config={"threads": 1})
        try:
            columns, _ = describe_parquet(connection, parts)
            rows = [describe_parquet(connection, [part])[1] for part in parts]
        except duckdb.Error as error:
            raise TransformationFailed(f"The output is not readable Parquet: {error}"[:2000]) from None
        finally:
            connection.close()
        files = upload_parts(
            self._s3, self._files.bucket, run.output.dataset, run.output.version, parts, rows
        )
        version = self._datasets.complete_version(
            run.output.dataset,
            run.output.version,
            columns=columns,
            row_count=sum(rows),
            content_hash=content_hash_of([item.sha256 for item in files]),
            files=files,
            audit=self._ledger.audit(run, "complete_transformation"),
        )
        return self._ledger.succeed(run, version)

    def _plan(self, run: StoredRun, versions: Mapping[str, DatasetVersion]) -> dict[str, Any]:
        spec = run.spec
        for alias, version in versions.items():
            if not version.files:
                raise TransformationFailed(
                    f"Input {alias} ({version.reference}) has no parts: a Spark job cannot read it."
                )
        if spec.processor is not None:
            (alias,) = spec.inputs
            columns = [column.name for column in versions[alias].columns]
            sql = render(spec.processor, ProcessorInput(alias, columns, SPARK))
        elif spec.sql is not None:
            check_spark_sql(spec.sql)
            sql = spec.sql
        else:
            raise TransformationFailed("Python transformations run on the duckdb runtime only.")
        bucket = self._files.bucket
        plan = {
            "run_id": run.run_id,
            "transformation": run.transformation,
            "sql": sql,
            "inputs": {
                alias: [f"s3://{bucket}/{part.key}" for part in version.files]
                for alias, version in versions.items()
            },
            "output": self._files.output_uri(run.transformation, run.run_id),
        }
        uri = self._files.put_plan(run.transformation, run.run_id, plan)
        logger.info("Spark plan stored", extra={"run_id": run.run_id, "plan": uri})
        return {**outcome(run), "plan_uri": uri, "output_uri": plan["output"]}
