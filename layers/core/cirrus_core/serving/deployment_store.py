"""DynamoDB adapter for the serving table's environment and deployment items (docs/serving.md).

  pk MODEL#<model_id>  sk ENV#<env>                   what the environment serves, and its lock
  pk MODEL#<model_id>  sk DEPLOYMENT#<deployment_id>  one deployment: request, status, history

An environment's lock is its `active_deployment_id`: set (with a condition that it is absent) when
a deployment starts, in the same transaction as the deployment item and its audit record; removed
when the deployment ends, conditioned on still being that deployment's. No rules live here.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from cirrus_core.serving.deployment_models import (
    AutoscalingConfig,
    Deployment,
    DeploymentConfig,
    DeploymentSource,
    DeploymentStatus,
    EnvironmentState,
    EnvironmentStatus,
    HistoryEntry,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

    from cirrus_core.audit.log import AuditLog
    from cirrus_core.audit.models import AuditEntry

_ENV_PREFIX = "ENV#"
_DEPLOYMENT_PREFIX = "DEPLOYMENT#"


class EnvironmentLocked(Exception):
    """The environment's lock is held (a deployment or an undeploy runs), or the audit head moved."""


class LockLost(Exception):
    """The environment is no longer locked by this deployment."""


def model_pk(model_id: str) -> str:
    return f"MODEL#{model_id}"


def environment_sk(environment: str) -> str:
    return f"{_ENV_PREFIX}{environment}"


def deployment_sk(deployment_id: str) -> str:
    return f"{_DEPLOYMENT_PREFIX}{deployment_id}"


def _s(value: str) -> dict[str, Any]:
    return {"S": value}


def _n(value: int) -> dict[str, Any]:
    return {"N": str(value)}


def _history_item(entry: HistoryEntry) -> dict[str, Any]:
    return {
        "M": {
            "status": _s(entry.status.value),
            "step": _s(entry.step),
            "at": _s(entry.at.isoformat()),
            "message": _s(entry.message),
        }
    }


