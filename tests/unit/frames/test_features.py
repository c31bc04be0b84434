"""The feature store's DuckDB work without AWS: what an ingestion accepts and writes, how the offline
store reads partitions of several versions and staged puts, and which row is an entity's latest."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cirrus_core.data.features import FeatureGroupDefinition
from cirrus_frames.dataset_files import write_parquet
from cirrus_frames.features import DataDoesNotFit, connect, ingest, latest_rows, offline_rows, select


def group(*features: dict[str, Any], key_type: str = "int64") -> FeatureGroupDefinition:
    return FeatureGroupDefinition.model_validate(
        {
            "name": "sensors",
            "entity_key": {"name": "device", "type": key_type},
            "event_time": "ts",
            "features": list(features) or [{"name": "reading", "type": "float64"}],
            "owner": "iot",
        }
    )


def dataset(tmp_path: Path, query: str, name: str = "input.parquet") -> Path:
    path = tmp_path / name
    write_parquet(duckdb.connect(), query, path, row_group_rows=100)
    return path


def rows(connection: duckdb.DuckDBPyConnection, columns: str, source: str) -> list[tuple[Any, ...]]:
    return list(connection.execute(select(columns, source)).fetchall())


def refusal(tmp_path: Path, definition: FeatureGroupDefinition, query: str) -> list[tuple[str, str, int]]:
    with pytest.raises(DataDoesNotFit) as refused:
        ingest(connect(tmp_path), [dataset(tmp_path, query)], definition, tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()
    return [(p.column, p.problem.value, p.rows or 0) for p in refused.value.problems]


AT = "TIMESTAMPTZ '2024-06-01 00:00:00+00' AS ts"


def test_vectors_of_the_defined_length_are_ingested_as_lists_of_doubles(tmp_path: Path) -> None:
    definition = group({"name": "embedding", "type": "vector", "dimension": 3})
    target = tmp_path / "out.parquet"

    count = ingest(
        connect(tmp_path),
        [dataset(tmp_path, f"SELECT 1 AS device, {AT}, [1, 2, 3] AS embedding")],
        definition,
        target,
    )

    assert count == 1
    assert rows(connect(tmp_path), "*", f"'{target}'") == [
        (1, datetime(2024, 6, 1, tzinfo=UTC), [1.0, 2.0, 3.0])
    ]


@pytest.mark.parametrize(
    ("embedding", "problem"),
    [("[1.0, 2.0]", "wrong_dimension"), ("[1.0, 'nan'::DOUBLE, 3.0]", "not_finite")],
    ids=["too_short", "nan_inside"],
)
def test_vectors_that_do_not_fit_are_refused(tmp_path: Path, embedding: str, problem: str) -> None:
    definition = group({"name": "embedding", "type": "vector", "dimension": 3})

    found = refusal(tmp_path, definition, f"SELECT 1 AS device, {AT}, {embedding} AS embedding")

    assert found == [("embedding", problem, 1)]


def test_non_finite_floats_are_refused(tmp_path: Path) -> None:
    found = refusal(tmp_path, group(), f"SELECT 1 AS device, {AT}, 'inf'::DOUBLE AS reading")

    assert found == [("reading", "not_finite", 1)]


def test_an_empty_string_key_is_refused(tmp_path: Path) -> None:
    found = refusal(tmp_path, group(key_type="string"), f"SELECT '' AS device, {AT}, 1.0 AS reading")

    assert found == [("device", "invalid_key", 1)]


def test_every_problem_of_every_column_is_counted_in_one_refusal(tmp_path: Path) -> None:
    query = (
        "SELECT * FROM (VALUES (NULL::VARCHAR, TIMESTAMPTZ '2024-06-01 00:00:00+00', 'x'), "
        "('2', NULL, 'y'), ('3', TIMESTAMPTZ '2024-06-01 00:00:00+00', '1.5')) AS t(device, ts, reading)"
    )

    found = refusal(tmp_path, group(), query)

    assert found == [
        ("device", "null_not_allowed", 1),
        ("ts", "null_not_allowed", 1),
        ("reading", "uncastable_values", 2),
    ]


def test_naive_timestamps_and_iso_strings_are_read_as_utc(tmp_path: Path) -> None:
    definition = group({"name": "seen", "type": "timestamp"}, {"name": "ok", "type": "bool"})
    target = tmp_path / "out.parquet"
    query = (
        "SELECT 1 AS device, TIMESTAMP '2024-06-01 10:00:00' AS ts, "
        "'2024-06-01T12:00:00+02:00' AS seen, 'true' AS ok"
    )

    ingest(connect(tmp_path), [dataset(tmp_path, query)], definition, target)

    at, seen, ok = rows(connect(tmp_path), "ts, seen, ok", f"'{target}'")[0]
    assert (at, seen, ok) == (
        datetime(2024, 6, 1, 10, tzinfo=UTC),
        datetime(2024, 6, 1, 10, tzinfo=UTC),
        True,
    )


# -- the offline store --------------------------------------------------------------------------------


def staging(tmp_path: Path, name: str, *lines: dict[str, Any]) -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_parts_of_an_earlier_version_read_a_feature_added_since_as_null(tmp_path: Path) -> None:
    v1 = group({"name": "reading", "type": "float64"})
    v2 = group({"name": "reading", "type": "float64"}, {"name": "battery", "type": "int64"})
    old = tmp_path / "0001.parquet"
    ingest(connect(tmp_path), [dataset(tmp_path, f"SELECT 1 AS device, {AT}, 0.5 AS reading")], v1, old)
    connection = connect(tmp_path)

    query = offline_rows(connection, v2, [old], [], [1, 2])

    assert rows(connection, "device, reading, battery", f"({query})") == [(1, 0.5, None)]


def test_staged_puts_of_a_version_that_does_not_read_are_left_out(tmp_path: Path) -> None:
    definition = group()
    put = staging(
        tmp_path,
        "0002.jsonl",
        {"device": 1, "ts": "2024-06-01T00:00:00+00:00", "reading": 1.5, "_group_version": 1},
        {"device": 2, "ts": "2024-06-01T00:00:00+00:00", "reading": "high", "_group_version": 3},
    )
    connection = connect(tmp_path)

    query = offline_rows(connection, definition, [], [put], [1])

    assert rows(connection, "device, reading", f"({query})") == [(1, 1.5)]


def test_the_latest_row_of_an_entity_is_the_latest_event_then_the_latest_write(tmp_path: Path) -> None:
    definition = group()
    part = dataset(
        tmp_path,
        "SELECT * FROM (VALUES (1::BIGINT, TIMESTAMPTZ '2024-06-02 00:00:00+00', 2.0), "
        "(1::BIGINT, TIMESTAMPTZ '2024-06-01 00:00:00+00', 1.0), "
        "(2::BIGINT, TIMESTAMPTZ '2024-06-05 00:00:00+00', 5.0)) AS t(device, ts, reading)",
        name="0001.parquet",
    )
    # Written later, at the same event time as device 1's latest row: it wins.
    later = staging(
        tmp_path,
        "0002.jsonl",
        {"device": 1, "ts": "2024-06-02T00:00:00Z", "reading": 2.5, "_group_version": 1},
    )
    connection = connect(tmp_path)

    query = latest_rows(offline_rows(connection, definition, [part], [later], [1]), definition)

    assert sorted(rows(connection, "device, reading", f"({query})")) == [(1, 2.5), (2, 5.0)]
