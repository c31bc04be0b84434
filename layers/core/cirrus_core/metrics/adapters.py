"""Small read-only adapters the metrics functions need beside the metrics table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cirrus_core.metrics.history import decode_run

if TYPE_CHECKING:
    from datetime import datetime

    from mypy_boto3_dynamodb import DynamoDBClient

# Environment states in which an endpoint serves (docs/serving.md, "Serving table").
SERVING_STATUSES = ("deployed", "deploying")


class DriftRuns:
    """The monitoring table's drift runs of a model started in a range: one Query (read only).

    Run ids start with their UTC start time (`RUN#<yyyymmddThhmmssZ>-...`), so a range of start
    times is a range of sort keys.
    """

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def runs_between(
        self, model_id: str, start: datetime, end: datetime, environment: str | None
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lower AND :upper",
            "ExpressionAttributeValues": {
                ":pk": {"S": f"MODEL#{model_id}"},
                ":lower": {"S": f"RUN#{start:%Y%m%dT%H%M%SZ}"},
                ":upper": {"S": f"RUN#{end:%Y%m%dT%H%M%SZ}"},
            },
            "ProjectionExpression": "#r, features, environment",
            "ExpressionAttributeNames": {"#r": "run"},
        }
        runs: list[dict[str, Any]] = []
        while True:
            response = self._client.query(**params)
            for item in response.get("Items", []):
                if environment is not None and item.get("environment", {}).get("S") != environment:
                    continue
                runs.append(decode_run(dict(item)))
            if "LastEvaluatedKey" not in response:
                return runs
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]


class RegisteredModels:
    """Whether a model is registered (the registry table's model item, read only)."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        from cirrus_core.registry.repository import RegistryRepository

        self._repository = RegistryRepository(client, table_name)

    def exists(self, model_id: str) -> bool:
        return self._repository.get_model(model_id) is not None


class ServingEndpoints:
    """Every environment's serving endpoint from the serving table (read only: a filtered Scan of the
    environment state items, `MODEL#<model_id>` / `ENV#<environment>`)."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def serving(self) -> list[tuple[str, str, int, str]]:
        """(model_id, environment, version, endpoint_name) of every serving environment."""
        params: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": (
                "begins_with(sk, :env) AND #s IN (:a, :b) AND attribute_exists(endpoint_name)"
            ),
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {
                ":env": {"S": "ENV#"},
                ":a": {"S": SERVING_STATUSES[0]},
                ":b": {"S": SERVING_STATUSES[1]},
            },
            "ProjectionExpression": "pk, sk, version, endpoint_name",
        }
        found = []
        while True:
            response = self._client.scan(**params)
            for item in response.get("Items", []):
                found.append(
                    (
                        item["pk"]["S"].removeprefix("MODEL#"),
                        item["sk"]["S"].removeprefix("ENV#"),
                        int(item.get("version", {}).get("N", "0")),
                        item["endpoint_name"]["S"],
                    )
                )
            if "LastEvaluatedKey" not in response:
                return sorted(found)
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]
