"""Transformation runs through the state machine's steps, as Step Functions would call them: the output
version holds exactly the rows the transformation makes from the pinned inputs, with its lineage; the
same inputs make the same bytes; a failure ends the run and its version failed with why; a Spark
runtime is planned for its job and its job's parts recorded into the version."""

from __future__ import annotations

import json
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cirrus_core.data.datasets import VersionStatus, content_hash_of
from cirrus_core.data.transformations_service import failure_reason
from cirrus_core.errors import TransformationFailed
from cirrus_frames.dataset_files import write_parquet
from tests.support.aws import DATA_BUCKET
from tests.support.events import assert_valid_event
from tests.unit.data.transformations_support import (
    CUSTOMERS,
    ORDERS,
    TransformationsWorld,
    api,
    body,
    ok,
    world,
)

__all__ = ["world"]


def started(
    world: TransformationsWorld, name: str = "orders_by_country", document: dict[str, Any] | None = None
) -> dict[str, Any]:
    ok(world.put(name, document or body()), 201)
    return ok(world.run(name), 202)


def get_run(name: str, run_id: str) -> dict[str, Any]:
    return ok(api("get_transformation_run", path={"name": name, "run_id": run_id}))


# -- DuckDB SQL ------------------------------------------------------------------------------------------


def test_a_sql_run_writes_exactly_the_joined_rows_into_a_ready_version(world: TransformationsWorld) -> None:
    orders, customers = world.inputs()
    run = started(world)

    outcome = world.step("execute_transformation", run)

    assert outcome == {
        "run_id": run["run_id"],
        "transformation": "orders_by_country",
        "status": "succeeded",
        "output": "dataset:orders_by_country@1",
        "row_count": 2,
    }
    version = world.version(run["output"]["reference"])
    assert version.status is VersionStatus.READY
    assert world.rows(version, "country") == [("DE", 1, 7.5), ("FR", 3, 8.5)]
    assert [(c.name, c.type) for c in version.columns] == [
        ("country", "string"),
        ("orders", "int64"),
        ("total", "double"),
    ]
    assert [f.key for f in version.files] == ["datasets/orders_by_country/v1/part-00000.parquet"]
    assert version.content_hash == content_hash_of([f.sha256 for f in version.files])
    assert [(i.dataset, i.version) for i in version.lineage.inputs] == [
        (customers.dataset, customers.version),
        (orders.dataset, orders.version),
    ]
    assert version.lineage.code_hash == run["code_hash"]
    finished = get_run("orders_by_country", run["run_id"])
    assert (finished["status"], finished["row_count"], finished["content_hash"]) == (
        "succeeded",
        2,
        version.content_hash,
    )


def test_the_output_is_announced_as_a_transformation_version(world: TransformationsWorld) -> None:
    world.inputs()
    run = started(world)
    world.step("execute_transformation", run)

    (event,) = [e for e in world.aws.published_events() if e["detail-type"] == "dataset.version_created"]

    assert_valid_event(event)
    data = event["detail"]["data"]
    assert (data["kind"], data["reference"], data["job_id"]) == (
        "transformation",
        "dataset:orders_by_country@1",
        run["run_id"],
    )
    assert data["lineage"]["inputs"] == [
        {"dataset": "customers", "version": 1},
        {"dataset": "orders", "version": 1},
    ]
    assert data["lineage"]["transformation"] == "orders_by_country"
    assert event["source"] == "cirrus.data"


def test_the_same_inputs_make_the_same_bytes_in_a_new_version(world: TransformationsWorld) -> None:
    world.inputs()
    first = started(world)
    world.step("execute_transformation", first)
    second = ok(world.run(), 202)
    world.step("execute_transformation", second)

    one, two = world.version(first["output"]["reference"]), world.version(second["output"]["reference"])

    assert (one.version, two.version) == (1, 2)
    assert one.content_hash == two.content_hash
    assert [f.sha256 for f in one.files] == [f.sha256 for f in two.files]


def test_a_run_reads_the_versions_it_pinned_not_newer_ones(world: TransformationsWorld) -> None:
    world.inputs()
    run = started(world)
    world.dataset(
        "customers", "SELECT * FROM (VALUES (10, 'ES'), (20, 'ES'), (30, 'ES')) AS t(customer_id, country)"
    )

    world.step("execute_transformation", run)

    assert world.rows(world.version(run["output"]["reference"]), "country") == [
        ("DE", 1, 7.5),
        ("FR", 3, 8.5),
    ]


def test_a_repeated_step_on_a_finished_run_returns_its_outcome(world: TransformationsWorld) -> None:
    world.inputs()
    run = started(world)
    first = world.step("execute_transformation", run)

    assert world.step("execute_transformation", run) == first
    assert world.datasets.dataset("orders_by_country").latest_version == 1  # type: ignore[union-attr]


