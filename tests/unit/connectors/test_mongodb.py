"""The MongoDB connector, against mongomock (pymongo's interface with MongoDB's query semantics)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import mongomock
import pyarrow as pa
import pytest
from bson import ObjectId
from bson.decimal128 import Decimal128
from pymongo.errors import ServerSelectionTimeoutError

from cirrus_connectors import mongodb
from cirrus_connectors.base import ConnectionFailed, ExtractionRefused, ExtractRequest, SourceConfig

PASSWORD = "s3cr3t-Pa55"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def source(**connection: Any) -> SourceConfig:
    return SourceConfig(
        name="orders",
        type="mongodb",
        connection={"host": "mongo.internal", "database": "shop", "user": "reader", **connection},
        secret={"password": PASSWORD},
    )


class Factory:
    """Hands out one mongomock client and records the arguments it was built with."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((args, kwargs))
        return self.client


@pytest.fixture
def client() -> Any:
    return mongomock.MongoClient()


@pytest.fixture
def connector(client: Any) -> mongodb.MongoConnector:
    return mongodb.open(source(), client_factory=Factory(client))


def rows(batches: list[pa.RecordBatch]) -> list[dict[str, Any]]:
    return [row for batch in batches for row in batch.to_pylist()]


def read(connector: mongodb.MongoConnector, **request: Any) -> list[pa.RecordBatch]:
    return list(connector.extract(ExtractRequest(table="orders", **request)))


def insert_orders(client: Any, count: int) -> list[ObjectId]:
    documents = [
        {"n": i, "status": "paid" if i % 2 else "open", "at": T0 + timedelta(minutes=i)} for i in range(count)
    ]
    return list(client.shop.orders.insert_many(documents).inserted_ids)


# ------------------------------------------------------------------------------------------ reading


def test_a_filter_selects_the_documents_read(client: Any, connector: mongodb.MongoConnector) -> None:
    insert_orders(client, 10)

    read_rows = rows(read(connector, filter={"status": "paid"}))

    assert [row["n"] for row in read_rows] == [1, 3, 5, 7, 9]


def test_a_projection_selects_the_fields_and_keeps_the_id(
    client: Any, connector: mongodb.MongoConnector
) -> None:
    ids = insert_orders(client, 3)

    batches = read(connector, projection={"n": 1})

    assert batches[0].schema.names == ["_id", "n"]
    assert rows(batches) == [{"_id": str(ids[i]), "n": i} for i in range(3)]


def test_a_projection_excluding_the_id_drops_it_after_paging(
    client: Any, connector: mongodb.MongoConnector
) -> None:
    insert_orders(client, 5)

    batches = read(connector, projection={"_id": 0, "n": 1}, chunk_rows=2)

    assert [batch.schema.names for batch in batches] == [["n"]] * 3
    assert [row["n"] for row in rows(batches)] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(("count", "chunk"), [(25, 7), (14, 7), (3, 10), (1, 1)])
