"""DynamoDB adapter of the monitoring table (docs/monitoring.md, "Storage").

  pk MODEL#<model_id>  sk DRIFT_CONFIG     config (JSON), updated_at, updated_by
  pk MODEL#<model_id>  sk RUN#<run_id>     run (JSON summary), features (JSON), status, environment
  pk ALERT#<alert_id>  sk RULE             rule (JSON): cirrus_core.alerting.rules_store
Run ids start with their UTC start time, so a model's runs read newest first by sort key alone.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cirrus_core.audit.transact import ChangeConditionFailed, write_with_audit
from cirrus_core.monitoring.models import (
    AlertRule,
    DriftConfigRequest,
    DriftRun,
    DriftRunStatus,
    DriftRunSummary,
    FeatureScore,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

    from cirrus_core.audit.log import AuditLog
    from cirrus_core.audit.models import AuditEntry

CONFIG_SK = "DRIFT_CONFIG"
RUN_PREFIX = "RUN#"
MODEL_INDEX = "gsi1"


class RunExists(Exception):
    """A run with this id was recorded already."""


def model_pk(model_id: str) -> str:
    return f"MODEL#{model_id}"


def _s(value: str) -> dict[str, Any]:
    return {"S": value}


def _compact(document: Any) -> str:
    return json.dumps(document, separators=(",", ":"), allow_nan=False)


class MonitoringStore:
    """Drift configs, alert rules and drift runs in the monitoring table."""

    def __init__(self, client: DynamoDBClient, table_name: str, audit: AuditLog | None = None) -> None:
        self._client = client
        self._table = table_name
        self._audit = audit

    # -- drift configs ----------------------------------------------------------------------------

    def drift_config(self, model_id: str) -> tuple[DriftConfigRequest, datetime, str] | None:
        """The model's config, when and by whom it was set; None when it has none (defaults apply)."""
        item = self._client.get_item(
            TableName=self._table,
            Key={"pk": _s(model_pk(model_id)), "sk": _s(CONFIG_SK)},
            ConsistentRead=True,
        ).get("Item")
        if not item:
            return None
        config = DriftConfigRequest.model_validate_json(item["config"]["S"])
        return config, datetime.fromisoformat(item["updated_at"]["S"]), item["updated_by"]["S"]

    def put_drift_config(
        self, model_id: str, config: DriftConfigRequest, at: datetime, by: str, audit: AuditEntry | None
    ) -> None:
        item = {
            "pk": _s(model_pk(model_id)),
            "sk": _s(CONFIG_SK),
            "config": _s(config.model_dump_json()),
            "updated_at": _s(at.isoformat()),
            "updated_by": _s(by),
        }
        write_with_audit(
            self._client, [{"Put": {"TableName": self._table, "Item": item}}], self._audit, audit
        )

    # -- alert rules -------------------------------------------------------------------------------

    def alert(self, alert_id: str) -> AlertRule | None:
        """An alert rule (written by cirrus_core.alerting.rules_store), or None."""
        item = self._client.get_item(
            TableName=self._table, Key={"pk": _s(f"ALERT#{alert_id}"), "sk": _s("RULE")}, ConsistentRead=True
        ).get("Item")
        return AlertRule.model_validate_json(item["rule"]["S"]) if item else None

    # -- drift runs ------------------------------------------------------------------------------

    def create_run(self, run: DriftRunSummary, audit: AuditEntry | None = None) -> None:
        """Record a new run; RunExists when its id is taken (a retried step finds its own run)."""
        put: TransactWriteItemTypeDef = {
            "Put": {
                "TableName": self._table,
                "Item": self._run_item(run, []),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        try:
            write_with_audit(self._client, [put], self._audit, audit)
        except ChangeConditionFailed as error:
            raise RunExists(run.run_id) from error

    def finish_run(self, run: DriftRun) -> None:
        """Store a run's outcome (only while it is still running: a late retry changes nothing)."""
        item = self._run_item(run, run.features)
        try:
            self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk) OR #s = :running",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":running": _s(DriftRunStatus.RUNNING.value)},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return

    def run(self, model_id: str, run_id: str) -> DriftRun | None:
        item = self._client.get_item(
            TableName=self._table,
            Key={"pk": _s(model_pk(model_id)), "sk": _s(f"{RUN_PREFIX}{run_id}")},
            ConsistentRead=True,
        ).get("Item")
        if not item:
            return None
        summary = json.loads(item["run"]["S"])
        features = json.loads(item.get("features", {}).get("S", "[]"))
        return DriftRun.model_validate({**summary, "features": features})

    def runs(
        self, model_id: str, *, limit: int, before: str | None = None, environment: str | None = None
    ) -> tuple[list[DriftRunSummary], str | None]:
        """A page of a model's runs, newest first, and the run id to continue before (or None)."""
        params: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": _s(model_pk(model_id)), ":prefix": _s(RUN_PREFIX)},
            "ProjectionExpression": "sk, #r, environment",
            "ExpressionAttributeNames": {"#r": "run"},
            "ScanIndexForward": False,
            "ConsistentRead": True,
        }
        if before is not None:
            params["KeyConditionExpression"] = "pk = :pk AND sk BETWEEN :prefix AND :before"
            params["ExpressionAttributeValues"][":before"] = _s(f"{RUN_PREFIX}{before}")
        items: list[DriftRunSummary] = []
        while True:
            response = self._client.query(**params)
            for item in response.get("Items", []):
                if before is not None and item["sk"]["S"] == f"{RUN_PREFIX}{before}":
                    continue
                if environment is not None and item.get("environment", {}).get("S") != environment:
                    continue
                items.append(DriftRunSummary.model_validate_json(item["run"]["S"]))
                if len(items) > limit:
                    return items[:limit], items[limit - 1].run_id
            if "LastEvaluatedKey" not in response:
                return items, None
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _run_item(self, run: DriftRunSummary, features: list[FeatureScore]) -> dict[str, Any]:
        # The whole run but its features (stored apart) and links (made when read): a DriftRun's own
        # fields (its calibration's window size and reuse) are kept; listings read the summary's part.
        summary = run.model_dump(mode="json", exclude={"links", "features"})
        return {
            "pk": _s(model_pk(run.model_id)),
            "sk": _s(f"{RUN_PREFIX}{run.run_id}"),
            "run": _s(_compact(summary)),
            "features": _s(_compact([feature.model_dump(mode="json") for feature in features])),
            "status": _s(run.status.value),
            "environment": _s(run.environment.value),
        }
