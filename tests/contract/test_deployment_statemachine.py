"""statemachines/model_deployment.asl.json: valid ASL, deployed by the template, and safe on every path."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from statelint.linter import Linter

from cirrus.statemachines import STATEMACHINES_DIR
from cirrus_core.pipelines.compiler import LAMBDA_ERRORS
from cirrus_core.serving.rollout import STEP_NAMES
from tests.support.aws import load_template

PATH = STATEMACHINES_DIR / "model_deployment.asl.json"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)\}")
ROLL_BACK = "Roll back"
LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"


def _document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(PATH.read_text(encoding="utf-8"))
    return document


def _states() -> dict[str, Any]:
    states: dict[str, Any] = _document()["States"]
    return states


def _placeholders(document: dict[str, Any]) -> set[str]:
    return set(PLACEHOLDER.findall(json.dumps(document)))


def _filled(document: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(document)
    for name in _placeholders(document):
        text = text.replace("${" + name + "}", f"arn:aws:lambda:us-east-1:123456789012:function:{name}")
    filled: dict[str, Any] = json.loads(text)
    return filled


def _deployed_substitutions() -> dict[str, Any]:
    resources = load_template()["Resources"]
    [machine] = [
        resource
        for resource in resources.values()
        if resource["Type"] == "AWS::Serverless::StateMachine"
        and resource["Properties"].get("DefinitionUri") == f"statemachines/{PATH.name}"
    ]
    substitutions: dict[str, Any] = machine["Properties"]["DefinitionSubstitutions"]
    return substitutions


def test_the_file_passes_statelint() -> None:
    assert Linter.validate(_document()) == []


def test_the_file_passes_statelint_with_its_placeholders_filled() -> None:
    assert Linter.validate(_filled(_document())) == []


def test_the_template_deploys_it_and_fills_every_placeholder() -> None:
    assert _placeholders(_document()) <= set(_deployed_substitutions())


def test_it_speaks_jsonpath() -> None:
    assert _document()["QueryLanguage"] == "JSONPath"


def test_every_task_is_a_lambda_invoke_retrying_the_four_lambda_errors_with_backoff_and_jitter() -> None:
    tasks = {name: state for name, state in _states().items() if state["Type"] == "Task"}
    assert tasks
    for name, state in tasks.items():
        assert state["Resource"] == LAMBDA_INVOKE, name
        [lambda_retry] = [r for r in state["Retry"] if set(LAMBDA_ERRORS) <= set(r["ErrorEquals"])]
        assert lambda_retry["IntervalSeconds"] >= 1, name
        assert lambda_retry["BackoffRate"] > 1, name
        assert lambda_retry["MaxAttempts"] >= 2, name
        assert lambda_retry["MaxDelaySeconds"] is not None, name
        assert lambda_retry["JitterStrategy"] == "FULL", name


def test_every_deployment_task_catches_everything_into_the_roll_back_under_its_own_key() -> None:
    keys_by_name = {name: key for key, name in STEP_NAMES.items()}
    for name, state in _states().items():
        if state["Type"] != "Task" or name.startswith(ROLL_BACK):
            continue
        [catcher] = state["Catch"]
        assert catcher["ErrorEquals"] == ["States.ALL"], name
        assert catcher["Next"] == ROLL_BACK, name
        assert catcher["ResultPath"] == f"$.failure.{keys_by_name[name]}", name


def test_the_roll_back_catches_into_roll_back_failed_and_that_into_the_fail_state() -> None:
    states = _states()
    assert states[ROLL_BACK]["Catch"][0]["Next"] == "Roll back failed"
    assert states["Roll back failed"]["Catch"][0]["Next"] == "Deployment failed"
    assert states["Deployment failed"] == {
        **states["Deployment failed"],
        "Type": "Fail",
        "Error": "DeploymentFailed",
    }


def test_the_states_follow_the_contract_in_order() -> None:
    states = _states()
    path, name = [], _document()["StartAt"]
    while states[name]["Type"] not in {"Succeed", "Fail"}:
        path.append(name)
        state = states[name]
        name = state["Choices"][0]["Next"] if state["Type"] == "Choice" else state["Next"]
    assert [step for step in path if step in STEP_NAMES.values()] == list(STEP_NAMES.values())
    assert name == "Deployed"


def test_every_wait_loop_is_bounded_by_a_timeout_branch() -> None:
    states = _states()
    for name, state in states.items():
        if state["Type"] != "Choice" or name == "Roll back finished?":
            continue
        variables = {choice["Variable"]: choice["Next"] for choice in state["Choices"]}
        timeout = next(
            next_state for variable, next_state in variables.items() if variable.endswith("timed_out")
        )
        assert states[timeout]["Type"] == "Pass"
        assert states[timeout]["Next"] == ROLL_BACK
        assert states[timeout]["ResultPath"].startswith("$.failure.")


def test_the_waits_read_their_seconds_from_the_state() -> None:
    waits = [state for state in _states().values() if state["Type"] == "Wait"]
    assert len(waits) == 3
    assert all(state["SecondsPath"].endswith(".wait_seconds") for state in waits)


def test_every_state_is_reachable() -> None:
    states = _states()
    reached, frontier = set(), [_document()["StartAt"]]
    while frontier:
        name = frontier.pop()
        if name in reached:
            continue
        reached.add(name)
        state = states[name]
        nexts = [state.get("Next"), state.get("Default")]
        nexts += [choice["Next"] for choice in state.get("Choices", [])]
        nexts += [catcher["Next"] for catcher in state.get("Catch", [])]
        frontier.extend(next_state for next_state in nexts if next_state)
    assert reached == set(states)


def test_the_file_is_committed_with_a_trailing_newline_and_two_space_indent() -> None:
    text = Path(PATH).read_text(encoding="utf-8")
    assert text.endswith("}\n")
    assert '\n  "States": {\n' in text
