"""Transformation SQL: checked at PUT (one DuckDB query reading only its inputs), and run in a DuckDB
that can read the input parts and write the output directory and nothing else, even if a check were
bypassed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from cirrus_core.data.transformations import PutTransformationRequest
from cirrus_core.errors import InvalidTransformationSql, TransformationFailed
from cirrus_frames.dataset_files import write_parquet
from cirrus_frames.transform import check_sql, check_transformation, open_sandbox, run_query

ALIASES = ("orders", "customers")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM orders",
        "select o.*, c.country from Orders o join CUSTOMERS c using (customer_id);",
        "WITH big AS (SELECT * FROM orders WHERE amount > 5) SELECT count(*) FROM big",
        "FROM orders SELECT order_id",
        "SELECT * FROM orders, range(3) AS r(i)",
        "SELECT unnest([1, 2, 3]) AS n",
        "SELECT * FROM orders UNION ALL SELECT * FROM orders",
        "SELECT 1 -- a trailing comment",
    ],
)
def test_queries_over_the_inputs_are_accepted(sql: str) -> None:
    assert check_sql(sql, ALIASES) == sql.strip().rstrip(";")


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("SELEC 1", "parse_error"),
        ("SELECT * FROM orders; SELECT * FROM customers", "multiple_statements"),
        ("COPY orders TO '/tmp/out.csv'", "not_a_query"),
        ("ATTACH '/tmp/other.duckdb' AS other", "not_a_query"),
        ("INSTALL httpfs", "not_a_query"),
        ("LOAD httpfs", "not_a_query"),
        ("PRAGMA database_list", "not_a_query"),
        ("CREATE TABLE x AS SELECT * FROM orders", "not_a_query"),
        ("INSERT INTO orders VALUES (1)", "not_a_query"),
        ("SET enable_external_access = true", "not_a_query"),
        ("SELECT * FROM read_csv('/etc/passwd')", "table_function"),
        ("SELECT * FROM read_parquet('/var/task/secret.parquet')", "table_function"),
        ("SELECT * FROM query('SELECT 1')", "table_function"),
        ("SELECT * FROM duckdb_settings()", "table_function"),
        ("SELECT * FROM '/etc/passwd'", "unknown_table"),
        ("SELECT * FROM payments", "unknown_table"),
        ("SELECT * FROM main.orders", "unknown_table"),
        (
            "SELECT * FROM orders WHERE id IN (SELECT id FROM read_json('/proc/self/environ'))",
            "table_function",
        ),
    ],
)
def test_anything_but_one_query_over_the_inputs_is_refused(sql: str, reason: str) -> None:
    with pytest.raises(InvalidTransformationSql) as refused:
        check_sql(sql, ALIASES)

    assert refused.value.details[0]["reason"] == reason
    assert refused.value.status == 422


def test_a_parse_error_carries_duckdbs_message() -> None:
    with pytest.raises(InvalidTransformationSql, match='syntax error at or near "SELEC"'):
        check_sql("SELEC 1", ALIASES)


def _request(**fields: Any) -> PutTransformationRequest:
    return PutTransformationRequest.model_validate(
        {"inputs": {"orders": "dataset:orders"}, "output": {"dataset": "out"}, **fields}
    )


def test_the_put_check_gives_a_processors_call_and_nothing_for_sql() -> None:
    call = check_transformation(_request(processor={"name": "deduplicate", "parameters": {"keys": ["id"]}}))

    assert call is not None
    assert (call.name, call.parameters) == (
        "deduplicate",
        {"keys": ["id"], "order_by": None, "keep": "latest"},
    )
    assert check_transformation(_request(sql="SELECT * FROM orders")) is None


def test_spark_sql_gets_the_lexical_check_not_duckdbs() -> None:
    backquoted = "SELECT `order id` FROM orders -- DuckDB cannot parse this"

    assert check_transformation(_request(runtime="glue", sql=backquoted)) is None
    with pytest.raises(InvalidTransformationSql, match="single statement"):
        check_transformation(_request(runtime="glue", sql="SELECT 1; DROP TABLE orders"))
    with pytest.raises(InvalidTransformationSql, match="must be a query"):
        check_transformation(_request(runtime="emr_serverless", sql="INSERT OVERWRITE TABLE t SELECT 1"))
    assert check_transformation(_request(runtime="glue", sql="SELECT ';' AS semicolon FROM orders;")) is None


# -- the sandbox -------------------------------------------------------------------------------------------


@pytest.fixture
def sandbox(tmp_path: Path) -> tuple[duckdb.DuckDBPyConnection, Path]:
    connection = duckdb.connect()
    orders = tmp_path / "inputs" / "orders.parquet"
    write_parquet(
        connection, "SELECT range AS order_id, range * 2.5 AS amount FROM range(4)", orders, row_group_rows=10
    )
    (tmp_path / "secret.txt").write_text("not for transformations")
    output = tmp_path / "output"
    return open_sandbox({"orders": [orders]}, {}, output, tmp_path / "scratch"), output


def test_the_inputs_are_views_and_the_query_writes_the_output(
    sandbox: tuple[duckdb.DuckDBPyConnection, Path],
) -> None:
    connection, output = sandbox

    run_query(
        connection,
        "SELECT order_id, amount FROM orders WHERE amount > 2 ORDER BY order_id",
        ["orders"],
        output / "p.parquet",
    )

    written = (
        duckdb.connect().execute("SELECT * FROM read_parquet(?)", [str(output / "p.parquet")]).fetchall()
    )
    assert written == [(1, 2.5), (2, 5.0), (3, 7.5)]


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM read_csv('{root}/secret.txt')",
        "SELECT * FROM read_text('/etc/passwd')",
        "COPY (SELECT 1) TO '{root}/escaped.csv'",
        "COPY (SELECT 1) TO '{root}/output/../escaped.csv'",
        "ATTACH '{root}/other.duckdb' AS other",
        "SET enable_external_access = true",
        "SET allowed_directories = ['/']",
        "INSTALL httpfs",
    ],
)
def test_the_sandbox_refuses_files_and_settings_even_without_the_check(
    sandbox: tuple[duckdb.DuckDBPyConnection, Path], statement: str
) -> None:
    connection, output = sandbox

    with pytest.raises(duckdb.Error):
        connection.execute(statement.format(root=output.parent))

    assert not (output.parent / "escaped.csv").exists()


def test_a_query_duckdb_refuses_at_run_time_fails_the_transformation(
    sandbox: tuple[duckdb.DuckDBPyConnection, Path],
) -> None:
    connection, output = sandbox

    with pytest.raises(TransformationFailed, match='column "missing" not found'):
        run_query(connection, "SELECT missing FROM orders", ["orders"], output / "p.parquet")


def test_a_trailing_line_comment_does_not_break_the_copy(
    sandbox: tuple[duckdb.DuckDBPyConnection, Path],
) -> None:
    connection, output = sandbox

    run_query(connection, "SELECT count(*) AS n FROM orders -- all of them", ["orders"], output / "p.parquet")

    assert duckdb.connect().execute(
        "SELECT n FROM read_parquet(?)", [str(output / "p.parquet")]
    ).fetchall() == [(4,)]


def test_an_input_without_parts_is_an_empty_view_of_its_columns(tmp_path: Path) -> None:
    from cirrus_core.data.datasets import Column

    columns = {"orders": [Column(name="order_id", type="int64"), Column(name="note", type="string")]}
    connection = open_sandbox({"orders": []}, columns, tmp_path / "output", tmp_path / "scratch")

    described = connection.execute("DESCRIBE SELECT * FROM orders").fetchall()
    assert [(row[0], row[1]) for row in described] == [("order_id", "BIGINT"), ("note", "VARCHAR")]
    assert connection.execute("SELECT count(*) FROM orders").fetchone() == (0,)
