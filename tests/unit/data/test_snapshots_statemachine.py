"""statemachines/data_snapshot.asl.json: valid ASL, deployed with every placeholder filled, resilient,
and handing each step exactly the event it reads (cirrus_core.data.snapshot_runner)."""

from __future__ import annotations

import json
import re
from typing import Any

from statelint.linter import Linter

from cirrus.statemachines import STATEMACHINES_DIR
from cirrus_core.data.snapshot_runner import read_step_event
from cirrus_core.pipelines.compiler import LAMBDA_ERRORS
from tests.support.aws import load_template

PATH = STATEMACHINES_DIR / "data_snapshot.asl.json"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)\}")
EXECUTION_INPUT = {"job_id": "3f2a9c1d7e6b4a5c8d9e0f1a2b3c4d5e", "dataset": "customers", "version": 2}


def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(PATH.read_text(encoding="utf-8"))
    return loaded


def deployed() -> dict[str, Any]:
    (machine,) = [
        resource["Properties"]
        for resource in load_template()["Resources"].values()
        if resource["Type"] == "AWS::Serverless::StateMachine"
        and resource["Properties"].get("DefinitionUri") == "statemachines/data_snapshot.asl.json"
    ]
    return dict(machine)


def test_the_file_passes_statelint_with_its_placeholders_filled() -> None:
    text = PLACEHOLDER.sub(
        "arn:aws:lambda:us-east-1:123456789012:function:step", PATH.read_text(encoding="utf-8")
    )

    assert Linter.validate(json.loads(text)) == []


def test_the_template_names_it_and_fills_every_placeholder_with_its_steps() -> None:
    machine = deployed()

    assert machine["Name"] == {"Fn::Sub": "cirrus-${Stage}-data-snapshot"}
    assert set(PLACEHOLDER.findall(PATH.read_text(encoding="utf-8"))) == set(
        machine["DefinitionSubstitutions"]
    )
    assert machine["DefinitionSubstitutions"] == {
        "ExtractSnapshotFunctionArn": {"Fn::GetAtt": ["ExtractSnapshotFunction", "Arn"]},
        "RecordSnapshotFailureFunctionArn": {"Fn::GetAtt": ["RecordSnapshotFailureFunction", "Arn"]},
    }


def test_it_extracts_then_succeeds_or_records_the_failure_and_fails() -> None:
    states = document()["States"]

    assert document()["StartAt"] == "Extract"
    assert states["Extract"]["Next"] == "Snapshot ready"
    assert states["Extract"]["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Record failure"}
    ]
    assert states["Record failure"]["Next"] == "Snapshot failed"
    assert (states["Snapshot ready"]["Type"], states["Snapshot failed"]["Type"]) == ("Succeed", "Fail")


def test_every_task_retries_lambda_service_errors_with_backoff_and_jitter() -> None:
    for name in ("Extract", "Record failure"):
        (retrier,) = document()["States"][name]["Retry"]
        assert set(LAMBDA_ERRORS) <= set(retrier["ErrorEquals"]), name
        assert retrier["IntervalSeconds"] >= 1
        assert retrier["BackoffRate"] > 1
        assert retrier["MaxAttempts"] >= 2
        assert retrier["JitterStrategy"] == "FULL"
        assert retrier["MaxDelaySeconds"] is not None


def test_the_extract_may_run_as_long_as_its_function() -> None:
    function = load_template()["Resources"]["ExtractSnapshotFunction"]["Properties"]

    assert document()["States"]["Extract"]["TimeoutSeconds"] >= function["Timeout"] == 900
    assert function["EphemeralStorage"] == {"Size": 10240}
    assert function["Layers"] == [{"Ref": "ConnectorsLayer"}]


def test_each_step_reads_the_payload_the_state_machine_builds() -> None:
    states = document()["States"]
    extract = states["Extract"]["Parameters"]["Payload"]
    failure = states["Record failure"]["Parameters"]["Payload"]
    caught = {"Error": "SnapshotFailed", "Cause": "{}"}

    assert extract == {"input.$": "$$.Execution.Input"}
    assert failure == {"input.$": "$$.Execution.Input", "error.$": "$.error"}
    assert read_step_event({"input": EXECUTION_INPUT}).input.version == 2
    assert read_step_event({"input": EXECUTION_INPUT, "error": caught}).error == caught


def test_the_state_machine_role_may_invoke_its_two_steps_only() -> None:
    resources = load_template()["Resources"]
    role = resources[deployed()["Role"]["Fn::GetAtt"][0]]
    statements = [
        s for policy in role["Properties"]["Policies"] for s in policy["PolicyDocument"]["Statement"]
    ]
    (invoke,) = [s for s in statements if "lambda:InvokeFunction" in s["Action"]]

    assert invoke["Resource"] == [
        {"Fn::GetAtt": ["ExtractSnapshotFunction", "Arn"]},
        {"Fn::GetAtt": ["RecordSnapshotFailureFunction", "Arn"]},
    ]


def test_only_the_start_route_starts_it() -> None:
    resources = load_template()["Resources"]
    starters = [
        name
        for name, resource in resources.items()
        if "states:StartExecution" in json.dumps(resource)
        and '"SnapshotStateMachine"' in json.dumps(resource.get("Properties", {}).get("Policies", []))
    ]

    assert starters == ["StartSnapshotFunction"]
    variables = resources["StartSnapshotFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["SNAPSHOT_STATE_MACHINE_ARN"] == {"Ref": "SnapshotStateMachine"}
