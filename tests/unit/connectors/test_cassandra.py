"""The Cassandra connector against the driver's interface: no Cassandra server can run here.

The Session is an autospec of cassandra.cluster.Session whose `execute` answers with pages shaped
like the driver's ResultSet (`current_rows`, `paging_state`, `column_names`, `column_types`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from unittest.mock import create_autospec

import pyarrow as pa
import pytest
from cassandra import ConsistencyLevel, cqltypes
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, NoHostAvailable, Session
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from cassandra.query import SimpleStatement, tuple_factory
from cassandra.util import Date, SortedSet, Time

from cirrus_connectors import cassandra
from cirrus_connectors.base import ConnectionFailed, ExtractionRefused, ExtractRequest, SourceConfig

PASSWORD = "c4ss-Secret"
NAMES = ["id", "amount"]
TYPES = [cqltypes.Int32Type, cqltypes.DoubleType]


@dataclass
class Page:
    """One page as the driver's ResultSet shows it."""

    current_rows: list[Any]
    paging_state: bytes | None = None
    column_names: list[str] = field(default_factory=lambda: list(NAMES))
    column_types: list[Any] = field(default_factory=lambda: list(TYPES))


def source(**options: Any) -> SourceConfig:
    return SourceConfig(
        name="events",
        type="cassandra",
        connection={
            "contact_points": "10.0.0.1, 10.0.0.2",
            "port": 9142,
            "keyspace": "shop",
            "local_dc": "eu-west",
            "user": "reader",
        },
        secret={"password": PASSWORD},
        options=options,
    )


class Driver:
    """A cluster factory handing out an autospec Cluster whose `connect` gives an autospec Session."""

    def __init__(self, *pages: Page) -> None:
        self.session = create_autospec(Session, instance=True)
        self.session.execute.side_effect = list(pages)
        self.cluster = create_autospec(Cluster, instance=True)
        self.cluster.connect.return_value = self.session
        self.arguments: list[dict[str, Any]] = []

    def __call__(self, **arguments: Any) -> Any:
        self.arguments.append(arguments)
        return self.cluster

    def statements(self) -> list[tuple[str, int | None, Any, bytes | None]]:
        """(CQL, fetch size, parameters, paging state) of each execute, in order."""
        calls = []
        for call in self.session.execute.call_args_list:
            statement, parameters = call.args
            assert isinstance(statement, SimpleStatement)
            calls.append(
                (statement.query_string, statement.fetch_size, parameters, call.kwargs["paging_state"])
            )
        return calls


def extract(driver: Driver, request: ExtractRequest, **options: Any) -> list[pa.RecordBatch]:
    return list(cassandra.open(source(**options), cluster_factory=driver).extract(request))


def rows(batches: list[pa.RecordBatch]) -> list[dict[str, Any]]:
    return [row for batch in batches for row in batch.to_pylist()]


# ------------------------------------------------------------------------------------------ paging


def test_a_table_is_read_page_by_page_with_each_paging_state_in_turn() -> None:
    driver = Driver(
        Page([(1, 1.5), (2, 2.5)], paging_state=b"page-2"),
        Page([(3, 3.5), (4, 4.5)], paging_state=b"page-3"),
        Page([(5, 5.5)]),
    )

    batches = extract(driver, ExtractRequest(table="orders", chunk_rows=2))

    select = 'SELECT * FROM "shop"."orders"'
    assert driver.statements() == [
        (select, 2, None, None),
        (select, 2, None, b"page-2"),
        (select, 2, None, b"page-3"),
    ]
    assert [batch.num_rows for batch in batches] == [2, 2, 1]
    assert rows(batches) == [{"id": i, "amount": i + 0.5} for i in range(1, 6)]
    driver.cluster.connect.assert_called_once_with("shop")


def test_an_empty_page_that_promises_more_is_followed_without_an_empty_batch() -> None:
    driver = Driver(Page([], paging_state=b"next"), Page([(1, 1.0)]))

    batches = extract(driver, ExtractRequest(table="orders", chunk_rows=10))

    assert [batch.num_rows for batch in batches] == [1]
    assert [state for *_, state in driver.statements()] == [None, b"next"]


def test_a_keyspace_in_the_table_name_and_embedded_quotes_are_quoted() -> None:
    driver = Driver(Page([]))

    extract(driver, ExtractRequest(table='Sales.we"ird', chunk_rows=5))

    assert driver.statements()[0][0] == 'SELECT * FROM "Sales"."we""ird"'


