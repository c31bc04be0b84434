"""What the snapshot and dataset tests share: the data functions' environment under moto with the
snapshot state machine in moto's Step Functions (executions are recorded, not run), a real PostgreSQL
server for the session, sources created through the sources API, the snapshot's two steps run
in-process as the state machine would run them, and a guard for refusals.
"""

from __future__ import annotations

import importlib
import io
import json
import uuid
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any

import boto3
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cirrus.localcloud.databases import LocalPostgres
from cirrus_core.data import datasets_wiring, sources_wiring
from cirrus_core.data.settings import get_data_settings
from tests.support.api import ApiResponse, LambdaContextStub, build_event, call
from tests.support.authz import claims
from tests.support.aws import DATA_BUCKET, TABLE_NAMES, AwsResources

REGION = "us-east-1"
ACCOUNT = "123456789012"
DATA_TABLE = TABLE_NAMES["DataTable"]
STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:cirrus-test-data-snapshot"
# What the template gives the data functions beyond the shared environment (tests/support/aws.py);
# the smallest parts and fetches allowed, so that a few thousand rows make several of each.
DATA_ENVIRONMENT = {
    "POWERTOOLS_SERVICE_NAME": "cirrus-data",
    "SNAPSHOT_STATE_MACHINE_ARN": STATE_MACHINE_ARN,
    "SNAPSHOT_PART_ROWS": "1000",
    "EXTRACT_CHUNK_ROWS": "400",
}
_SESSION = boto3.session.Session()


# -- calling the functions --------------------------------------------------------------------------


def api(route: str, *, role: str | None = None, **parts: Any) -> ApiResponse:
    """Call `functions/data/<route>.py` with the sample event `data_<route>`, as `role` if given."""
    if role is not None:
        parts["claims"] = claims(role)
    return call(route, build_event(f"data_{route}", **parts), package="data")


def ok(response: ApiResponse, status: int = 200) -> dict[str, Any]:
    assert response.status == status, f"{response.status} {response.body}"
    return dict(response.body)


def step(name: str, event: dict[str, Any]) -> dict[str, Any]:
    """Call a snapshot step (`functions/data/steps/<name>.py`) as Step Functions would."""
    module = importlib.import_module(f"functions.data.steps.{name}")
    result: dict[str, Any] = module.lambda_handler(event, LambdaContextStub())
    return result


def caught(error: Exception) -> dict[str, str]:
    """What the state machine's Catch puts at `$.error` for an error the Lambda function raised."""
    cause = {"errorMessage": str(error), "errorType": type(error).__name__, "stackTrace": []}
    return {"Error": type(error).__name__, "Cause": json.dumps(cause)}


def clear_data_wiring() -> None:
    get_data_settings.cache_clear()
    for cached in (
        datasets_wiring.snapshot_service,
        datasets_wiring.snapshot_runner,
        datasets_wiring.dataset_read_service,
        sources_wiring.source_service,
        sources_wiring.source_secrets,
    ):
        cached.cache_clear()


# -- a real PostgreSQL ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres() -> Iterator[LocalPostgres]:
    """A PostgreSQL server of the session's own (never skipped: the test fails if it cannot start)."""
    with LocalPostgres() as server:
        yield server


def create_customers(server: LocalPostgres, rows: int, *, start: int = 1) -> str:
    """A fresh table `customers_<hex>` of `rows` rows: id, name, balance, updated_at (one a minute)."""
    table = f"customers_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server.dsn, autocommit=True) as connection:
        connection.execute(
            f"CREATE TABLE {table} (id bigint PRIMARY KEY, name text NOT NULL, "
            "balance numeric(12, 2), updated_at timestamptz NOT NULL)"
        )
    add_customers(server, table, rows, start=start)
    return table


def add_customers(server: LocalPostgres, table: str, rows: int, *, start: int) -> None:
    """Insert customers `start` .. `start + rows - 1`; customer n was updated n minutes after 2024-01-01."""
    with psycopg.connect(server.dsn, autocommit=True) as connection:
        connection.execute(
            f"INSERT INTO {table} (id, name, balance, updated_at) "
            "SELECT n, 'customer ' || n, (n * 1.25)::numeric(12, 2), "
            "timestamptz '2024-01-01 00:00:00+00' + n * interval '1 minute' "
            "FROM generate_series(%s::bigint, %s::bigint) AS n",
            (start, start + rows - 1),
        )


# -- the world -------------------------------------------------------------------------------------------


