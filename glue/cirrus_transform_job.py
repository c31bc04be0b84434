"""The Spark side of a transformation on the glue or emr_serverless runtime (AWS Glue 5.0, EMR 7).

The state machine's plan step (cirrus_frames.transform) renders the run's SQL for Spark (a processor's
SQL from the pinned versions' schemas, or the user's Spark SQL) and stores a plan beside the run:

    {"run_id", "transformation", "sql", "inputs": {alias: [s3://.../part-00000.parquet, ...]},
     "output": "s3://<data bucket>/transformations/<name>/runs/<run_id>/output/"}

This script reads it (`--cirrus_plan s3://...`), registers each alias as a temporary view over its
parts, checks that the SQL parses to a query (not a command), runs it and writes the rows as Parquet to
`output`. The record-output step then hashes, describes and copies the parts into the version's layout.
The job's role reaches the data bucket only; Spark SQL may not query files by path
(`spark.sql.runSQLOnFiles=false`), so the SQL reads its inputs and nothing else.

Only the pure parts below (arguments and plan checks) are unit-tested: there is no Spark here.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from typing import Any

PLAN_ARGUMENT = "--cirrus_plan"
_ALIAS = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_S3_URI = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/\S+$")
SPARK_SETTINGS = {
    # Arrow-friendly timestamps (Spark's default is INT96).
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    # No `SELECT * FROM parquet.`s3://...``: the SQL reads its input views only.
    "spark.sql.runSQLOnFiles": "false",
    "spark.sql.session.timeZone": "UTC",
}


class PlanError(ValueError):
    """The job's arguments or plan are not what the plan step writes."""


@dataclass(frozen=True)
class Plan:
    run_id: str
    sql: str
    inputs: dict[str, list[str]]
    output: str


def plan_uri(argv: list[str]) -> str:
    """The plan's URI from `--cirrus_plan <uri>` or `--cirrus_plan=<uri>` (Glue adds its own arguments)."""
    for index, argument in enumerate(argv):
        if argument == PLAN_ARGUMENT and index + 1 < len(argv):
            value = argv[index + 1]
        elif argument.startswith(PLAN_ARGUMENT + "="):
            value = argument.split("=", 1)[1]
        else:
            continue
        if not _S3_URI.match(value):
            raise PlanError(f"{PLAN_ARGUMENT} is not an s3:// URI: {value[:200]!r}")
        return value
    raise PlanError(f"missing {PLAN_ARGUMENT} <s3 uri>")


def parse_plan(text: str) -> Plan:
    """The plan, checked: a run id, SQL, aliases with s3:// parts, an s3:// output prefix."""
    try:
        document: Any = json.loads(text)
    except ValueError as error:
        raise PlanError(f"the plan is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise PlanError("the plan is not a JSON object")
    sql, output, inputs = document.get("sql"), document.get("output"), document.get("inputs")
    if not isinstance(sql, str) or not sql.strip():
        raise PlanError("the plan has no sql")
    if not isinstance(output, str) or not _S3_URI.match(output) or not output.endswith("/"):
        raise PlanError("the plan's output is not an s3:// prefix")
    if not isinstance(inputs, dict) or not inputs:
        raise PlanError("the plan has no inputs")
    checked: dict[str, list[str]] = {}
    for alias, parts in inputs.items():
        if not isinstance(alias, str) or not _ALIAS.match(alias):
            raise PlanError(f"input alias {alias!r} is not a lower-case SQL identifier")
        if (
            not isinstance(parts, list)
            or not parts
            or not all(isinstance(p, str) and _S3_URI.match(p) for p in parts)
        ):
            raise PlanError(f"input {alias} has no s3:// parts")
        checked[alias] = list(parts)
    return Plan(run_id=str(document.get("run_id", "")), sql=sql, inputs=checked, output=output)


def main(argv: list[str]) -> None:
    from pyspark.sql import SparkSession  # type: ignore[import-not-found]  # only on Glue and EMR

    uri = plan_uri(argv)
    builder = SparkSession.builder.appName("cirrus-transform")
    for key, value in SPARK_SETTINGS.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    text = "".join(row.value for row in spark.read.text(uri, wholetext=True).collect())
    plan = parse_plan(text)
    for alias, parts in plan.inputs.items():
        spark.read.parquet(*parts).createOrReplaceTempView(alias)
    # spark.sql runs a command (INSERT, DROP, CACHE, SET ...) at once: check the parsed plan first.
    # Spark's own bridge to its parser.
    jvm = spark.sparkContext._jvm
    parsed = spark._jsparkSession.sessionState().sqlParser().parsePlan(plan.sql)
    command = jvm.java.lang.Class.forName("org.apache.spark.sql.catalyst.plans.logical.Command")
    if command.isInstance(parsed):
        raise PlanError(f"the SQL is a command ({parsed.getClass().getSimpleName()}), not a query")
    spark.sql(plan.sql).write.mode("overwrite").parquet(plan.output)
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
