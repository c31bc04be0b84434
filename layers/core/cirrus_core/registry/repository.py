"""DynamoDB adapter for the registry table.

One table, one partition per model:
  pk MODEL#<id>  sk MODEL                          the model record (with `revision`, the lock)
  pk MODEL#<id>  sk VERSION#<10-digit version>     one item per version
  pk MODEL#<id>  sk PROMOTION#<env>#<10-digit seq>  append-only alias history
  pk SAGEMAKER_NAME#<base>  sk RESERVATION         keeps SageMaker base names unique
The GSI `by_kind` (gsi1pk MODEL, gsi1sk <id>) lists models in name order.
Items keep their document as JSON in `doc`, so what is read back is exactly what was written.
Every change to a model's partition is one transaction conditioned on the model's revision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from cirrus_core.registry.models import Environment, ModelVersion, Promotion, RegisteredModel
from cirrus_core.registry.primitives import model_pk, version_sk

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

    from cirrus_core.audit.log import AuditLog
    from cirrus_core.audit.models import AuditEntry

MODELS_INDEX = "by_kind"
_MODEL_KIND = "MODEL"
_PAGE = 100


class ConcurrentUpdate(Exception):
    """Another writer changed the model first; re-read and try again."""


class NameTaken(Exception):
    """The SageMaker base name is held by another model."""


class ModelRecord(BaseModel):
    """A model as stored: what the API shows plus the state rollback and history need."""

    model: RegisteredModel
    revision: int = 0
    alias_stacks: dict[Environment, list[int]] = Field(default_factory=dict)
    promotion_seq: dict[Environment, int] = Field(default_factory=dict)


@dataclass
class Changes:
    """Everything one registry operation writes, committed atomically."""

    record: ModelRecord
    expected_revision: int | None
    new_versions: list[ModelVersion] = field(default_factory=list)
    updated_versions: list[ModelVersion] = field(default_factory=list)
    promotions: list[Promotion] = field(default_factory=list)
    reserve_name: str | None = None
    audit: AuditEntry | None = None


_model_pk = model_pk
_version_sk = version_sk


def _promotion_prefix(environment: Environment) -> str:
    return f"PROMOTION#{environment.value}#"


def _s(value: str) -> dict[str, str]:
    return {"S": value}


class RegistryRepository:
    """Reads and writes registry items; no rules beyond the optimistic lock live here."""

    def __init__(self, client: DynamoDBClient, table_name: str, audit: AuditLog | None = None) -> None:
        self._client = client
        self._table = table_name
        self._audit = audit

    @property
    def audit(self) -> AuditLog | None:
        """The audit trail changes are recorded in, when one is configured."""
        return self._audit

    def get_model(self, model_id: str) -> ModelRecord | None:
        item = self._get(_model_pk(model_id), _MODEL_KIND)
        return ModelRecord.model_validate_json(item["doc"]["S"]) if item else None

    def get_version(self, model_id: str, version: int) -> ModelVersion | None:
        item = self._get(_model_pk(model_id), _version_sk(version))
        return ModelVersion.model_validate_json(item["doc"]["S"]) if item else None

    def iter_versions(self, model_id: str, start_after: int | None, page_size: int) -> Iterator[ModelVersion]:
        """Versions newest first, after `start_after` when given."""
        params: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": _s(_model_pk(model_id)), ":prefix": _s("VERSION#")},
            "ScanIndexForward": False,
        }
        if start_after is not None:
            params["ExclusiveStartKey"] = {"pk": _s(_model_pk(model_id)), "sk": _s(_version_sk(start_after))}
        for item in self._query(params, page_size):
            yield ModelVersion.model_validate_json(item["doc"]["S"])

    def iter_promotions(
        self, model_id: str, environment: Environment, start_after: int | None, page_size: int
    ) -> Iterator[Promotion]:
        """An environment's alias history, newest first."""
        prefix = _promotion_prefix(environment)
        params: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": _s(_model_pk(model_id)), ":prefix": _s(prefix)},
            "ScanIndexForward": False,
        }
        if start_after is not None:
            params["ExclusiveStartKey"] = {
                "pk": _s(_model_pk(model_id)),
                "sk": _s(f"{prefix}{start_after:010d}"),
            }
        for item in self._query(params, page_size):
            yield Promotion.model_validate_json(item["doc"]["S"])

    def iter_models(self, prefix: str, start_after: str | None, page_size: int) -> Iterator[ModelRecord]:
        """Models in name order, those whose id starts with `prefix`."""
        condition = "gsi1pk = :kind"
        values: dict[str, Any] = {":kind": _s(_MODEL_KIND)}
        if prefix:
            condition += " AND begins_with(gsi1sk, :prefix)"
            values[":prefix"] = _s(prefix)
        params: dict[str, Any] = {
            "IndexName": MODELS_INDEX,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        if start_after is not None:
            params["ExclusiveStartKey"] = {
                "pk": _s(_model_pk(start_after)),
                "sk": _s(_MODEL_KIND),
                "gsi1pk": _s(_MODEL_KIND),
                "gsi1sk": _s(start_after),
            }
        for item in self._query(params, page_size):
            yield ModelRecord.model_validate_json(item["doc"]["S"])

    def commit(self, changes: Changes) -> None:
        """Write the changes in one transaction, conditioned on the model's revision.

        The audit record of the change, when given, is part of the same transaction: no change
        lands without its record, and no record without its change.
        """
        record = changes.record
        model_id = record.model.model_id
        pk = _model_pk(model_id)
        model_put: TransactWriteItemTypeDef = {
            "Put": {
                "TableName": self._table,
                "Item": {
                    "pk": _s(pk),
                    "sk": _s(_MODEL_KIND),
                    "gsi1pk": _s(_MODEL_KIND),
                    "gsi1sk": _s(model_id),
                    "revision": {"N": str(record.revision)},
                    "doc": _s(record.model_dump_json()),
                },
            }
        }
        if changes.expected_revision is None:
            model_put["Put"]["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            model_put["Put"]["ConditionExpression"] = "revision = :expected"
            model_put["Put"]["ExpressionAttributeValues"] = {
                ":expected": {"N": str(changes.expected_revision)}
            }
        items: list[TransactWriteItemTypeDef] = [model_put]
        for version in changes.new_versions:
            items.append(self._put(pk, _version_sk(version.version), version, must_be_new=True))
        for version in changes.updated_versions:
            items.append(self._put(pk, _version_sk(version.version), version, must_be_new=False))
        for promotion in changes.promotions:
            sk = f"{_promotion_prefix(promotion.environment)}{promotion.sequence:010d}"
            items.append(self._put(pk, sk, promotion, must_be_new=True))
        reservation_index = None
        if changes.reserve_name is not None:
            reservation_index = len(items)
            items.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {
                            "pk": _s(f"SAGEMAKER_NAME#{changes.reserve_name}"),
                            "sk": _s("RESERVATION"),
                            "model_id": _s(model_id),
                        },
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            )
        if self._audit is not None and changes.audit is not None:
            # Appended last so the indexes above keep their meaning; a refused head update means
            # another call advanced the chain first: a lost race like any other, retried by the caller.
            items.extend(self._audit.transaction_items(changes.audit, self._audit.head()))
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = error.response.get("CancellationReasons") or []

            def refused(index: int | None) -> bool:
                return (
                    index is not None
                    and index < len(reasons)
                    and reasons[index].get("Code") == "ConditionalCheckFailed"
                )

            # When two callers create the same model at once, the loser fails on the model put and
            # on the reservation (held by the winner, for this same id): that is a lost race to
            # retry, not a name collision. Only a reservation refused on its own means another
            # model holds the SageMaker name.
            if refused(reservation_index) and not refused(0):
                raise NameTaken(changes.reserve_name) from error
            raise ConcurrentUpdate(model_id) from error

    def _put(self, pk: str, sk: str, document: BaseModel, *, must_be_new: bool) -> TransactWriteItemTypeDef:
        put: TransactWriteItemTypeDef = {
            "Put": {
                "TableName": self._table,
                "Item": {"pk": _s(pk), "sk": _s(sk), "doc": _s(document.model_dump_json())},
                "ConditionExpression": "attribute_not_exists(pk)" if must_be_new else "attribute_exists(pk)",
            }
        }
        return put

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        response = self._client.get_item(
            TableName=self._table, Key={"pk": _s(pk), "sk": _s(sk)}, ConsistentRead=True
        )
        item = response.get("Item")
        return dict(item) if item else None

    def _query(self, params: dict[str, Any], page_size: int) -> Iterator[dict[str, Any]]:
        params = {**params, "TableName": self._table, "Limit": max(1, min(page_size, _PAGE))}
        while True:
            response = self._client.query(**params)
            yield from response.get("Items", [])
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            params["ExclusiveStartKey"] = last