def _canceled(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in {
        "TransactionCanceledException",
        "ConditionalCheckFailedException",
    }


class DeploymentStore:
    """Reads and writes environment and deployment items of the serving table."""

    def __init__(self, client: DynamoDBClient, table_name: str, audit: AuditLog | None = None) -> None:
        self._client = client
        self._table = table_name
        self._audit = audit

    # -- reading ----------------------------------------------------------------------------------

    def get_environment(self, model_id: str, environment: str) -> EnvironmentState | None:
        item = self._get(model_pk(model_id), environment_sk(environment))
        return _environment(item) if item else None

    def list_environments(self, model_id: str) -> list[EnvironmentState]:
        return [_environment(item) for item in self._query(model_id, _ENV_PREFIX)]

    def get_deployment(self, model_id: str, deployment_id: str) -> Deployment | None:
        item = self._get(model_pk(model_id), deployment_sk(deployment_id))
        return _deployment(item) if item else None

    def list_deployments(self, model_id: str) -> list[Deployment]:
        """Every deployment of the model, in no particular order."""
        return [_deployment(item) for item in self._query(model_id, _DEPLOYMENT_PREFIX)]

    # -- a deployment's life ----------------------------------------------------------------------

    def begin(self, deployment: Deployment, audit: AuditEntry | None = None) -> None:
        """Write the deployment and take its environment's lock, with its audit record, atomically.

        EnvironmentLocked when the lock is held, the environment is being taken down, or the audit
        chain's head moved (the caller re-reads the environment to tell which).
        """
        pk = model_pk(deployment.model_id)
        items: list[TransactWriteItemTypeDef] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        "pk": _s(pk),
                        "sk": _s(deployment_sk(deployment.deployment_id)),
                        **_deployment_item(deployment),
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Update": {
                    "TableName": self._table,
                    "Key": {"pk": _s(pk), "sk": _s(environment_sk(deployment.environment.value))},
                    "UpdateExpression": (
                        "SET active_deployment_id = :id, #status = :deploying, environment = :env, "
                        "updated_at = :now"
                    ),
                    "ConditionExpression": (
                        "attribute_not_exists(active_deployment_id) AND "
                        "(attribute_not_exists(#status) OR #status = :deployed)"
                    ),
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {
                        ":id": _s(deployment.deployment_id),
                        ":deploying": _s(EnvironmentStatus.DEPLOYING.value),
                        ":deployed": _s(EnvironmentStatus.DEPLOYED.value),
                        ":env": _s(deployment.environment.value),
                        ":now": _s(deployment.started_at.isoformat()),
                    },
                }
            },
        ]
        self._transact(items, audit, EnvironmentLocked)

    def record(
        self, model_id: str, deployment_id: str, entry: HistoryEntry, **fields: str | int | None
    ) -> None:
        """Append a history entry to a running deployment, and set the given attributes."""
        names: dict[str, str] = {"#status": "status"}
        values: dict[str, Any] = {
            ":entry": {"L": [_history_item(entry)]},
            ":running": _s(DeploymentStatus.IN_PROGRESS.value),
        }
        sets = ["history = list_append(history, :entry)"]
        for index, (name, value) in enumerate(sorted(fields.items())):
            if value is None:
                continue
            names[f"#f{index}"] = name
            values[f":f{index}"] = _n(value) if isinstance(value, int) else _s(value)
            sets.append(f"#f{index} = :f{index}")
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": _s(model_pk(model_id)), "sk": _s(deployment_sk(deployment_id))},
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="#status = :running",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if not _canceled(error):
                raise
            raise LockLost(deployment_id) from error

    def succeed(self, deployment: Deployment, state: EnvironmentState, entry: HistoryEntry) -> None:
        """The deployment succeeded: its item, and the environment now serving it, lock released."""
        pk = model_pk(deployment.model_id)
        environment_item: dict[str, Any] = {
            "pk": _s(pk),
            "sk": _s(environment_sk(state.environment.value)),
            **_environment_item(state),
        }
        items: list[TransactWriteItemTypeDef] = [
            self._finish_update(deployment, DeploymentStatus.SUCCEEDED, entry, {}),
            {
                "Put": {
                    "TableName": self._table,
                    "Item": environment_item,
                    "ConditionExpression": "active_deployment_id = :id",
                    "ExpressionAttributeValues": {":id": _s(deployment.deployment_id)},
                }
            },
        ]
        self._transact(items, None, LockLost)

    def end(
        self,
        deployment: Deployment,
        status: DeploymentStatus,
        entry: HistoryEntry,
        *,
        failed_step: str | None,
        cause: str | None,
        release: bool,
    ) -> None:
        """The deployment ended without success; `release` gives its environment's lock back.

        A released environment goes back to `deployed` when it served a version before, and its
        item is removed when this deployment was its first.
        """
        extra = {name: value for name, value in (("failed_step", failed_step), ("cause", cause)) if value}
        items: list[TransactWriteItemTypeDef] = [self._finish_update(deployment, status, entry, extra)]
        if release:
            items.extend(self._release(deployment, entry.at))
        self._transact(items, None, LockLost)

    # -- undeploying ------------------------------------------------------------------------------

    def begin_undeploy(self, state: EnvironmentState, model_id: str, audit: AuditEntry | None = None) -> None:
        """Mark the environment `undeploying` (no deployment may run meanwhile), with its audit record."""
        items: list[TransactWriteItemTypeDef] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": {"pk": _s(model_pk(model_id)), "sk": _s(environment_sk(state.environment.value))},
                    "UpdateExpression": "SET #status = :undeploying, updated_at = :now",
                    "ConditionExpression": (
                        "attribute_exists(pk) AND attribute_not_exists(active_deployment_id) AND "
                        "#status IN (:deployed, :undeploying)"
                    ),
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {
                        ":undeploying": _s(EnvironmentStatus.UNDEPLOYING.value),
                        ":deployed": _s(EnvironmentStatus.DEPLOYED.value),
                        ":now": _s(state.updated_at.isoformat()),
                    },
                }
            }
        ]
        self._transact(items, audit, EnvironmentLocked)

    def remove_environment(self, model_id: str, environment: str) -> None:
        """Delete an environment item that is being taken down."""
        try:
            self._client.delete_item(
                TableName=self._table,
                Key={"pk": _s(model_pk(model_id)), "sk": _s(environment_sk(environment))},
                ConditionExpression="#status = :undeploying",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":undeploying": _s(EnvironmentStatus.UNDEPLOYING.value)},
            )
        except ClientError as error:
            if not _canceled(error):
                raise
            raise EnvironmentLocked(environment) from error

    # -- helpers ----------------------------------------------------------------------------------

    def _release(self, deployment: Deployment, now: datetime) -> list[TransactWriteItemTypeDef]:
        """The write giving the environment's lock back, if this deployment holds it: back to
        `deployed` when it served a version before, removed when this deployment was its first."""
        key = {
            "pk": _s(model_pk(deployment.model_id)),
            "sk": _s(environment_sk(deployment.environment.value)),
        }
        current = self._get(key["pk"]["S"], key["sk"]["S"]) or {}
        if current.get("active_deployment_id", {}).get("S") != deployment.deployment_id:
            return []
        if "version" not in current:
            return [
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": key,
                        "ConditionExpression": "active_deployment_id = :id",
                        "ExpressionAttributeValues": {":id": _s(deployment.deployment_id)},
                    }
                }
            ]
        return [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": key,
                    "UpdateExpression": (
                        "REMOVE active_deployment_id SET #status = :deployed, updated_at = :now"
                    ),
                    "ConditionExpression": "active_deployment_id = :id",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {
                        ":id": _s(deployment.deployment_id),
                        ":deployed": _s(EnvironmentStatus.DEPLOYED.value),
                        ":now": _s(now.isoformat()),
                    },
                }
            }
        ]

    def _finish_update(
        self, deployment: Deployment, status: DeploymentStatus, entry: HistoryEntry, extra: dict[str, str]
    ) -> TransactWriteItemTypeDef:
        sets = ["#status = :status", "finished_at = :at", "history = list_append(history, :entry)"]
        names = {"#status": "status"}
        values: dict[str, Any] = {
            ":status": _s(status.value),
            ":at": _s(entry.at.isoformat()),
            ":entry": {"L": [_history_item(entry)]},
            ":running": _s(DeploymentStatus.IN_PROGRESS.value),
        }
        for name, value in sorted(extra.items()):
            names[f"#{name}"] = name
            values[f":{name}"] = _s(value)
            sets.append(f"#{name} = :{name}")
        return {
            "Update": {
                "TableName": self._table,
                "Key": {
                    "pk": _s(model_pk(deployment.model_id)),
                    "sk": _s(deployment_sk(deployment.deployment_id)),
                },
                "UpdateExpression": "SET " + ", ".join(sets),
                "ConditionExpression": "#status = :running",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    def _transact(
        self, items: list[TransactWriteItemTypeDef], audit: AuditEntry | None, refused: type[Exception]
    ) -> None:
        if self._audit is not None and audit is not None:
            items = [*items, *self._audit.transaction_items(audit, self._audit.head())]
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as error:
            if not _canceled(error):
                raise
            raise refused(str(error)) from error

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        response = self._client.get_item(
            TableName=self._table, Key={"pk": _s(pk), "sk": _s(sk)}, ConsistentRead=True
        )
        item = response.get("Item")
        return dict(item) if item else None

    def _query(self, model_id: str, prefix: str) -> list[dict[str, Any]]:
        params: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": _s(model_pk(model_id)), ":prefix": _s(prefix)},
            "ConsistentRead": True,
        }
        items: list[dict[str, Any]] = []
        while True:
            response = self._client.query(**params)
            items.extend(dict(item) for item in response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if not last:
                return items
            params["ExclusiveStartKey"] = last


def _optional_s(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name, {}).get("S")
    return str(value) if value is not None else None


def _optional_n(item: dict[str, Any], name: str) -> int | None:
    value = item.get(name, {}).get("N")
    return int(value) if value is not None else None


def _deployment_item(deployment: Deployment) -> dict[str, Any]:
    item: dict[str, Any] = {
        "deployment_id": _s(deployment.deployment_id),
        "model_id": _s(deployment.model_id),
        "version": _n(deployment.version),
        "environment": _s(deployment.environment.value),
        "status": _s(deployment.status.value),
        "config": _s(deployment.config.model_dump_json()),
        "inline_sample_payloads": _n(deployment.inline_sample_payloads),
        "source": _s(deployment.source.model_dump_json()),
        "started_by": _s(deployment.started_by),
        "started_at": _s(deployment.started_at.isoformat()),
        "history": {"L": [_history_item(entry) for entry in deployment.history]},
    }
    for name in ("execution_arn", "endpoint_name", "endpoint_config_name"):
        value = getattr(deployment, name)
        if value is not None:
            item[name] = _s(value)
    if deployment.previous_version is not None:
        item["previous_version"] = _n(deployment.previous_version)
    return item


def _deployment(item: dict[str, Any]) -> Deployment:
    finished = _optional_s(item, "finished_at")
    return Deployment(
        deployment_id=item["deployment_id"]["S"],
        model_id=item["model_id"]["S"],
        version=int(item["version"]["N"]),
        environment=item["environment"]["S"],
        status=DeploymentStatus(item["status"]["S"]),
        config=DeploymentConfig.model_validate_json(item["config"]["S"]),
        inline_sample_payloads=_optional_n(item, "inline_sample_payloads") or 0,
        source=DeploymentSource.model_validate_json(item["source"]["S"]),
        started_by=item["started_by"]["S"],
        started_at=datetime.fromisoformat(item["started_at"]["S"]),
        finished_at=datetime.fromisoformat(finished) if finished else None,
        execution_arn=_optional_s(item, "execution_arn"),
        previous_version=_optional_n(item, "previous_version"),
        endpoint_name=_optional_s(item, "endpoint_name"),
        endpoint_config_name=_optional_s(item, "endpoint_config_name"),
        failed_step=_optional_s(item, "failed_step"),
        cause=_optional_s(item, "cause"),
        history=[
            HistoryEntry(
                status=DeploymentStatus(entry["M"]["status"]["S"]),
                step=entry["M"]["step"]["S"],
                at=datetime.fromisoformat(entry["M"]["at"]["S"]),
                message=entry["M"].get("message", {}).get("S", ""),
            )
            for entry in item.get("history", {}).get("L", [])
        ],
    )


def _environment_item(state: EnvironmentState) -> dict[str, Any]:
    item: dict[str, Any] = {
        "environment": _s(state.environment.value),
        "status": _s(state.status.value),
        "serverless": {"BOOL": state.serverless},
        "updated_at": _s(state.updated_at.isoformat()),
    }
    for name in ("endpoint_name", "endpoint_config_name", "deployment_id", "active_deployment_id"):
        value = getattr(state, name)
        if value is not None:
            item[name] = _s(value)
    if state.version is not None:
        item["version"] = _n(state.version)
    if state.autoscaling is not None:
        item["autoscaling"] = _s(state.autoscaling.model_dump_json())
    return item


def _environment(item: dict[str, Any]) -> EnvironmentState:
    autoscaling = _optional_s(item, "autoscaling")
    return EnvironmentState(
        environment=item["environment"]["S"],
        status=EnvironmentStatus(item["status"]["S"]),
        version=_optional_n(item, "version"),
        endpoint_name=_optional_s(item, "endpoint_name"),
        endpoint_config_name=_optional_s(item, "endpoint_config_name"),
        serverless=bool(item.get("serverless", {}).get("BOOL", False)),
        autoscaling=AutoscalingConfig.model_validate(json.loads(autoscaling)) if autoscaling else None,
        deployment_id=_optional_s(item, "deployment_id"),
        active_deployment_id=_optional_s(item, "active_deployment_id"),
        updated_at=datetime.fromisoformat(item["updated_at"]["S"]),
    )
