"""An environment's state item in the serving table: which endpoint and version answer it.

Kept light (no authorization engine, no API plumbing): the predict route, the batch and deployment
services and the drift monitor all read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


@dataclass(frozen=True)
class ServingEndpoint:
    """Where an environment's requests go: the endpoint and the version behind it."""

    endpoint_name: str
    version: int
    status: str


def model_pk(model_id: str) -> str:
    return f"MODEL#{model_id}"


def environment_sk(environment: str) -> str:
    return f"ENV#{environment}"


class EnvironmentDirectory:
    """Reads an environment's state item (`MODEL#<model_id>` / `ENV#<env>`) from the serving table."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def serving_endpoint(self, model_id: str, environment: str) -> ServingEndpoint | None:
        """The endpoint and version of the environment, or None when the table has no item for it."""
        response = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": model_pk(model_id)}, "sk": {"S": environment_sk(environment)}},
            ProjectionExpression="endpoint_name, version, #s",
            ExpressionAttributeNames={"#s": "status"},
        )
        item: dict[str, Any] = dict(response.get("Item") or {})
        if not item:
            return None
        version = item.get("version", {}).get("N")
        return ServingEndpoint(
            endpoint_name=item.get("endpoint_name", {}).get("S", ""),
            version=int(version) if version else 0,
            status=item.get("status", {}).get("S", ""),
        )
