"""Transformations through the API: PUT declares one (201, then 200 on replace) with its code hash, GET
and the listing read it back, POST .../runs pins the inputs, allocates the output version with its
lineage and starts the state machine (202), GET .../runs/{id} follows the run.

Every refusal (an unknown input dataset, a pinned input that is not ready, SQL that is not one query
over the inputs, a module without its entry point, bad processor parameters, an output another producer
owns, Spark on a deployment without it) is answered before anything is written: no item, no module, no
version, no execution.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from cirrus_core.data.datasets import DatasetKind, VersionStatus
from cirrus_core.data.transformations import ProcessorCall, processor_code_hash
from tests.support.aws import DATA_BUCKET
from tests.unit.data.transformations_support import (
    JOIN_SQL,
    STATE_MACHINE_ARN,
    TransformationsWorld,
    api,
    body,
    ok,
    world,
)

__all__ = ["world"]

PANDAS_MODULE = """
import pandas as pd


def transform(inputs, parameters):
    return inputs["orders"].head(parameters.get("rows", 2))
"""


# -- declaring ---------------------------------------------------------------------------------------------


def test_a_sql_transformation_is_created_with_the_hash_of_its_sql(world: TransformationsWorld) -> None:
    world.inputs()

    created = ok(world.put(), 201)

    assert created["name"] == "orders_by_country"
    assert created["kind"] == "sql"
    assert created["runtime"] == "duckdb"
    assert created["code_hash"] == "sha256:" + hashlib.sha256(JOIN_SQL.encode()).hexdigest()
    assert (created["revision"], created["created_by"]) == (1, "ada@example.com")
    assert ok(api("get_transformation", path={"name": "orders_by_country"})) == created


def test_a_second_put_replaces_it_with_the_next_revision(world: TransformationsWorld) -> None:
    world.inputs()
    first = ok(world.put(), 201)

    sql = "SELECT order_id FROM orders"
    replaced = ok(world.put(document=body(sql=sql)), 200)

    assert replaced["revision"] == 2
    assert replaced["created_at"] == first["created_at"]
    assert replaced["code_hash"] == "sha256:" + hashlib.sha256(sql.encode()).hexdigest()
    assert ok(api("get_transformation", path={"name": "orders_by_country"}))["sql"] == sql


def test_each_put_is_audited(world: TransformationsWorld) -> None:
    world.inputs()
    ok(world.put(), 201)
    ok(world.put(), 200)

    records = world.aws.dynamodb.scan(TableName="cirrus-test-audit")["Items"]
    audited = [
        json.dumps(item) for item in records if "data/transformation/orders_by_country" in json.dumps(item)
    ]
    assert len(audited) == 2


def test_transformations_are_listed_by_name_a_page_at_a_time(world: TransformationsWorld) -> None:
    world.inputs()
    for name in ("zeta", "alpha", "mid"):
        ok(world.put(name, body(output={"dataset": f"{name}_out"})), 201)

    first = ok(api("list_transformations", query={"limit": "2"}))
    second = ok(api("list_transformations", query={"limit": "2", "next_token": first["next_token"]}))

    assert [item["name"] for item in first["items"]] == ["alpha", "mid"]
    assert [item["name"] for item in second["items"]] == ["zeta"]
    assert second["next_token"] is None
    assert set(first["items"][0]) == {
        "name",
        "description",
        "output",
        "runtime",
        "kind",
        "code_hash",
        "revision",
        "updated_at",
    }


def test_a_python_module_is_stored_by_its_digest_and_never_shown(world: TransformationsWorld) -> None:
    world.inputs()
    digest = hashlib.sha256(PANDAS_MODULE.encode()).hexdigest()

    created = ok(
        world.put("head", body(sql=None, python={"module": PANDAS_MODULE}, output={"dataset": "heads"})), 201
    )

    assert created["kind"] == "python"
    assert created["code_hash"] == f"sha256:{digest}"
    assert created["python"] == {
        "key": f"transformations/head/{digest}.py",
        "sha256": digest,
        "size": len(PANDAS_MODULE.encode()),
        "entrypoint": "transform",
        "engine": "pandas",
    }
    stored = world.aws.s3.get_object(Bucket=DATA_BUCKET, Key=f"transformations/head/{digest}.py")
    assert stored["Body"].read().decode() == PANDAS_MODULE
    assert "def transform" not in json.dumps(created)


def test_a_processor_is_stored_with_its_version_and_defaulted_parameters(world: TransformationsWorld) -> None:
    world.inputs()
    document = body(
        sql=None,
        inputs={"orders": "dataset:orders"},
        processor={"name": "deduplicate", "parameters": {"keys": ["customer_id"], "order_by": "amount"}},
        output={"dataset": "latest_orders"},
    )

    created = ok(world.put("dedup", document), 201)

    call = ProcessorCall(
        name="deduplicate",
        version=1,
        parameters={"keys": ["customer_id"], "order_by": "amount", "keep": "latest"},
    )
    assert created["processor"] == call.model_dump(mode="json")
    assert created["code_hash"] == processor_code_hash(call)


# -- refusals of a PUT ---------------------------------------------------------------------------------


def _refused(world: TransformationsWorld, document: dict[str, Any], status: int, code: str) -> dict[str, Any]:
    before = world.snapshot()

    response = world.put(document=document)

    assert response.status == status, response.body
    assert response.error_code == code
    assert world.snapshot() == before
    return dict(response.body["error"])


@pytest.mark.parametrize(
    "sql",
    [
        "COPY orders TO '/tmp/stolen.csv'",
        "ATTACH '/tmp/other.duckdb' AS other",
        "SELECT * FROM read_csv('/etc/passwd')",
        "INSTALL httpfs",
        "LOAD httpfs",
        "PRAGMA database_list",
        "SELECT * FROM orders; DROP TABLE customers",
        "CREATE TABLE copy AS SELECT * FROM orders",
    ],
)
def test_sql_that_is_not_one_query_over_the_inputs_is_refused(world: TransformationsWorld, sql: str) -> None:
    world.inputs()

    _refused(world, body(sql=sql), 422, "invalid_sql")


def test_sql_that_does_not_parse_is_refused_with_duckdbs_message(world: TransformationsWorld) -> None:
    world.inputs()

    error = _refused(world, body(sql="SELECT country FROM customers WHERE"), 422, "invalid_sql")

    assert "Parser Error" in error["message"]


def test_an_unknown_input_dataset_is_refused(world: TransformationsWorld) -> None:
    world.dataset("orders", "SELECT 1 AS id")

    error = _refused(world, body(), 404, "dataset_not_found")

    assert error["details"] == [{"field": "inputs.customers", "dataset": "customers"}]


def test_a_pinned_input_that_is_not_ready_is_refused(world: TransformationsWorld) -> None:
    world.inputs()
    world.dataset("customers", "SELECT 1 AS id", ready=False)

    _refused(
        world,
        body(inputs={"orders": "dataset:orders", "customers": "dataset:customers@2"}),
        409,
        "dataset_version_not_ready",
    )


def test_a_pinned_input_version_that_does_not_exist_is_refused(world: TransformationsWorld) -> None:
    world.inputs()

    _refused(world, body(inputs={"orders": "dataset:orders@7"}), 404, "dataset_version_not_found")


def test_a_module_without_its_entry_point_is_refused_without_running_it(world: TransformationsWorld) -> None:
    world.inputs()
    module = "import os\nos.remove('/never')\n\ndef other(inputs, parameters):\n    return None\n"

    error = _refused(world, body(sql=None, python={"module": module}), 422, "python_entrypoint_missing")

    assert error["details"][0]["functions"] == ["other"]


@pytest.mark.parametrize(
    ("python", "code"),
    [
        ({"module": "def transform(inputs):\n    return inputs\n"}, "python_entrypoint_missing"),
        ({"module": "def transform(inputs, parameters)\n    return 1\n"}, "invalid_transformation"),
        ({"module": "transform = lambda inputs, parameters: None\n"}, "python_entrypoint_missing"),
        (
            {"module": "def run(i, p):\n    return i\n", "entrypoint": "transform"},
            "python_entrypoint_missing",
        ),
    ],
)
def test_a_module_that_cannot_be_called_is_refused(
    world: TransformationsWorld, python: dict[str, Any], code: str
) -> None:
    world.inputs()

    _refused(world, body(sql=None, python=python), 422, code)


def test_unknown_processors_and_bad_parameters_are_refused(world: TransformationsWorld) -> None:
    world.inputs()
    single = {"orders": "dataset:orders"}

    _refused(world, body(sql=None, inputs=single, processor={"name": "pivot"}), 422, "unknown_processor")
    error = _refused(
        world,
        body(sql=None, inputs=single, processor={"name": "filter_range", "parameters": {"column": "amount"}}),
        422,
        "invalid_processor_parameters",
    )
    assert "give min, max or both" in error["details"][0]["message"]


def test_an_output_dataset_made_by_snapshots_is_refused(world: TransformationsWorld) -> None:
    world.inputs()

    _refused(world, body(output={"dataset": "customers"}), 409, "dataset_kind_mismatch")


def test_spark_runtimes_are_refused_where_they_are_not_deployed(world: TransformationsWorld) -> None:
    world.inputs()

    error = _refused(world, body(runtime="glue"), 422, "spark_transformations_disabled")

    assert "EnableSparkTransformations" in error["message"]


@pytest.mark.parametrize(
    "changes",
    [
        {"python": {"module": PANDAS_MODULE}},
        {"sql": None},
        {"inputs": {}},
        {"inputs": {f"input_{index}": "dataset:orders" for index in range(11)}},
        {"inputs": {"Orders": "dataset:orders"}},
        {"inputs": {"orders": "orders"}},
        {"inputs": {"orders": "dataset:orders@0"}},
        {"runtime": "spark"},
        {"sql": None, "python": {"module": PANDAS_MODULE}, "runtime": "glue"},
        {"sql": None, "processor": {"name": "select", "parameters": {"columns": ["a"]}}},
        {"unknown": True},
    ],
)
def test_requests_that_do_not_fit_are_refused(world: TransformationsWorld, changes: dict[str, Any]) -> None:
    world.inputs()

    _refused(world, body(**changes), 422, "validation_error")


def test_a_caller_without_data_access_may_not_declare(world: TransformationsWorld) -> None:
    world.inputs()
    before = world.snapshot()

    response = world.put(role="model_reviewer")

    assert (response.status, response.error_code) == (403, "access_denied")
    assert world.snapshot()["items"] == before["items"]


# -- running -------------------------------------------------------------------------------------------------


def test_a_run_pins_the_inputs_allocates_the_output_with_lineage_and_starts_202(
    world: TransformationsWorld,
) -> None:
    orders, customers = world.inputs()
    newer = world.dataset("orders", ORDERS_V2)
    declared = ok(world.put(document=body(parameters={"region": "eu"})), 201)

    run = ok(world.run(), 202)

    assert run["status"] == "running"
    assert [(i["alias"], i["reference"]) for i in run["inputs"]] == [
        ("customers", customers.reference),
        ("orders", newer.reference),
    ]
    assert run["output"] == {
        "dataset": "orders_by_country",
        "version": 1,
        "reference": "dataset:orders_by_country@1",
    }
    version = world.version(run["output"]["reference"])
    assert (version.status, version.kind) == (VersionStatus.BUILDING, DatasetKind.TRANSFORMATION)
    assert [(i.dataset, i.version) for i in version.lineage.inputs] == [("customers", 1), ("orders", 2)]
    assert version.lineage.transformation == "orders_by_country"
    assert version.lineage.code_hash == declared["code_hash"]
    assert version.lineage.parameters == {"region": "eu"}
    assert orders.version == 1
    (execution,) = world.executions()
    assert (execution["name"], execution["stateMachineArn"]) == (run["run_id"], STATE_MACHINE_ARN)
    assert json.loads(execution["input"]) == {
        "run_id": run["run_id"],
        "transformation": "orders_by_country",
        "runtime": "duckdb",
    }
    assert (
        ok(api("get_transformation_run", path={"name": "orders_by_country", "run_id": run["run_id"]})) == run
    )


ORDERS_V2 = "SELECT * FROM (VALUES (9, 20, 100.0)) AS t(order_id, customer_id, amount)"


def test_a_run_of_an_unknown_transformation_is_refused(world: TransformationsWorld) -> None:
    before = world.snapshot()

    response = world.run("nothing")

    assert (response.status, response.error_code) == (404, "transformation_not_found")
    assert world.snapshot() == before


def test_a_run_whose_input_has_no_ready_version_allocates_nothing(world: TransformationsWorld) -> None:
    world.inputs()
    world.dataset("pending", "SELECT 1 AS id", ready=False)
    inputs = {"orders": "dataset:orders", "pending": "dataset:pending"}
    ok(world.put(document=body(inputs=inputs, sql="SELECT * FROM orders, pending")), 201)
    before = world.snapshot()

    response = world.run()

    assert (response.status, response.error_code) == (422, "no_ready_version")
    assert world.snapshot() == before
    assert world.datasets.dataset("orders_by_country") is None


def test_an_unknown_run_is_not_found(world: TransformationsWorld) -> None:
    response = api("get_transformation_run", path={"name": "orders_by_country", "run_id": "f" * 32})

    assert (response.status, response.error_code) == (404, "transformation_run_not_found")
