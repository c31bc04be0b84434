"""What the feature store tests share: the functions' environment under moto (with a stand-in feature
state machine whose executions the tests run by calling the steps, as Step Functions would), dataset
versions written as Parquet through the frames layer, the routes called through API Gateway events,
and a guard that a refused request changed nothing.

moto's Step Functions here is its mock backend: executions are created RUNNING and never advance.
`run_jobs()` calls the step each started execution's input names, with the payload the ASL builds.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
import duckdb
import pytest

from cirrus_core.audit.log import AuditLog
from cirrus_core.data import features_wiring
from cirrus_core.data.dataset_store import DatasetStore
from cirrus_core.data.datasets import DatasetKind, Lineage, content_hash_of
from cirrus_core.data.settings import get_data_settings
from cirrus_frames.dataset_files import describe_parquet, upload_parts, write_parquet
from tests.support.api import ApiResponse, LambdaContextStub, build_event, call
from tests.support.aws import DATA_BUCKET, TABLE_NAMES, AwsResources
from tests.support.events import assert_valid_event

REGION = "us-east-1"
ACCOUNT = "123456789012"
DATA_TABLE = TABLE_NAMES["DataTable"]
ONLINE_TABLE = TABLE_NAMES["FeatureOnlineTable"]
AUDIT_TABLE = TABLE_NAMES["AuditTable"]
FEATURE_STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:cirrus-test-data-features"
GROUP = "customer_activity"
_SESSION = boto3.session.Session()
# The step each job type runs (statemachines/data_features.asl.json's Choice).
STEPS = {
    "ingestion": "ingest_features",
    "materialization": "materialize_features",
    "training_set": "build_training_set",
}


def definition(**changes: Any) -> dict[str, Any]:
    """The sample group's definition (int64 key, event_time, orders_7d non-nullable, spend_7d, segment)."""
    body: dict[str, Any] = json.loads(build_event("data_put_feature_group")["body"])
    body.update(changes)
    return {key: value for key, value in body.items() if value is not None}


def api(route: str, **parts: Any) -> ApiResponse:
    """Call `functions/data/<route>.py` with the sample `data_<route>` (or `sample=`), changed by `parts`."""
    sample = parts.pop("sample", f"data_{route}")
    return call(route, build_event(sample, **parts), package="data")


def ok(response: ApiResponse, status: int = 200) -> dict[str, Any]:
    assert response.status == status, f"{response.status} {response.body}"
    return dict(response.body)


def step(name: str, event: dict[str, Any]) -> dict[str, Any]:
    """Call a feature job step (`functions/data/steps/<name>.py`) as Step Functions would."""
    module = importlib.import_module(f"functions.data.steps.{name}")
    result: dict[str, Any] = module.lambda_handler(event, LambdaContextStub())
    return result


def clear_feature_wiring() -> None:
    get_data_settings.cache_clear()
    features_wiring.feature_store.cache_clear()
    features_wiring.feature_jobs.cache_clear()
    features_wiring.feature_job_runner.cache_clear()


