"""statemachines/data_features.asl.json: valid ASL that routes each job type to its step, hands every
step the event it reads, retries Lambda's transient errors and sends every failure to the recorder;
deployed with every placeholder filled and a role that may invoke exactly its steps."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from statelint.linter import Linter

from cirrus.statemachines import STATEMACHINES_DIR
from cirrus_core.data.feature_models import FeatureJobType, read_step_event
from cirrus_core.pipelines.compiler import LAMBDA_ERRORS
from tests.support.aws import load_template

PATH = STATEMACHINES_DIR / "data_features.asl.json"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)\}")
STEPS = {
    FeatureJobType.INGESTION: ("Ingest features", "IngestFeaturesFunction"),
    FeatureJobType.MATERIALIZATION: ("Materialize features", "MaterializeFeaturesFunction"),
    FeatureJobType.TRAINING_SET: ("Build training set", "BuildTrainingSetFunction"),
}
CONTEXT = {
    "input.$": "$$.Execution.Input",
    "execution_name.$": "$$.Execution.Name",
    "execution_start.$": "$$.Execution.StartTime",
}


def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(PATH.read_text(encoding="utf-8"))
    return loaded


def machine() -> dict[str, Any]:
    resources = load_template()["Resources"]
    properties: dict[str, Any] = resources["FeatureStateMachine"]["Properties"]
    return properties


def test_the_definition_is_valid_asl() -> None:
    assert Linter.validate(document()) == []


@pytest.mark.parametrize("job_type", list(FeatureJobType))
def test_each_job_type_is_routed_to_its_step(job_type: FeatureJobType) -> None:
    state, function = STEPS[job_type]
    (choice,) = [
        c for c in document()["States"]["Route job"]["Choices"] if c["StringEquals"] == job_type.value
    ]

    assert choice == {"Variable": "$.type", "StringEquals": job_type.value, "Next": state}
    task = document()["States"][state]
    assert task["Parameters"]["FunctionName"] == f"${{{function}Arn}}"
    assert machine()["DefinitionSubstitutions"][f"{function}Arn"] == {"Fn::GetAtt": [function, "Arn"]}


def test_an_unknown_job_type_fails_the_execution() -> None:
    states = document()["States"]

    assert states[states["Route job"]["Default"]]["Type"] == "Fail"


@pytest.mark.parametrize("state", [state for state, _ in STEPS.values()])
def test_each_step_gets_the_event_it_reads_retries_and_records_failures(state: str) -> None:
    task = document()["States"][state]

    assert task["Parameters"]["Payload"] == CONTEXT
    assert any(
        set(LAMBDA_ERRORS) <= set(r["ErrorEquals"]) and r["JitterStrategy"] == "FULL" for r in task["Retry"]
    )
    assert task["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Record failure"}
    ]


def test_the_payload_the_steps_get_reads_as_the_job_the_api_started() -> None:
    execution = {
        "$$.Execution.Input": {
            "type": "ingestion",
            "job_id": "0" * 32,
            "group": "g",
            "actor": "ada@example.com",
        },
        "$$.Execution.Name": "0" * 32,
        "$$.Execution.StartTime": "2024-06-01T12:00:00Z",
    }
    payload = {key.removesuffix(".$"): execution[path] for key, path in CONTEXT.items()}

    event = read_step_event(payload)

    assert (event.input.type, event.input.job_id, event.input.group) == (
        FeatureJobType.INGESTION,
        "0" * 32,
        "g",
    )


def test_the_failure_recorder_gets_the_step_event_and_the_error_then_fails_the_execution() -> None:
    states = document()["States"]
    record = states["Record failure"]

    assert record["Parameters"]["Payload"] == {**CONTEXT, "error.$": "$.error"}
    assert states[record["Next"]]["Type"] == "Fail"


def test_every_placeholder_is_substituted_and_the_role_invokes_exactly_the_steps() -> None:
    placeholders = set(PLACEHOLDER.findall(PATH.read_text(encoding="utf-8")))
    properties = machine()
    role = load_template()["Resources"]["FeatureStateMachineRole"]
    (invoke,) = [
        statement
        for policy in role["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
        if statement["Action"] == "lambda:InvokeFunction"
    ]

    assert placeholders == set(properties["DefinitionSubstitutions"])
    assert sorted(invoke["Resource"], key=str) == sorted(
        properties["DefinitionSubstitutions"].values(), key=str
    )
    assert properties["Name"] == {"Fn::Sub": "cirrus-${Stage}-data-features"}
