"""The MySQL connector against a real MariaDB server (tests/unit/connectors/conftest.py).

It authenticates with a password over TCP, streams tables and queries through an unbuffered cursor
in bounded batches inside a read-only transaction, maps column types and flags to fixed Arrow types
(even for no rows), reads incrementally past a watermark, and reports failures without the password.
"""

# The tests build setup SQL from the table names they generate, on a throwaway server.

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from cirrus.localcloud.databases import LocalMariaDB
from cirrus_connectors import mysql
from cirrus_connectors._arrow_types import FETCH_ROWS
from cirrus_connectors.base import (
    ConnectionFailed,
    ExtractionRefused,
    ExtractRequest,
    SourceConfig,
    open_connector,
)
from tests.unit.connectors.conftest import mariadb_execute, mariadb_source, unique_name


@pytest.fixture
def connector(mariadb_server: LocalMariaDB) -> Iterator[mysql.MySQLConnector]:
    opened = mysql.open(mariadb_source(mariadb_server))
    yield opened
    opened.close()


@pytest.fixture
def events(mariadb_server: LocalMariaDB) -> str:
    """A table of 25 events: id 1..25, name 'event <id>', at = 2024-01-01 + id hours."""
    table = unique_name("events")
    values = ", ".join(
        f"({i}, 'event {i}', '{dt.datetime(2024, 1, 1) + dt.timedelta(hours=i):%Y-%m-%d %H:%M:%S}')"
        for i in range(1, 26)
    )
    mariadb_execute(
        mariadb_server,
        f"CREATE TABLE {table} (id int PRIMARY KEY, name varchar(40) NOT NULL, at datetime NOT NULL)",
        f"INSERT INTO {table} VALUES {values}",
    )
    return table


def rows_of(batches: list[pa.RecordBatch]) -> list[dict[str, Any]]:
    return pa.Table.from_batches(batches).to_pylist()


def test_a_table_is_read_whole_in_batches_of_at_most_chunk_rows(
    connector: mysql.MySQLConnector, events: str
) -> None:
    batches = list(connector.extract(ExtractRequest(table=events, chunk_rows=10)))

    assert [batch.num_rows for batch in batches] == [10, 10, 5]
    rows = sorted(rows_of(batches), key=lambda row: row["id"])
    assert [row["id"] for row in rows] == list(range(1, 26))
    assert rows[0] == {"id": 1, "name": "event 1", "at": dt.datetime(2024, 1, 1, 1)}


def test_a_query_returns_exactly_its_rows_with_percent_signs_left_alone(
    connector: mysql.MySQLConnector, events: str
) -> None:
    query = f"SELECT id, CONCAT(name, ' 100%') AS label FROM {events} WHERE id % 5 = 0 ORDER BY id;"

    rows = rows_of(list(connector.extract(ExtractRequest(query=query, chunk_rows=3))))

    assert rows == [{"id": i, "label": f"event {i} 100%"} for i in (5, 10, 15, 20, 25)]


