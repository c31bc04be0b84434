"""DynamoDB adapter for the security table's policies.

  pk POLICIES  sk POLICY#<policy_id>  a custom policy: statement, description, who stored it and when
  pk POLICIES  sk VERSION             `etag`, a fresh random value on every change to any policy

Every change writes the policy and a new etag in one transaction, so an authorizer that sees the
new etag (it reads it strongly consistently on each decision) re-reads a policy set that has the
change. The etag is random rather than a counter so that a table re-created (tests, a restore)
never repeats a version an execution environment cached.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from cirrus_core.authz.engine import StoredPolicy

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

_PK = "POLICIES"
_VERSION_SK = "VERSION"
_POLICY_PREFIX = "POLICY#"


class AlsoRefused(Exception):
    """A write added to a policy change (the audit record) was refused: re-read and try again."""


class StoredPolicyMissing(Exception):
    """The policy to delete is not stored."""


def _s(value: str) -> dict[str, str]:
    return {"S": value}


class SecurityRepository:
    """Custom policies and their version, in the security table."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def policy_version(self) -> str:
        """The current etag of the custom policies ("" before the first change)."""
        item = self._client.get_item(
            TableName=self._table,
            Key={"pk": _s(_PK), "sk": _s(_VERSION_SK)},
            ConsistentRead=True,
        ).get("Item")
        return str(item["etag"]["S"]) if item else ""

    def list_policies(self) -> list[StoredPolicy]:
        """Every custom policy, in id order."""
        policies: list[StoredPolicy] = []
        paginator = self._client.get_paginator("query")
        pages = paginator.paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": _s(_PK), ":prefix": _s(_POLICY_PREFIX)},
            ConsistentRead=True,
        )
        for page in pages:
            for item in page.get("Items", []):
                policies.append(
                    StoredPolicy(
                        policy_id=item["sk"]["S"].removeprefix(_POLICY_PREFIX),
                        statement=item["statement"]["S"],
                        description=item["description"]["S"],
                        updated_at=item["updated_at"]["S"],
                        updated_by=item["updated_by"]["S"],
                    )
                )
        return policies

    def get_policy(self, policy_id: str) -> StoredPolicy | None:
        """One custom policy, or None when it is not stored."""
        item = self._client.get_item(
            TableName=self._table,
            Key={"pk": _s(_PK), "sk": _s(_POLICY_PREFIX + policy_id)},
            ConsistentRead=True,
        ).get("Item")
        if not item:
            return None
        return StoredPolicy(
            policy_id=policy_id,
            statement=item["statement"]["S"],
            description=item["description"]["S"],
            updated_at=item["updated_at"]["S"],
            updated_by=item["updated_by"]["S"],
        )

    def put_policy(self, policy: StoredPolicy, also: Sequence[TransactWriteItemTypeDef] = ()) -> None:
        """Store (create or replace) a custom policy and move the version, with `also` (audit) atomically.

        AlsoRefused when one of `also`'s conditions failed (a lost race on the audit chain's head).
        """
        self._transact(
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        "pk": _s(_PK),
                        "sk": _s(_POLICY_PREFIX + policy.policy_id),
                        "statement": _s(policy.statement),
                        "description": _s(policy.description),
                        "updated_at": _s(policy.updated_at),
                        "updated_by": _s(policy.updated_by),
                    },
                }
            },
            also,
        )

    def delete_policy(self, policy_id: str, also: Sequence[TransactWriteItemTypeDef] = ()) -> None:
        """Delete a custom policy and move the version, with `also` (audit) atomically.

        StoredPolicyMissing when it is not stored; AlsoRefused when one of `also`'s conditions failed.
        """
        self._transact(
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": {"pk": _s(_PK), "sk": _s(_POLICY_PREFIX + policy_id)},
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
            also,
            missing=StoredPolicyMissing(policy_id),
        )

    def _transact(
        self,
        change: TransactWriteItemTypeDef,
        also: Sequence[TransactWriteItemTypeDef] = (),
        *,
        missing: Exception | None = None,
    ) -> None:
        bump: TransactWriteItemTypeDef = {
            "Update": {
                "TableName": self._table,
                "Key": {"pk": _s(_PK), "sk": _s(_VERSION_SK)},
                "UpdateExpression": "SET etag = :etag",
                "ExpressionAttributeValues": {":etag": _s(uuid.uuid4().hex)},
            }
        }
        try:
            self._client.transact_write_items(TransactItems=[change, bump, *also])
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            codes = [reason.get("Code") for reason in error.response.get("CancellationReasons") or []]
            if missing is not None and codes[:1] == ["ConditionalCheckFailed"]:
                raise missing from error
            raise AlsoRefused(codes) from error
