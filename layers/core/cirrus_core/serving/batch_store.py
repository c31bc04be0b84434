"""AWS adapters of batch inference: `BATCH#` items, the state machine's executions, the registry.

pk MODEL#<model_id>   sk BATCH#<job_id>   job_id, model_id, version, environment, request (JSON),
                                          status, transform_job_name, execution_arn, created_by,
                                          created_at, updated_at, finished_at, failure_reason
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from cirrus_core.contention import backoff_seconds
from cirrus_core.errors import TooMuchContention
from cirrus_core.serving.batch import FINAL_STATUSES, BatchJob, BatchJobStatus

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef
    from mypy_boto3_stepfunctions import SFNClient

    from cirrus_core.audit.log import AuditLog
    from cirrus_core.audit.models import AuditEntry
    from cirrus_core.principal import ActorRecord
    from cirrus_core.registry.models import ModelVersion, RegisteredModel
    from cirrus_core.registry.repository import RegistryRepository

_BATCH_PREFIX = "BATCH#"
# The request's fields, kept together as the item's `request` attribute.
_REQUEST_FIELDS = (
    "input_uri",
    "output_uri",
    "content_type",
    "split",
    "accept",
    "instance_type",
    "instance_count",
)


def model_pk(model_id: str) -> str:
    return f"MODEL#{model_id}"


def batch_sk(job_id: str) -> str:
    return f"{_BATCH_PREFIX}{job_id}"


def _s(value: str) -> dict[str, Any]:
    return {"S": value}


class BatchStore:
    """Reads and writes batch job items of the serving table."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        audit: AuditLog | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        max_attempts: int = 30,
    ) -> None:
        self._client = client
        self._table = table_name
        self._audit = audit
        self._sleep = sleep
        self._max_attempts = max_attempts

    def create(self, job: BatchJob, actor: ActorRecord, audit: AuditEntry | None) -> None:
        """Write a new job's item with its audit record in one transaction (a lost audit race retries)."""
        item = {"pk": _s(model_pk(job.model_id)), "sk": _s(batch_sk(job.job_id)), **_item(job, actor)}
        put: TransactWriteItemTypeDef = {
            "Put": {"TableName": self._table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}
        }
        for attempt in range(self._max_attempts):
            items = [put]
            if self._audit is not None and audit is not None:
                items.extend(self._audit.transaction_items(audit, self._audit.head()))
            try:
                self._client.transact_write_items(TransactItems=items)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise
                self._sleep(backoff_seconds(attempt))
                continue
            return
        raise TooMuchContention(
            "The audit trail is being written by too many callers at once; retry shortly."
        )

    def get(self, model_id: str, job_id: str) -> BatchJob | None:
        response = self._client.get_item(
            TableName=self._table,
            Key={"pk": _s(model_pk(model_id)), "sk": _s(batch_sk(job_id))},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return _job(dict(item)) if item else None

    def list_all(self, model_id: str) -> list[BatchJob]:
        """Every batch job of a model, in job id order."""
        params: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": _s(model_pk(model_id)), ":prefix": _s(_BATCH_PREFIX)},
            "ConsistentRead": True,
        }
        jobs: list[BatchJob] = []
        while True:
            response = self._client.query(**params)
            jobs.extend(_job(dict(item)) for item in response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if not last:
                return jobs
            params["ExclusiveStartKey"] = last

    def finish(
        self, model_id: str, job_id: str, status: BatchJobStatus, failure_reason: str | None, at: datetime
    ) -> bool:
        """Make a running job final; False when it already was (nothing is changed then)."""
        values: dict[str, Any] = {
            ":status": _s(status.value),
            ":at": _s(at.isoformat()),
            ":running": _s(BatchJobStatus.IN_PROGRESS.value),
        }
        expression = "SET #status = :status, updated_at = :at, finished_at = :at"
        if failure_reason is not None:
            expression += ", failure_reason = :reason"
            values[":reason"] = _s(failure_reason)
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": _s(model_pk(model_id)), "sk": _s(batch_sk(job_id))},
                UpdateExpression=expression,
                ConditionExpression="#status = :running",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return False
        return True


def _item(job: BatchJob, actor: ActorRecord) -> dict[str, Any]:
    document = job.model_dump(mode="json")
    item: dict[str, Any] = {
        "job_id": _s(job.job_id),
        "model_id": _s(job.model_id),
        "version": {"N": str(job.version)},
        "request": _s(json.dumps({name: document[name] for name in _REQUEST_FIELDS}, separators=(",", ":"))),
        "status": _s(job.status.value),
        "transform_job_name": _s(job.transform_job_name),
        "execution_arn": _s(job.execution_arn),
        "created_by": _s(job.created_by),
        "created_by_sub": _s(actor.sub),
        "created_at": _s(job.created_at.isoformat()),
        "updated_at": _s(job.updated_at.isoformat()),
    }
    if job.environment is not None:
        item["environment"] = _s(job.environment.value)
    if job.status in FINAL_STATUSES and job.finished_at is not None:
        item["finished_at"] = _s(job.finished_at.isoformat())
    if job.failure_reason is not None:
        item["failure_reason"] = _s(job.failure_reason)
    return item


def _job(item: dict[str, Any]) -> BatchJob:
    request = json.loads(item["request"]["S"])
    finished = item.get("finished_at", {}).get("S")
    return BatchJob(
        job_id=item["job_id"]["S"],
        model_id=item["model_id"]["S"],
        version=int(item["version"]["N"]),
        environment=item.get("environment", {}).get("S"),
        status=item["status"]["S"],
        transform_job_name=item["transform_job_name"]["S"],
        execution_arn=item["execution_arn"]["S"],
        created_by=item["created_by"]["S"],
        created_at=datetime.fromisoformat(item["created_at"]["S"]),
        updated_at=datetime.fromisoformat(item["updated_at"]["S"]),
        finished_at=datetime.fromisoformat(finished) if finished else None,
        failure_reason=item.get("failure_reason", {}).get("S"),
        **request,
    )


class BatchExecutions:
    """Starts executions of the batch state machine."""

    def __init__(self, client: SFNClient) -> None:
        self._client = client

    def start(self, state_machine_arn: str, name: str, execution_input: str) -> str:
        """Start the execution `name`; returns its ARN."""
        response = self._client.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=execution_input
        )
        return str(response["executionArn"])


class RegistryVersions:
    """The registry's models and versions, read straight from its table (the steps act for nobody)."""

    def __init__(self, repository: RegistryRepository) -> None:
        self._repository = repository

    def model(self, model_id: str) -> RegisteredModel | None:
        record = self._repository.get_model(model_id)
        return record.model if record is not None else None

    def version(self, model_id: str, version: int) -> ModelVersion | None:
        return self._repository.get_version(model_id, version)
