"""The feature store's batch work in DuckDB: ingestion, materialisation and point-in-time training sets.

Ingestion reads a ready dataset version and writes one offline partition of a group version,
`features/<group>/offline/v<version>/<ingestion id>/part-00000.parquet`, holding exactly the
version's columns cast to their types (the entity key, the event time as UTC, the features; absent
nullable features as nulls). It refuses, writing nothing, a dataset missing the key, the event time
or a non-nullable feature, a column whose type cannot be cast, and values that do not cast (`2.5` is
no int64), nulls where none are allowed, non-finite numbers, vectors of another length, and empty or
over-long string keys. Naive timestamps (and dates, and strings without an offset) are read as UTC.

The offline store of a group version is every succeeded ingestion written at a version whose rows
read with its schema (`compatible_reader`), plus the streaming puts waiting in staging at such a
version. Sources are ordered by their ids (which start with their creation time): among rows of
one entity with one event time, the later write wins, as in the online store.

Materialisation takes the latest row of every entity over that store (DuckDB's
`QUALIFY row_number() OVER (PARTITION BY key ORDER BY event_time DESC, ...) = 1`) and writes it to
the online table in batches, each row conditionally: a row never replaces a newer one (a streaming
put that landed meanwhile), and those are counted as skipped.

A training set joins labels from a dataset version with each group's rows as of each label's time
(`cirrus_frames.point_in_time`), writes the result as the next version of a dataset of kind
`training_set`, and records its lineage.
"""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from cirrus_core.data.datasets import DataFile, content_hash_of
from cirrus_core.data.feature_models import (
    STAGING_VERSION_COLUMN,
    ColumnRole,
    DataProblem,
    DataProblemKind,
    FeatureJobStatus,
    column_roles,
    offline_part_key,
    schema_problems,
    staging_prefix,
    type_family,
)
from cirrus_core.data.features import MAX_ENTITY_KEY_BYTES, FeatureType
from cirrus_core.data.online_store import OnlineRow
from cirrus_core.data.training_sets import RESERVED_PREFIX, TrainingSetStatus
from cirrus_core.errors import FeatureJobStepError
from cirrus_frames.dataset_files import (
    describe_parquet,
    fetch_version,
    file_sha256,
    parquet_scan,
    upload_parts,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    import duckdb
    from mypy_boto3_s3 import S3Client

    from cirrus_core.data.datasets import Column
    from cirrus_core.data.feature_models import FeatureStepEvent
    from cirrus_core.data.feature_store import FeatureJobs
    from cirrus_core.data.features import FeatureGroupDefinition, FeatureGroupVersion
    from cirrus_core.data.online_store import OnlineStore
    from cirrus_core.data.training_sets import TrainingSet, TrainingSetGroup

DUCKDB_TYPES: Final[dict[str, str]] = {
    FeatureType.INT64.value: "BIGINT",
    FeatureType.FLOAT64.value: "DOUBLE",
    FeatureType.STRING.value: "VARCHAR",
    FeatureType.BOOL.value: "BOOLEAN",
    FeatureType.TIMESTAMP.value: "TIMESTAMPTZ",
    FeatureType.VECTOR.value: "DOUBLE[]",
}
ROW_GROUP_ROWS: Final = 100_000
ONLINE_BATCH_ROWS: Final = 1_000
# The columns a feature row carries besides the group's: where it came from, and its place there.
SOURCE_COLUMN: Final = "__cirrus_source"
ROW_COLUMN: Final = "__cirrus_row"
LABEL_TIME_COLUMN: Final = f"{RESERVED_PREFIX}label_time"
LABEL_ROW_COLUMN: Final = f"{RESERVED_PREFIX}label_row"


class DataDoesNotFit(Exception):
    """A dataset that cannot be ingested at a group version; `problems` says why, column by column."""

    def __init__(self, problems: list[DataProblem]) -> None:
        super().__init__("; ".join(problem.message for problem in problems))
        self.problems = problems


def quote(name: str) -> str:
    """A SQL identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def select(columns: str, source: str, rest: str = "") -> str:
    """`SELECT columns FROM source rest`: every name in it is quoted (`quote`), every path a literal."""
    return f"SELECT {columns} FROM {source} {rest}".rstrip()  # noqa: S608  # nosec B608


def _cast(role: ColumnRole, present: bool) -> str:
    source = quote(role.name) if present else "NULL"
    return f"CAST({source} AS {DUCKDB_TYPES[role.type]}) AS {quote(role.name)}"


def connect(workdir: Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection in UTC that spills to `workdir` (a Lambda's ephemeral storage)."""
    import duckdb

    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute(f"SET temp_directory = {_literal(str(workdir / 'spill'))}")
    return connection


# -- ingestion ----------------------------------------------------------------------------------------


def ingest(
    connection: duckdb.DuckDBPyConnection,
    paths: Sequence[Path],
    definition: FeatureGroupDefinition,
    target: Path,
) -> int:
    """Write the dataset's rows as an offline partition of `definition` at `target`; its row count.

    Raises DataDoesNotFit (and writes nothing) when the data does not fit the definition.
    """
    columns, rows = describe_parquet(connection, paths)
    problems = schema_problems(definition, columns)
    if problems:
        raise DataDoesNotFit(problems)
    scan = parquet_scan(paths)
    problems = value_problems(connection, scan, definition, columns)
    if problems:
        raise DataDoesNotFit(problems)
    present = {column.name for column in columns}
    projection = ", ".join(_cast(role, role.name in present) for role in column_roles(definition))
    target.parent.mkdir(parents=True, exist_ok=True)
    query = select(projection, scan)
    options = f"FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP_ROWS}"
    connection.execute(f"COPY ({query}) TO {_literal(str(target))} ({options})")
    return rows


def value_problems(
    connection: duckdb.DuckDBPyConnection,
    scan: str,
    definition: FeatureGroupDefinition,
    columns: Sequence[Column],
) -> list[DataProblem]:
    """Rows whose values do not fit, counted per column and problem in one pass over the data."""
    types = {column.name: column.type for column in columns}
    checks: list[tuple[ColumnRole, DataProblemKind, str, str]] = []
    for role in column_roles(definition):
        if role.name not in types:
            continue
        is_key = role.name == definition.entity_key.name
        checks.extend(
            (role, kind, condition, reason)
            for kind, condition, reason in _checks(role, types[role.name], is_key=is_key)
        )
    if not checks:
        return []
    counts = ", ".join(f"count(*) FILTER (WHERE {condition})" for _, _, condition, _ in checks)
    # fetchall, not fetchone: DuckDB keeps a partly fetched result open and refuses other work.
    (found,) = connection.execute(select(counts, scan)).fetchall()
    problems = []
    for (role, kind, _, reason), rows in zip(checks, found, strict=True):
        if rows:
            label = role.type if role.dimension is None else f"vector[{role.dimension}]"
            problems.append(
                DataProblem(
                    column=role.name,
                    problem=kind,
                    expected=label,
                    got=types[role.name],
                    rows=int(rows),
                    message=f"{rows} row(s) of '{role.name}' {reason}",
                )
            )
    return problems


def _checks(role: ColumnRole, source_type: str, *, is_key: bool) -> list[tuple[DataProblemKind, str, str]]:
    """(problem, SQL condition of an offending row, reason) for a present column."""
    column = quote(role.name)
    target = DUCKDB_TYPES[role.type]
    cast = f"TRY_CAST({column} AS {target})"
    family = type_family(source_type)
    checks: list[tuple[DataProblemKind, str, str]] = []
    if not role.nullable:
        checks.append((DataProblemKind.NULL_NOT_ALLOWED, f"{column} IS NULL", "are null"))
    checks.append(
        (
            DataProblemKind.UNCASTABLE_VALUES,
            f"{column} IS NOT NULL AND {cast} IS NULL",
            f"do not cast to {target}",
        )
    )
    if role.type == FeatureType.INT64 and family in {"floating", "decimal", "string"}:
        number = f"TRY_CAST({column} AS DOUBLE)"
        checks.append(
            (
                DataProblemKind.NOT_WHOLE,
                f"{number} IS NOT NULL AND {number} <> trunc({number})",
                "are not whole",
            )
        )
    if role.type == FeatureType.FLOAT64:
        checks.append(
            (DataProblemKind.NOT_FINITE, f"{cast} IS NOT NULL AND NOT isfinite({cast})", "are not finite")
        )
    if role.type == FeatureType.VECTOR:
        checks.append(
            (
                DataProblemKind.WRONG_DIMENSION,
                f"{cast} IS NOT NULL AND len({cast}) <> {int(role.dimension or 0)}",
                f"do not hold {role.dimension} values",
            )
        )
        checks.append(
            (
                DataProblemKind.NOT_FINITE,
                f"{cast} IS NOT NULL AND len({cast}) > 0 AND (list_count({cast}) <> len({cast}) "
                f"OR NOT isfinite(list_max({cast})) OR NOT isfinite(list_min({cast})))",
                "hold nulls or non-finite numbers",
            )
        )
    if is_key and role.type == FeatureType.STRING:
        checks.append(
            (
                DataProblemKind.INVALID_KEY,
                f"{cast} IS NOT NULL AND (length({cast}) = 0 OR octet_length(encode({cast})) > "
                f"{MAX_ENTITY_KEY_BYTES})",
                f"are empty or longer than {MAX_ENTITY_KEY_BYTES} bytes",
            )
        )
    return checks


# -- the offline store -------------------------------------------------------------------------------


def offline_rows(
    connection: duckdb.DuckDBPyConnection,
    definition: FeatureGroupDefinition,
    parquet_paths: Sequence[Path],
    staging_paths: Sequence[Path],
    versions: Sequence[int],
) -> str:
    """A DuckDB query of every row of the offline store read at `definition`'s schema, with the
    source each came from and its position there (for ordering writes), or '' when there is none.

    Parquet parts missing a column (written at an earlier version) read it as null; staging lines are
    kept only when written at one of `versions`.
    """
    roles = column_roles(definition)
    parts: list[str] = []
    if parquet_paths:
        scan = (
            f"read_parquet([{', '.join(_literal(str(p)) for p in parquet_paths)}], "
            "union_by_name = true, filename = true, file_row_number = true)"
        )
        described = {str(row[0]) for row in connection.execute("DESCRIBE " + select("*", scan)).fetchall()}
        projection = ", ".join(_cast(role, role.name in described) for role in roles)
        parts.append(
            select(f"{projection}, filename AS {SOURCE_COLUMN}, file_row_number AS {ROW_COLUMN}", scan)
        )
    if staging_paths:
        json_columns = ", ".join(f"{_literal(role.name)}: 'JSON'" for role in roles)
        files = ", ".join(_literal(str(path)) for path in staging_paths)
        scan = (
            f"read_json([{files}], format = 'newline_delimited', "
            f"columns = {{{json_columns}, {_literal(STAGING_VERSION_COLUMN)}: 'BIGINT'}}, filename = true)"
        )
        projection = ", ".join(f"{_from_json(role)} AS {quote(role.name)}" for role in roles)
        wanted = ", ".join(str(int(version)) for version in versions) or "NULL"
        parts.append(
            select(
                f"{projection}, filename AS {SOURCE_COLUMN}, "
                f"row_number() OVER (PARTITION BY filename) AS {ROW_COLUMN}",
                scan,
                f"WHERE {quote(STAGING_VERSION_COLUMN)} IN ({wanted})",
            )
        )
    if not parts:
        return ""
    key, event_time = quote(definition.entity_key.name), quote(definition.event_time)
    union = " UNION ALL BY NAME ".join(f"({part})" for part in parts)
    return select("*", f"({union})", f"WHERE {key} IS NOT NULL AND {event_time} IS NOT NULL")


def _from_json(role: ColumnRole) -> str:
    column = quote(role.name)
    if role.type in {FeatureType.STRING, FeatureType.TIMESTAMP}:
        text = f"json_extract_string({column}, '$')"
        return text if role.type == FeatureType.STRING else f"TRY_CAST({text} AS TIMESTAMPTZ)"
    return f"TRY_CAST({column} AS {DUCKDB_TYPES[role.type]})"


def latest_rows(query: str, definition: FeatureGroupDefinition) -> str:
    """The latest row of every entity (by event time, then by write)."""
    key, event_time = quote(definition.entity_key.name), quote(definition.event_time)
    order = f"{event_time} DESC, {SOURCE_COLUMN} DESC, {ROW_COLUMN} DESC"
    return select("*", f"({query})", f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {order}) = 1")


# -- the runner ------------------------------------------------------------------------------------------


class FeatureJobRunner:
    """Runs the feature state machine's jobs: reads from and writes to the data bucket, records through
    the ledger (`FeatureJobs`), writes online rows through the online store."""

    def __init__(
        self,
        jobs: FeatureJobs,
        online: OnlineStore,
        s3: S3Client,
        bucket: str,
        *,
        workdir: Path | None = None,
        online_batch_rows: int = ONLINE_BATCH_ROWS,
    ) -> None:
        self._jobs = jobs
        self._online = online
        self._s3 = s3
        self._bucket = bucket
        self._workdir = workdir
        self._batch = online_batch_rows

    @contextmanager
    def _scratch(self) -> Iterator[Path]:
        with tempfile.TemporaryDirectory(dir=self._workdir) as directory:
            yield Path(directory)

    # -- ingestion -------------------------------------------------------------------------------------

    def ingest(self, event: FeatureStepEvent) -> dict[str, Any]:
        """Ingest the job's dataset version (a finished job is answered with its outcome)."""
        job = self._jobs.ingestion(event)
        outcome = {"type": "ingestion", "job_id": job.ingestion_id, "group": job.group}
        if job.status is not FeatureJobStatus.RUNNING:
            return {**outcome, "status": job.status.value, "rows": job.rows}
        version = self._jobs.version(job.group, job.version)
        dataset = self._jobs.dataset_version(job.dataset, job.dataset_version)
        with self._scratch() as scratch:
            paths = fetch_version(self._s3, self._bucket, dataset, scratch / "input")
            target = scratch / "part-00000.parquet"
            connection = connect(scratch)
            try:
                rows = ingest(connection, paths, version.definition, target)
            except DataDoesNotFit as refused:
                failed = self._jobs.refuse_ingestion(job, refused.problems)
                return {**outcome, "status": failed.status.value, "problems": len(refused.problems)}
            finally:
                connection.close()
            key = offline_part_key(job.group, job.version, job.ingestion_id)
            self._s3.upload_file(str(target), self._bucket, key)
            part = DataFile(key=key, rows=rows, bytes=target.stat().st_size, sha256=file_sha256(target))
        done = self._jobs.complete_ingestion(job, part, rows)
        return {**outcome, "status": done.status.value, "rows": rows}

    # -- materialisation --------------------------------------------------------------------------------

    def materialize(self, event: FeatureStepEvent) -> dict[str, Any]:
        """Write every entity's latest row online unless a newer one is there."""
        job = self._jobs.materialization(event)
        outcome = {"type": "materialization", "job_id": job.materialization_id, "group": job.group}
        if job.status is not FeatureJobStatus.RUNNING:
            return {**outcome, "status": job.status.value, "written": job.written, "skipped": job.skipped}
        version = self._jobs.version(job.group, job.version)
        definition = version.definition
        entities = written = skipped = 0
        with self._scratch() as scratch:
            connection = connect(scratch)
            try:
                query = self._offline_query(connection, job.group, version, scratch / "sources")
                if query:
                    cursor = connection.execute(latest_rows(query, definition))
                    names = [str(column[0]) for column in cursor.description or []]
                    while batch := cursor.fetchmany(self._batch):
                        rows = [
                            _online_row(definition, dict(zip(names, values, strict=True))) for values in batch
                        ]
                        counts = self._online.put_latest(job.group, job.version, rows)
                        entities += len(rows)
                        written += counts.written
                        skipped += counts.skipped
            finally:
                connection.close()
        done = self._jobs.complete_materialization(job, entities=entities, written=written, skipped=skipped)
        return {
            **outcome,
            "status": done.status.value,
            "entities": entities,
            "written": written,
            "skipped": skipped,
        }

    # -- training sets ----------------------------------------------------------------------------------

    def build_training_set(self, event: FeatureStepEvent) -> dict[str, Any]:
        """Join the labels with every group as of each label's time; store the result as a dataset version."""
        training_set = self._jobs.training_set(event)
        outcome = {"type": "training_set", "job_id": training_set.training_set_id}
        if training_set.status is not TrainingSetStatus.BUILDING:
            return {**outcome, "status": training_set.status.value, "version": training_set.dataset_version}
        training_set = self._jobs.allocate_version(training_set)
        version = training_set.dataset_version or 0
        with self._scratch() as scratch:
            connection = connect(scratch)
            try:
                target = scratch / "part-00000.parquet"
                self._join(connection, training_set, scratch, target)
                columns, rows = describe_parquet(connection, [target])
            finally:
                connection.close()
            files = upload_parts(self._s3, self._bucket, training_set.dataset, version, [target], [rows])
        done = self._jobs.complete_training_set(
            training_set,
            columns=columns,
            row_count=rows,
            content_hash=content_hash_of([file.sha256 for file in files]),
            files=files,
        )
        return {**outcome, "status": done.status.value, "version": version, "rows": rows}

    def _join(
        self, connection: duckdb.DuckDBPyConnection, training_set: TrainingSet, scratch: Path, target: Path
    ) -> None:
        from cirrus_frames.point_in_time import FeatureSource, point_in_time_training_set

        labels = training_set.labels
        label_version = self._jobs.dataset_version(labels.dataset, labels.version)
        label_paths = fetch_version(self._s3, self._bucket, label_version, scratch / "labels")
        versions = [self._jobs.version(group.group, group.version) for group in training_set.feature_groups]
        scan = parquet_scan(label_paths)
        label_columns = [
            str(row[0]) for row in connection.execute("DESCRIBE " + select("*", scan)).fetchall()
        ]
        keys = [
            f"TRY_CAST({quote(group.entity_column)} AS "
            f"{DUCKDB_TYPES[version.definition.entity_key.type.value]}) AS {quote(_key_column(index))}"
            for index, (group, version) in enumerate(zip(training_set.feature_groups, versions, strict=True))
        ]
        label_time, cast_time = quote(labels.label_time), quote(LABEL_TIME_COLUMN)
        hidden = (
            f"*, TRY_CAST({label_time} AS TIMESTAMPTZ) AS {cast_time}, {', '.join(keys)}, "
            f"row_number() OVER () AS {quote(LABEL_ROW_COLUMN)}"
        )
        connection.execute("CREATE TEMP TABLE labels AS " + select(hidden, scan))
        ((bad,),) = connection.execute(
            select("count(*)", "labels", f"WHERE {label_time} IS NOT NULL AND {cast_time} IS NULL")
        ).fetchall()
        if bad:
            raise FeatureJobStepError(
                f"{bad} label time(s) in '{labels.label_time}' are not timestamps (dataset "
                f"{labels.dataset} version {labels.version})."
            )
        # Only the join's own columns go through pandas; the label columns are taken from the labels
        # table as they are (their types untouched) when the result is written.
        row = quote(LABEL_ROW_COLUMN)
        join_columns = ", ".join([row, cast_time, *(quote(_key_column(i)) for i in range(len(versions)))])
        frame = connection.sql(select(join_columns, "labels", f"ORDER BY {row}")).df()
        sources = []
        for index, (group, version) in enumerate(zip(training_set.feature_groups, versions, strict=True)):
            features = self._feature_frame(connection, group, version, scratch / f"group-{index}", index)
            sources.append(
                FeatureSource(
                    frame=features,
                    entity_key=version.definition.entity_key.name,
                    event_time=version.definition.event_time,
                    feature_columns=list(group.features),
                    max_age=group.max_age,
                    prefix=group.prefix,
                    label_key=_key_column(index),
                )
            )
        joined = point_in_time_training_set(frame, sources, label_time=LABEL_TIME_COLUMN)
        outputs = [name for group in training_set.feature_groups for name in group.output_columns()]
        connection.register("training_rows", joined[[LABEL_ROW_COLUMN, *outputs]])
        projection = [f"l.{quote(name)}" for name in label_columns]
        for group, version in zip(training_set.feature_groups, versions, strict=True):
            for feature, name in zip(group.features, group.output_columns(), strict=True):
                defined = version.definition.feature(feature)
                kind = DUCKDB_TYPES[defined.type.value] if defined is not None else "VARCHAR"
                projection.append(f"CAST(f.{quote(name)} AS {kind}) AS {quote(name)}")
        options = f"FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP_ROWS}"
        query = select(
            ", ".join(projection),
            f"labels AS l JOIN training_rows AS f ON l.{row} = f.{row}",
            f"ORDER BY l.{row}",
        )
        connection.execute(f"COPY ({query}) TO {_literal(str(target))} ({options})")
        connection.unregister("training_rows")

    def _feature_frame(
        self,
        connection: duckdb.DuckDBPyConnection,
        group: TrainingSetGroup,
        version: FeatureGroupVersion,
        directory: Path,
        index: int,
    ) -> Any:
        """The group's rows for the labels' entities (key, event time, the features), in write order."""
        definition = version.definition
        key, event_time = quote(definition.entity_key.name), quote(definition.event_time)
        wanted = ", ".join(quote(feature) for feature in group.features)
        query = self._offline_query(connection, group.group, version, directory)
        if not query:
            # No row was ever written: an empty frame of the group's columns.
            nulls = ", ".join(_cast(role, present=False) for role in column_roles(definition))
            query = f"SELECT {nulls}, '' AS {SOURCE_COLUMN}, 0 AS {ROW_COLUMN} WHERE false"
        entities = select(quote(_key_column(index)), "labels")
        frame = connection.sql(
            select(
                f"{key}, {event_time}, {wanted}",
                f"({query})",
                f"WHERE {key} IN ({entities}) ORDER BY {SOURCE_COLUMN}, {ROW_COLUMN}",
            )
        ).df()
        for feature in group.features:
            defined = definition.feature(feature)
            # Nullable dtypes: a label without a row then gets <NA>, not NaN in a float column.
            if defined is not None and defined.type is FeatureType.INT64:
                frame[feature] = frame[feature].astype("Int64")
            elif defined is not None and defined.type is FeatureType.BOOL:
                frame[feature] = frame[feature].astype("boolean")
        return frame

    def _offline_query(
        self, connection: duckdb.DuckDBPyConnection, group: str, version: FeatureGroupVersion, directory: Path
    ) -> str:
        """Download the group version's offline store (parts and staging) and query it ('' if empty)."""
        readable = self._jobs.readable_versions(group, version)
        directory.mkdir(parents=True, exist_ok=True)
        parquet_paths = []
        for key, ingestion_id in self._jobs.offline_parts(group, readable):
            path = directory / f"{ingestion_id}.parquet"
            self._s3.download_file(self._bucket, key, str(path))
            parquet_paths.append(path)
        staging_paths = []
        for key in self._staging_keys(group):
            path = directory / key.rpartition("/")[2]
            self._s3.download_file(self._bucket, key, str(path))
            staging_paths.append(path)
        return offline_rows(
            connection,
            version.definition,
            parquet_paths,
            staging_paths,
            [other.version for other in readable],
        )

    def _staging_keys(self, group: str) -> list[str]:
        keys: list[str] = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=staging_prefix(group)):
            keys.extend(item["Key"] for item in page.get("Contents", []) if item["Key"].endswith(".jsonl"))
        return keys


def _key_column(index: int) -> str:
    return f"{RESERVED_PREFIX}key_{index}"


def _online_row(definition: FeatureGroupDefinition, row: dict[str, Any]) -> OnlineRow:
    return OnlineRow(
        entity=str(row[definition.entity_key.name]),
        event_time=row[definition.event_time],
        features={feature.name: row.get(feature.name) for feature in definition.features},
    )