def test_pages_are_bounded_and_lose_or_repeat_no_document(
    client: Any, connector: mongodb.MongoConnector, count: int, chunk: int
) -> None:
    ids = insert_orders(client, count)

    batches = read(connector, chunk_rows=chunk)

    assert all(0 < batch.num_rows <= chunk for batch in batches)
    assert len(batches) == -(-count // chunk)
    assert [row["_id"] for row in rows(batches)] == [str(i) for i in sorted(ids)]


def test_each_page_asks_for_ids_after_the_last_one_read(client: Any) -> None:
    insert_orders(client, 5)
    filters: list[dict[str, Any]] = []
    collection = client.shop.orders
    real_find = collection.find

    def find(query: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        filters.append(query)
        return real_find(query, *args, **kwargs)

    collection.find = find
    connector = mongodb.open(source(), client_factory=Factory(client))

    batches = read(connector, filter={"status": "paid"}, chunk_rows=1)

    paid = [row["_id"] for row in rows(batches)]
    assert filters[0] == {"status": "paid"}
    assert filters[1] == {"$and": [{"status": "paid"}, {"_id": {"$gt": ObjectId(paid[0])}}]}
    assert filters[2] == {"$and": [{"status": "paid"}, {"_id": {"$gt": ObjectId(paid[1])}}]}
    assert len(filters) == 3


def test_an_empty_collection_yields_no_batch(connector: mongodb.MongoConnector) -> None:
    assert read(connector) == []


def test_an_incremental_read_takes_documents_after_the_watermark_within_the_filter(
    client: Any, connector: mongodb.MongoConnector
) -> None:
    insert_orders(client, 10)

    batches = read(
        connector,
        filter={"status": "paid"},
        watermark_column="at",
        after_watermark=T0 + timedelta(minutes=4),
        chunk_rows=2,
    )

    assert [row["n"] for row in rows(batches)] == [5, 7, 9]


def test_an_object_id_watermark_given_as_text_is_compared_as_an_object_id(
    client: Any, connector: mongodb.MongoConnector
) -> None:
    ids = insert_orders(client, 4)

    batches = read(connector, watermark_column="_id", after_watermark=str(ids[2]))

    assert [row["n"] for row in rows(batches)] == [3]


def test_a_decimal_watermark_is_sent_as_decimal128(client: Any) -> None:
    # mongomock cannot compare Decimal128 values: the filter sent is checked instead.
    filters: list[dict[str, Any]] = []
    real_find = client.shop.orders.find

    def find(query: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        filters.append(query)
        return real_find({}, *args, **kwargs)

    client.shop.orders.find = find
    connector = mongodb.open(source(), client_factory=Factory(client))

    read(connector, watermark_column="amount", after_watermark=Decimal("1.5"))

    assert filters == [{"amount": {"$gt": Decimal128("1.5")}}]


def test_the_max_time_option_bounds_each_pages_query(client: Any) -> None:
    insert_orders(client, 3)
    limits: list[int] = []
    real_find = client.shop.orders.find

    def find(*args: Any, **kwargs: Any) -> Any:
        cursor = real_find(*args, **kwargs)
        real_max_time = cursor.max_time_ms

        def max_time_ms(milliseconds: int) -> Any:
            limits.append(milliseconds)
            return real_max_time(milliseconds)

        cursor.max_time_ms = max_time_ms
        return cursor

    client.shop.orders.find = find
    with_limit = SourceConfig(
        name="m", type="mongodb", connection=source().connection, options={"max_time_s": 30}
    )

    batches = list(
        mongodb.open(with_limit, client_factory=Factory(client)).extract(
            ExtractRequest(table="orders", chunk_rows=2)
        )
    )

    assert sum(batch.num_rows for batch in batches) == 3
    assert limits == [30_000, 30_000]


def test_an_incremental_read_without_a_watermark_yet_reads_everything(
    client: Any, connector: mongodb.MongoConnector
) -> None:
    insert_orders(client, 4)

    assert len(rows(read(connector, watermark_column="at", after_watermark=None))) == 4


# ------------------------------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    ("filter_", "projection"),
    [
        ({"$where": "this.n > 1"}, None),
        ({"$expr": {"$function": {"body": "function() { return true }", "args": [], "lang": "js"}}}, None),
        ({"$and": [{"n": 1}, {"$where": "true"}]}, None),
        ({}, {"total": {"$accumulator": {"init": "function() {}"}}}),
    ],
    ids=["where", "function-in-expr", "where-in-and", "accumulator-in-projection"],
)
def test_server_side_javascript_is_refused_before_any_read(
    client: Any, filter_: dict[str, Any], projection: dict[str, Any] | None
) -> None:
    factory = Factory(client)
    connector = mongodb.open(source(), client_factory=factory)
    client.shop.orders.find = None  # any read would fail loudly

    with pytest.raises(ExtractionRefused, match=r"\$(where|function|accumulator) runs JavaScript"):
        connector.extract(ExtractRequest(table="orders", filter=filter_, projection=projection))


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (ExtractRequest(query="db.orders.find()"), "give `table`"),
        (ExtractRequest(), "collection's name"),
        (ExtractRequest(table="orders", chunk_rows=0), "chunk_rows"),
    ],
)
def test_requests_a_collection_read_cannot_serve_are_refused(
    connector: mongodb.MongoConnector, request_: ExtractRequest, message: str
) -> None:
    with pytest.raises(ExtractionRefused, match=message):
        connector.extract(request_)


# ------------------------------------------------------------------------------------------ types


