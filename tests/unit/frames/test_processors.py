"""Processors: each builds one SELECT over its input from validated parameters, and gives the rows
worked out by hand here; bad parameters are refused with the field named, before anything runs."""

from __future__ import annotations

from typing import Any

import duckdb
import pytest

from cirrus_core.data.transformations import ProcessorCall
from cirrus_core.errors import InvalidProcessorParameters, TransformationFailed, UnknownProcessor
from cirrus_frames.processors import DUCKDB, PROCESSORS, SPARK, ProcessorInput, prepare, render

EVENTS = """
    SELECT * FROM (VALUES
        (1, 'a', 10.0, TIMESTAMP '2024-01-01 00:00:00', NULL),
        (1, 'a', 11.0, TIMESTAMP '2024-01-03 00:00:00', 'x'),
        (1, 'b', 12.0, TIMESTAMP '2024-01-02 00:00:00', NULL),
        (2, 'a', NULL, TIMESTAMP '2024-01-01 00:00:00', 'y'),
        (3, 'c', 30.0, NULL, NULL)
    ) AS t(user_id, kind, amount, seen_at, note)
"""


def run(
    name: str, parameters: dict[str, Any], source: str = EVENTS, order: str = ""
) -> list[tuple[Any, ...]]:
    """Register `source` as the view `events`, run the processor over it, return its rows."""
    connection = duckdb.connect()
    connection.execute(f"CREATE VIEW events AS {source}")
    columns = [row[0] for row in connection.execute("DESCRIBE SELECT * FROM events").fetchall()]
    sql = render(prepare(name, parameters), ProcessorInput("events", columns, DUCKDB))
    return connection.execute(f"SELECT * FROM ({sql}) AS result {order}").fetchall()


def columns_of(name: str, parameters: dict[str, Any]) -> list[str]:
    connection = duckdb.connect()
    connection.execute(f"CREATE VIEW events AS {EVENTS}")
    columns = [row[0] for row in connection.execute("DESCRIBE SELECT * FROM events").fetchall()]
    sql = render(prepare(name, parameters), ProcessorInput("events", columns, DUCKDB))
    return [row[0] for row in connection.execute(f"DESCRIBE {sql}").fetchall()]


def test_the_registry_ships_the_six_processors() -> None:
    assert sorted(PROCESSORS) == [
        "cast",
        "deduplicate",
        "fill_missing",
        "filter_range",
        "select",
        "train_test_split",
    ]
    assert all(processor.version >= 1 and processor.summary for processor in PROCESSORS.values())


# -- deduplicate -----------------------------------------------------------------------------------------


def test_deduplicate_keeps_the_latest_row_of_each_key() -> None:
    rows = run("deduplicate", {"keys": ["user_id", "kind"], "order_by": "seen_at"}, order="ORDER BY 1, 2")

    assert [(r[0], r[1], r[2]) for r in rows] == [
        (1, "a", 11.0),
        (1, "b", 12.0),
        (2, "a", None),
        (3, "c", 30.0),
    ]


def test_deduplicate_can_keep_the_earliest_row_instead() -> None:
    rows = run(
        "deduplicate", {"keys": ["user_id"], "order_by": "seen_at", "keep": "earliest"}, order="ORDER BY 1"
    )

    assert [(r[0], r[2]) for r in rows] == [(1, 10.0), (2, None), (3, 30.0)]


def test_deduplicate_keeps_the_input_columns_in_order() -> None:
    assert columns_of("deduplicate", {"keys": ["kind"]}) == ["user_id", "kind", "amount", "seen_at", "note"]


def test_deduplicate_without_order_keeps_the_smallest_row_of_each_key() -> None:
    rows = run("deduplicate", {"keys": ["kind"]}, order="ORDER BY 2")

    assert [(r[0], r[1], r[2]) for r in rows] == [(1, "a", 10.0), (1, "b", 12.0), (3, "c", 30.0)]


# -- select ----------------------------------------------------------------------------------------------