class SnapshotWorld:
    """The resources of one moto-backed test, how to drive a snapshot through its steps, and what they
    hold."""

    def __init__(self, aws: AwsResources) -> None:
        self.aws = aws
        self.sfn = _SESSION.client("stepfunctions", region_name=REGION)
        definition = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
        self.sfn.create_state_machine(
            name=STATE_MACHINE_ARN.rpartition(":")[2],
            definition=definition,
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/cirrus-test-data-snapshot",
        )

    # -- sources and snapshots -----------------------------------------------------------------------------

    def postgres_source(self, name: str, server: LocalPostgres, *, password: str | None = None) -> None:
        """Register `server` as a postgresql source through the sources API (as an admin)."""
        connection = {
            "host": server.host,
            "port": server.port,
            "database": server.database,
            "user": server.user,
            "password": password if password is not None else server.password,
        }
        body = {"name": name, "type": "postgresql", "connection": connection}
        ok(api("create_source", body=body, role="admin"), 201)

    def source_of_type(self, name: str, kind: str) -> None:
        """Register a source of `kind` that is never connected to (for checks of the request's fit)."""
        connections: dict[str, dict[str, Any]] = {
            "mysql": {
                "host": "db.example.com",
                "port": 3306,
                "database": "crm",
                "user": "r",
                "password": "pw-1234",
            },
            "mongodb": {"host": "mongo.example.com", "port": 27017, "database": "shop"},
            "cassandra": {"contact_points": ["cass.example.com"], "port": 9042, "keyspace": "telemetry"},
            "s3": {"bucket": DATA_BUCKET, "prefix": "landing/", "format": "csv"},
            "kinesis": {"stream_arn": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/clicks"},
        }
        ok(
            api(
                "create_source",
                body={"name": name, "type": kind, "connection": connections[kind]},
                role="admin",
            ),
            201,
        )

    def start(self, dataset: str, body: Mapping[str, Any], *, role: str = "data_scientist") -> ApiResponse:
        return api("start_snapshot", path={"name": dataset}, body=dict(body), role=role)

    def started(self, dataset: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return ok(self.start(dataset, body), 202)

    def execution_inputs(self) -> list[dict[str, Any]]:
        """The input of every execution started, oldest first."""
        listed = self.sfn.list_executions(stateMachineArn=STATE_MACHINE_ARN)["executions"]
        described = [self.sfn.describe_execution(executionArn=item["executionArn"]) for item in listed]
        return [json.loads(item["input"]) for item in sorted(described, key=lambda item: item["startDate"])]

    def run(self, job: Mapping[str, Any]) -> dict[str, Any]:
        """Run the state machine's path for a started job: Extract, or on its error Record failure."""
        execution_input = {"job_id": job["job_id"], "dataset": job["dataset"], "version": job["version"]}
        try:
            return step("extract_snapshot", {"input": execution_input})
        except Exception as error:  # the state machine catches States.ALL
            return step("record_snapshot_failure", {"input": execution_input, "error": caught(error)})

    def snapshot(self, dataset: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Start a snapshot and run it; the job as the API then shows it."""
        job = self.started(dataset, body)
        self.run(job)
        return self.job(dataset, job["job_id"])

    def job(self, dataset: str, job_id: str) -> dict[str, Any]:
        return ok(api("get_snapshot_job", path={"name": dataset, "job_id": job_id}))

    def version(self, dataset: str, version: int) -> dict[str, Any]:
        return ok(api("get_dataset_version", path={"name": dataset, "version": str(version)}))

    # -- what is stored -------------------------------------------------------------------------------------

    def items(self) -> list[dict[str, Any]]:
        items = self.aws.dynamodb.scan(TableName=DATA_TABLE, ConsistentRead=True)["Items"]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))

    def dataset_items(self) -> list[dict[str, Any]]:
        return [item for item in self.items() if item["pk"]["S"].startswith("DATASET#")]

    def keys(self, prefix: str = "datasets/") -> list[str]:
        listed = self.aws.s3.list_objects_v2(Bucket=DATA_BUCKET, Prefix=prefix).get("Contents", [])
        return sorted(item["Key"] for item in listed)

    def read_part(self, key: str) -> pa.Table:
        body = self.aws.s3.get_object(Bucket=DATA_BUCKET, Key=key)["Body"].read()
        return pq.read_table(io.BytesIO(body))

    def read_version(self, version: Mapping[str, Any]) -> pa.Table:
        """Every row of a version, its parts read in order."""
        return pa.concat_tables([self.read_part(item["key"]) for item in version["files"]])

    def events(self, detail_type: str) -> list[dict[str, Any]]:
        return [event for event in self.aws.published_events() if event["detail-type"] == detail_type]

    def state(self) -> dict[str, Any]:
        """What a refused request must leave as it was."""
        return {
            "items": self.dataset_items(),
            "keys": self.keys(),
            "executions": self.sfn.list_executions(stateMachineArn=STATE_MACHINE_ARN)["executions"],
        }


class Untouched:
    """`with untouched:` fails the test when the block writes a dataset item, stores a part, starts an
    execution or publishes an event."""

    def __init__(self, world: SnapshotWorld) -> None:
        self._world = world
        self._before: dict[str, Any] = {}
        self._events = 0

    def __enter__(self) -> None:
        self._before = self._world.state()
        self._events = len(self._world.aws.published_events())

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is not None:
            return
        assert self._world.state() == self._before, "the refused request changed something"
        published = self._world.aws.published_events()[self._events :]
        assert not published, f"the refused request published {[e['detail-type'] for e in published]}"


@pytest.fixture
def world(aws: AwsResources, monkeypatch: pytest.MonkeyPatch) -> Iterator[SnapshotWorld]:
    """The data functions' world under moto; nothing registered or snapshotted yet."""
    for name, value in DATA_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    clear_data_wiring()
    yield SnapshotWorld(aws)
    clear_data_wiring()


@pytest.fixture
def untouched(world: SnapshotWorld) -> Untouched:
    return Untouched(world)