def test_a_processor_run_writes_its_rows(world: TransformationsWorld) -> None:
    world.inputs()
    document = body(
        sql=None,
        inputs={"orders": "dataset:orders"},
        processor={"name": "deduplicate", "parameters": {"keys": ["customer_id"], "order_by": "amount"}},
        output={"dataset": "largest_orders"},
    )
    run = started(world, "largest", document)

    world.step("execute_transformation", run)

    rows = world.rows(world.version(run["output"]["reference"]), "customer_id")
    assert rows == [(1, 10, 5.0), (2, 20, 7.5), (4, 30, 1.0)]


def test_sql_that_fails_at_run_time_fails_the_run_and_its_version(world: TransformationsWorld) -> None:
    world.inputs()
    run = started(world, document=body(sql="SELECT CAST(country AS INTEGER) AS n FROM customers"))

    with pytest.raises(TransformationFailed) as failed:
        world.step("execute_transformation", run)
    error = {
        "Error": "TransformationFailed",
        "Cause": json.dumps({"errorMessage": failed.value.message, "errorType": "TransformationFailed"}),
    }
    outcome = world.step("record_transformation_failure", run, error)

    assert outcome["status"] == "failed"
    finished = get_run("orders_by_country", run["run_id"])
    assert finished["status"] == "failed"
    assert "Could not convert string 'FR' to INT32" in finished["failure"]
    version = world.version(run["output"]["reference"])
    assert version.status is VersionStatus.FAILED
    assert version.failure == finished["failure"]
    assert not world.aws.s3.list_objects_v2(Bucket=DATA_BUCKET, Prefix="datasets/orders_by_country/").get(
        "Contents"
    )


# -- Python modules -----------------------------------------------------------------------------------------

PANDAS = """
    def transform(inputs, parameters):
        orders = inputs["orders"]
        big = orders[orders["amount"] >= parameters["min_amount"]]
        return big.sort_values("order_id").reset_index(drop=True)
"""
POLARS = """
    import polars as pl

    def transform(inputs, parameters):
        joined = inputs["orders"].join(inputs["customers"], on="customer_id")
        return joined.group_by("country").agg(pl.len().alias("orders")).sort("country")
"""
ENVIRONMENT = """
    import os
    import pandas as pd

    def transform(inputs, parameters):
        return pd.DataFrame({"name": sorted(os.environ)})
"""
RAISES = """
    def transform(inputs, parameters):
        raise RuntimeError("the customers table is empty")
"""


def _python(module: str, engine: str = "pandas", **changes: Any) -> dict[str, Any]:
    python = {"module": textwrap.dedent(module), "engine": engine}
    return body(sql=None, python=python, output={"dataset": "python_out"}, **changes)


def test_a_pandas_module_run_writes_its_frame(world: TransformationsWorld) -> None:
    world.inputs()
    run = started(world, "big_orders", _python(PANDAS, parameters={"min_amount": 5}))

    world.step("execute_transformation", run)

    version = world.version(run["output"]["reference"])
    assert world.rows(version, "order_id") == [(1, 10, 5.0), (2, 20, 7.5)]
    assert version.lineage.parameters == {"min_amount": 5}


def test_a_polars_module_run_writes_its_frame(world: TransformationsWorld) -> None:
    world.inputs()
    run = started(world, "per_country", _python(POLARS, "polars"))

    world.step("execute_transformation", run)

    assert world.rows(world.version(run["output"]["reference"]), "country") == [("DE", 1), ("FR", 3)]


def test_a_module_sees_no_aws_variables_of_the_step(world: TransformationsWorld) -> None:
    world.inputs()
    run = started(world, "environment", _python(ENVIRONMENT))

    world.step("execute_transformation", run)

    names = [row[0] for row in world.rows(world.version(run["output"]["reference"]), "name")]
    assert names
    assert not [name for name in names if name.startswith("AWS_") or "TABLE" in name or "BUCKET" in name]


def test_a_module_that_raises_fails_the_run_with_its_error(world: TransformationsWorld) -> None:
    world.inputs()
    run = started(world, "raises", _python(RAISES))

    with pytest.raises(TransformationFailed, match="RuntimeError: the customers table is empty"):
        world.step("execute_transformation", run)


def test_a_module_changed_in_the_bucket_is_not_run(world: TransformationsWorld) -> None:
    world.inputs()
    run = started(world, "big_orders", _python(PANDAS, parameters={"min_amount": 5}))
    key = ok(api("get_transformation", path={"name": "big_orders"}))["python"]["key"]
    world.aws.s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=b"def transform(i, p):\n    raise SystemExit\n")

    with pytest.raises(TransformationFailed, match="does not match its digest"):
        world.step("execute_transformation", run)


