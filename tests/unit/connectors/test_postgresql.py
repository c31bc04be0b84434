"""The PostgreSQL connector against a real PostgreSQL server (tests/unit/connectors/conftest.py).

It authenticates with a password over TCP, reads tables and queries in bounded batches inside a
read-only transaction, maps every column type to a fixed Arrow type (even for no rows), reads
incrementally past a watermark, and reports failures without the password.
"""

# The tests build setup SQL from the table names they generate, on a throwaway server.

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from cirrus.localcloud.databases import LocalPostgres
from cirrus_connectors import postgresql
from cirrus_connectors._arrow_types import FETCH_ROWS
from cirrus_connectors.base import (
    ConnectionFailed,
    ExtractionRefused,
    ExtractRequest,
    SourceConfig,
    open_connector,
)
from tests.unit.connectors.conftest import postgres_execute, postgres_source, unique_name

UUID = uuid.UUID("0b0b1d5e-3c0a-4f6e-9a51-8d7c2b9e4f10")


@pytest.fixture
def connector(postgres_server: LocalPostgres) -> Iterator[postgresql.PostgresConnector]:
    opened = postgresql.open(postgres_source(postgres_server))
    yield opened
    opened.close()


@pytest.fixture
def events(postgres_server: LocalPostgres) -> str:
    """A table of 25 events: id 1..25, name 'event <id>', at = 2024-01-01 + id hours (UTC)."""
    table = unique_name("events")
    postgres_execute(
        postgres_server,
        f"CREATE TABLE {table} (id integer PRIMARY KEY, name text NOT NULL, at timestamptz NOT NULL)",
        f"INSERT INTO {table} SELECT i, 'event ' || i, "
        "timestamptz '2024-01-01 00:00+00' + i * interval '1 hour' FROM generate_series(1, 25) AS i",
    )
    return table


def rows_of(batches: list[pa.RecordBatch]) -> list[dict[str, Any]]:
    return pa.Table.from_batches(batches).to_pylist()


def test_a_table_is_read_whole_in_batches_of_at_most_chunk_rows(
    connector: postgresql.PostgresConnector, events: str
) -> None:
    batches = list(connector.extract(ExtractRequest(table=events, chunk_rows=10)))

    assert [batch.num_rows for batch in batches] == [10, 10, 5]
    rows = sorted(rows_of(batches), key=lambda row: row["id"])
    assert [row["id"] for row in rows] == list(range(1, 26))
    assert rows[0] == {
        "id": 1,
        "name": "event 1",
        "at": dt.datetime(2024, 1, 1, 1, tzinfo=dt.UTC),
    }


def test_a_query_returns_exactly_its_rows_with_percent_signs_left_alone(
    connector: postgresql.PostgresConnector, events: str
) -> None:
    query = f"SELECT id, name || ' 100%' AS label FROM {events} WHERE id % 5 = 0 ORDER BY id;"

    rows = rows_of(list(connector.extract(ExtractRequest(query=query, chunk_rows=3))))

    assert rows == [{"id": i, "label": f"event {i} 100%"} for i in (5, 10, 15, 20, 25)]


