"""AWS adapters of channels and deliveries: the monitoring table, Secrets Manager, the email topic.

Monitoring table (docs/monitoring.md, "Storage"):
  pk CHANNEL#<name>    sk CHANNEL                   channel (JSON, no secret), type;
                                                    gsi1pk CHANNELS, gsi1sk CHANNEL#<name> (listing by name)
  pk ALERT#<alert_id>  sk RULE                      the alert rule (the alerts' item; read here)
  pk ALERT#<alert_id>  sk DELIVERY#<time>#<id>      a delivery and its attempts (cirrus_core.alerting.records)
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from cirrus_core.alerting.channels import ChannelRecord
from cirrus_core.alerting.records import (
    DELIVERY_PREFIX,
    DeliveryAttempt,
    DeliveryRecord,
    DeliveryStatus,
    delivery_sort_key,
)
from cirrus_core.audit.transact import write_with_audit

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from cirrus_core.alerting.notification import DeliveryRequest
    from cirrus_core.audit.log import AuditLog
    from cirrus_core.audit.models import AuditEntry

CHANNEL_SK: Final = "CHANNEL"
CHANNELS_INDEX_PK: Final = "CHANNELS"
MODEL_INDEX: Final = "gsi1"


def channel_pk(name: str) -> str:
    return f"CHANNEL#{name}"


def _s(value: str) -> dict[str, Any]:
    return {"S": value}


class ChannelStore:
    """Channels in the monitoring table, each change with its audit record in one transaction."""

    def __init__(self, client: DynamoDBClient, table_name: str, audit: AuditLog | None = None) -> None:
        self._client = client
        self._table = table_name
        self._audit = audit

    def channel(self, name: str) -> ChannelRecord | None:
        item = self._client.get_item(
            TableName=self._table, Key={"pk": _s(channel_pk(name)), "sk": _s(CHANNEL_SK)}, ConsistentRead=True
        ).get("Item")
        return ChannelRecord.model_validate_json(item["channel"]["S"]) if item else None

    def create(self, record: ChannelRecord, audit: AuditEntry | None) -> None:
        """Store a new channel; ChangeConditionFailed when the name is taken."""
        put: TransactWriteItemTypeDef = {
            "Put": {
                "TableName": self._table,
                "Item": self._item(record),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        write_with_audit(self._client, [put], self._audit, audit)

    def replace(self, record: ChannelRecord, audit: AuditEntry | None) -> None:
        """Replace a channel; ChangeConditionFailed when it was deleted meanwhile."""
        put: TransactWriteItemTypeDef = {
            "Put": {
                "TableName": self._table,
                "Item": self._item(record),
                "ConditionExpression": "attribute_exists(pk)",
            }
        }
        write_with_audit(self._client, [put], self._audit, audit)

    def delete(self, name: str, audit: AuditEntry | None) -> None:
        """Delete a channel; ChangeConditionFailed when it is already gone."""
        delete: TransactWriteItemTypeDef = {
            "Delete": {
                "TableName": self._table,
                "Key": {"pk": _s(channel_pk(name)), "sk": _s(CHANNEL_SK)},
                "ConditionExpression": "attribute_exists(pk)",
            }
        }
        write_with_audit(self._client, [delete], self._audit, audit)

    def channels(self, *, limit: int, after: str | None) -> tuple[list[ChannelRecord], str | None]:
        """A page of channels by name, and the name to continue after (or None)."""
        params: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": MODEL_INDEX,
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": {":pk": _s(CHANNELS_INDEX_PK)},
            "Limit": limit,
        }
        if after is not None:
            params["ExclusiveStartKey"] = {
                "pk": _s(channel_pk(after)),
                "sk": _s(CHANNEL_SK),
                "gsi1pk": _s(CHANNELS_INDEX_PK),
                "gsi1sk": _s(channel_pk(after)),
            }
        response = self._client.query(**params)
        records = [
            ChannelRecord.model_validate_json(item["channel"]["S"]) for item in response.get("Items", [])
        ]
        more = "LastEvaluatedKey" in response and len(records) == limit
        return records, (records[-1].name if more and records else None)

    def rules_naming(self, name: str) -> list[str]:
        """The ids of the alert rules whose notification_channels name the channel.

        A filtered scan of the rule items (sk RULE): rules are keyed by alert id and indexed by model,
        so no key reaches them by channel; a delete is rare and the table holds one item per rule.
        """
        found: list[str] = []
        params: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "sk = :rule AND contains(#rule, :quoted)",
            "ExpressionAttributeNames": {"#rule": "rule"},
            "ExpressionAttributeValues": {":rule": _s("RULE"), ":quoted": _s(json.dumps(name))},
            "ProjectionExpression": "pk, #rule",
            "ConsistentRead": True,
        }
        while True:
            response = self._client.scan(**params)
            for item in response.get("Items", []):
                rule = json.loads(item["rule"]["S"])
                if name in (rule.get("notification_channels") or []):
                    found.append(str(rule.get("alert_id") or item["pk"]["S"].removeprefix("ALERT#")))
            if "LastEvaluatedKey" not in response:
                return sorted(found)
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _item(self, record: ChannelRecord) -> dict[str, Any]:
        return {
            "pk": _s(channel_pk(record.name)),
            "sk": _s(CHANNEL_SK),
            "gsi1pk": _s(CHANNELS_INDEX_PK),
            "gsi1sk": _s(channel_pk(record.name)),
            "channel": _s(record.model_dump_json()),
            "type": _s(record.type.value),
        }


class AlertRules:
    """Reads the alert rule items (ALERT#<id>/RULE) the alerts module writes, as plain documents."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def rule(self, alert_id: str) -> dict[str, Any] | None:
        item = self._client.get_item(
            TableName=self._table, Key={"pk": _s(f"ALERT#{alert_id}"), "sk": _s("RULE")}, ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        document = json.loads(item["rule"]["S"])
        return document if isinstance(document, dict) else None


class DeliveryLog:
    """Delivery records under their alert; attempts are appended, never rewritten."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def queued(
        self, requests: Sequence[DeliveryRequest], channel_kinds: dict[str, str], at: datetime
    ) -> None:
        """Record requests as pending before they are queued (so the log shows them at once)."""
        for request in requests:
            self._client.put_item(
                TableName=self._table,
                Item={
                    **self._key(request),
                    **self._identity(request, at),
                    "status": _s(DeliveryStatus.PENDING.value),
                    "attempts": {"L": []},
                    "updated_at": _s(at.isoformat()),
                    **(
                        {"kind": _s(channel_kinds[request.channel])}
                        if request.channel in channel_kinds
                        else {}
                    ),
                },
                ConditionExpression="attribute_not_exists(pk)",
            )

    def status(self, request: DeliveryRequest) -> DeliveryStatus | None:
        item = self._client.get_item(
            TableName=self._table,
            Key=self._key(request),
            ConsistentRead=True,
            ProjectionExpression="#s",
            ExpressionAttributeNames={"#s": "status"},
        ).get("Item")
        return DeliveryStatus(item["status"]["S"]) if item and "status" in item else None

    def attempts(self, request: DeliveryRequest) -> list[DeliveryAttempt]:
        item = self._client.get_item(TableName=self._table, Key=self._key(request), ConsistentRead=True).get(
            "Item"
        )
        return [] if not item else _record(item).attempts

    def record_attempt(
        self,
        request: DeliveryRequest,
        attempt: DeliveryAttempt | None,
        status: DeliveryStatus,
        *,
        kind: str | None,
        at: datetime,
        reason: str | None = None,
    ) -> None:
        """Append an attempt (when one was made) and set the status; creates the record if needed."""
        names = {"#s": "status", "#a": "attempts"}
        values: dict[str, Any] = {
            ":s": _s(status.value),
            ":u": _s(at.isoformat()),
            ":empty": {"L": []},
            ":new": {"L": [] if attempt is None else [{"M": _attempt_item(attempt)}]},
        }
        identity = self._identity(request, at)
        sets = ["#s = :s", "updated_at = :u", "#a = list_append(if_not_exists(#a, :empty), :new)"]
        for index, (field, value) in enumerate(identity.items()):
            names[f"#i{index}"] = field
            values[f":i{index}"] = value
            sets.append(f"#i{index} = if_not_exists(#i{index}, :i{index})")
        if kind is not None:
            names["#k"] = "kind"
            values[":k"] = _s(kind)
            sets.append("#k = :k")
        if reason is not None:
            values[":r"] = _s(reason[:1024])
            sets.append("reason = :r")
        self._client.update_item(
            TableName=self._table,
            Key=self._key(request),
            UpdateExpression="SET " + ", ".join(sets),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def page(
        self, alert_id: str, *, limit: int, before: str | None
    ) -> tuple[list[DeliveryRecord], str | None]:
        """A page of an alert's deliveries, newest first, and the sort key to continue before."""
        params: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": _s(f"ALERT#{alert_id}"), ":prefix": _s(DELIVERY_PREFIX)},
            "ScanIndexForward": False,
            "ConsistentRead": True,
            "Limit": limit,
        }
        if before is not None:
            params["ExclusiveStartKey"] = {"pk": _s(f"ALERT#{alert_id}"), "sk": _s(before)}
        response = self._client.query(**params)
        items = response.get("Items", [])
        records = [_record(item) for item in items]
        more = "LastEvaluatedKey" in response and len(records) == limit
        return records, (items[-1]["sk"]["S"] if more and items else None)

    def _key(self, request: DeliveryRequest) -> dict[str, Any]:
        return {"pk": _s(f"ALERT#{request.notification.alert_id}"), "sk": _s(delivery_sort_key(request))}

    def _identity(self, request: DeliveryRequest, at: datetime) -> dict[str, Any]:
        return {
            "delivery_id": _s(request.delivery_id),
            "alert_id": _s(request.notification.alert_id),
            "notification_id": _s(request.notification.notification_id),
            "notification_kind": _s(request.notification.kind.value),
            "channel": _s(request.channel),
            "queued_at": _s(at.isoformat()),
        }


def _attempt_item(attempt: DeliveryAttempt) -> dict[str, Any]:
    item: dict[str, Any] = {
        "attempt": {"N": str(attempt.attempt)},
        "at": _s(attempt.at.isoformat()),
        "latency_ms": {"N": str(attempt.latency_ms)},
        "status_code": {"N": str(attempt.status_code)} if attempt.status_code is not None else {"NULL": True},
        "error": _s(attempt.error) if attempt.error is not None else {"NULL": True},
    }
    return item


def _plain(value: dict[str, Any]) -> Any:
    ((kind, inner),) = value.items()
    if kind == "NULL":
        return None
    if kind == "N":
        return int(inner)
    return inner


def _record(item: dict[str, Any]) -> DeliveryRecord:
    attempts = [
        DeliveryAttempt.model_validate({key: _plain(value) for key, value in entry["M"].items()})
        for entry in item.get("attempts", {}).get("L", [])
    ]
    fields = {
        key: item[key]["S"]
        for key in (
            "delivery_id",
            "alert_id",
            "notification_id",
            "notification_kind",
            "channel",
            "kind",
            "status",
            "reason",
            "queued_at",
            "updated_at",
        )
        if key in item
    }
    return DeliveryRecord.model_validate({**fields, "attempts": attempts})


class SecretVault:
    """Channel secrets in Secrets Manager: one secret per channel, `cirrus/<stage>/alert-channels/<name>`.

    Each write adds a version; the channel item names the version it uses, so a delivery reads exactly
    the secret its channel was saved with.
    """

    def __init__(self, client: SecretsManagerClient, stage: str, kms_key_id: str = "") -> None:
        self._client = client
        self._stage = stage
        self._kms_key_id = kms_key_id

    def secret_name(self, channel: str) -> str:
        return f"cirrus/{self._stage}/alert-channels/{channel}"

    def put(self, channel: str, secret: dict[str, str]) -> str:
        """Store the channel's secret (a new secret or a new version); its version id."""
        text = json.dumps(secret, separators=(",", ":"))
        name = self.secret_name(channel)
        try:
            request: dict[str, Any] = {
                "Name": name,
                "SecretString": text,
                "Description": f"Cirrus alert channel {channel}: destination and credentials.",
                "Tags": [{"Key": "project", "Value": "cirrus"}, {"Key": "stage", "Value": self._stage}],
            }
            if self._kms_key_id:
                request["KmsKeyId"] = self._kms_key_id
            return str(self._client.create_secret(**request)["VersionId"])
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceExistsException":
                raise
        return str(self._client.put_secret_value(SecretId=name, SecretString=text)["VersionId"])

    def read(self, channel: str, version_id: str) -> dict[str, str]:
        response = self._client.get_secret_value(SecretId=self.secret_name(channel), VersionId=version_id)
        document = json.loads(response["SecretString"])
        return {str(key): str(value) for key, value in document.items()}

    def delete(self, channel: str) -> None:
        """Delete the channel's secret at once (no recovery window), so the name can be reused."""
        try:
            self._client.delete_secret(SecretId=self.secret_name(channel), ForceDeleteWithoutRecovery=True)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise


class EmailTopic:
    """The alert email topic: one subscription per channel address, filtered on the `channel` attribute."""

    def __init__(self, client: Any, topic_arn: str) -> None:
        """`client`: a boto3 `sns` client."""
        self._client = client
        self._topic_arn = topic_arn

    def subscribe(self, channel: str, address: str) -> str:
        response = self._client.subscribe(
            TopicArn=self._topic_arn,
            Protocol="email",
            Endpoint=address,
            Attributes={
                "FilterPolicy": json.dumps({"channel": [channel]}),
                "FilterPolicyScope": "MessageAttributes",
            },
            ReturnSubscriptionArn=True,
        )
        return str(response["SubscriptionArn"])

    def unsubscribe(self, subscription_arn: str) -> None:
        try:
            self._client.unsubscribe(SubscriptionArn=subscription_arn)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in {"NotFound", "InvalidParameter"}:
                raise

    def publish(self, channel: str, subject: str, text: str) -> str:
        response = self._client.publish(
            TopicArn=self._topic_arn,
            Subject=subject,
            Message=text,
            MessageAttributes={"channel": {"DataType": "String", "StringValue": channel}},
        )
        return str(response["MessageId"])