def test_select_keeps_the_given_columns_in_the_given_order_and_renames() -> None:
    parameters = {"columns": ["amount", "user_id"], "rename": {"user_id": "customer"}}

    assert columns_of("select", parameters) == ["amount", "customer"]
    assert run("select", parameters, order="ORDER BY 2, 1")[0] == (10.0, 1)


def test_select_may_only_rename_keeping_every_column() -> None:
    assert columns_of("select", {"rename": {"note": "comment"}}) == [
        "user_id",
        "kind",
        "amount",
        "seen_at",
        "comment",
    ]


def test_select_refuses_a_rename_that_makes_two_columns_one_name() -> None:
    with pytest.raises(TransformationFailed, match="not unique"):
        columns_of("select", {"columns": ["kind", "note"], "rename": {"note": "kind"}})


# -- cast ------------------------------------------------------------------------------------------------


def test_cast_converts_columns_in_place() -> None:
    connection = duckdb.connect()
    connection.execute(f"CREATE VIEW events AS {EVENTS}")
    sql = render(
        prepare("cast", {"columns": {"user_id": "string", "amount": "int64"}}),
        ProcessorInput("events", ["user_id", "kind", "amount", "seen_at", "note"]),
    )
    described = [(row[0], row[1]) for row in connection.execute(f"DESCRIBE {sql}").fetchall()]

    assert described[:3] == [("user_id", "VARCHAR"), ("kind", "VARCHAR"), ("amount", "BIGINT")]
    first = connection.execute(f"SELECT user_id, amount FROM ({sql}) ORDER BY amount LIMIT 1")
    assert first.fetchone() == ("1", 10)


def test_a_safe_cast_turns_what_does_not_convert_into_null() -> None:
    source = "SELECT * FROM (VALUES ('12'), ('twelve')) AS t(text)"

    assert run("cast", {"columns": {"text": "int32"}, "safe": True}, source) == [(12,), (None,)]
    with pytest.raises(duckdb.ConversionException):
        run("cast", {"columns": {"text": "int32"}}, source)


# -- fill_missing ----------------------------------------------------------------------------------------


def test_fill_missing_replaces_nulls_with_constants() -> None:
    rows = run("fill_missing", {"values": {"amount": 0, "note": "none"}}, order="ORDER BY user_id, seen_at")

    assert [(r[0], r[2], r[4]) for r in rows] == [
        (1, 10.0, "none"),
        (1, 12.0, "none"),
        (1, 11.0, "x"),
        (2, 0.0, "y"),
        (3, 30.0, "none"),
    ]


def test_fill_missing_quotes_a_string_constant() -> None:
    rows = run("fill_missing", {"values": {"note": "it's"}}, order="ORDER BY user_id LIMIT 1")

    assert rows[0][4] == "it's"


# -- filter_range ----------------------------------------------------------------------------------------


def test_filter_range_keeps_rows_between_the_bounds_inclusive() -> None:
    rows = run("filter_range", {"column": "amount", "min": 11, "max": 30}, order="ORDER BY amount")

    assert [r[2] for r in rows] == [11.0, 12.0, 30.0]


def test_filter_range_may_exclude_the_bounds_and_have_one_side() -> None:
    assert [r[2] for r in run("filter_range", {"column": "amount", "min": 11, "inclusive": False})] == [
        12.0,
        30.0,
    ]
    assert [r[2] for r in run("filter_range", {"column": "amount", "max": 10.5})] == [10.0]


def test_filter_range_compares_strings_as_the_engine_does() -> None:
    rows = run("filter_range", {"column": "seen_at", "min": "2024-01-02"}, order="ORDER BY seen_at")

    assert [r[2] for r in rows] == [12.0, 11.0]


# -- train_test_split --------------------------------------------------------------------------------------


def test_train_test_split_labels_every_row_deterministically_near_the_fraction() -> None:
    source = "SELECT range AS id FROM range(2000)"
    parameters = {"fraction": 0.25, "seed": 7, "key": ["id"]}

    first = run("train_test_split", parameters, source, order="ORDER BY id")
    again = run("train_test_split", parameters, source, order="ORDER BY id")
    other_seed = run("train_test_split", {**parameters, "seed": 8}, source, order="ORDER BY id")

    assert first == again
    tests = sum(1 for _, side in first if side == "test")
    assert {side for _, side in first} == {"train", "test"}
    assert 400 <= tests <= 600
    assert first != other_seed