def test_bson_types_map_to_arrow_types_as_documented(client: Any, connector: mongodb.MongoConnector) -> None:
    oid = ObjectId()
    client.shop.orders.insert_one(
        {
            "_id": oid,
            "customer": ObjectId("65f000000000000000000001"),
            "name": "Ada",
            "count": 3,
            "price": 9.5,
            "paid": True,
            "at": datetime(2024, 5, 1, 12, 30),  # BSON dates come back naive, in UTC
            "raw": b"\x00\x01",
            "amount": Decimal128("12.34"),
            "address": {"city": "Oslo", "zip": "0150"},
            "tags": ["a", "b"],
        }
    )

    (batch,) = read(connector)

    assert batch.schema == pa.schema(
        [
            ("_id", pa.string()),
            ("customer", pa.string()),
            ("name", pa.string()),
            ("count", pa.int64()),
            ("price", pa.float64()),
            ("paid", pa.bool_()),
            ("at", pa.timestamp("us", tz="UTC")),
            ("raw", pa.binary()),
            ("amount", pa.decimal128(38, 2)),
            ("address", pa.string()),
            ("tags", pa.string()),
        ]
    )
    row = batch.to_pylist()[0]
    assert row["_id"] == str(oid)
    assert row["customer"] == "65f000000000000000000001"
    assert row["at"] == datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    assert row["amount"] == Decimal("12.34")
    assert row["raw"] == b"\x00\x01"
    assert row["address"] == '{"city": "Oslo", "zip": "0150"}'
    assert row["tags"] == '["a", "b"]'


def test_mixed_numbers_widen_to_double_and_other_mixes_become_text(
    client: Any, connector: mongodb.MongoConnector
) -> None:
    client.shop.orders.insert_many(
        [{"_id": 1, "qty": 1, "code": 7, "note": None}, {"_id": 2, "qty": 2.5, "code": "X7", "note": None}]
    )

    (batch,) = read(connector)

    assert batch.schema.field("qty").type == pa.float64()
    assert batch.schema.field("code").type == pa.string()
    assert batch.schema.field("note").type == pa.string()
    assert batch.column("qty").to_pylist() == [1.0, 2.5]
    assert batch.column("code").to_pylist() == ["7", "X7"]


def test_later_pages_conform_to_the_first_pages_schema(
    client: Any, connector: mongodb.MongoConnector
) -> None:
    client.shop.orders.insert_many(
        [
            {"_id": 1, "price": 1.5, "name": "a", "amount": Decimal128("1.25")},
            {"_id": 2, "price": 2},  # an int into the double column, fields missing
            {"_id": 3, "price": None, "name": {"first": "b"}, "amount": 4},
        ]
    )

    batches = read(connector, chunk_rows=1)

    assert {batch.schema for batch in batches} == {batches[0].schema}
    assert rows(batches) == [
        {"_id": 1, "price": 1.5, "name": "a", "amount": Decimal("1.25")},
        {"_id": 2, "price": 2.0, "name": None, "amount": None},
        {"_id": 3, "price": None, "name": '{"first": "b"}', "amount": Decimal("4.00")},
    ]


def test_a_value_of_another_type_in_a_later_page_refuses_the_read(
    client: Any, connector: mongodb.MongoConnector
) -> None:
    client.shop.orders.insert_many([{"_id": 1, "qty": 1}, {"_id": 2, "qty": "two"}])
    pages = connector.extract(ExtractRequest(table="orders", chunk_rows=1))

    assert next(pages).num_rows == 1
    with pytest.raises(ExtractionRefused, match=r"field 'qty' of document _id=2: a string value .* int64"):
        next(pages)


def test_a_decimal_with_more_places_than_the_schema_refuses_the_read(
    client: Any, connector: mongodb.MongoConnector
) -> None:
    client.shop.orders.insert_many(
        [{"_id": 1, "amount": Decimal128("1.5")}, {"_id": 2, "amount": Decimal128("1.55")}]
    )

    with pytest.raises(ExtractionRefused, match=r"'amount' of document _id=2: a value that does not fit"):
        read(connector, chunk_rows=1)


def test_a_field_first_seen_in_a_later_page_refuses_the_read(
    client: Any, connector: mongodb.MongoConnector
) -> None:
    client.shop.orders.insert_many([{"_id": 1, "a": 1}, {"_id": 2, "a": 2, "b": 3}])

    with pytest.raises(
        ExtractionRefused, match=r"field 'b' of document _id=2 is not in the schema .* projection"
    ):
        read(connector, chunk_rows=1)


