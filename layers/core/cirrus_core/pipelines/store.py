"""DynamoDB adapter for the pipelines table's definitions and trigger index (docs/pipelines.md).

  pk PIPELINE#<id>                  sk META                the pipeline: current version, state machine,
                                                           who changed it, `revision` (the lock)
  pk PIPELINE#<id>                  sk DEF#<10-digit n>    one stored version of the definition
  pk TRIGGER#<provider>#<repository> sk PIPELINE#<id>      a trigger rule, for the webhook handler

Every change of a pipeline is one transaction: META conditioned on its revision, the new DEF item
(which must be new), the trigger index items replaced, and the audit record of the change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from pydantic import BaseModel

from cirrus_core.pipelines.definition import PipelineDefinitionRequest, TriggerRule
from cirrus_core.pipelines.models import DefinitionVersion
from cirrus_core.principal import ActorRecord

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

    from cirrus_core.audit.log import AuditLog
    from cirrus_core.audit.models import AuditEntry

META = "META"
_PIPELINE_PREFIX = "PIPELINE#"
_DEF_PREFIX = "DEF#"
_TRIGGER_PREFIX = "TRIGGER#"
_PAGE = 100


class ConcurrentPipelineUpdate(Exception):
    """Another writer changed the pipeline (or the audit chain) first; re-read and try again."""


class PipelineRecord(BaseModel):
    """The META item of a pipeline."""

    pipeline_id: str
    definition_version: int
    state_machine_arn: str
    description: str = ""
    step_count: int = 0
    trigger_count: int = 0
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime
    # The principal triggered runs act for: whoever stored the current definition.
    updated_by_principal: ActorRecord
    revision: int = 0


class StoredDefinition(BaseModel):
    """A DEF item: one version of a pipeline's definition."""

    pipeline_id: str
    version: int
    definition: PipelineDefinitionRequest
    asl_sha256: str
    created_by: str
    created_at: datetime


@dataclass
class PipelineChange:
    """Everything storing a definition writes, committed atomically."""

    record: PipelineRecord
    expected_revision: int | None
    definition: StoredDefinition
    remove_triggers: list[tuple[str, str]] = field(default_factory=list)
    put_triggers: list[TriggerRule] = field(default_factory=list)
    audit: AuditEntry | None = None


def pipeline_pk(pipeline_id: str) -> str:
    return f"{_PIPELINE_PREFIX}{pipeline_id}"


def definition_sk(version: int) -> str:
    return f"{_DEF_PREFIX}{version:010d}"


def trigger_pk(provider: str, repository: str) -> str:
    """The trigger index partition of a repository: the webhook handler queries it."""
    return f"{_TRIGGER_PREFIX}{provider}#{repository}"


def _s(value: str) -> dict[str, Any]:
    return {"S": value}


def _n(value: int) -> dict[str, Any]:
    return {"N": str(value)}


