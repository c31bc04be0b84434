"""The AWS resources behind transformations, each behind a small adapter.

- TransformationStore: `TRANSFORM#<name>` / `META` (gsi1 `TRANSFORMS` / `<name>`) and its runs,
  `TRANSFORM#<name>` / `RUN#<run_id>`, in the data table (docs/data.md, "Storage").
- ModuleStore: registered Python modules, `transformations/<name>/<sha256>.py` in the data bucket;
  content-addressed, so a key is written once and never changes.
- RunFiles: a run's Spark plan and the Spark job's output parts, under
  `transformations/<name>/runs/<run_id>/` in the data bucket.
- TransformationExecutions: StartExecution of the transformation state machine.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from cirrus_core.audit.transact import ChangeConditionFailed, write_with_audit
from cirrus_core.data.transformations import StoredRun, Transformation, TransformationRunStatus

if TYPE_CHECKING:
    from collections.abc import Iterable

    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient

    from cirrus_core.audit.log import AuditLog
    from cirrus_core.audit.models import AuditEntry

META_SK: Final = "META"
INDEX: Final = "gsi1"
INDEX_PK: Final = "TRANSFORMS"


def transformation_pk(name: str) -> str:
    return f"TRANSFORM#{name}"


def run_sk(run_id: str) -> str:
    return f"RUN#{run_id}"


def run_prefix(name: str, run_id: str) -> str:
    """Where a run's Spark plan and the Spark job's output parts lie in the data bucket."""
    return f"transformations/{name}/runs/{run_id}/"


def _s(value: str) -> dict[str, Any]:
    return {"S": value}


class TransformationStore:
    """Transformations and their runs in the data table; a transformation's changes carry their audit
    record in the same transaction."""

    def __init__(self, client: DynamoDBClient, table_name: str, audit: AuditLog | None = None) -> None:
        self._client = client
        self._table = table_name
        self._audit = audit

    # -- transformations -------------------------------------------------------------------------------

    def transformation(self, name: str) -> Transformation | None:
        item = self._client.get_item(
            TableName=self._table,
            Key={"pk": _s(transformation_pk(name)), "sk": _s(META_SK)},
            ConsistentRead=True,
        ).get("Item")
        return Transformation.model_validate_json(item["transformation"]["S"]) if item else None

    def put(self, record: Transformation, *, expected_revision: int | None, audit: AuditEntry | None) -> None:
        """Create (expected_revision None) or replace the transformation read at `expected_revision`;
        ChangeConditionFailed when someone else created or replaced it meanwhile."""
        put: TransactWriteItemTypeDef = {
            "Put": {
                "TableName": self._table,
                "Item": {
                    "pk": _s(transformation_pk(record.name)),
                    "sk": _s(META_SK),
                    "gsi1pk": _s(INDEX_PK),
                    "gsi1sk": _s(record.name),
                    "revision": {"N": str(record.revision)},
                    "transformation": _s(record.model_dump_json()),
                },
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        if expected_revision is not None:
            put["Put"]["ConditionExpression"] = "revision = :read"
            put["Put"]["ExpressionAttributeValues"] = {":read": {"N": str(expected_revision)}}
        write_with_audit(self._client, [put], self._audit, audit)

    def transformations(self, *, limit: int, after: str | None) -> tuple[list[Transformation], str | None]:
        """A page of transformations by name, and the name to continue after (or None)."""
        params: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": INDEX,
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": {":pk": _s(INDEX_PK)},
            "Limit": limit,
        }
        if after is not None:
            params["ExclusiveStartKey"] = {
                "pk": _s(transformation_pk(after)),
                "sk": _s(META_SK),
                "gsi1pk": _s(INDEX_PK),
                "gsi1sk": _s(after),
            }
        page = self._client.query(**params)
        found = [
            Transformation.model_validate_json(item["transformation"]["S"]) for item in page.get("Items", [])
        ]
        more = "LastEvaluatedKey" in page and bool(found)
        return found, (found[-1].name if more else None)

    # -- runs ------------------------------------------------------------------------------------------

    def create_run(self, run: StoredRun) -> None:
        """Put a new run (its id is fresh: an existing item means a bug, and the put fails)."""
        self._write_run(run, "attribute_not_exists(pk)", {})

    def run(self, name: str, run_id: str) -> StoredRun | None:
        item = self._client.get_item(
            TableName=self._table,
            Key={"pk": _s(transformation_pk(name)), "sk": _s(run_sk(run_id))},
            ConsistentRead=True,
        ).get("Item")
        return StoredRun.model_validate_json(item["run"]["S"]) if item else None

    def replace_run(self, run: StoredRun, *, expected: Iterable[TransformationRunStatus]) -> None:
        """Store the run's new state if its stored status is one of `expected`, else ChangeConditionFailed."""
        names = sorted(status.value for status in expected)
        values = {f":s{index}": _s(name) for index, name in enumerate(names)}
        self._write_run(run, f"#status IN ({', '.join(values)})", values)

    def _write_run(self, run: StoredRun, condition: str, values: dict[str, Any]) -> None:
        params: dict[str, Any] = {
            "TableName": self._table,
            "Item": {
                "pk": _s(transformation_pk(run.transformation)),
                "sk": _s(run_sk(run.run_id)),
                "status": _s(run.status.value),
                "run": _s(run.model_dump_json()),
            },
            "ConditionExpression": condition,
        }
        if values:
            params["ExpressionAttributeNames"] = {"#status": "status"}
            params["ExpressionAttributeValues"] = values
        try:
            self._client.put_item(**params)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise ChangeConditionFailed(0) from error
            raise