def test_batches_larger_than_one_fetch_hold_exactly_chunk_rows(
    connector: mysql.MySQLConnector, mariadb_server: LocalMariaDB
) -> None:
    table = unique_name("many")
    mariadb_execute(
        mariadb_server, f"CREATE TABLE {table} AS SELECT seq AS id FROM seq_1_to_{2 * FETCH_ROWS + 5_000}"
    )

    batches = list(connector.extract(ExtractRequest(table=table, chunk_rows=FETCH_ROWS + FETCH_ROWS // 2)))

    assert [batch.num_rows for batch in batches] == [FETCH_ROWS + FETCH_ROWS // 2, FETCH_ROWS // 2 + 5_000]
    assert sorted(rows_of(batches), key=lambda row: row["id"]) == [
        {"id": i} for i in range(1, 2 * FETCH_ROWS + 5_001)
    ]


def test_a_database_qualified_table_is_read(
    connector: mysql.MySQLConnector, mariadb_server: LocalMariaDB
) -> None:
    table = unique_name("orders")
    mariadb_execute(
        mariadb_server, f"CREATE TABLE {table} (id bigint)", f"INSERT INTO {table} VALUES (7), (8)"
    )

    batches = list(connector.extract(ExtractRequest(table=f"{mariadb_server.database}.{table}")))

    assert sorted(row["id"] for row in rows_of(batches)) == [7, 8]


def test_incremental_extraction_returns_only_rows_past_the_watermark_in_order(
    connector: mysql.MySQLConnector, events: str
) -> None:
    request = ExtractRequest(
        table=events, watermark_column="at", after_watermark=dt.datetime(2024, 1, 1, 20), chunk_rows=2
    )

    rows = rows_of(list(connector.extract(request)))

    assert [row["id"] for row in rows] == [21, 22, 23, 24, 25]


def test_incremental_extraction_over_a_query_keeps_its_percent_signs(
    connector: mysql.MySQLConnector, events: str
) -> None:
    request = ExtractRequest(
        query=f"SELECT id, CONCAT('100%', name) AS label FROM {events} WHERE id <> 24",
        watermark_column="id",
        after_watermark=21,
    )

    rows = rows_of(list(connector.extract(request)))

    assert rows == [{"id": i, "label": f"100%event {i}"} for i in (22, 23, 25)]


def test_a_first_incremental_extraction_reads_every_row_in_watermark_order(
    connector: mysql.MySQLConnector, mariadb_server: LocalMariaDB
) -> None:
    table = unique_name("scores")
    mariadb_execute(
        mariadb_server,
        f"CREATE TABLE {table} (id int, seen int)",
        f"INSERT INTO {table} VALUES (1, 30), (2, 10), (3, 20)",
    )

    rows = rows_of(list(connector.extract(ExtractRequest(table=table, watermark_column="seen"))))

    assert [row["id"] for row in rows] == [2, 3, 1]


# (column type, SQL literal, Arrow type, the value read back)
TYPES: list[tuple[str, str, pa.DataType, Any]] = [
    ("tinyint", "-7", pa.int8(), -7),
    ("tinyint(1)", "1", pa.int8(), 1),
    ("tinyint unsigned", "200", pa.uint8(), 200),
    ("smallint", "-300", pa.int16(), -300),
    ("smallint unsigned", "65535", pa.uint16(), 65535),
    ("mediumint", "-8388608", pa.int32(), -8_388_608),
    ("int", "-2147483648", pa.int32(), -2_147_483_648),
    ("int unsigned", "4294967295", pa.uint32(), 4_294_967_295),
    ("bigint", "-9007199254740993", pa.int64(), -9_007_199_254_740_993),
    ("bigint unsigned", "18446744073709551615", pa.uint64(), 18_446_744_073_709_551_615),
    ("year", "2024", pa.int16(), 2024),
    ("float", "1.5", pa.float32(), 1.5),
    ("double", "2.25", pa.float64(), 2.25),
    ("decimal(10, 2)", "-12345678.91", pa.decimal128(10, 2), Decimal("-12345678.91")),
    ("decimal(5, 0) unsigned", "99999", pa.decimal128(5, 0), Decimal("99999")),
    (
        "decimal(65, 4)",
        "1234567890123456789012345678901234567890.1234",
        pa.decimal256(65, 4),
        Decimal("1234567890123456789012345678901234567890.1234"),
    ),
    ("date", "'2024-02-29'", pa.date32(), dt.date(2024, 2, 29)),
    (
        "datetime(6)",
        "'2024-01-02 03:04:05.123456'",
        pa.timestamp("us"),
        dt.datetime(2024, 1, 2, 3, 4, 5, 123456),
    ),
    (
        "timestamp(6) NULL",
        "'2024-01-02 03:04:05.123456'",
        pa.timestamp("us", tz="UTC"),
        dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC),
    ),
    ("time", "'-12:30:00'", pa.duration("us"), -dt.timedelta(hours=12, minutes=30)),
    ("json", """'{"b": [1, 2]}'""", pa.string(), '{"b": [1, 2]}'),
    ("char(3)", "'ab'", pa.string(), "ab"),
    ("varchar(10)", "'héllo'", pa.string(), "héllo"),
    ("text", "'a longer text'", pa.string(), "a longer text"),
    ("enum('red', 'green')", "'green'", pa.string(), "green"),
    ("set('a', 'b', 'c')", "'a,c'", pa.string(), "a,c"),
    ("binary(3)", "x'00ff10'", pa.binary(), b"\x00\xff\x10"),
    ("varbinary(10)", "x'00ff'", pa.binary(), b"\x00\xff"),
    ("blob", "x'0102'", pa.binary(), b"\x01\x02"),
    ("bit(3)", "b'101'", pa.uint64(), 5),
]


@pytest.fixture(scope="module")
def typed_table(mariadb_server: LocalMariaDB) -> tuple[pa.Table, pa.Schema]:
    """One column per type: a row of values, a row of nulls; and the schema of the table read empty."""
    table = unique_name("typed")
    columns = ", ".join(f"c{index} {sql_type}" for index, (sql_type, *_rest) in enumerate(TYPES))
    values = ", ".join(literal for _type, literal, *_rest in TYPES)
    mariadb_execute(
        mariadb_server,
        f"CREATE TABLE {table} (n int, {columns})",
        f"INSERT INTO {table} VALUES (1, {values})",
        f"INSERT INTO {table} (n) VALUES (2)",
    )
    connector = mysql.open(mariadb_source(mariadb_server))
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


def test_a_zero_date_reads_as_null(connector: mysql.MySQLConnector, mariadb_server: LocalMariaDB) -> None:
    table = unique_name("legacy")
    mariadb_execute(
        mariadb_server,
        "SET SESSION sql_mode = ''",
        f"CREATE TABLE {table} (d date, t datetime)",
        f"INSERT INTO {table} VALUES ('0000-00-00', '0000-00-00 00:00:00'), "
        "('2024-01-01', '2024-01-01 10:00:00')",
    )

    rows = rows_of(list(connector.extract(ExtractRequest(table=table))))

    assert rows == [
        {"d": None, "t": None},
        {"d": dt.date(2024, 1, 1), "t": dt.datetime(2024, 1, 1, 10)},
    ]


def test_an_empty_result_is_one_empty_batch_with_the_schema(
    connector: mysql.MySQLConnector, events: str
) -> None:
    batches = list(
        connector.extract(ExtractRequest(query=f"SELECT id, name, at FROM {events} WHERE id > 1000"))
    )

    assert len(batches) == 1
    assert batches[0].num_rows == 0
    assert batches[0].schema == pa.schema(
        [("id", pa.int32()), ("name", pa.string()), ("at", pa.timestamp("us"))]
    )


def test_a_wrong_password_fails_to_connect_without_echoing_it(mariadb_server: LocalMariaDB) -> None:
    source = mariadb_source(mariadb_server)
    wrong = "not-the-password-Xq7"
    source = SourceConfig(source.name, source.type, source.connection, secret={"password": wrong})

    with pytest.raises(ConnectionFailed) as failed:
        mysql.open(source)

    assert "Access denied" in failed.value.message
    assert wrong not in str(failed.value)
    assert wrong not in (failed.value.driver_error or "")


def test_a_driver_message_that_echoes_the_password_has_it_removed(
    connector: mysql.MySQLConnector, mariadb_server: LocalMariaDB
) -> None:
    # MariaDB names the missing table: here, one named like the source's password.
    query = f"SELECT * FROM `{mariadb_server.password}`"

    with pytest.raises(ExtractionRefused, match="doesn't exist") as refused:
        list(connector.extract(ExtractRequest(query=query)))

    assert mariadb_server.password not in str(refused.value)
    assert "***" in str(refused.value)


def test_a_server_that_is_not_there_fails_to_connect(mariadb_server: LocalMariaDB) -> None:
    source = mariadb_source(mariadb_server)
    closed_port = {**source.connection, "port": 1}

    with pytest.raises(ConnectionFailed, match=r"could not connect to MySQL at 127\.0\.0\.1"):
        mysql.open(SourceConfig(source.name, source.type, closed_port, source.secret))


def test_sslmode_require_refuses_a_server_without_tls(mariadb_server: LocalMariaDB) -> None:
    # The test server offers no TLS: PyMySQL would fall back to plain text unless TLS is required.
    with pytest.raises(ConnectionFailed, match="SSL is required"):
        mysql.open(mariadb_source(mariadb_server, sslmode="require"))


def test_sslmode_disable_connects_in_plain_text(mariadb_server: LocalMariaDB) -> None:
    opened = mysql.open(mariadb_source(mariadb_server, sslmode="disable"))
    try:
        assert opened.test() > 0
    finally:
        opened.close()


def test_an_unknown_table_is_refused_by_name(connector: mysql.MySQLConnector) -> None:
    with pytest.raises(ExtractionRefused, match="table 'no_such_table' does not exist"):
        list(connector.extract(ExtractRequest(table="no_such_table")))


def test_an_unknown_watermark_column_is_refused_by_name(connector: mysql.MySQLConnector, events: str) -> None:
    request = ExtractRequest(table=events, watermark_column="updated_at", after_watermark=1)

    with pytest.raises(ExtractionRefused, match="watermark column 'updated_at'"):
        list(connector.extract(request))


def test_a_hostile_table_name_is_quoted_not_executed(
    connector: mysql.MySQLConnector, mariadb_server: LocalMariaDB
) -> None:
    victim = unique_name("victim")
    mariadb_execute(mariadb_server, f"CREATE TABLE {victim} (id int)", f"INSERT INTO {victim} VALUES (1)")

    for hostile in (f'x"; DROP TABLE {victim}; --', f"x`; DROP TABLE {victim}; --"):
        with pytest.raises(ExtractionRefused, match="does not exist"):
            list(connector.extract(ExtractRequest(table=hostile)))

    assert rows_of(list(connector.extract(ExtractRequest(table=victim)))) == [{"id": 1}]


def test_a_table_whose_name_needs_quoting_is_read(
    connector: mysql.MySQLConnector, mariadb_server: LocalMariaDB
) -> None:
    name = f"odd `name` {unique_name('t')}"
    quoted = "`" + name.replace("`", "``") + "`"
    mariadb_execute(mariadb_server, f"CREATE TABLE {quoted} (id int)", f"INSERT INTO {quoted} VALUES (3)")

    assert rows_of(list(connector.extract(ExtractRequest(table=name)))) == [{"id": 3}]


def test_the_extraction_runs_in_a_read_only_transaction(connector: mysql.MySQLConnector, events: str) -> None:
    # SELECT ... FOR UPDATE takes write locks, which a READ ONLY transaction refuses.
    with pytest.raises(ConnectionFailed, match="READ ONLY"):
        list(connector.extract(ExtractRequest(query=f"SELECT id FROM {events} FOR UPDATE")))


def test_an_extraction_abandoned_part_way_leaves_the_connector_usable(
    connector: mysql.MySQLConnector, events: str
) -> None:
    batches = connector.extract(ExtractRequest(table=events, chunk_rows=5))
    next(batches)
    batches.close()

    assert len(rows_of(list(connector.extract(ExtractRequest(table=events))))) == 25


def test_two_columns_of_one_name_are_refused(connector: mysql.MySQLConnector, events: str) -> None:
    with pytest.raises(ExtractionRefused, match="two columns named 'id'"):
        list(connector.extract(ExtractRequest(query=f"SELECT id, id FROM {events}")))


def test_a_query_error_is_reported_with_the_drivers_message(connector: mysql.MySQLConnector) -> None:
    with pytest.raises(ConnectionFailed, match="SQL syntax"):
        list(connector.extract(ExtractRequest(query="SELEKT 1")))


def test_a_malformed_request_is_refused_before_any_query(connector: mysql.MySQLConnector) -> None:
    with pytest.raises(ExtractionRefused, match="either a table or a query"):
        connector.extract(ExtractRequest(table="a", query="SELECT 1"))


def test_test_reports_the_round_trip_latency(connector: mysql.MySQLConnector) -> None:
    latency = connector.test()

    assert isinstance(latency, float)
    assert latency > 0


def test_the_registry_opens_a_mysql_connector(mariadb_server: LocalMariaDB) -> None:
    opened = open_connector(mariadb_source(mariadb_server))
    try:
        assert isinstance(opened, mysql.MySQLConnector)
        assert rows_of(list(opened.extract(ExtractRequest(query="SELECT 1 AS one")))) == [{"one": 1}]
    finally:
        opened.close()
