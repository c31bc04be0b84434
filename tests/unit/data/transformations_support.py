"""What the transformation tests share: the data functions' environment under moto with the
transformation state machine in moto's Step Functions (executions are recorded, not run), input datasets
stored as real versions (Parquet written by DuckDB, completed with DatasetStore), the routes called through
API Gateway events, the state machine's steps run in-process as it would run them, and views of everything
a request could have written (the data table, the data bucket)."""

from __future__ import annotations

import importlib
import json
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pytest

from cirrus_core.data import transformations_wiring
from cirrus_core.data.dataset_store import DatasetStore
from cirrus_core.data.datasets import DatasetKind, DatasetVersion, Lineage, content_hash_of
from cirrus_core.data.settings import get_data_settings
from cirrus_frames.dataset_files import describe_parquet, upload_parts, write_parquet
from tests.support.api import ApiResponse, LambdaContextStub, build_event, call
from tests.support.authz import claims
from tests.support.aws import DATA_BUCKET, ROOT, TABLE_NAMES, AwsResources

REGION = "us-east-1"
ACCOUNT = "123456789012"
DATA_TABLE = TABLE_NAMES["DataTable"]
STATE_MACHINE_NAME = "cirrus-test-data-transformation"
STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STATE_MACHINE_NAME}"
DATA_ENVIRONMENT = {
    "POWERTOOLS_SERVICE_NAME": "cirrus-data",
    "TRANSFORMATION_STATE_MACHINE_ARN": STATE_MACHINE_ARN,
    "SPARK_TRANSFORMATIONS_ENABLED": "false",
    "MAX_BODY_BYTES": "1048576",
}
ASL = ROOT / "statemachines" / "data_transformation.asl.json"
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)\}")
_SESSION = boto3.session.Session()

ORDERS = """
    SELECT order_id, customer_id, amount::DOUBLE AS amount FROM (VALUES
        (1, 10, 5.0), (2, 20, 7.5), (3, 10, 2.5), (4, 30, 1.0)
    ) AS t(order_id, customer_id, amount)
"""
CUSTOMERS = "SELECT * FROM (VALUES (10, 'FR'), (20, 'DE'), (30, 'FR')) AS t(customer_id, country)"
JOIN_SQL = (
    "SELECT c.country, count(*) AS orders, sum(o.amount) AS total "
    "FROM orders AS o JOIN customers AS c USING (customer_id) GROUP BY c.country ORDER BY c.country"
)


def api(route: str, *, role: str | None = None, **parts: Any) -> ApiResponse:
    """Call `functions/data/<route>.py` with the sample event `data_<route>`, as `role` if given."""
    if role is not None:
        parts["claims"] = claims(role)
    return call(route, build_event(f"data_{route}", **parts), package="data")


def ok(response: ApiResponse, status: int = 200) -> dict[str, Any]:
    assert response.status == status, f"{response.status} {response.body}"
    return dict(response.body)


def body(**changes: Any) -> dict[str, Any]:
    """A PUT body: the SQL join of orders and customers into orders_by_country, with `changes`."""
    document: dict[str, Any] = {
        "description": "Orders per country.",
        "inputs": {"orders": "dataset:orders", "customers": "dataset:customers"},
        "output": {"dataset": "orders_by_country"},
        "sql": JOIN_SQL,
    }
    document.update(changes)
    return {key: value for key, value in document.items() if value is not None}


def clear_transformations_wiring() -> None:
    get_data_settings.cache_clear()
    transformations_wiring.transformation_service.cache_clear()
    transformations_wiring.run_ledger.cache_clear()
    transformations_wiring.transformation_executor.cache_clear()


