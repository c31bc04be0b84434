"""glue/cirrus_transform_job.py's pure parts: its argument and the plan the plan step writes. The Spark
part runs only on AWS Glue or EMR Serverless; it is not executed here (there is no Spark)."""

from __future__ import annotations

import importlib.util
import json
import sys
from types import ModuleType
from typing import Any

import pytest

from tests.support.aws import ROOT

PARTS = ["s3://cirrus-data-123456789012/datasets/orders/v3/part-00000.parquet"]
PLAN: dict[str, Any] = {
    "run_id": "0123456789abcdef0123456789abcdef",
    "transformation": "orders_by_country",
    "sql": "SELECT country, count(*) AS n FROM orders GROUP BY country",
    "inputs": {"orders": PARTS},
    "output": "s3://cirrus-data-123456789012/transformations/orders_by_country/runs/0123/output/",
}


@pytest.fixture(scope="module")
def job() -> ModuleType:
    """The script, loaded from its file as Glue loads it (it is not a package module)."""
    spec = importlib.util.spec_from_file_location(
        "cirrus_transform_job", ROOT / "glue" / "cirrus_transform_job.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("cirrus_transform_job", module)
    spec.loader.exec_module(module)
    return module


def test_it_imports_without_spark(job: ModuleType) -> None:
    assert "pyspark" not in sys.modules
    assert job.SPARK_SETTINGS["spark.sql.runSQLOnFiles"] == "false"


def test_the_plan_uri_comes_from_either_argument_form(job: ModuleType) -> None:
    uri = "s3://cirrus-data-123456789012/transformations/t/runs/r/plan.json"
    glue_argv = ["--JOB_NAME", "cirrus-dev-transform", "--cirrus_plan", uri, "--job-bookmark-option", "x"]

    assert job.plan_uri(glue_argv) == uri
    assert job.plan_uri([f"--cirrus_plan={uri}"]) == uri
    with pytest.raises(job.PlanError, match="missing --cirrus_plan"):
        job.plan_uri(["--JOB_NAME", "x"])
    with pytest.raises(job.PlanError, match="not an s3:// URI"):
        job.plan_uri(["--cirrus_plan", "file:///etc/passwd"])


def test_the_plan_the_plan_step_writes_is_read_back(job: ModuleType) -> None:
    plan = job.parse_plan(json.dumps(PLAN))

    assert (plan.run_id, plan.sql, plan.output) == (PLAN["run_id"], PLAN["sql"], PLAN["output"])
    assert plan.inputs == PLAN["inputs"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sql": " "}, "no sql"),
        ({"output": "s3://cirrus-data-123456789012/out"}, "output is not an s3:// prefix"),
        ({"output": "/tmp/out/"}, "output is not an s3:// prefix"),
        ({"inputs": {}}, "no inputs"),
        ({"inputs": {"Orders": PARTS}}, "lower-case SQL identifier"),
        ({"inputs": {"orders": []}}, "no s3:// parts"),
        ({"inputs": {"orders": ["/etc/passwd"]}}, "no s3:// parts"),
    ],
)
def test_a_plan_that_is_not_the_plan_steps_is_refused(
    job: ModuleType, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(job.PlanError, match=message):
        job.parse_plan(json.dumps({**PLAN, **change}))
    with pytest.raises(job.PlanError, match="not JSON"):
        job.parse_plan("{")