def test_batches_larger_than_one_fetch_hold_exactly_chunk_rows(
    connector: postgresql.PostgresConnector, postgres_server: LocalPostgres
) -> None:
    table = unique_name("many")
    postgres_execute(
        postgres_server,
        f"CREATE TABLE {table} AS SELECT i AS id FROM generate_series(1, {2 * FETCH_ROWS + 5_000}) AS i",
    )

    batches = list(connector.extract(ExtractRequest(table=table, chunk_rows=FETCH_ROWS + FETCH_ROWS // 2)))

    assert [batch.num_rows for batch in batches] == [FETCH_ROWS + FETCH_ROWS // 2, FETCH_ROWS // 2 + 5_000]
    assert sorted(rows_of(batches), key=lambda row: row["id"]) == [
        {"id": i} for i in range(1, 2 * FETCH_ROWS + 5_001)
    ]


def test_a_schema_qualified_table_is_read(
    connector: postgresql.PostgresConnector, postgres_server: LocalPostgres
) -> None:
    schema = unique_name("sales")
    postgres_execute(
        postgres_server,
        f"CREATE SCHEMA {schema}",
        f"CREATE TABLE {schema}.orders (id bigint)",
        f"INSERT INTO {schema}.orders VALUES (7), (8)",
    )

    batches = list(connector.extract(ExtractRequest(table=f"{schema}.orders")))

    assert sorted(row["id"] for row in rows_of(batches)) == [7, 8]


def test_incremental_extraction_returns_only_rows_past_the_watermark_in_order(
    connector: postgresql.PostgresConnector, events: str
) -> None:
    request = ExtractRequest(
        table=events,
        watermark_column="at",
        after_watermark=dt.datetime(2024, 1, 1, 20, tzinfo=dt.UTC),
        chunk_rows=2,
    )

    rows = rows_of(list(connector.extract(request)))

    assert [row["id"] for row in rows] == [21, 22, 23, 24, 25]


def test_incremental_extraction_over_a_query_takes_a_watermark_given_as_text(
    connector: postgresql.PostgresConnector, events: str
) -> None:
    request = ExtractRequest(
        query=f"SELECT id, at FROM {events} WHERE id <> 24",
        watermark_column="at",
        after_watermark="2024-01-01T21:00:00+00:00",
    )

    assert [row["id"] for row in rows_of(list(connector.extract(request)))] == [22, 23, 25]


def test_a_first_incremental_extraction_reads_every_row_in_watermark_order(
    connector: postgresql.PostgresConnector, postgres_server: LocalPostgres
) -> None:
    table = unique_name("scores")
    postgres_execute(
        postgres_server,
        f"CREATE TABLE {table} (id int, seen int)",
        f"INSERT INTO {table} VALUES (1, 30), (2, 10), (3, 20)",
    )

    rows = rows_of(list(connector.extract(ExtractRequest(table=table, watermark_column="seen"))))

    assert [row["id"] for row in rows] == [2, 3, 1]


# (column type, SQL literal, Arrow type, the value read back)
TYPES: list[tuple[str, str, pa.DataType, Any]] = [
    ("smallint", "-7", pa.int16(), -7),
    ("integer", "2147483647", pa.int32(), 2_147_483_647),
    ("bigint", "9007199254740993", pa.int64(), 9_007_199_254_740_993),
    ("real", "1.5", pa.float32(), 1.5),
    ("double precision", "2.25", pa.float64(), 2.25),
    ("numeric(10, 2)", "12345678.91", pa.decimal128(10, 2), Decimal("12345678.91")),
    (
        "numeric(50, 3)",
        "12345678901234567890123456789012345678901234.567",
        pa.decimal256(50, 3),
        Decimal("12345678901234567890123456789012345678901234.567"),
    ),
    ("numeric(100, 1)", "1.5", pa.string(), "1.5"),
    ("numeric", "2.5", pa.float64(), 2.5),
    ("text", "'héllo, wörld'", pa.string(), "héllo, wörld"),
    ("varchar(5)", "'abc'", pa.string(), "abc"),
    ("char(3)", "'ab'", pa.string(), "ab "),
    ("boolean", "true", pa.bool_(), True),
    ("date", "'2024-02-29'", pa.date32(), dt.date(2024, 2, 29)),
    (
        "timestamp",
        "'2024-01-02 03:04:05.123456'",
        pa.timestamp("us"),
        dt.datetime(2024, 1, 2, 3, 4, 5, 123456),
    ),
    (
        "timestamptz",
        "'2024-01-02 03:04:05.123456+02'",
        pa.timestamp("us", tz="UTC"),
        dt.datetime(2024, 1, 2, 1, 4, 5, 123456, tzinfo=dt.UTC),
    ),
    ("time", "'12:34:56.789'", pa.time64("us"), dt.time(12, 34, 56, 789000)),
    ("json", """'{"b": [1, 2], "a": null}'""", pa.string(), '{"b": [1, 2], "a": null}'),
    ("jsonb", """'{"b": [1, 2], "a": null}'""", pa.string(), '{"a": null, "b": [1, 2]}'),
    ("uuid", f"'{UUID}'", pa.string(), str(UUID)),
    ("bytea", "'\\x00ff10'", pa.binary(), b"\x00\xff\x10"),
    ("integer[]", "'{1,NULL,3}'", pa.string(), "{1,NULL,3}"),
    ("text[]", """'{"a b",c}'""", pa.string(), '{"a b",c}'),
    ("interval", "'1 day 02:00:00'", pa.string(), "1 day 02:00:00"),
    ("inet", "'10.1.2.3/32'", pa.string(), "10.1.2.3"),
]


@pytest.fixture(scope="module")
def typed_table(postgres_server: LocalPostgres) -> tuple[pa.Table, pa.Schema]:
    """One column per type: a row of values, a row of nulls; and the schema of the table read empty."""
    table = unique_name("typed")
    columns = ", ".join(f"c{index} {sql_type}" for index, (sql_type, *_rest) in enumerate(TYPES))
    values = ", ".join(literal for _type, literal, *_rest in TYPES)
    postgres_execute(
        postgres_server,
        f"CREATE TABLE {table} (n int, {columns})",
        f"INSERT INTO {table} VALUES (1, {values})",
        f"INSERT INTO {table} (n) VALUES (2)",
    )
    connector = postgresql.open(postgres_source(postgres_server))
    try:
        read = pa.Table.from_batches(
            list(connector.extract(ExtractRequest(query=f"SELECT * FROM {table} ORDER BY n")))
        )
        empty = list(connector.extract(ExtractRequest(query=f"SELECT * FROM {table} WHERE false")))
    finally:
        connector.close()
    assert len(empty) == 1
    assert empty[0].num_rows == 0
    return read, empty[0].schema


@pytest.mark.parametrize(("index", "case"), list(enumerate(TYPES)), ids=[case[0] for case in TYPES])
def test_each_column_type_reads_as_its_arrow_type_with_nulls(
    typed_table: tuple[pa.Table, pa.Schema], index: int, case: tuple[str, str, pa.DataType, Any]
) -> None:
    _sql_type, _literal, arrow_type, value = case
    read, empty_schema = typed_table

    column = read.column(f"c{index}")

    assert column.type == arrow_type
    assert column.to_pylist() == [value, None]
    assert empty_schema.field(f"c{index}").type == arrow_type


def test_special_numeric_values_read_as_floats_where_there_is_no_declared_precision(
    connector: postgresql.PostgresConnector,
) -> None:
    query = "SELECT v::numeric AS v FROM (VALUES ('NaN'), ('Infinity'), ('-1.5')) AS t(v)"

    values = rows_of(list(connector.extract(ExtractRequest(query=query))))

    assert math.isnan(values[0]["v"])
    assert [row["v"] for row in values[1:]] == [math.inf, -1.5]


@pytest.mark.parametrize(
    ("expression", "arrow_type"),
    [("'NaN'::numeric(10, 2)", "decimal128"), ("'infinity'::timestamptz", "timestamp")],
)
def test_a_value_its_arrow_type_cannot_hold_is_refused_naming_the_column(
    connector: postgresql.PostgresConnector, expression: str, arrow_type: str
) -> None:
    with pytest.raises(ExtractionRefused, match=f"column 'odd' holds a value its Arrow type {arrow_type}"):
        list(connector.extract(ExtractRequest(query=f"SELECT {expression} AS odd")))


def test_an_empty_result_is_one_empty_batch_with_the_schema(
    connector: postgresql.PostgresConnector, events: str
) -> None:
    batches = list(
        connector.extract(ExtractRequest(query=f"SELECT id, name, at FROM {events} WHERE id > 1000"))
    )

    assert len(batches) == 1
    assert batches[0].num_rows == 0
    assert batches[0].schema == pa.schema(
        [("id", pa.int32()), ("name", pa.string()), ("at", pa.timestamp("us", tz="UTC"))]
    )


def test_a_wrong_password_fails_to_connect_without_echoing_it(postgres_server: LocalPostgres) -> None:
    source = postgres_source(postgres_server)
    wrong = "not-the-password-Xq7"
    source = SourceConfig(source.name, source.type, source.connection, secret={"password": wrong})

    with pytest.raises(ConnectionFailed) as failed:
        postgresql.open(source)

    assert "password authentication failed" in failed.value.message
    assert wrong not in str(failed.value)
    assert wrong not in (failed.value.driver_error or "")


def test_a_driver_message_that_echoes_the_password_has_it_removed(
    connector: postgresql.PostgresConnector, postgres_server: LocalPostgres
) -> None:
    # PostgreSQL quotes the offending value: here, a value equal to the source's password.
    query = f"SELECT '{postgres_server.password}'::integer"

    with pytest.raises(ConnectionFailed, match="invalid input syntax") as failed:
        list(connector.extract(ExtractRequest(query=query)))

    assert postgres_server.password not in str(failed.value)
    assert postgres_server.password not in (failed.value.driver_error or "")
    assert '"***"' in str(failed.value)


def test_a_server_that_is_not_there_fails_to_connect(postgres_server: LocalPostgres) -> None:
    source = postgres_source(postgres_server)
    closed_port = {**source.connection, "port": 1}

    with pytest.raises(ConnectionFailed, match=r"could not connect to PostgreSQL at 127\.0\.0\.1"):
        postgresql.open(SourceConfig(source.name, source.type, closed_port, source.secret))


def test_sslmode_is_passed_to_the_driver(postgres_server: LocalPostgres) -> None:
    # The test server speaks no TLS: requiring it must fail, which shows the option reaches libpq.
    with pytest.raises(ConnectionFailed, match="SSL"):
        postgresql.open(postgres_source(postgres_server, sslmode="require"))


def test_an_unknown_sslmode_is_refused(postgres_server: LocalPostgres) -> None:
    with pytest.raises(ConnectionFailed, match="sslmode"):
        postgresql.open(postgres_source(postgres_server, sslmode="sometimes"))


def test_a_missing_host_is_refused_before_connecting(postgres_server: LocalPostgres) -> None:
    source = postgres_source(postgres_server)
    without_host = {key: value for key, value in source.connection.items() if key != "host"}

    with pytest.raises(ConnectionFailed, match="'host'"):
        postgresql.open(SourceConfig(source.name, source.type, without_host, source.secret))


def test_an_unknown_table_is_refused_by_name(connector: postgresql.PostgresConnector) -> None:
    with pytest.raises(ExtractionRefused, match="table 'no_such_table' does not exist"):
        list(connector.extract(ExtractRequest(table="no_such_table")))


def test_an_unknown_watermark_column_is_refused_by_name(
    connector: postgresql.PostgresConnector, events: str
) -> None:
    request = ExtractRequest(table=events, watermark_column="updated_at", after_watermark=1)

    with pytest.raises(ExtractionRefused, match="watermark column 'updated_at'"):
        list(connector.extract(request))


def test_a_hostile_table_name_is_quoted_not_executed(
    connector: postgresql.PostgresConnector, postgres_server: LocalPostgres
) -> None:
    victim = unique_name("victim")
    hostile = f'x"; DROP TABLE {victim}; --'
    postgres_execute(postgres_server, f"CREATE TABLE {victim} (id int)", f"INSERT INTO {victim} VALUES (1)")

    with pytest.raises(ExtractionRefused, match="does not exist"):
        list(connector.extract(ExtractRequest(table=hostile)))

    assert rows_of(list(connector.extract(ExtractRequest(table=victim)))) == [{"id": 1}]


def test_a_table_whose_name_needs_quoting_is_read(
    connector: postgresql.PostgresConnector, postgres_server: LocalPostgres
) -> None:
    name = f'Odd "name"; {unique_name("t")}'
    quoted = '"' + name.replace('"', '""') + '"'
    postgres_execute(postgres_server, f"CREATE TABLE {quoted} (id int)", f"INSERT INTO {quoted} VALUES (3)")

    assert rows_of(list(connector.extract(ExtractRequest(table=name)))) == [{"id": 3}]


def test_the_extraction_runs_in_a_read_only_transaction(
    connector: postgresql.PostgresConnector, postgres_server: LocalPostgres
) -> None:
    # A cursor's query cannot hold INSERT/DELETE, but a function can write: nextval() advances a
    # sequence, which a read-only transaction refuses.
    sequence = unique_name("ids")
    postgres_execute(postgres_server, f"CREATE SEQUENCE {sequence}")

    with pytest.raises(ConnectionFailed, match="read-only transaction"):
        list(connector.extract(ExtractRequest(query=f"SELECT nextval('{sequence}')")))


def test_an_extraction_abandoned_part_way_leaves_the_connection_usable(
    connector: postgresql.PostgresConnector, events: str
) -> None:
    batches = connector.extract(ExtractRequest(table=events, chunk_rows=5))
    next(batches)
    batches.close()

    assert len(rows_of(list(connector.extract(ExtractRequest(table=events))))) == 25


def test_two_columns_of_one_name_are_refused(connector: postgresql.PostgresConnector, events: str) -> None:
    with pytest.raises(ExtractionRefused, match="two columns named 'id'"):
        list(connector.extract(ExtractRequest(query=f"SELECT id, id FROM {events}")))


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (ExtractRequest(), "either a table or a query"),
        (ExtractRequest(table="a", query="SELECT 1"), "either a table or a query"),
        (ExtractRequest(query=" ; "), "the query is empty"),
        (ExtractRequest(table="a..b"), "empty part"),
        (ExtractRequest(table="a", after_watermark=3), "needs a watermark_column"),
        (ExtractRequest(table="a", chunk_rows=0), "chunk_rows"),
    ],
)
def test_a_malformed_request_is_refused_before_any_query(
    connector: postgresql.PostgresConnector, request_: ExtractRequest, message: str
) -> None:
    with pytest.raises(ExtractionRefused, match=message):
        connector.extract(request_)


def test_a_query_error_is_reported_with_the_drivers_message(connector: postgresql.PostgresConnector) -> None:
    with pytest.raises(ConnectionFailed, match="syntax error"):
        list(connector.extract(ExtractRequest(query="SELEKT 1")))


def test_test_reports_the_round_trip_latency(connector: postgresql.PostgresConnector) -> None:
    latency = connector.test()

    assert isinstance(latency, float)
    assert latency > 0


def test_the_registry_opens_a_postgresql_connector(postgres_server: LocalPostgres) -> None:
    opened = open_connector(postgres_source(postgres_server))
    try:
        assert isinstance(opened, postgresql.PostgresConnector)
        assert rows_of(list(opened.extract(ExtractRequest(query="SELECT 1 AS one")))) == [{"one": 1}]
    finally:
        opened.close()
