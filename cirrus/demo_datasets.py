"""The demo's data steps: a real PostgreSQL source, a snapshot, a transformation, a feature group with
its online and offline stores, and the point-in-time training set the first model is trained from.

The transactions live in a throwaway PostgreSQL server (`cirrus.localcloud.databases.LocalPostgres`),
each with an id and the time it happened. The platform snapshots the table into a versioned dataset,
derives the labels (a chargeback is known three days after the transaction) with a SQL
transformation, ingests the transactions' features into a feature group, materialises them online, and
joins labels and features as of each label's time into a training set. Every call goes through the
API with a role's real token, as a team would make it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from cirrus.demo_report import Section

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd

    from cirrus.client import CirrusClient
    from cirrus.demo import Walkthrough
    from cirrus.localcloud.databases import LocalPostgres
    from cirrus_core.registry.models import Lineage

SOURCE: Final = "production_db"
TABLE: Final = "transactions"
SNAPSHOT: Final = "transactions"
LABELS: Final = "chargeback_labels"
FEATURE_GROUP: Final = "transaction_features"
TRAINING_SET: Final = "fraud_training"
# Columns of the training set that identify a row or date its label: not features.
NOT_FEATURES: Final = ("transaction_id", "label_time")
JOB_TIMEOUT_SECONDS: Final = 180.0
LABEL_DELAY_DAYS: Final = 3  # the SQL of the labels transformation says the same
NUMERIC_FEATURES: Final = ("amount", "account_age_days", "transactions_24h", "distance_km", "hour")
CATEGORICAL_FEATURES: Final = ("merchant_category", "channel", "country")


@dataclass(frozen=True)
class TrainingData:
    """What the first pipeline run trains from: the training set and what it reads as."""

    reference: str
    dataset_version: str


def load_transactions(postgres: LocalPostgres, rows: pd.DataFrame, now: datetime) -> int:
    """Create the `transactions` table: the demo rows with an id and the time each happened."""
    import psycopg

    count = len(rows)
    with psycopg.connect(
        host=postgres.host,
        port=postgres.port,
        dbname=postgres.database,
        user=postgres.user,
        password=postgres.password,
    ) as connection:
        connection.execute(
            "CREATE TABLE transactions (transaction_id bigint PRIMARY KEY, occurred_at timestamptz NOT NULL, "
            "amount double precision, account_age_days bigint, transactions_24h bigint, "
            "distance_km double precision, hour bigint, merchant_category text, channel text, "
            "country text, label bigint NOT NULL)"
        )
        columns = ("transaction_id", "occurred_at", *NUMERIC_FEATURES, *CATEGORICAL_FEATURES, "label")
        start = now - timedelta(days=60)
        with connection.cursor().copy(f"COPY transactions ({', '.join(columns)}) FROM STDIN") as copy:
            for index, row in enumerate(rows.itertuples(index=False), start=1):
                record = row._asdict()
                occurred = start + timedelta(seconds=index * (50 * 86400 // max(count, 1)))
                copy.write_row(
                    (
                        index,
                        occurred,
                        *(_plain(record[name]) for name in NUMERIC_FEATURES),
                        *(_plain(record[name]) for name in CATEGORICAL_FEATURES),
                        int(record["label"]),
                    )
                )
    return count


def _plain(value: Any) -> Any:
    """A numpy scalar as a plain Python value, a missing one as None."""
    if value is None or value != value:  # NaN is the only value unequal to itself
        return None
    return value.item() if hasattr(value, "item") else value


def feature_group_definition() -> dict[str, Any]:
    """The transactions' features, keyed by transaction and stamped with when it happened."""
    numeric_types = {"amount": "float64", "distance_km": "float64"}
    features = [
        {"name": name, "type": numeric_types.get(name, "int64"), "nullable": True}
        for name in NUMERIC_FEATURES
    ] + [{"name": name, "type": "string", "nullable": True} for name in CATEGORICAL_FEATURES]
    return {
        "name": FEATURE_GROUP,
        "entity_key": {"name": "transaction_id", "type": "int64"},
        "event_time": "occurred_at",
        "features": features,
        "owner": "risk-data@example.com",
        "description": "What the card network tells us about a transaction when it happens.",
    }