class FeatureWorld:
    """The data table, online table, data bucket, bus and a stand-in feature state machine."""

    def __init__(self, aws: AwsResources) -> None:
        self.aws = aws
        self.sfn = _SESSION.client("stepfunctions", region_name=REGION)
        self.sfn.create_state_machine(
            name=FEATURE_STATE_MACHINE_ARN.rpartition(":")[2],
            definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/cirrus-test-data-features",
        )
        self.datasets = DatasetStore(aws.dynamodb, DATA_TABLE, DATA_BUCKET, sleep=lambda _: None)
        self._ran: set[str] = set()

    # -- setting up ----------------------------------------------------------------------------------

    def define(self, body: dict[str, Any] | None = None, name: str = GROUP) -> dict[str, Any]:
        response = api("put_feature_group", body=body or definition(), path={"group": name})
        assert response.status in {200, 201}, response.body
        return dict(response.body)

    def dataset(self, name: str, select: str, tmp: Path, kind: DatasetKind = DatasetKind.SNAPSHOT) -> int:
        """A ready version of dataset `name` holding the rows of a DuckDB SELECT; its number."""
        connection = duckdb.connect()
        connection.execute("SET TimeZone = 'UTC'")
        path = tmp / f"{name}-{datetime.now(UTC).timestamp()}.parquet"
        write_parquet(connection, select, path, row_group_rows=1000)
        columns, rows = describe_parquet(connection, [path])
        version = self.datasets.begin_version(
            name, kind=kind, lineage=Lineage(source="warehouse", source_type="postgresql"), actor="test"
        ).version
        files = upload_parts(self.aws.s3, DATA_BUCKET, name, version, [path], [rows])
        self.datasets.complete_version(
            name,
            version,
            columns=columns,
            row_count=rows,
            content_hash=content_hash_of([file.sha256 for file in files]),
            files=files,
        )
        return version

    # -- running the state machine -----------------------------------------------------------------------

    def executions(self) -> list[dict[str, Any]]:
        listed = self.sfn.list_executions(stateMachineArn=FEATURE_STATE_MACHINE_ARN)["executions"]
        return [dict(self.sfn.describe_execution(executionArn=item["executionArn"])) for item in listed]

    def run_jobs(self) -> list[dict[str, Any]]:
        """Run every started execution not run yet, oldest first; the steps' outcomes."""
        outcomes = []
        for execution in sorted(self.executions(), key=lambda item: str(item["name"])):
            if execution["name"] in self._ran:
                continue
            self._ran.add(execution["name"])
            document = json.loads(execution["input"])
            payload = {
                "input": document,
                "execution_name": execution["name"],
                "execution_start": execution["startDate"].isoformat(),
            }
            outcomes.append(step(STEPS[document["type"]], payload))
        return outcomes

    # -- reading ---------------------------------------------------------------------------------------

    def objects(self, prefix: str = "") -> list[str]:
        listed = self.aws.s3.list_objects_v2(Bucket=DATA_BUCKET, Prefix=prefix).get("Contents", [])
        return sorted(item["Key"] for item in listed)

    def read_parquet(self, key: str, tmp: Path) -> list[tuple[Any, ...]]:
        path = tmp / key.replace("/", "_")
        self.aws.s3.download_file(DATA_BUCKET, key, str(path))
        connection = duckdb.connect()
        connection.execute("SET TimeZone = 'UTC'")
        quoted = str(path).replace("'", "''")
        return list(connection.execute(f"FROM read_parquet('{quoted}')").fetchall())

    def online_items(self) -> dict[str, dict[str, Any]]:
        items = self.aws.dynamodb.scan(TableName=ONLINE_TABLE, ConsistentRead=True)["Items"]
        return {item["pk"]["S"]: item for item in items}

    def data_events(self) -> list[dict[str, Any]]:
        """The events the data module published, each checked against its schema."""
        events = [event for event in self.aws.published_events() if event["source"] == "cirrus.data"]
        for event in events:
            assert_valid_event(event)
        return events

    def audit_actions(self) -> list[str]:
        records = AuditLog(self.aws.dynamodb, AUDIT_TABLE).query(limit=100).items
        return [record.action for record in reversed(records)]

    def snapshot(self) -> dict[str, Any]:
        return {
            "tables": self.aws.table_items(),
            "objects": self.objects(),
            "executions": sorted(str(item["executionArn"]) for item in self.executions()),
        }


class Untouched:
    """`with untouched:` fails the test when the block writes an item or object, starts an execution
    or publishes an event."""

    def __init__(self, world: FeatureWorld) -> None:
        self._world = world
        self._before: dict[str, Any] = {}
        self._events = 0

    def __enter__(self) -> None:
        self._before = self._world.snapshot()
        self._events = len(self._world.aws.published_events())

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is not None:
            return
        assert self._world.snapshot() == self._before, "the refused request changed something"
        published = self._world.aws.published_events()[self._events :]
        assert not published, f"the refused request published {[e['detail-type'] for e in published]}"


@pytest.fixture
def world(aws: AwsResources, monkeypatch: pytest.MonkeyPatch) -> Iterator[FeatureWorld]:
    """The feature store's world; nothing defined or written yet."""
    monkeypatch.setenv("FEATURE_STATE_MACHINE_ARN", FEATURE_STATE_MACHINE_ARN)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "cirrus-data")
    clear_feature_wiring()
    yield FeatureWorld(aws)
    clear_feature_wiring()


@pytest.fixture
def untouched(world: FeatureWorld) -> Untouched:
    return Untouched(world)
