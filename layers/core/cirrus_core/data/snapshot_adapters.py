"""The AWS resources behind snapshots and dataset reads, each behind a small adapter.

- SnapshotJobStore: the `JOB#<job_id>` items of the data table (docs/data.md, "Storage").
- SnapshotExecutions: StartExecution of the snapshot state machine.
- DatasetParts: a version's Parquet parts in the data bucket, uploaded with boto3's managed
  (multipart) transfer and read back through ranged GETs, so a sample reads the footer and the first
  row group, never the whole part.
- ParquetSampler: the first rows of a part (pyarrow, imported when a sample is read: only the sample
  function carries the connectors layer).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from cirrus_core.audit.transact import ChangeConditionFailed
from cirrus_core.data.datasets import Column
from cirrus_core.data.ranged_object import RangedObject
from cirrus_core.data.snapshots import SnapshotJob, SnapshotJobStatus, json_value

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient
    from pydantic import JsonValue

# Reads of a part are buffered in blocks of this size: a Parquet footer, then column chunks.
READ_BLOCK_BYTES: Final = 256 * 1024


def job_sk(job_id: str) -> str:
    return f"JOB#{job_id}"


class SnapshotJobStore:
    """Snapshot jobs in the data table, under their dataset: `DATASET#<name>` / `JOB#<job_id>`."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def create(self, job: SnapshotJob) -> None:
        """Put a new job (its id is fresh: an existing item means a bug, and the put fails)."""
        self._write(job, "attribute_not_exists(pk)", {})

    def job(self, dataset: str, job_id: str) -> SnapshotJob | None:
        item = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": f"DATASET#{dataset}"}, "sk": {"S": job_sk(job_id)}},
            ConsistentRead=True,
        ).get("Item")
        return SnapshotJob.model_validate_json(item["job"]["S"]) if item else None

    def replace(self, job: SnapshotJob, *, expected: Iterable[SnapshotJobStatus]) -> None:
        """Store the job's new state if its stored status is one of `expected`, else ChangeConditionFailed."""
        names = sorted(status.value for status in expected)
        values = {f":s{index}": {"S": name} for index, name in enumerate(names)}
        self._write(job, f"#status IN ({', '.join(values)})", values)

    def _write(self, job: SnapshotJob, condition: str, values: dict[str, Any]) -> None:
        params: dict[str, Any] = {
            "TableName": self._table,
            "Item": {
                "pk": {"S": f"DATASET#{job.dataset}"},
                "sk": {"S": job_sk(job.job_id)},
                "status": {"S": job.status.value},
                "job": {"S": job.model_dump_json()},
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


class SnapshotExecutions:
    """Starts executions of the snapshot state machine."""

    def __init__(self, client: SFNClient) -> None:
        self._client = client

    def start(self, state_machine_arn: str, name: str, execution_input: str) -> str:
        response = self._client.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=execution_input
        )
        return str(response["executionArn"])


class DatasetParts:
    """A dataset version's Parquet parts in the data bucket."""

    def __init__(self, client: S3Client, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def upload(self, path: Path, key: str) -> None:
        """Upload a local part (multipart above boto3's threshold, so a large part streams in pieces)."""
        self._client.upload_file(str(path), self._bucket, key)

    def open(self, key: str) -> io.BufferedReader:
        """A seekable reader of the part whose reads are ranged GETs."""
        size = int(self._client.head_object(Bucket=self._bucket, Key=key)["ContentLength"])
        return io.BufferedReader(RangedObject(self._client, self._bucket, key, size), READ_BLOCK_BYTES)


class ParquetSampler:
    """The first rows of a Parquet part, as JSON values."""

    def first_rows(
        self, part: io.BufferedReader, limit: int
    ) -> tuple[list[Column], list[dict[str, JsonValue]]]:
        import pyarrow.parquet as pq  # only the sample function carries pyarrow (the connectors layer)

        with pq.ParquetFile(part) as parquet:
            schema = parquet.schema_arrow
            columns = [Column(name=f.name, type=str(f.type), nullable=f.nullable) for f in schema]
            rows: list[dict[str, JsonValue]] = []
            if parquet.metadata.num_row_groups:
                for batch in parquet.iter_batches(batch_size=limit, row_groups=[0], use_threads=False):
                    rows = [{k: json_value(v) for k, v in row.items()} for row in batch.to_pylist()[:limit]]
                    break
        return columns, rows
