"""DynamoDB adapter of alert rules and their alerts' state in the monitoring table (docs/monitoring.md).

  pk ALERT#<alert_id>  sk RULE               rule (JSON), model_id, alert_type; gsi1pk ALERTS,
                                             gsi1sk <created_at>#<alert_id> (every rule, newest first)
  pk ALERT#<alert_id>  sk STATE#<subject>    status ok|firing, dedup_key, fired_at, last_notified_at,
                                             resolved_at, last_true_at, hits ([time, event key] pairs),
                                             value, pending (a notice to send again), version
  pk ALERT#<alert_id>  sk EVAL               evaluated_at: the last scheduled evaluation's claim
  pk CHANNEL#<name>    sk CHANNEL            a notification channel (written by the channels API)

A state changes only with a condition on the version it was read at, so two evaluations that see the
same alert never both change it (and never both notify).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cirrus_core.alerting.notification import NotificationKind
from cirrus_core.audit.transact import ChangeConditionFailed, write_with_audit
from cirrus_core.monitoring.models import AlertRule, AlertStateView, AlertStatus

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

    from cirrus_core.audit.log import AuditLog
    from cirrus_core.audit.models import AuditEntry

RULE_SK = "RULE"
STATE_PREFIX = "STATE#"
EVAL_SK = "EVAL"
RULES_INDEX = "gsi1"
RULES_INDEX_PK = "ALERTS"
PLATFORM_WIDE_KEY = "*"
_BATCH_GET = 100


def alert_pk(alert_id: str) -> str:
    return f"ALERT#{alert_id}"


def _s(value: str) -> dict[str, Any]:
    return {"S": value}


class RuleMissing(Exception):
    """The rule was deleted (or never stored) while it was being changed."""


@dataclass(frozen=True)
class Hit:
    """A failure counted against a subject: when it arrived and which failure it is (a run, a deployment),
    so that the same failure delivered again is not counted twice."""

    at: datetime
    key: str


@dataclass(frozen=True)
class PendingNotice:
    """A notice whose sending failed part-way (some channels may have it): the next evaluation that makes
    the same transition sends it again as the same notice, under the same dedup key."""

    kind: NotificationKind
    reminder: bool
    notification_id: str
    occurred_at: datetime
    dedup_key: str
    fired_at: datetime

    def document(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "reminder": self.reminder,
            "notification_id": self.notification_id,
            "occurred_at": self.occurred_at.isoformat(),
            "dedup_key": self.dedup_key,
            "fired_at": self.fired_at.isoformat(),
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> PendingNotice:
        return cls(
            kind=NotificationKind(document["kind"]),
            reminder=bool(document["reminder"]),
            notification_id=str(document["notification_id"]),
            occurred_at=datetime.fromisoformat(document["occurred_at"]),
            dedup_key=str(document["dedup_key"]),
            fired_at=datetime.fromisoformat(document["fired_at"]),
        )


@dataclass(frozen=True)
class AlertState:
    """The alert of one subject of a rule. `version` 0: never stored."""

    alert_id: str
    subject: str
    status: AlertStatus = AlertStatus.OK
    dedup_key: str | None = None
    fired_at: datetime | None = None
    last_notified_at: datetime | None = None
    resolved_at: datetime | None = None
    last_true_at: datetime | None = None
    hits: tuple[Hit, ...] = ()
    value: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    pending: PendingNotice | None = None
    version: int = 0

    def view(self) -> AlertStateView:
        return AlertStateView(
            subject=self.subject,
            status=self.status,
            dedup_key=self.dedup_key,
            fired_at=self.fired_at,
            last_notified_at=self.last_notified_at,
            resolved_at=self.resolved_at,
            value=self.value,
        )


def _time(item: dict[str, Any], name: str) -> datetime | None:
    value = item.get(name, {}).get("S")
    return datetime.fromisoformat(value) if value else None


class AlertRuleStore:
    """Alert rules, their states and the channels they name."""

    def __init__(self, client: DynamoDBClient, table_name: str, audit: AuditLog | None = None) -> None:
        self._client = client
        self._table = table_name
        self._audit = audit

    # -- rules ------------------------------------------------------------------------------------------

    def _rule_item(self, rule: AlertRule) -> dict[str, Any]:
        return {
            "pk": _s(alert_pk(rule.alert_id)),
            "sk": _s(RULE_SK),
            "gsi1pk": _s(RULES_INDEX_PK),
            "gsi1sk": _s(f"{rule.created_at.isoformat()}#{rule.alert_id}"),
            "model_id": _s(rule.model_id or PLATFORM_WIDE_KEY),
            "alert_type": _s(rule.alert_type.value),
            "rule": _s(rule.model_dump_json(exclude={"links"})),
        }

    def create_rule(self, rule: AlertRule, audit: AuditEntry | None) -> None:
        put: TransactWriteItemTypeDef = {
            "Put": {
                "TableName": self._table,
                "Item": self._rule_item(rule),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        write_with_audit(self._client, [put], self._audit, audit)

    def replace_rule(self, rule: AlertRule, audit: AuditEntry | None) -> None:
        """Store the changed rule; RuleMissing when it was deleted meanwhile."""
        put: TransactWriteItemTypeDef = {
            "Put": {
                "TableName": self._table,
                "Item": self._rule_item(rule),
                "ConditionExpression": "attribute_exists(pk)",
            }
        }
        try:
            write_with_audit(self._client, [put], self._audit, audit)
        except ChangeConditionFailed as error:
            raise RuleMissing(rule.alert_id) from error

    def delete_rule(self, alert_id: str, audit: AuditEntry | None) -> None:
        """Delete the rule (RuleMissing when it is gone already), then its states and evaluation claim."""
        delete: TransactWriteItemTypeDef = {
            "Delete": {
                "TableName": self._table,
                "Key": {"pk": _s(alert_pk(alert_id)), "sk": _s(RULE_SK)},
                "ConditionExpression": "attribute_exists(pk)",
            }
        }
        try:
            write_with_audit(self._client, [delete], self._audit, audit)
        except ChangeConditionFailed as error:
            raise RuleMissing(alert_id) from error
        keys = [{"pk": _s(alert_pk(alert_id)), "sk": _s(EVAL_SK)}]
        keys += [
            {"pk": _s(alert_pk(alert_id)), "sk": _s(f"{STATE_PREFIX}{state.subject}")}
            for state in self.states(alert_id)
        ]
        for key in keys:
            self._client.delete_item(TableName=self._table, Key=key)

    def rule(self, alert_id: str) -> AlertRule | None:
        item = self._client.get_item(
            TableName=self._table,
            Key={"pk": _s(alert_pk(alert_id)), "sk": _s(RULE_SK)},
            ConsistentRead=True,
        ).get("Item")
        return AlertRule.model_validate_json(item["rule"]["S"]) if item else None

    def rules(
        self, *, limit: int, after: str | None = None, model_id: str | None = None
    ) -> tuple[list[AlertRule], str | None]:
        """A page of rules, newest first (of one model when given), and the position to continue after."""
        params: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": RULES_INDEX,
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": {":pk": _s(RULES_INDEX_PK)},
            "ScanIndexForward": False,
        }
        if after is not None:
            params["KeyConditionExpression"] = "gsi1pk = :pk AND gsi1sk < :after"
            params["ExpressionAttributeValues"][":after"] = _s(after)
        if model_id is not None:
            params["FilterExpression"] = "model_id = :model"
            params["ExpressionAttributeValues"][":model"] = _s(model_id)
        items: list[tuple[str, AlertRule]] = []
        while True:
            response = self._client.query(**params)
            for item in response.get("Items", []):
                items.append((item["gsi1sk"]["S"], AlertRule.model_validate_json(item["rule"]["S"])))
                if len(items) > limit:
                    return [rule for _, rule in items[:limit]], items[limit - 1][0]
            if "LastEvaluatedKey" not in response:
                return [rule for _, rule in items], None
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def all_rules(self) -> list[AlertRule]:
        """Every rule (the evaluator reads them all each minute)."""
        rules: list[AlertRule] = []
        after: str | None = None
        while True:
            page, after = self.rules(limit=100, after=after)
            rules.extend(page)
            if after is None:
                return rules

    # -- channels -------------------------------------------------------------------------------------

    def missing_channels(self, names: Sequence[str]) -> list[str]:
        """The names among `names` that no stored channel has."""
        if not names:
            return []
        found: set[str] = set()
        wanted = list(dict.fromkeys(names))
        for start in range(0, len(wanted), _BATCH_GET):
            keys: list[dict[str, Any]] = [
                {"pk": _s(f"CHANNEL#{name}"), "sk": _s("CHANNEL")}
                for name in wanted[start : start + _BATCH_GET]
            ]
            request: dict[str, Any] = {
                self._table: {"Keys": keys, "ConsistentRead": True, "ProjectionExpression": "pk"}
            }
            while request:
                response = self._client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self._table, []):
                    found.add(item["pk"]["S"].removeprefix("CHANNEL#"))
                request = dict(response.get("UnprocessedKeys") or {})
        return [name for name in wanted if name not in found]

    # -- states -----------------------------------------------------------------------------------------

    def state(self, alert_id: str, subject: str) -> AlertState:
        item = self._client.get_item(
            TableName=self._table,
            Key={"pk": _s(alert_pk(alert_id)), "sk": _s(f"{STATE_PREFIX}{subject}")},
            ConsistentRead=True,
        ).get("Item")
        return self._state(alert_id, item) if item else AlertState(alert_id=alert_id, subject=subject)

    def states(self, alert_id: str) -> list[AlertState]:
        params: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": _s(alert_pk(alert_id)), ":prefix": _s(STATE_PREFIX)},
            "ConsistentRead": True,
        }
        states: list[AlertState] = []
        while True:
            response = self._client.query(**params)
            states.extend(self._state(alert_id, item) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return states
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def save_state(self, state: AlertState) -> AlertState | None:
        """Store `state` over the version it was read at; the stored state, or None when another
        evaluation changed it first."""
        stored = replace(state, version=state.version + 1)
        item: dict[str, Any] = {
            "pk": _s(alert_pk(state.alert_id)),
            "sk": _s(f"{STATE_PREFIX}{state.subject}"),
            "subject": _s(state.subject),
            "status": _s(state.status.value),
            "version": {"N": str(stored.version)},
            "hits": _s(json.dumps([[hit.at.isoformat(), hit.key] for hit in state.hits])),
            "details": _s(json.dumps(state.details, separators=(",", ":"), default=str)),
        }
        if state.pending is not None:
            item["pending"] = _s(json.dumps(state.pending.document(), separators=(",", ":")))
        for name in ("dedup_key", "fired_at", "last_notified_at", "resolved_at", "last_true_at"):
            value = getattr(state, name)
            if value is not None:
                item[name] = _s(value if isinstance(value, str) else value.isoformat())
        if state.value is not None:
            item["value"] = {"N": repr(float(state.value))}
        condition: dict[str, Any]
        if state.version == 0:
            condition = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            condition = {
                "ConditionExpression": "version = :version",
                "ExpressionAttributeValues": {":version": {"N": str(state.version)}},
            }
        try:
            self._client.put_item(TableName=self._table, Item=item, **condition)
        except self._client.exceptions.ConditionalCheckFailedException:
            return None
        return stored

    def claim_evaluation(self, alert_id: str, now: datetime, due_before: datetime) -> bool:
        """Mark the rule evaluated at `now` unless it was evaluated after `due_before` (not due then)."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item={"pk": _s(alert_pk(alert_id)), "sk": _s(EVAL_SK), "evaluated_at": _s(now.isoformat())},
                ConditionExpression="attribute_not_exists(pk) OR evaluated_at <= :due",
                ExpressionAttributeValues={":due": _s(due_before.isoformat())},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    @staticmethod
    def _state(alert_id: str, item: dict[str, Any]) -> AlertState:
        value = item.get("value", {}).get("N")
        pending = item.get("pending", {}).get("S")
        return AlertState(
            alert_id=alert_id,
            subject=item["subject"]["S"],
            status=AlertStatus(item["status"]["S"]),
            dedup_key=item.get("dedup_key", {}).get("S"),
            fired_at=_time(item, "fired_at"),
            last_notified_at=_time(item, "last_notified_at"),
            resolved_at=_time(item, "resolved_at"),
            last_true_at=_time(item, "last_true_at"),
            hits=tuple(_hit(hit) for hit in json.loads(item.get("hits", {}).get("S", "[]"))),
            value=float(value) if value is not None else None,
            details=json.loads(item.get("details", {}).get("S", "{}")),
            pending=PendingNotice.from_document(json.loads(pending)) if pending else None,
            version=int(item["version"]["N"]),
        )


def _hit(stored: str | list[str]) -> Hit:
    """A stored hit: `[time, key]`, or (stored before hits had keys) the time alone, its own key."""
    if isinstance(stored, str):
        return Hit(datetime.fromisoformat(stored), f"at:{stored}")
    at, key = stored
    return Hit(datetime.fromisoformat(at), key)
