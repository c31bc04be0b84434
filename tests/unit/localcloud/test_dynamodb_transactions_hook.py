"""The dynamodb_transactions hook makes moto's DynamoDB writes atomic under threads, as AWS's are.

Each race is forced, not hoped for: the first writer is held inside a conditional write, right after
moto read the item the condition is about, while a second writer gets every chance to run. Without
the hook the second writer barges in (and these tests fail); with it, the second writer waits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import table as dynamodb_table

from cirrus.localcloud.hooks import HookContext
from cirrus.localcloud.hooks.dynamodb_transactions import SERIALISED_METHODS, install

TABLE = "hook-test"
# How long the held writer waits for the other one to barge in; with the hook it never can.
BARGE_IN_WINDOW_SECONDS = 0.5
SAFETY_TIMEOUT_SECONDS = 30


@pytest.fixture
def table() -> Iterator[None]:
    with mock_aws():
        boto3.client("dynamodb").create_table(
            TableName=TABLE,
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield


@pytest.fixture
def hook(tmp_path: Path) -> Iterator[None]:
    undo = install(HookContext(endpoint_url="http://127.0.0.1:4566", work_dir=tmp_path))
    yield
    undo()


class HeldWriter:
    """Holds one thread in its first conditional write, between reading the item and checking it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.holder: threading.Thread | None = None
        self.holding = threading.Event()
        self.release = threading.Event()
        original = dynamodb_table.get_filter_expression  # type: ignore[attr-defined]

        def held(*args: Any, **kwargs: Any) -> Any:
            if threading.current_thread() is self.holder and not self.holding.is_set():
                self.holding.set()
                self.release.wait(SAFETY_TIMEOUT_SECONDS)
            return original(*args, **kwargs)

        monkeypatch.setattr(dynamodb_table, "get_filter_expression", held)

    def race(self, first: Callable[[], None], second: Callable[[], None]) -> None:
        """Run `first` until it is held, give `second` its window, then let both finish."""
        self.holder = threading.Thread(target=first)
        other = threading.Thread(target=second)
        self.holder.start()
        assert self.holding.wait(SAFETY_TIMEOUT_SECONDS), "the first writer never reached its check"
        other.start()
        other.join(BARGE_IN_WINDOW_SECONDS)
        self.release.set()
        self.holder.join(SAFETY_TIMEOUT_SECONDS)
        other.join(SAFETY_TIMEOUT_SECONDS)


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> HeldWriter:
    return HeldWriter(monkeypatch)


def create(key: str) -> dict[str, Any]:
    """A transaction item that creates `key` only if it does not exist."""
    return {
        "Put": {
            "TableName": TABLE,
            "Item": {"pk": {"S": key}},
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


def transaction(outcomes: list[str], *items: Any) -> Callable[[], None]:
    """A thread body that runs one transaction and records whether it committed."""

    def run() -> None:
        client = boto3.session.Session().client("dynamodb")
        try:
            client.transact_write_items(TransactItems=list(items))
            outcomes.append("committed")
        except ClientError as error:
            outcomes.append(error.response["Error"]["Code"])

    return run


def plain_put(key: str) -> Callable[[], None]:
    def run() -> None:
        boto3.session.Session().client("dynamodb").put_item(TableName=TABLE, Item={"pk": {"S": key}})

    return run


def exists(key: str) -> bool:
    item = boto3.client("dynamodb").get_item(TableName=TABLE, Key={"pk": {"S": key}}, ConsistentRead=True)
    return "Item" in item


def test_of_two_transactions_creating_one_item_only_one_commits(
    table: None, hook: None, held: HeldWriter
) -> None:
    outcomes: list[str] = []

    held.race(transaction(outcomes, create("model")), transaction(outcomes, create("model")))

    assert sorted(outcomes) == ["TransactionCanceledException", "committed"]


def test_a_cancelled_transaction_does_not_undo_another_writers_put(
    table: None, hook: None, held: HeldWriter
) -> None:
    outcomes: list[str] = []
    plain_put("existing")()

    # GIVEN a transaction that creates "fresh", then fails on "existing" and rolls back
    cancelled = transaction(outcomes, create("fresh"), create("existing"))
    # WHEN another writer puts "other" while the transaction is under way
    held.race(cancelled, plain_put("other"))

    # THEN the rollback removes only what the transaction wrote
    assert outcomes == ["TransactionCanceledException"]
    assert not exists("fresh")
    assert exists("other")


def test_undo_restores_the_backend_methods(tmp_path: Path) -> None:
    backend = dynamodb_models.DynamoDBBackend
    before = {name: backend.__dict__[name] for name in SERIALISED_METHODS}

    undo = install(HookContext(endpoint_url="http://127.0.0.1:4566", work_dir=tmp_path))
    installed = {name: backend.__dict__[name] for name in SERIALISED_METHODS}
    undo()

    assert all(installed[name] is not before[name] for name in SERIALISED_METHODS)
    assert {name: backend.__dict__[name] for name in SERIALISED_METHODS} == before


def _backend_table() -> Any:
    return dynamodb_models.dynamodb_backends["123456789012"]["us-east-1"].tables[TABLE]


def test_a_cancelled_transaction_leaves_every_item_as_it_was(table: None, hook: None) -> None:
    client = boto3.client("dynamodb")
    client.put_item(TableName=TABLE, Item={"pk": {"S": "kept"}, "value": {"B": b"\x00\xffbinary"}})

    with pytest.raises(ClientError, match="TransactionCanceled"):
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "kept"}, "value": {"S": "overwritten"}}}},
                {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "new"}}}},
                {
                    "Put": {
                        "TableName": TABLE,
                        "Item": {"pk": {"S": "refused"}},
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )

    items = client.scan(TableName=TABLE)["Items"]
    assert items == [{"pk": {"S": "kept"}, "value": {"B": b"\x00\xffbinary"}}]


def test_a_transaction_no_longer_snapshots_whole_tables(table: None, hook: None) -> None:
    # moto 5.2.5 deep-copies each touched table and, on cancellation, replaces the table with its
    # copy: the table object changes. The hook rolls back item by item, so the object stays.
    client = boto3.client("dynamodb")
    before = _backend_table()

    with pytest.raises(ClientError, match="TransactionCanceled"):
        client.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": TABLE,
                        "Item": {"pk": {"S": "refused"}},
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                }
            ]
        )

    assert _backend_table() is before