def test_an_inclusion_projection_fixes_the_fields_of_the_schema(
    client: Any, connector: mongodb.MongoConnector
) -> None:
    client.shop.orders.insert_many([{"_id": 1, "a": 1}, {"_id": 2, "a": 2, "b": 3}])

    batches = read(connector, chunk_rows=1, projection={"a": 1, "b": 1})

    assert batches[0].schema.names == ["_id", "a", "b"]
    assert rows(batches) == [{"_id": 1, "a": 1, "b": None}, {"_id": 2, "a": 2, "b": "3"}]


# ------------------------------------------------------------------------------------------ connection


def test_connection_test_pings_the_server_and_reports_milliseconds(client: Any) -> None:
    commands: list[str] = []
    real_command = client.admin.command

    def command(name: str, *args: Any, **kwargs: Any) -> Any:
        commands.append(name)
        return real_command(name, *args, **kwargs)

    client.admin.command = command
    connector = mongodb.open(source(), client_factory=Factory(client))

    latency = connector.test()

    assert commands == ["ping"]
    assert isinstance(latency, float)
    assert latency >= 0.0


def test_a_failed_ping_is_a_connection_failure_without_the_password(client: Any) -> None:
    def command(name: str, *args: Any, **kwargs: Any) -> Any:
        raise ServerSelectionTimeoutError(f"mongodb://reader:{PASSWORD}@mongo.internal: timed out")

    client.admin.command = command
    connector = mongodb.open(source(), client_factory=Factory(client))

    with pytest.raises(ConnectionFailed) as failure:
        connector.test()

    assert (
        failure.value.message
        == "MongoDB did not answer a ping: mongodb://reader:***@mongo.internal: timed out"
    )
    assert failure.value.driver_error == "mongodb://reader:***@mongo.internal: timed out"


def test_a_uri_and_its_percent_encoded_password_are_kept_out_of_failures(client: Any) -> None:
    uri = "mongodb://u:p%40ss@h/db"
    uri_source = SourceConfig(name="m", type="mongodb", connection={"database": "shop"}, secret={"uri": uri})

    def command(name: str, *args: Any, **kwargs: Any) -> Any:
        raise ServerSelectionTimeoutError(f"auth failed for {uri} (p@ss)")

    client.admin.command = command

    with pytest.raises(ConnectionFailed) as failure:
        mongodb.open(uri_source, client_factory=Factory(client)).test()

    assert failure.value.driver_error == "auth failed for *** (***)"


def test_the_client_is_built_from_host_user_and_the_secret_password(client: Any) -> None:
    factory = Factory(client)

    mongodb.open(source(port=27018, tls=True), client_factory=factory)

    ((args, kwargs),) = factory.calls
    assert args == ()
    assert kwargs["host"] == "mongo.internal"
    assert kwargs["port"] == 27018
    assert kwargs["username"] == "reader"
    assert kwargs["password"] == PASSWORD
    assert kwargs["authSource"] == "shop"
    assert kwargs["tls"] is True
    assert kwargs["serverSelectionTimeoutMS"] == mongodb.SERVER_SELECTION_TIMEOUT_MS


def test_a_uri_in_the_secret_is_passed_as_is(client: Any) -> None:
    factory = Factory(client)
    uri = "mongodb+srv://reader:pw@cluster0.example.net/shop"

    mongodb.open(
        SourceConfig(name="m", type="mongodb", connection={"database": "shop"}, secret={"uri": uri}),
        client_factory=factory,
    )

    ((args, kwargs),) = factory.calls
    assert args == (uri,)
    assert "host" not in kwargs
    assert "password" not in kwargs


def test_a_source_without_uri_or_host_is_refused(client: Any) -> None:
    with pytest.raises(ExtractionRefused, match="`uri`"):
        mongodb.open(SourceConfig(name="m", type="mongodb", connection={}), client_factory=Factory(client))


def test_close_closes_the_client(client: Any) -> None:
    closed: list[bool] = []
    client.close = lambda: closed.append(True)

    mongodb.open(source(), client_factory=Factory(client)).close()

    assert closed == [True]
