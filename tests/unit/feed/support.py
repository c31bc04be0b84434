"""The live feed's unit-test world: moto tables from the template, real Cognito-shaped tokens signed
with moto's pool key (whose public JWKS moto serves for its pools), WebSocket events from the samples."""

from __future__ import annotations

import importlib
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from moto.utilities.utils import load_resource

from cirrus_core.authz.engine import StoredPolicy
from cirrus_core.authz.wiring import security_repository
from cirrus_core.feed.models import Connection
from cirrus_core.feed.store import ConnectionStore
from cirrus_core.principal import ActorRecord
from tests.support.api import LambdaContextStub
from tests.support.aws import load_sample, load_template
from tests.support.tokens import TokenMinter

POOL_ID = "us-east-1_FeedTest1"
CLIENT_ID = "feedtestclient0000000000"
ISSUER = f"https://cognito-idp.us-east-1.amazonaws.com/{POOL_ID}"
TABLES = {
    "FeedConnectionsTable": "cirrus-test-feed-connections",
    "RegistryTable": "cirrus-test-registry",
    "SecurityTable": "cirrus-test-security",
}
FEED_ENVIRONMENT = {
    "FEED_CONNECTIONS_TABLE_NAME": TABLES["FeedConnectionsTable"],
    "COGNITO_USER_POOL_ID": POOL_ID,
    "FEED_TOKEN_AUDIENCES": CLIENT_ID,
    "AWS_REGION": "us-east-1",
    "FEED_MAX_SUBSCRIPTIONS": "3",
}


class MotoPoolKeys:
    """The JWKS moto publishes for every user pool (`/<pool id>/.well-known/jwks.json`)."""

    def fetch(self) -> dict[str, Any]:
        document: dict[str, Any] = load_resource("cognitoidp/resources/jwks-public.json")
        return document


def create_tables(dynamodb: Any) -> None:
    """The tables the feed touches, with the template's keys and indexes."""
    resources = load_template()["Resources"]
    for logical_id, name in TABLES.items():
        props = resources[logical_id]["Properties"]
        dynamodb.create_table(
            TableName=name,
            AttributeDefinitions=props["AttributeDefinitions"],
            KeySchema=props["KeySchema"],
            BillingMode=props["BillingMode"],
            **(
                {"GlobalSecondaryIndexes": props["GlobalSecondaryIndexes"]}
                if "GlobalSecondaryIndexes" in props
                else {}
            ),
        )


@dataclass
class FeedWorld:
    """Tables, tokens and events of one moto-backed feed test."""

    dynamodb: Any
    minter: TokenMinter

    def token(
        self, *, groups: tuple[str, ...] = ("model_reviewer",), forged: bool = False, **changes: Any
    ) -> str:
        """An ID token of user `rui` (claims as Cognito writes them), with `changes` applied."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": "0f4c1f2e-1111-4c7a-9d0e-5a6b7c8d9e0f",
            "cognito:username": "rui",
            "cognito:groups": list(groups),
            "iss": ISSUER,
            "aud": CLIENT_ID,
            "token_use": "id",
            "auth_time": now,
            "iat": now,
            "exp": now + 3600,
        }
        claims.update(changes)
        return self.minter.sign(
            {key: value for key, value in claims.items() if value is not None}, forged=forged
        )

    def register(self, model_id: str) -> None:
        """A registered model, as far as the feed looks (the registry's model item)."""
        self.dynamodb.put_item(
            TableName=TABLES["RegistryTable"], Item={"pk": {"S": f"MODEL#{model_id}"}, "sk": {"S": "MODEL"}}
        )

    def open_connection(self, connection_id: str, *, groups: tuple[str, ...] = ("model_reviewer",)) -> None:
        """A connection as `$connect` records it, for an actor in `groups`."""
        self.store.put_connection(
            Connection(
                connection_id=connection_id,
                actor=ActorRecord(
                    sub=f"sub-{connection_id}", username=f"user-{connection_id}", groups=list(groups)
                ),
                connected_at=datetime.now(UTC),
                expires_at=int(time.time()) + 7200,
            )
        )

    def forbid(self, statement: str) -> None:
        """A custom policy, stored as the policy API stores one."""
        security_repository().put_policy(
            StoredPolicy(
                policy_id="feed_test_forbid",
                statement=statement,
                description="",
                updated_at="",
                updated_by="t",
            )
        )

    @property
    def store(self) -> ConnectionStore:
        return ConnectionStore(self.dynamodb, TABLES["FeedConnectionsTable"])

    def items(self) -> list[dict[str, Any]]:
        """Every item of the connections table."""
        items = self.dynamodb.scan(TableName=TABLES["FeedConnectionsTable"], ConsistentRead=True)["Items"]
        return sorted(items, key=lambda item: (item["pk"]["S"], item["sk"]["S"]))


def websocket_event(kind: str, connection_id: str = "L0SM9cOFvHcCIhw=", **changes: Any) -> dict[str, Any]:
    """A sample WebSocket event (`connect`, `disconnect`, `message`) for `connection_id`."""
    event = load_sample(f"websocket/{kind}")
    event["requestContext"]["connectionId"] = connection_id
    event.update(changes)
    return event


def invoke(route: str, event: dict[str, Any]) -> dict[str, Any]:
    """Call `functions/feed/<route>.py` as API Gateway would; the route response."""
    module = importlib.import_module(f"functions.feed.{route}")
    result: dict[str, Any] = module.lambda_handler(event, LambdaContextStub())
    return result


def body(result: dict[str, Any]) -> Any:
    return json.loads(result["body"]) if result.get("body") else None