class PipelineStore:
    """Reads and writes pipeline definitions; no rules beyond the optimistic lock live here."""

    def __init__(self, client: DynamoDBClient, table_name: str, audit: AuditLog | None = None) -> None:
        self._client = client
        self._table = table_name
        self._audit = audit

    @property
    def audit(self) -> AuditLog | None:
        """The audit trail changes are recorded in, when one is configured."""
        return self._audit

    # -- reading ----------------------------------------------------------------------------------

    def get_record(self, pipeline_id: str) -> PipelineRecord | None:
        item = self._get(pipeline_pk(pipeline_id), META)
        return _record(item) if item else None

    def get_definition(self, pipeline_id: str, version: int) -> StoredDefinition | None:
        item = self._get(pipeline_pk(pipeline_id), definition_sk(version))
        if not item:
            return None
        return StoredDefinition(
            pipeline_id=pipeline_id,
            version=version,
            definition=PipelineDefinitionRequest.model_validate_json(item["definition"]["S"]),
            asl_sha256=item["asl_sha256"]["S"],
            created_by=item["created_by"]["S"],
            created_at=datetime.fromisoformat(item["created_at"]["S"]),
        )

    def list_versions(self, pipeline_id: str, limit: int) -> list[DefinitionVersion]:
        """The newest `limit` versions, without their definitions."""
        params: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": _s(pipeline_pk(pipeline_id)), ":prefix": _s(_DEF_PREFIX)},
            "ProjectionExpression": "sk, asl_sha256, created_by, created_at",
            "ScanIndexForward": False,
            "ConsistentRead": True,
            "Limit": max(1, min(limit, _PAGE)),
        }
        versions: list[DefinitionVersion] = []
        while len(versions) < limit:
            response = self._client.query(**params)
            for item in response.get("Items", []):
                versions.append(
                    DefinitionVersion(
                        version=int(item["sk"]["S"].removeprefix(_DEF_PREFIX)),
                        asl_sha256=item["asl_sha256"]["S"],
                        created_by=item["created_by"]["S"],
                        created_at=datetime.fromisoformat(item["created_at"]["S"]),
                    )
                )
            last = response.get("LastEvaluatedKey")
            if not last:
                break
            params["ExclusiveStartKey"] = last
        return versions[:limit]

    def iter_records(self) -> Iterator[PipelineRecord]:
        """Every pipeline's META item, in no particular order (a scan of the table)."""
        params: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "sk = :meta AND begins_with(pk, :prefix)",
            "ExpressionAttributeValues": {":meta": _s(META), ":prefix": _s(_PIPELINE_PREFIX)},
            "ConsistentRead": True,
        }
        while True:
            response = self._client.scan(**params)
            for item in response.get("Items", []):
                yield _record(item)
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            params["ExclusiveStartKey"] = last

    # -- writing ----------------------------------------------------------------------------------

    def commit(self, change: PipelineChange) -> None:
        """Write the change in one transaction, conditioned on the pipeline's revision.

        The audit record, when given, is part of the transaction: no change lands without it.
        ConcurrentPipelineUpdate when a condition failed (another writer, or the audit chain's head
        moved): the caller re-reads and tries again.
        """
        record = change.record
        pk = pipeline_pk(record.pipeline_id)
        meta: TransactWriteItemTypeDef = {
            "Put": {"TableName": self._table, "Item": {"pk": _s(pk), "sk": _s(META), **_record_item(record)}}
        }
        if change.expected_revision is None:
            meta["Put"]["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            meta["Put"]["ConditionExpression"] = "revision = :expected"
            meta["Put"]["ExpressionAttributeValues"] = {":expected": _n(change.expected_revision)}
        stored = change.definition
        definition: TransactWriteItemTypeDef = {
            "Put": {
                "TableName": self._table,
                "Item": {
                    "pk": _s(pk),
                    "sk": _s(definition_sk(stored.version)),
                    "definition": _s(stored.definition.model_dump_json()),
                    "asl_sha256": _s(stored.asl_sha256),
                    "created_by": _s(stored.created_by),
                    "created_at": _s(stored.created_at.isoformat()),
                },
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        items: list[TransactWriteItemTypeDef] = [meta, definition]
        for provider, repository in change.remove_triggers:
            items.append(
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": {"pk": _s(trigger_pk(provider, repository)), "sk": _s(pk)},
                    }
                }
            )
        for rule in change.put_triggers:
            items.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {
                            "pk": _s(trigger_pk(rule.provider, rule.repository)),
                            "sk": _s(pk),
                            "rule": _s(rule.model_dump_json()),
                            "pipeline_id": _s(record.pipeline_id),
                        },
                    }
                }
            )
        if self._audit is not None and change.audit is not None:
            items.extend(self._audit.transaction_items(change.audit, self._audit.head()))
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            raise ConcurrentPipelineUpdate(record.pipeline_id) from error

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        response = self._client.get_item(
            TableName=self._table, Key={"pk": _s(pk), "sk": _s(sk)}, ConsistentRead=True
        )
        item = response.get("Item")
        return dict(item) if item else None


def _record_item(record: PipelineRecord) -> dict[str, Any]:
    actor = record.updated_by_principal
    return {
        "pipeline_id": _s(record.pipeline_id),
        "definition_version": _n(record.definition_version),
        "state_machine_arn": _s(record.state_machine_arn),
        "description": _s(record.description),
        "step_count": _n(record.step_count),
        "trigger_count": _n(record.trigger_count),
        "created_by": _s(record.created_by),
        "created_at": _s(record.created_at.isoformat()),
        "updated_by": _s(record.updated_by),
        "updated_at": _s(record.updated_at.isoformat()),
        "updated_by_principal": {
            "M": {
                "sub": _s(actor.sub),
                "username": _s(actor.username),
                "groups": {"L": [_s(group) for group in actor.groups]},
            }
        },
        "revision": _n(record.revision),
    }


def _record(item: dict[str, Any]) -> PipelineRecord:
    principal = item["updated_by_principal"]["M"]
    return PipelineRecord(
        pipeline_id=item["pk"]["S"].removeprefix(_PIPELINE_PREFIX),
        definition_version=int(item["definition_version"]["N"]),
        state_machine_arn=item["state_machine_arn"]["S"],
        description=item.get("description", {}).get("S", ""),
        step_count=int(item.get("step_count", {}).get("N", "0")),
        trigger_count=int(item.get("trigger_count", {}).get("N", "0")),
        created_by=item["created_by"]["S"],
        created_at=datetime.fromisoformat(item["created_at"]["S"]),
        updated_by=item["updated_by"]["S"],
        updated_at=datetime.fromisoformat(item["updated_at"]["S"]),
        updated_by_principal=ActorRecord(
            sub=principal["sub"]["S"],
            username=principal.get("username", {}).get("S", ""),
            groups=[group["S"] for group in principal.get("groups", {}).get("L", [])],
        ),
        revision=int(item["revision"]["N"]),
    )


def definition_json(definition: PipelineDefinitionRequest) -> str:
    """A definition's canonical JSON: equal definitions give equal text."""
    return json.dumps(definition.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
