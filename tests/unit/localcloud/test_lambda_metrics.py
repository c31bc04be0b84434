"""The lambda_runtime hook puts Lambda's own AWS/Lambda metrics into the emulator's CloudWatch."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from cirrus.localcloud.emulator import Emulator
from tests.unit.localcloud.conftest import Deployer
from tests.unit.localcloud.helpers import wait_for

EMULATOR_HOOKS = ("cirrus.localcloud.hooks.lambda_runtime",)

HANDLER = """
    def handler(event, context):
        if event.get("fail"):
            raise ValueError("asked to fail")
        return {"ok": True}
"""


def sums(emulator: Emulator, function: str, stat: str = "Sum") -> dict[str, float]:
    """Each AWS/Lambda metric of the function over the last and next 10 minutes, read with GetMetricData."""
    now = datetime.now(UTC)
    answer = emulator.client("cloudwatch").get_metric_data(
        MetricDataQueries=[
            {
                "Id": name.lower(),
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/Lambda",
                        "MetricName": name,
                        "Dimensions": [{"Name": "FunctionName", "Value": function}],
                    },
                    "Period": 1200,
                    "Stat": stat,
                },
            }
            for name in ("Invocations", "Errors", "Duration")
        ],
        StartTime=now - timedelta(minutes=10),
        EndTime=now + timedelta(minutes=10),
    )
    names = {name.lower(): name for name in ("Invocations", "Errors", "Duration")}
    return {names[item["Id"]]: sum(item["Values"]) for item in answer["MetricDataResults"]}


def test_each_invocation_counts_invocations_errors_and_duration(emulator: Emulator, deploy: Deployer) -> None:
    function = deploy.function({"app.py": HANDLER})
    lambda_ = emulator.client("lambda")
    for event in ({}, {}, {"fail": True}):
        response = lambda_.invoke(FunctionName=function, Payload=json.dumps(event).encode())
        assert ("FunctionError" in response) == bool(event)

    def counted() -> dict[str, float] | None:
        values = sums(emulator, function)
        return values if values.get("Invocations") == 3 else None

    values = wait_for(counted, "three invocations to be counted")
    assert values["Errors"] == 1
    assert values["Duration"] > 0
    samples: dict[str, Any] = sums(emulator, function, "SampleCount")
    assert samples == {"Invocations": 3, "Errors": 3, "Duration": 3}


def test_metrics_are_kept_per_function(emulator: Emulator, deploy: Deployer) -> None:
    quiet = deploy.function({"app.py": HANDLER})
    busy = deploy.function({"app.py": HANDLER})
    emulator.client("lambda").invoke(FunctionName=busy, Payload=b"{}")

    wait_for(
        lambda: True if sums(emulator, busy).get("Invocations") == 1 else None, "the busy function's count"
    )

    assert sums(emulator, quiet) == {"Invocations": 0, "Errors": 0, "Duration": 0}
