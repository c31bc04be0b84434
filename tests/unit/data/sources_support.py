"""What the data source tests share: the functions' environment under moto, a request body of each
source type (each with a secret that must never show), the routes called through API Gateway events,
and views of everything a request could have written (the data table, the audit trail, the secrets)."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from cirrus_core.audit.log import AuditLog
from cirrus_core.data import sources_wiring
from cirrus_core.data.settings import get_data_settings
from tests.support.api import ApiResponse, build_event, call
from tests.support.aws import (
    ARTIFACT_BUCKET,
    DATA_BUCKET,
    DATA_SOURCE_SECRET_PREFIX,
    TABLE_NAMES,
    AwsResources,
)

DATA_TABLE = TABLE_NAMES["DataTable"]
AUDIT_TABLE = TABLE_NAMES["AuditTable"]
PASSWORD = "pw-Z3bra!s3cret-7731"
MONGO_URI = f"mongodb://reader:{PASSWORD}@mongo.internal:27017/shop?authSource=admin"
_SESSION = boto3.session.Session()


def postgres(name: str = "orders-db", **changes: Any) -> dict[str, Any]:
    connection = {"host": "db.internal", "port": 5432, "database": "shop", "user": "reader"}
    return _body(name, "postgresql", {**connection, "password": PASSWORD}, changes)


def mysql(name: str = "crm-db", **changes: Any) -> dict[str, Any]:
    connection = {"host": "10.0.3.7", "port": 3306, "database": "crm", "user": "reader"}
    return _body(name, "mysql", {**connection, "password": PASSWORD}, changes)


def mongodb_uri(name: str = "events-mongo", **changes: Any) -> dict[str, Any]:
    return _body(name, "mongodb", {"uri": MONGO_URI, "database": "shop"}, changes)


def mongodb_host(name: str = "events-mongo", **changes: Any) -> dict[str, Any]:
    connection = {"host": "mongo.internal", "port": 27017, "user": "reader", "auth_source": "admin"}
    return _body(name, "mongodb", {**connection, "password": PASSWORD, "database": "shop"}, changes)


def cassandra(name: str = "telemetry", **changes: Any) -> dict[str, Any]:
    connection = {
        "contact_points": ["cass-1.internal", "cass-2.internal"],
        "port": 9042,
        "keyspace": "telemetry",
        "local_dc": "dc1",
        "user": "reader",
    }
    return _body(name, "cassandra", {**connection, "password": PASSWORD}, changes)


def s3(name: str = "landing", **changes: Any) -> dict[str, Any]:
    return _body(name, "s3", {"bucket": DATA_BUCKET, "prefix": "landing/orders/", "format": "csv"}, changes)


def kinesis(name: str = "clicks", **changes: Any) -> dict[str, Any]:
    arn = "arn:aws:kinesis:us-east-1:123456789012:stream/clicks"
    return _body(name, "kinesis", {"stream_arn": arn}, changes)


def kafka(name: str = "payments", **changes: Any) -> dict[str, Any]:
    connection = {
        "bootstrap_servers": ["b-1.kafka.internal:9096", "b-2.kafka.internal:9096"],
        "topic": "payments.v1",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "username": "cirrus",
    }
    return _body(name, "kafka", {**connection, "password": PASSWORD}, changes)


def _body(name: str, kind: str, connection: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A create body; `changes` replace connection fields (None drops one), `options=` sets the options."""
    options = changes.pop("options", None)
    merged = {key: value for key, value in {**connection, **changes}.items() if value is not None}
    body: dict[str, Any] = {"name": name, "type": kind, "connection": merged}
    if options is not None:
        body["options"] = options
    return body


def api(route: str, **parts: Any) -> ApiResponse:
    """Call `functions/data/<route>.py` with the sample event `data_<route>`, changed by `parts`."""
    return call(route, build_event(f"data_{route}", **parts), package="data")


def ok(response: ApiResponse, status: int = 200) -> dict[str, Any]:
    assert response.status == status, f"{response.status} {response.body}"
    return dict(response.body)


def clear_sources_wiring() -> None:
    get_data_settings.cache_clear()
    sources_wiring.source_service.cache_clear()
    sources_wiring.source_secrets.cache_clear()


class SourcesWorld:
    """The resources of one moto-backed test, and what they hold."""

    def __init__(self, aws: AwsResources) -> None:
        self.aws = aws
        self.secrets = _SESSION.client("secretsmanager", region_name="us-east-1")
        self.audit = AuditLog(aws.dynamodb, AUDIT_TABLE)

    def create(self, body: dict[str, Any], **parts: Any) -> ApiResponse:
        return api("create_source", body=body, **parts)

    def created(self, body: dict[str, Any]) -> dict[str, Any]:
        return ok(self.create(body), 201)

    def items(self) -> list[dict[str, Any]]:
        items = self.aws.dynamodb.scan(TableName=DATA_TABLE, ConsistentRead=True)["Items"]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))

    def audit_items(self) -> list[dict[str, Any]]:
        return list(self.aws.dynamodb.scan(TableName=AUDIT_TABLE, ConsistentRead=True)["Items"])

    def secret_list(self) -> list[dict[str, Any]]:
        """Every secret, those scheduled for deletion included."""
        listed = self.secrets.list_secrets(IncludePlannedDeletion=True)["SecretList"]
        return sorted((dict(item) for item in listed), key=lambda item: str(item["Name"]))

    def secret_names(self, *, scheduled: bool = False) -> list[str]:
        """The secrets that are live (or, with `scheduled`, those scheduled for deletion)."""
        return [item["Name"] for item in self.secret_list() if ("DeletedDate" in item) is scheduled]

    def secret(self, name: str) -> dict[str, Any]:
        response = self.secrets.get_secret_value(SecretId=f"{DATA_SOURCE_SECRET_PREFIX}/{name}")
        return dict(json.loads(response["SecretString"]))

    def snapshot(self) -> dict[str, Any]:
        """What a refused request must leave as it was (denials add an audit record: not compared)."""
        return {
            "items": self.items(),
            "secrets": [
                (item["Name"], "DeletedDate" in item, sorted(item.get("SecretVersionsToStages", {})))
                for item in self.secret_list()
            ],
        }

    def changes_audited(self) -> list[dict[str, Any]]:
        """The audit records of data source changes (not denials), oldest first."""
        records = self.audit.query(limit=100).items
        return [
            record.model_dump(mode="json")
            for record in reversed(records)
            if record.resource.startswith("data/source/")
        ]


@pytest.fixture
def world(aws: AwsResources) -> Iterator[SourcesWorld]:
    """The data functions' world: their environment is the shared test environment (tests/support)."""
    clear_sources_wiring()
    yield SourcesWorld(aws)
    clear_sources_wiring()


@contextlib.contextmanager
def function_logs() -> Iterator[io.StringIO]:
    """What the functions' Powertools logger writes (JSON lines, DEBUG and up) while the block runs."""
    from cirrus_core.observability import logger

    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    level = logger.log_level
    stream = io.StringIO()
    previous = handler.setStream(stream)
    logger.setLevel("DEBUG")
    try:
        yield stream
    finally:
        logger.setLevel(level)
        handler.setStream(previous)


__all__ = ["ARTIFACT_BUCKET", "DATA_BUCKET", "DATA_SOURCE_SECRET_PREFIX"]