def test_train_test_split_decides_a_row_by_the_md5_of_seed_and_key() -> None:
    # Worked by hand: md5('7|5') starts with the hex digits below; under 0.25 * 2^32 means test.
    import hashlib

    bucket = int(hashlib.md5(b"7|5").hexdigest()[:8], 16)  # noqa: S324 - the processor's own bucketing
    expected = "test" if bucket < int(0.25 * 2**32) else "train"

    rows = run("train_test_split", {"fraction": 0.25, "seed": 7, "key": ["id"]}, "SELECT 5 AS id")

    assert rows == [(5, expected)]


def test_train_test_split_refuses_to_overwrite_an_existing_column() -> None:
    with pytest.raises(TransformationFailed, match="has a column 'kind' already"):
        run("train_test_split", {"fraction": 0.5, "column": "kind"})


# -- refusals and dialects ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "parameters", "field"),
    [
        ("deduplicate", {"keys": []}, "processor.parameters.keys"),
        ("deduplicate", {"keys": ["a"], "keep": "middle"}, "processor.parameters.keep"),
        ("select", {}, "processor.parameters"),
        ("cast", {"columns": {"a": "varchar(10)"}}, "processor.parameters.columns.a"),
        ("fill_missing", {"values": {}}, "processor.parameters.values"),
        ("filter_range", {"column": "a"}, "processor.parameters"),
        ("filter_range", {"column": "a", "min": 5, "max": 1}, "processor.parameters"),
        ("filter_range", {"column": "a", "min": 1, "max": "z"}, "processor.parameters"),
        ("train_test_split", {"fraction": 1.0}, "processor.parameters.fraction"),
        ("train_test_split", {"fraction": 0.2, "unknown": 1}, "processor.parameters.unknown"),
    ],
)
def test_bad_parameters_are_refused_naming_the_field(
    name: str, parameters: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidProcessorParameters) as refused:
        prepare(name, parameters)

    assert any(detail["field"] == field for detail in refused.value.details), refused.value.details


def test_an_unknown_processor_is_refused_listing_the_known_ones() -> None:
    with pytest.raises(UnknownProcessor) as refused:
        prepare("pivot", {})

    assert refused.value.details[0]["processors"] == sorted(PROCESSORS)


def test_a_missing_column_fails_the_run_naming_the_input_columns() -> None:
    with pytest.raises(TransformationFailed, match="'missing' is not a column of input events"):
        run("deduplicate", {"keys": ["missing"]})


def test_a_call_declared_with_another_version_is_not_run() -> None:
    call = ProcessorCall(name="select", version=99, parameters={"columns": ["a"]})

    with pytest.raises(TransformationFailed, match="PUT the transformation again"):
        render(call, ProcessorInput("events", ["a"]))


def test_prepare_stores_the_defaults_so_the_code_hash_names_them() -> None:
    call = prepare("train_test_split", {"fraction": 0.2})

    assert call.parameters == {"fraction": 0.2, "seed": 0, "column": "split", "key": None}
    assert call.version == PROCESSORS["train_test_split"].version


def test_spark_sql_quotes_with_backquotes_escapes_with_backslashes_and_hashes_with_conv() -> None:
    source = ProcessorInput("events", ["user_id", "note"], SPARK)

    filled = render(prepare("fill_missing", {"values": {"note": "it's \\ here"}}), source)
    split = render(prepare("train_test_split", {"fraction": 0.5, "key": ["user_id"]}), source)

    assert filled == ("SELECT `user_id`, COALESCE(`note`, 'it\\'s \\\\ here') AS `note` FROM `events`")
    assert (
        "CAST(conv(substr(md5(concat_ws('|', '0', CAST(`user_id` AS STRING))), 1, 8), 16, 10) AS BIGINT)"
        in split
    )