class ModuleStore:
    """Registered Python modules in the data bucket, content-addressed (a key is written once)."""

    def __init__(self, client: S3Client, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def put(self, key: str, source: str) -> None:
        """Write the module unless its key exists (a conditional write: same key, same bytes)."""
        try:
            self._client.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=source.encode("utf-8"),
                ContentType="text/x-python; charset=utf-8",
                IfNoneMatch="*",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "PreconditionFailed":
                raise


class RunFiles:
    """A run's files in the data bucket: the Spark plan, and the parts the Spark job wrote."""

    def __init__(self, client: S3Client, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    @property
    def bucket(self) -> str:
        return self._bucket

    def put_plan(self, name: str, run_id: str, plan: dict[str, Any]) -> str:
        """Store the plan; its s3:// URI."""
        key = run_prefix(name, run_id) + "plan.json"
        self._client.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=json.dumps(plan, separators=(",", ":")).encode("utf-8"),
            ContentType="application/json",
        )
        return f"s3://{self._bucket}/{key}"

    def output_uri(self, name: str, run_id: str) -> str:
        return f"s3://{self._bucket}/{run_prefix(name, run_id)}output/"

    def output_parts(self, name: str, run_id: str) -> list[str]:
        """The keys of the Parquet parts the Spark job wrote, in name order (Spark numbers them)."""
        prefix = run_prefix(name, run_id) + "output/"
        keys: list[str] = []
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
            keys.extend(item["Key"] for item in page.get("Contents", []) if item["Key"].endswith(".parquet"))
        return sorted(keys)

    def download(self, key: str, path: str) -> None:
        self._client.download_file(self._bucket, key, path)

    def copy(self, source_key: str, key: str) -> None:
        """A server-side copy (multipart for large parts, through boto3's managed transfer)."""
        self._client.copy({"Bucket": self._bucket, "Key": source_key}, self._bucket, key)


class TransformationExecutions:
    """Starts executions of the transformation state machine."""

    def __init__(self, client: SFNClient) -> None:
        self._client = client

    def start(self, state_machine_arn: str, name: str, execution_input: str) -> str:
        response = self._client.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=execution_input
        )
        return str(response["executionArn"])