def data_steps(w: Walkthrough, postgres: LocalPostgres, rows: pd.DataFrame) -> TrainingData | None:
    """The data section of the walkthrough; the training data of the first run, or None on failure."""
    w.section = Section.DATA
    started = time.perf_counter()
    count = load_transactions(postgres, rows, datetime.now(UTC))
    w.record(
        "anyone: load the demo transactions into a real PostgreSQL server",
        True,
        f"{count} rows in {TABLE} on PostgreSQL {postgres.version} at {postgres.host}:{postgres.port}",
        started,
    )
    source = w.expect_ok(
        "admin",
        f"register {SOURCE} (postgresql; the password goes to Secrets Manager)",
        lambda c: c.create_data_source(
            {
                "name": SOURCE,
                "type": "postgresql",
                "connection": {
                    "host": postgres.host,
                    "port": postgres.port,
                    "database": postgres.database,
                    "user": postgres.user,
                    "password": postgres.password,
                },
                "description": "The payments database.",
            }
        ),
        lambda s: f"{s.name} ({s.type}), connection shown without its password",
        holds=lambda s: postgres.password not in s.model_dump_json(),
    )
    w.expect_refusal(
        "data_scientist",
        "register a data source (system_config only)",
        lambda c: c.create_data_source(
            {
                "name": "analytics_db",
                "type": "postgresql",
                "connection": {
                    "host": "db.internal",
                    "port": 5432,
                    "database": "a",
                    "user": "u",
                    "password": "not-used",  # nosec B105 - refused before any connection is made
                },
            }
        ),
        403,
        "access_denied",
    )
    w.expect_refusal(
        "admin",
        "register a source of a type Cirrus has no connector for",
        lambda c: c.create_data_source({"name": "legacy_db", "type": "oracle", "connection": {}}),
        422,
        "unknown_source_type",
    )
    if source is None:
        return None
    w.expect_ok(
        "ml_engineer",
        f"test the connection to {SOURCE}",
        lambda c: c.test_data_source(SOURCE),
        lambda t: f"connected in {t.latency_ms:.1f} ms" if t.ok else f"failed: {t.error}",
        holds=lambda t: bool(t.ok),
    )
    snapshot = _job_step(
        w,
        "data_scientist",
        f"snapshot {SOURCE}.{TABLE} into the dataset {SNAPSHOT} (Step Functions job, Parquet in S3)",
        lambda c: c.create_snapshot(SNAPSHOT, SOURCE, table=TABLE),
        lambda c, job: c.get_snapshot_job(SNAPSHOT, job.job_id),
        lambda job: job.status.value,
        lambda job: (
            f"{SNAPSHOT} v{job.version}: {job.row_count} rows" + (f", {job.error}" if job.error else "")
        ),
    )
    if snapshot is None or snapshot.status.value != "succeeded":
        return None
    version = w.client("data_scientist").get_dataset_version(SNAPSHOT, snapshot.version)
    w.note(
        f"content hash {version.content_hash}, {len(version.columns)} columns, {len(version.files)} part(s)"
    )
    labels = _labels_step(w, snapshot.version)
    if labels is None:
        return None
    if not _feature_steps(w, snapshot.version, count):
        return None
    training_set = _job_step(
        w,
        "data_scientist",
        f"build the point-in-time training set {TRAINING_SET} (labels joined with features as of each label)",
        lambda c: c.create_training_set(
            {
                "dataset": TRAINING_SET,
                "description": "Chargeback labels with the transaction features known at label time.",
                "labels": {"dataset": f"dataset:{LABELS}@{labels}", "label_time": "label_time"},
                "feature_groups": [{"group": FEATURE_GROUP, "version": 1}],
            }
        ),
        lambda c, ts: c.get_training_set(ts.training_set_id),
        lambda ts: ts.status.value,
        lambda ts: (
            f"{ts.dataset} v{ts.dataset_version}: {ts.row_count} rows"
            + (f", {ts.failure}" if ts.failure else "")
        ),
        done=("ready", "failed"),
    )
    if training_set is None or training_set.status.value != "ready":
        return None
    return TrainingData(
        reference=f"training-set:{training_set.training_set_id}",
        dataset_version=f"dataset:{TRAINING_SET}@{training_set.dataset_version}",
    )


def _labels_step(w: Walkthrough, snapshot_version: int) -> int | None:
    """A SQL transformation: each transaction's label, known three days after it happened."""
    sql = (
        "SELECT transaction_id, occurred_at + INTERVAL 3 DAY AS label_time, label "
        "FROM transactions ORDER BY transaction_id"
    )
    put = w.expect_ok(
        "data_scientist",
        f"declare the SQL transformation {LABELS} (DuckDB over the snapshot)",
        lambda c: c.put_transformation(
            LABELS,
            {
                "description": f"Chargebacks are known {LABEL_DELAY_DAYS} days after the transaction.",
                "inputs": {"transactions": f"dataset:{SNAPSHOT}@{snapshot_version}"},
                "output": {"dataset": LABELS},
                "sql": sql,
            },
        ),
        lambda t: f"{t.name}, code hash {t.code_hash[:19]}...",
    )
    if put is None:
        return None
    run = _job_step(
        w,
        "data_scientist",
        f"run {LABELS} into a new dataset version (inputs pinned, lineage recorded)",
        lambda c: c.run_transformation(LABELS),
        lambda c, r: c.get_transformation_run(LABELS, r.run_id),
        lambda r: r.status.value,
        lambda r: (
            f"{r.output.dataset} v{r.output.version}: {r.row_count} rows"
            + (f", {r.failure}" if r.failure else "")
        ),
    )
    return run.output.version if run is not None and run.status.value == "succeeded" else None