# -- Spark runtimes -----------------------------------------------------------------------------------------


@pytest.fixture
def spark(world: TransformationsWorld, monkeypatch: pytest.MonkeyPatch) -> TransformationsWorld:
    from tests.unit.data.transformations_support import clear_transformations_wiring

    monkeypatch.setenv("SPARK_TRANSFORMATIONS_ENABLED", "true")
    clear_transformations_wiring()
    return world


def test_a_spark_run_is_planned_with_its_sql_in_sparks_dialect_and_its_pinned_parts(
    spark: TransformationsWorld,
) -> None:
    orders, _ = spark.inputs()
    document = body(
        sql=None,
        runtime="glue",
        inputs={"orders": "dataset:orders"},
        processor={"name": "fill_missing", "parameters": {"values": {"amount": 0}}},
        output={"dataset": "filled"},
    )
    run = started(spark, "filled", document)

    outcome = spark.step("execute_transformation", run)

    prefix = f"transformations/filled/runs/{run['run_id']}/"
    assert outcome["plan_uri"] == f"s3://{DATA_BUCKET}/{prefix}plan.json"
    assert outcome["output_uri"] == f"s3://{DATA_BUCKET}/{prefix}output/"
    plan = json.loads(spark.aws.s3.get_object(Bucket=DATA_BUCKET, Key=prefix + "plan.json")["Body"].read())
    assert plan["sql"] == "SELECT `order_id`, `customer_id`, COALESCE(`amount`, 0) AS `amount` FROM `orders`"
    assert plan["inputs"] == {"orders": [f"s3://{DATA_BUCKET}/{orders.files[0].key}"]}
    assert plan["output"] == outcome["output_uri"]
    assert get_run("filled", run["run_id"])["status"] == "running"
    assert json.loads(spark.executions()[0]["input"])["runtime"] == "glue"


def test_the_spark_jobs_parts_become_the_versions_parts(spark: TransformationsWorld) -> None:
    spark.inputs()
    run = started(spark, document=body(runtime="emr_serverless", sql="SELECT * FROM orders"))
    spark.step("execute_transformation", run)
    prefix = f"transformations/orders_by_country/runs/{run['run_id']}/output/"
    connection = duckdb.connect()
    with tempfile.TemporaryDirectory() as directory:
        for index, select in enumerate(
            [ORDERS, "SELECT 5::INTEGER AS order_id, 40::INTEGER AS customer_id, 9.0::DOUBLE AS amount"]
        ):
            path = Path(directory) / f"{index}.parquet"
            write_parquet(connection, select, path, row_group_rows=100)
            spark.aws.s3.upload_file(
                str(path), DATA_BUCKET, f"{prefix}part-0000{index}-abc-c000.snappy.parquet"
            )
    spark.aws.s3.put_object(Bucket=DATA_BUCKET, Key=f"{prefix}_SUCCESS", Body=b"")

    outcome = spark.step("record_transformation_output", run)

    assert (outcome["status"], outcome["row_count"]) == ("succeeded", 5)
    version = spark.version(run["output"]["reference"])
    assert [f.key for f in version.files] == [
        "datasets/orders_by_country/v1/part-00000.parquet",
        "datasets/orders_by_country/v1/part-00001.parquet",
    ]
    assert [f.rows for f in version.files] == [4, 1]
    assert version.content_hash == content_hash_of([f.sha256 for f in version.files])
    assert spark.rows(version, "order_id")[-1] == (5, 40, 9.0)


def test_a_spark_job_that_wrote_nothing_fails_the_step(spark: TransformationsWorld) -> None:
    spark.inputs()
    run = started(spark, document=body(runtime="glue", sql="SELECT * FROM orders"))
    spark.step("execute_transformation", run)

    with pytest.raises(TransformationFailed, match="wrote no Parquet part"):
        spark.step("record_transformation_output", run)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            {
                "Error": "States.TaskFailed",
                "Cause": json.dumps({"JobRunState": "FAILED", "ErrorMessage": "AnalysisException: x"}),
            },
            "States.TaskFailed: AnalysisException: x",
        ),
        (
            {
                "Error": "States.TaskFailed",
                "Cause": json.dumps({"jobRun": {"state": "FAILED", "stateDetails": "Job failed"}}),
            },
            "States.TaskFailed: Job failed",
        ),
        ({"Error": "States.Timeout", "Cause": ""}, "The transformation ran out of time"),
        ({"Error": "UnknownRuntime", "Cause": "not json"}, "UnknownRuntime: not json"),
        (None, "The transformation failed."),
    ],
)
def test_the_failure_reason_is_read_from_lambda_glue_and_emr_causes(
    error: dict[str, Any] | None, reason: str
) -> None:
    assert failure_reason(error).startswith(reason)


__all__ += ["CUSTOMERS"]