class TransformationsWorld:
    """The resources of one moto-backed test, and what they hold."""

    def __init__(self, aws: AwsResources) -> None:
        self.aws = aws
        self.sfn = _SESSION.client("stepfunctions", region_name=REGION)
        self.datasets = DatasetStore(aws.dynamodb, DATA_TABLE, DATA_BUCKET, sleep=lambda _: None)
        document = _PLACEHOLDER.sub(
            lambda m: f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{m[1]}", ASL.read_text()
        )
        self.sfn.create_state_machine(
            name=STATE_MACHINE_NAME,
            definition=document,
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/cirrus-test-sfn",
        )

    # -- inputs -----------------------------------------------------------------------------------------

    def dataset(self, name: str, select: str, *, ready: bool = True) -> DatasetVersion:
        """A snapshot-like version of `name` holding the rows of `select` (one Parquet part)."""
        version = self.datasets.begin_version(
            name,
            kind=DatasetKind.SNAPSHOT,
            lineage=Lineage(source="shop-db", source_type="postgresql"),
            actor="ada",
        )
        if not ready:
            return version
        connection = duckdb.connect()
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "part-00000.parquet"
            write_parquet(connection, select, path, row_group_rows=1000)
            columns, rows = describe_parquet(connection, [path])
            files = upload_parts(self.aws.s3, DATA_BUCKET, name, version.version, [path], [rows])
        return self.datasets.complete_version(
            name,
            version.version,
            columns=columns,
            row_count=rows,
            content_hash=content_hash_of([f.sha256 for f in files]),
            files=files,
        )

    def inputs(self) -> tuple[DatasetVersion, DatasetVersion]:
        return self.dataset("orders", ORDERS), self.dataset("customers", CUSTOMERS)

    def rows(self, version: DatasetVersion, order: str) -> list[tuple[Any, ...]]:
        """A version's rows, read back from its parts in the data bucket."""
        with tempfile.TemporaryDirectory() as directory:
            paths = []
            for index, part in enumerate(version.files):
                path = Path(directory) / f"{index}.parquet"
                self.aws.s3.download_file(DATA_BUCKET, part.key, str(path))
                paths.append(str(path))
            return (
                duckdb.connect()
                .execute(f"SELECT * FROM read_parquet(?) ORDER BY {order}", [paths])
                .fetchall()
            )

    # -- the API and the steps ------------------------------------------------------------------------

    def put(
        self, name: str = "orders_by_country", document: dict[str, Any] | None = None, **parts: Any
    ) -> ApiResponse:
        return api("put_transformation", path={"name": name}, body=document or body(), **parts)

    def run(self, name: str = "orders_by_country", **parts: Any) -> ApiResponse:
        return api("run_transformation", path={"name": name}, **parts)

    def executions(self) -> list[dict[str, Any]]:
        listed = self.sfn.list_executions(stateMachineArn=STATE_MACHINE_ARN)["executions"]
        return [dict(self.sfn.describe_execution(executionArn=item["executionArn"])) for item in listed]

    def payload(self, run: dict[str, Any], error: dict[str, Any] | None = None) -> dict[str, Any]:
        """The steps' payload for a run, from the execution the API started."""
        (execution,) = [e for e in self.executions() if e["name"] == run["run_id"]]
        document: dict[str, Any] = {
            "input": json.loads(execution["input"]),
            "execution_name": execution["name"],
        }
        if error is not None:
            document["error"] = error
        return document

    def step(self, name: str, run: dict[str, Any], error: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call a state machine step (`functions/data/steps/<name>.py`) as Step Functions would."""
        module = importlib.import_module(f"functions.data.steps.{name}")
        result: dict[str, Any] = module.lambda_handler(self.payload(run, error), LambdaContextStub())
        return result

    def version(self, reference: str) -> DatasetVersion:
        name, number = reference.removeprefix("dataset:").split("@")
        return self.datasets.require_version(name, int(number))

    # -- what a request could have written -----------------------------------------------------------

    def items(self) -> list[dict[str, Any]]:
        items = self.aws.dynamodb.scan(TableName=DATA_TABLE, ConsistentRead=True)["Items"]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))

    def keys(self) -> list[str]:
        listed = self.aws.s3.list_object_versions(Bucket=DATA_BUCKET).get("Versions", [])
        return sorted(f"{item['Key']}#{item['VersionId']}" for item in listed)

    def snapshot(self) -> dict[str, Any]:
        """Everything a refused request must leave as it was."""
        return {"items": self.items(), "keys": self.keys(), "executions": len(self.executions())}


@pytest.fixture
def world(aws: AwsResources, monkeypatch: pytest.MonkeyPatch) -> Iterator[TransformationsWorld]:
    for name, value in DATA_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    clear_transformations_wiring()
    yield TransformationsWorld(aws)
    clear_transformations_wiring()