def test_a_query_is_sent_as_written_with_the_chunk_as_fetch_size() -> None:
    driver = Driver(Page([(1, 1.0)]))
    cql = "SELECT id, amount FROM shop.orders WHERE customer = 'c1'"

    extract(driver, ExtractRequest(query=cql, chunk_rows=500))

    assert driver.statements() == [(cql, 500, None, None)]


def test_dict_rows_are_read_by_column_name() -> None:
    driver = Driver(Page([{"amount": 2.0, "id": 7}]))

    assert rows(extract(driver, ExtractRequest(table="orders"))) == [{"id": 7, "amount": 2.0}]


# ------------------------------------------------------------------------------------------ incremental


def test_an_incremental_read_filters_after_the_watermark_when_the_source_allows_filtering() -> None:
    driver = Driver(Page([(1, 1.0)]))
    after = datetime(2024, 5, 1, tzinfo=UTC)

    extract(
        driver,
        ExtractRequest(table="orders", watermark_column="updated_at", after_watermark=after, chunk_rows=100),
        allow_filtering=True,
    )

    assert driver.statements() == [
        ('SELECT * FROM "shop"."orders" WHERE "updated_at" > %s ALLOW FILTERING', 100, (after,), None)
    ]


def test_the_first_incremental_read_has_no_watermark_and_reads_everything() -> None:
    driver = Driver(Page([]))

    extract(
        driver,
        ExtractRequest(table="orders", watermark_column="updated_at", chunk_rows=100),
        allow_filtering=True,
    )

    assert driver.statements()[0][0] == 'SELECT * FROM "shop"."orders"'


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (ExtractRequest(table="orders", watermark_column="updated_at", after_watermark=1), "allow_filtering"),
        (ExtractRequest(query="SELECT * FROM t", watermark_column="updated_at"), "put the condition"),
        (ExtractRequest(query="DELETE FROM shop.orders WHERE id = 1"), "must be a SELECT"),
        (ExtractRequest(query="SELECT * FROM t", table="t"), "not both"),
        (ExtractRequest(), "`query` \\(CQL\\) or `table`"),
        (ExtractRequest(table="orders", chunk_rows=0), "chunk_rows"),
    ],
    ids=["no-opt-in", "query-watermark", "not-select", "both", "neither", "chunk"],
)
def test_requests_the_connector_cannot_serve_are_refused_before_connecting(
    request_: ExtractRequest, message: str
) -> None:
    driver = Driver()

    with pytest.raises(ExtractionRefused, match=message):
        cassandra.open(source(), cluster_factory=driver).extract(request_)

    assert driver.arguments == []


def test_a_table_without_a_keyspace_is_refused() -> None:
    bare = SourceConfig(name="e", type="cassandra", connection={"host": "h"})

    with pytest.raises(ExtractionRefused, match="name the keyspace"):
        cassandra.open(bare, cluster_factory=Driver()).extract(ExtractRequest(table="orders"))


# ------------------------------------------------------------------------------------------ types


def test_cql_types_map_to_arrow_types_as_documented() -> None:
    columns = {
        "t": (cqltypes.UTF8Type, pa.string(), "x", "x"),
        "i": (cqltypes.Int32Type, pa.int32(), 1, 1),
        "b": (cqltypes.LongType, pa.int64(), 2**40, 2**40),
        "s": (cqltypes.ShortType, pa.int16(), 3, 3),
        "y": (cqltypes.ByteType, pa.int8(), 4, 4),
        "v": (cqltypes.IntegerType, pa.string(), 2**80, str(2**80)),
        "ok": (cqltypes.BooleanType, pa.bool_(), True, True),
        "f": (cqltypes.FloatType, pa.float32(), 0.5, 0.5),
        "d": (cqltypes.DoubleType, pa.float64(), 0.25, 0.25),
        "dec": (cqltypes.DecimalType, pa.string(), Decimal("1.230"), "1.230"),
        "ts": (
            cqltypes.TimestampType,
            pa.timestamp("us", tz="UTC"),
            datetime(2024, 5, 1, 12, 0),
            datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        ),
        "day": (cqltypes.SimpleDateType, pa.date32(), Date(date(2024, 5, 1)), date(2024, 5, 1)),
        "tm": (cqltypes.TimeType, pa.time64("ns"), Time(time(1, 2, 3)), time(1, 2, 3)),
        "u": (
            cqltypes.UUIDType,
            pa.string(),
            uuid.UUID(int=1),
            "00000000-0000-0000-0000-000000000001",
        ),
        "raw": (cqltypes.BytesType, pa.binary(), b"\x01", b"\x01"),
        "l": (cqltypes.ListType.apply_parameters([cqltypes.Int32Type]), pa.string(), [1, 2], "[1, 2]"),
        "st": (
            cqltypes.SetType.apply_parameters([cqltypes.UTF8Type]),
            pa.string(),
            SortedSet(["b", "a"]),
            '["a", "b"]',
        ),
        "m": (
            cqltypes.MapType.apply_parameters([cqltypes.UTF8Type, cqltypes.Int32Type]),
            pa.string(),
            {"k": 1},
            '{"k": 1}',
        ),
        "rev": (cqltypes.ReversedType.apply_parameters([cqltypes.Int32Type]), pa.int32(), 9, 9),
    }
    page = Page(
        [tuple(value for _, _, value, _ in columns.values())],
        column_names=list(columns),
        column_types=[cql_type for cql_type, _, _, _ in columns.values()],
    )

    (batch,) = extract(Driver(page), ExtractRequest(table="orders"))

    assert batch.schema == pa.schema([(name, arrow) for name, (_, arrow, _, _) in columns.items()])
    assert batch.to_pylist() == [{name: expected for name, (_, _, _, expected) in columns.items()}]


