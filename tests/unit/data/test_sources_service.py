"""SourceService beyond the routes: `resolve` (what the data jobs call), the secret written before the
item and removed again when the item cannot be stored, a name taken between the check and the write,
and the scrubbing of secret values from a driver's message."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, quote_plus

import boto3
import pytest
from botocore.exceptions import ClientError

from cirrus_core.audit.log import AuditLog
from cirrus_core.audit.models import AuditEntry
from cirrus_core.data.connection import SourceConfig
from cirrus_core.data.source_secrets import SourceSecrets
from cirrus_core.data.source_store import SourceStore
from cirrus_core.data.sources import CreateSourceRequest, SourceRecord, SourceUnreachable, scrub
from cirrus_core.data.sources_service import SourceService
from cirrus_core.errors import SourceExists, SourceNotFound
from tests.support.authz import caller
from tests.support.aws import DATA_BUCKET, DATA_SOURCE_SECRET_PREFIX, AwsResources
from tests.unit.data.sources_support import (
    AUDIT_TABLE,
    DATA_TABLE,
    MONGO_URI,
    PASSWORD,
    mongodb_uri,
    postgres,
    s3,
)

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
ADMIN = caller("admin")


class Checks:
    """A connection check that answers `latency`, or raises `failure`, and records its sources."""

    def __init__(self) -> None:
        self.latency = 3.25
        self.failure: Exception | None = None
        self.sources: list[SourceConfig] = []

    def __call__(self, source: SourceConfig) -> float:
        self.sources.append(source)
        if self.failure is not None:
            raise self.failure
        return self.latency


class World:
    def __init__(self, aws: AwsResources) -> None:
        self.aws = aws
        self.secrets_client = boto3.client("secretsmanager", region_name="us-east-1")
        self.secrets = SourceSecrets(self.secrets_client, DATA_SOURCE_SECRET_PREFIX)
        self.store: SourceStore = SourceStore(aws.dynamodb, DATA_TABLE, AuditLog(aws.dynamodb, AUDIT_TABLE))
        self.checks = Checks()

    def service(self, store: Any = None) -> SourceService:
        return SourceService(
            store or self.store,
            lambda: self.secrets,
            self.checks,
            allowed_buckets=frozenset({DATA_BUCKET}),
            clock=lambda: NOW,
        )

    def secret_entries(self) -> list[dict[str, Any]]:
        listed = self.secrets_client.list_secrets(IncludePlannedDeletion=True)["SecretList"]
        return [dict(item) for item in listed]


@pytest.fixture
def world(aws: AwsResources) -> World:
    return World(aws)


def request(body: dict[str, Any]) -> CreateSourceRequest:
    return CreateSourceRequest.model_validate(body)


# -- resolve ---------------------------------------------------------------------------------------------


def test_resolve_gives_the_stored_fields_the_secret_and_the_options(world: World) -> None:
    service = world.service()
    service.create(request(postgres(options={"statement_timeout_s": 60})), ADMIN)

    source = service.resolve("orders-db")

    assert source == SourceConfig(
        name="orders-db",
        type="postgresql",
        connection={"host": "db.internal", "port": 5432, "database": "shop", "user": "reader"},
        secret={"password": PASSWORD},
        options={"statement_timeout_s": 60},
    )


def test_resolve_reads_the_secret_version_the_source_was_saved_with(world: World) -> None:
    service = world.service()
    service.create(request(mongodb_uri()), ADMIN)
    # A later version of the same secret (a rotation outside Cirrus) is not what the source names.
    world.secrets_client.put_secret_value(
        SecretId=f"{DATA_SOURCE_SECRET_PREFIX}/events-mongo", SecretString='{"uri": "mongodb://other"}'
    )

    assert service.resolve("events-mongo").secret == {"uri": MONGO_URI}


def test_resolve_of_a_source_without_secret_fields_has_an_empty_secret(world: World) -> None:
    service = world.service()
    service.create(request(s3()), ADMIN)

    source = service.resolve("landing")

    assert (source.type, source.secret) == ("s3", {})
    assert source.connection == {"bucket": DATA_BUCKET, "prefix": "landing/orders/", "format": "csv"}


def test_resolve_of_an_unknown_source_is_source_not_found(world: World) -> None:
    with pytest.raises(SourceNotFound):
        world.service().resolve("nowhere")


# -- the secret and the item -----------------------------------------------------------------------------


class FailingStore(SourceStore):
    """The data table refusing the write (throttled, say) after the secret was stored."""

    def create(self, record: SourceRecord, audit: AuditEntry | None) -> None:
        raise ClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
            "TransactWriteItems",
        )


def test_a_secret_is_deleted_again_when_its_item_cannot_be_stored(world: World) -> None:
    service = world.service(FailingStore(world.aws.dynamodb, DATA_TABLE))

    with pytest.raises(ClientError):
        service.create(request(postgres()), ADMIN)

    assert world.secret_entries() == []
    assert world.aws.dynamodb.scan(TableName=DATA_TABLE)["Items"] == []


def test_a_restored_secret_is_scheduled_for_deletion_again_when_its_item_cannot_be_stored(
    world: World,
) -> None:
    service = world.service()
    service.create(request(postgres()), ADMIN)
    service.delete("orders-db", ADMIN)
    failing = world.service(FailingStore(world.aws.dynamodb, DATA_TABLE))

    with pytest.raises(ClientError):
        failing.create(request(postgres()), ADMIN)

    (entry,) = world.secret_entries()
    assert "DeletedDate" in entry


class RacingStore(SourceStore):
    """Another request stores a source of the same name between our check and our write."""

    def __init__(self, inner: SourceStore, winner: SourceService, body: dict[str, Any]) -> None:
        self._inner = inner
        self._winner = winner
        self._body = body
        self._checked = False

    def source(self, name: str) -> SourceRecord | None:
        found = self._inner.source(name)
        if not self._checked:
            self._checked = True
            self._winner.create(request(self._body), ADMIN)
        return found

    def create(self, record: SourceRecord, audit: AuditEntry | None) -> None:
        self._inner.create(record, audit)


def test_a_name_taken_meanwhile_is_source_exists_and_the_winner_keeps_its_secret(world: World) -> None:
    winner = world.service()
    racing = RacingStore(world.store, winner, postgres(password="w1nner-pa55"))

    with pytest.raises(SourceExists):
        world.service(racing).create(request(postgres()), ADMIN)

    assert winner.resolve("orders-db").secret == {"password": "w1nner-pa55"}


# -- test() ----------------------------------------------------------------------------------------------


def test_a_test_answers_the_latency_of_the_check(world: World) -> None:
    service = world.service()
    service.create(request(postgres()), ADMIN)

    result = service.test("orders-db", ADMIN)

    assert (result.ok, result.latency_ms, result.error) == (True, 3.25, None)
    assert world.checks.sources[0].secret == {"password": PASSWORD}


def test_a_failed_check_is_reported_with_every_form_of_the_secret_removed(world: World) -> None:
    service = world.service()
    service.create(request(mongodb_uri()), ADMIN)
    world.checks.failure = SourceUnreachable(
        f"auth failed for {MONGO_URI} ({quote(PASSWORD, safe='')}, {quote_plus(PASSWORD)}, {PASSWORD})"
    )

    result = service.test("events-mongo", ADMIN)

    assert result.ok is False
    assert result.error is not None
    assert result.error.message == "auth failed for *** (***, ***, ***)"


# -- scrub -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secrets", "expected"),
    [
        ("password=hunter2 rejected", ["hunter2"], "password=*** rejected"),
        ("user p%40ss failed", ["p@ss"], "user *** failed"),
        ("user p%40ss+x failed", ["p@ss x"], "user p%40ss+x failed".replace("p%40ss+x", "***")),
        (
            "mongodb://u@h: bad auth for s%3Acret",
            ["mongodb://u:s%3Acret@h/db"],
            "mongodb://u@h: bad auth for ***",
        ),
        ("auth failed (s:cret)", ["mongodb://u:s%3Acret@h/db"], "auth failed (***)"),
        ("nothing to hide", ["hunter2", "", None, 42], "nothing to hide"),
        ("abcabc", ["abc", "abcabc"], "***"),
    ],
    ids=[
        "plain",
        "percent-encoded",
        "form-encoded",
        "uri password",
        "uri password decoded",
        "no secret",
        "longest",
    ],
)
def test_scrub_removes_secret_values_and_their_encodings(
    text: str, secrets: list[Any], expected: str
) -> None:
    assert scrub(text, secrets) == expected