def _feature_steps(w: Walkthrough, snapshot_version: int, count: int) -> bool:
    """The feature group: defined, refused a breaking change, ingested, materialised and read online."""
    definition = feature_group_definition()
    created = w.expect_ok(
        "data_scientist",
        f"define the feature group {FEATURE_GROUP} (entity transaction_id, event time occurred_at)",
        lambda c: c.put_feature_group(FEATURE_GROUP, definition),
        lambda r: f"{r.definition.name} v{r.version}: {r.change.value}",
        holds=lambda r: r.version == 1,
    )
    if created is None:
        return False
    narrower = {**definition, "features": definition["features"][1:]}
    w.expect_refusal(
        "data_scientist",
        f"drop the feature 'amount' from {FEATURE_GROUP} without asking for a new version",
        lambda c: c.put_feature_group(FEATURE_GROUP, narrower),
        422,
        "breaking_feature_change",
    )
    ingestion = _job_step(
        w,
        "data_scientist",
        f"ingest {SNAPSHOT} v{snapshot_version} into the offline store (S3 Parquet)",
        lambda c: c.ingest_features(FEATURE_GROUP, f"dataset:{SNAPSHOT}@{snapshot_version}"),
        lambda c, job: c.get_ingestion(FEATURE_GROUP, job.ingestion_id),
        lambda job: job.status.value,
        lambda job: (
            f"{job.rows} rows at {FEATURE_GROUP} v{job.version}" + (f", {job.failure}" if job.failure else "")
        ),
    )
    if ingestion is None or ingestion.status.value != "succeeded" or ingestion.rows != count:
        return False
    materialized = _job_step(
        w,
        "ml_engineer",
        f"materialise {FEATURE_GROUP} into the online store (DynamoDB)",
        lambda c: c.materialize_features(FEATURE_GROUP),
        lambda c, job: c.get_materialization(FEATURE_GROUP, job.materialization_id),
        lambda job: job.status.value,
        lambda job: (
            f"{job.written} entities written, {job.skipped} skipped as older"
            + (f", {job.failure}" if job.failure else "")
        ),
    )
    if materialized is None or materialized.status.value != "succeeded":
        return False
    w.expect_ok(
        "ml_engineer",
        f"read transaction 1's features online ({FEATURE_GROUP})",
        lambda c: c.online_features(FEATURE_GROUP, "1"),
        lambda f: ", ".join(f"{name}={value}" for name, value in list(f.features.items())[:4]) + ", ...",
        holds=lambda f: set(f.features) == set(NUMERIC_FEATURES) | set(CATEGORICAL_FEATURES),
    )
    w.expect_refusal(
        "ml_engineer",
        "read the online features of a transaction that does not exist",
        lambda c: c.online_features(FEATURE_GROUP, str(count + 1_000_000)),
        404,
        "entity_not_found",
    )
    return True


def _job_step(
    w: Walkthrough,
    role: str,
    title: str,
    start: Callable[[CirrusClient], Any],
    poll: Callable[[CirrusClient, Any], Any],
    status: Callable[[Any], str],
    describe: Callable[[Any], str],
    *,
    done: tuple[str, ...] = ("succeeded", "failed"),
) -> Any:
    """Start a job over the API and follow it until it ends; one step for both."""
    started = time.perf_counter()
    client = w.client(role)
    from cirrus.client import CirrusApiError

    try:
        job = start(client)
        deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
        while status(job) not in done and time.monotonic() < deadline:
            time.sleep(0.3)
            job = poll(client, job)
    except CirrusApiError as error:
        w.record(
            f"{role}: {title}", False, f"unexpected {error.status} {error.code}: {error.message}", started
        )
        return None
    w.record(f"{role}: {title}", status(job) == done[0], describe(job), started)
    return job


EXPECTED_LINEAGE_KINDS: Final = frozenset(
    {"model_version", "dataset_version", "feature_group_version", "transformation", "data_source"}
)


def lineage_step(w: Walkthrough, model: str, version: int, training: TrainingData) -> None:
    """The deployed version's lineage, from the model back to the PostgreSQL source."""

    def described(lineage: Lineage) -> str:
        # The data chain only (the training job and pipeline execution are shown by the runs).
        chain = [node.id for node in lineage.nodes if node.kind in EXPECTED_LINEAGE_KINDS - {"model_version"}]
        return f"{len(lineage.nodes)} nodes, {len(lineage.edges)} edges: " + " <- ".join(
            [f"{model} v{version}", *chain]
        )

    def complete(lineage: Lineage) -> bool:
        ids = {node.id for node in lineage.nodes}
        kinds = {node.kind for node in lineage.nodes}
        return (
            kinds >= EXPECTED_LINEAGE_KINDS
            and {
                f"source:{SOURCE}",
                f"feature_group_version:{FEATURE_GROUP}@1",
                training.dataset_version.replace("dataset:", "dataset_version:"),
            }
            <= ids
        )

    w.expect_ok(
        "model_reviewer",
        f"trace v{version}'s lineage back to its source (training set, features, snapshot, {SOURCE})",
        lambda c: c.lineage(model, version),
        described,
        holds=complete,
        section=Section.DATA,
    )