# ------------------------------------------------------------------------------------------ connection


def test_the_connection_test_reads_system_local_and_reports_milliseconds() -> None:
    driver = Driver(Page([("4.1.3",)], column_names=["release_version"], column_types=[cqltypes.UTF8Type]))

    latency = cassandra.open(source(), cluster_factory=driver).test()

    driver.session.execute.assert_called_once_with(cassandra.TEST_QUERY)
    assert isinstance(latency, float)
    assert latency >= 0.0


def test_a_driver_failure_is_a_connection_failure_without_the_password() -> None:
    driver = Driver()
    driver.session.execute.side_effect = NoHostAvailable(
        "Unable to connect", {"10.0.0.1:9142": Exception(f"auth failed for reader/{PASSWORD}")}
    )

    with pytest.raises(ConnectionFailed) as failure:
        cassandra.open(source(), cluster_factory=driver).test()

    assert failure.value.message.startswith("Cassandra did not answer: ('Unable to connect'")
    assert failure.value.message.endswith("auth failed for reader/***')})")
    assert failure.value.driver_error is not None
    assert PASSWORD not in failure.value.driver_error


def test_the_cluster_is_built_with_contact_points_port_auth_and_the_local_data_centre() -> None:
    arguments = cassandra.cluster_arguments(source())

    assert arguments["contact_points"] == ["10.0.0.1", "10.0.0.2"]
    assert arguments["port"] == 9142
    auth = arguments["auth_provider"]
    assert isinstance(auth, PlainTextAuthProvider)
    assert (auth.username, auth.password) == ("reader", PASSWORD)
    profile = arguments["execution_profiles"][EXEC_PROFILE_DEFAULT]
    assert isinstance(profile.load_balancing_policy, TokenAwarePolicy)
    child = profile.load_balancing_policy._child_policy
    assert isinstance(child, DCAwareRoundRobinPolicy)
    assert child.local_dc == "eu-west"
    assert profile.row_factory is tuple_factory
    assert "ssl_context" not in arguments


def test_the_consistency_and_timeout_options_go_into_the_execution_profile() -> None:
    arguments = cassandra.cluster_arguments(source(consistency="LOCAL_QUORUM", request_timeout_s=120))

    profile = arguments["execution_profiles"][EXEC_PROFILE_DEFAULT]
    assert profile.consistency_level == ConsistencyLevel.LOCAL_QUORUM
    assert profile.request_timeout == 120.0


def test_a_source_without_a_user_connects_anonymously_and_tls_checks_the_host() -> None:
    anonymous = SourceConfig(name="e", type="cassandra", connection={"host": "cass.internal", "tls": True})

    arguments = cassandra.cluster_arguments(anonymous)

    assert arguments["contact_points"] == ["cass.internal"]
    assert arguments["port"] == cassandra.DEFAULT_PORT
    assert "auth_provider" not in arguments
    assert arguments["ssl_context"].check_hostname is True


def test_a_source_without_contact_points_is_refused() -> None:
    with pytest.raises(ExtractionRefused, match="contact_points"):
        cassandra.cluster_arguments(SourceConfig(name="e", type="cassandra", connection={}))


def test_the_factory_gets_the_built_arguments_and_close_shuts_the_cluster_down() -> None:
    driver = Driver(Page([]))
    connector = cassandra.open(source(), cluster_factory=driver)
    list(connector.extract(ExtractRequest(table="orders")))

    connector.close()

    (arguments,) = driver.arguments
    assert arguments["contact_points"] == ["10.0.0.1", "10.0.0.2"]
    driver.cluster.shutdown.assert_called_once_with()
