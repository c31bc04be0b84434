"""statemachines/drift_monitor.asl.json: valid ASL, deployed with every placeholder filled, resilient,
and handing each step exactly the event the step reads (cirrus_core.monitoring.drift_runner)."""

from __future__ import annotations

import json
import re
from typing import Any

from statelint.linter import Linter

from cirrus.statemachines import STATEMACHINES_DIR
from cirrus_core.monitoring.drift_runner import MonitorStepEvent, read_step_event, run_identity
from cirrus_core.pipelines.compiler import LAMBDA_ERRORS
from tests.support.aws import load_template

PATH = STATEMACHINES_DIR / "drift_monitor.asl.json"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)\}")
CHECK = "Check drift"
RECORD_FAILURE = "Record failure"
CONTEXT = {
    "input.$": "$$.Execution.Input",
    "execution_name.$": "$$.Execution.Name",
    "execution_start.$": "$$.Execution.StartTime",
}


def _document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(PATH.read_text(encoding="utf-8"))
    return document


def _resources() -> dict[str, Any]:
    return dict(load_template()["Resources"])


def _deployed() -> tuple[str, dict[str, Any]]:
    ((logical_id, machine),) = [
        (logical_id, resource)
        for logical_id, resource in _resources().items()
        if resource["Type"] == "AWS::Serverless::StateMachine"
        and resource["Properties"].get("DefinitionUri") == "statemachines/drift_monitor.asl.json"
    ]
    return logical_id, dict(machine["Properties"])


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        statement
        for policy in role["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
    ]


def _retries_with_backoff(state: dict[str, Any]) -> bool:
    return any(
        set(LAMBDA_ERRORS) <= set(retrier["ErrorEquals"])
        and retrier["IntervalSeconds"] >= 1
        and retrier["BackoffRate"] > 1
        and retrier["MaxAttempts"] >= 2
        and retrier.get("MaxDelaySeconds") is not None
        and retrier.get("JitterStrategy") == "FULL"
        for retrier in state.get("Retry", [])
    )


def test_the_file_passes_statelint() -> None:
    assert Linter.validate(_document()) == []


def test_the_file_passes_statelint_with_its_placeholders_filled() -> None:
    text = PATH.read_text(encoding="utf-8")
    filled = PLACEHOLDER.sub(lambda match: f"arn:aws:lambda:us-east-1:123456789012:function:{match[1]}", text)
    assert Linter.validate(json.loads(filled)) == []


def test_the_template_deploys_it_with_every_placeholder_substituted_by_the_step_functions() -> None:
    used = set(PLACEHOLDER.findall(PATH.read_text(encoding="utf-8")))
    substitutions = _deployed()[1]["DefinitionSubstitutions"]

    assert used == set(substitutions) == {"RunDriftCheckFunctionArn", "RecordDriftFailureFunctionArn"}
    resources = _resources()
    for name, handler in (
        ("RunDriftCheckFunctionArn", "run_drift_check.lambda_handler"),
        ("RecordDriftFailureFunctionArn", "record_drift_failure.lambda_handler"),
    ):
        function = resources[substitutions[name]["Fn::GetAtt"][0]]["Properties"]
        assert (function["CodeUri"], function["Handler"]) == ("functions/monitoring/steps/", handler)


def test_it_checks_then_succeeds_or_records_the_failure_and_fails() -> None:
    document = _document()
    states = document["States"]

    assert document["StartAt"] == CHECK
    assert states[CHECK]["Next"] == "Checked"
    assert states["Checked"] == {"Type": "Succeed"}
    (catcher,) = states[CHECK]["Catch"]
    assert (catcher["ErrorEquals"], catcher["ResultPath"], catcher["Next"]) == (
        ["States.ALL"],
        "$.error",
        RECORD_FAILURE,
    )
    assert states[RECORD_FAILURE]["Next"] == "Drift check failed"
    assert states["Drift check failed"]["Type"] == "Fail"
    assert states["Drift check failed"]["Error"] == "DriftCheckFailed"


def test_every_lambda_task_retries_lambda_service_errors_with_backoff() -> None:
    states = _document()["States"]
    lambda_tasks = {name for name, state in states.items() if state["Type"] == "Task"}

    assert lambda_tasks == {CHECK, RECORD_FAILURE}
    for name in lambda_tasks:
        assert states[name]["Resource"] == "arn:aws:states:::lambda:invoke", name
        assert _retries_with_backoff(states[name]), name


def test_each_step_is_given_exactly_the_fields_of_the_step_event() -> None:
    states = _document()["States"]
    check = states[CHECK]["Parameters"]["Payload"]
    failure = states[RECORD_FAILURE]["Parameters"]["Payload"]

    assert check == CONTEXT
    assert failure == {**CONTEXT, "error.$": "$.error"}
    assert {key.removesuffix(".$") for key in failure} == set(MonitorStepEvent.model_fields)


def test_the_payloads_step_functions_builds_are_read_as_the_runs_they_are() -> None:
    api_input = {
        "run_id": "20240601T120000Z-0123456789ab",
        "model_id": "fraud_detection_v2",
        "environment": "prod",
        "window_start": "2024-06-01T11:00:00+00:00",
        "window_end": "2024-06-01T12:00:00+00:00",
        "trigger": "api",
        "actor": "alice@example.com",
    }
    context = {"Input": api_input, "Name": api_input["run_id"], "StartTime": "2024-06-01T12:00:00.418Z"}
    payload = {key.removesuffix(".$"): context[path.rsplit(".", 1)[1]] for key, path in CONTEXT.items()}
    error = {"Error": "States.TaskFailed", "Cause": "boom"}

    checked = read_step_event(payload)
    failed = read_step_event({**payload, "error": error})

    assert run_identity(checked)[0] == api_input["run_id"]
    assert (failed.error, run_identity(failed)[0]) == (error, api_input["run_id"])


def test_the_check_may_run_as_long_as_its_function() -> None:
    states = _document()["States"]
    substitutions = _deployed()[1]["DefinitionSubstitutions"]
    function = _resources()[substitutions["RunDriftCheckFunctionArn"]["Fn::GetAtt"][0]]["Properties"]

    assert states[CHECK]["TimeoutSeconds"] >= function["Timeout"]


def test_the_state_machine_role_may_invoke_its_two_steps_only() -> None:
    machine = _deployed()[1]
    role = _resources()[machine["Role"]["Fn::GetAtt"][0]]
    (invoke,) = [s for s in _statements(role) if "lambda:InvokeFunction" in s["Action"]]

    assert invoke["Resource"] == [
        {"Fn::GetAtt": ["RunDriftCheckFunction", "Arn"]},
        {"Fn::GetAtt": ["RecordDriftFailureFunction", "Arn"]},
    ]


def test_schedules_and_the_api_start_this_state_machine() -> None:
    logical_id, _ = _deployed()
    resources = _resources()
    scheduler_statements = _statements(resources["MonitoringSchedulerRole"])

    assert scheduler_statements == [
        {"Effect": "Allow", "Action": "states:StartExecution", "Resource": {"Ref": logical_id}}
    ]
    for function in ("CreateAlertFunction", "StartDriftRunFunction"):
        variables = resources[function]["Properties"]["Environment"]["Variables"]
        assert variables["DRIFT_STATE_MACHINE_ARN"] == {"Ref": logical_id}, function
