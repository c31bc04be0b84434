"""statemachines/*.asl.json: valid ASL, fresh from the compiler, and resilient on every task."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from statelint.linter import Linter

from cirrus.statemachines import MACHINES, STATEMACHINES_DIR, expected_files, main, render
from cirrus.template import load_template
from cirrus_core.pipelines.compiler import (
    LAMBDA_ERRORS,
    NOTIFY_FAILURE,
    PLACEHOLDERS,
    SAGEMAKER_ERRORS,
    builtin_training_definition,
    compile_definition,
    placeholders_in,
    substitute,
)
from cirrus_core.pipelines.definition import PipelineDefinitionRequest

# The compiled pipelines; hand-written machines (serving's) have their own contract modules.
FILES = sorted(STATEMACHINES_DIR / name for name in MACHINES)
FAILURE_PATH = {NOTIFY_FAILURE, "Failed"}


def _load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def lint(document: dict[str, Any]) -> list[str]:
    problems: list[str] = Linter.validate(document)
    return problems


def tasks(
    states: dict[str, Any], enclosing: dict[str, Any] | None = None
) -> list[tuple[str, dict[str, Any], Any]]:
    """(name, Task state, the Parallel enclosing it or None) for every Task, inside branches too."""
    found: list[tuple[str, dict[str, Any], Any]] = []
    for name, state in states.items():
        if state["Type"] == "Task":
            found.append((name, state, enclosing))
        for branch in state.get("Branches", []):
            found.extend(tasks(branch["States"], state))
    return found


def _retries(state: dict[str, Any], errors: tuple[str, ...]) -> bool:
    for retrier in state.get("Retry", []):
        if set(errors) <= set(retrier["ErrorEquals"]):
            return (
                retrier.get("IntervalSeconds", 0) >= 1
                and retrier.get("BackoffRate", 1) > 1
                and retrier.get("MaxAttempts", 0) >= 2
                and retrier.get("MaxDelaySeconds") is not None
                and retrier.get("JitterStrategy") == "FULL"
            )
    return False


def _catches_all(state: dict[str, Any]) -> bool:
    return any(
        catcher["ErrorEquals"] == ["States.ALL"] and catcher["Next"] in FAILURE_PATH
        for catcher in state.get("Catch", [])
    )


def check_resilience(document: dict[str, Any]) -> None:
    found = tasks(document["States"])
    assert found, "a pipeline has tasks"
    for name, state, enclosing in found:
        resource = state["Resource"]
        if resource.startswith("arn:aws:states:::lambda:invoke"):
            assert enclosing is None, f"{name}: Lambda tasks belong to the main machine"
            assert _retries(state, LAMBDA_ERRORS), f"{name}: no Lambda retry with backoff and jitter"
            assert _catches_all(state), f"{name}: no Catch on States.ALL into the failure path"
        elif resource.startswith("arn:aws:states:::sagemaker:"):
            assert _retries(state, SAGEMAKER_ERRORS), f"{name}: no SageMaker retry with backoff and jitter"
            # A branch cannot catch into the main machine: its Parallel does.
            assert _catches_all(state if enclosing is None else enclosing), f"{name}: failures are not caught"
        else:
            pytest.fail(f"{name}: unexpected resource {resource}")
    for name, state in document["States"].items():
        if state["Type"] == "Parallel":
            assert _catches_all(state), f"{name}: no Catch on States.ALL into the failure path"


# -- the committed files --------------------------------------------------------------------------


def test_there_are_state_machines() -> None:
    assert [path.name for path in FILES] == ["training_pipeline.asl.json"]


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_each_file_passes_statelint(path: Path) -> None:
    assert lint(_load(path)) == []


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_each_file_passes_statelint_with_its_placeholders_filled(path: Path) -> None:
    values = {name: f"arn:aws:lambda:us-east-1:123456789012:function:{name}" for name in PLACEHOLDERS}
    assert lint(substitute(_load(path), values)) == []


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_every_task_retries_and_catches(path: Path) -> None:
    check_resilience(_load(path))


def test_files_are_what_the_compiler_makes() -> None:
    for path, text in expected_files().items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path} is stale: run `python -m cirrus.statemachines`"
        )
    assert main(["--check"]) == 0


def test_training_pipeline_is_the_builtin_definition_compiled() -> None:
    committed = (STATEMACHINES_DIR / "training_pipeline.asl.json").read_text(encoding="utf-8")
    assert committed == render(compile_definition(builtin_training_definition()))
    assert committed.endswith("}\n")
    assert '\n  "States": {\n' in committed  # two-space indent


def test_check_reports_a_stale_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check", "--directory", str(tmp_path)]) == 1
    assert "is stale" in capsys.readouterr().err
    assert main(["--directory", str(tmp_path)]) == 0
    assert (tmp_path / "training_pipeline.asl.json").read_text(encoding="utf-8") == render(
        compile_definition(builtin_training_definition())
    )
    assert main(["--check", "--directory", str(tmp_path)]) == 0
    (tmp_path / "training_pipeline.asl.json").write_text("{}\n", encoding="utf-8")
    assert main(["--check", "--directory", str(tmp_path)]) == 1


def test_template_fills_every_placeholder_of_the_files_it_deploys() -> None:
    resources = load_template()["Resources"]
    deployed = {
        Path(resource["Properties"]["DefinitionUri"]).name: resource["Properties"].get(
            "DefinitionSubstitutions", {}
        )
        for resource in resources.values()
        if resource["Type"] == "AWS::Serverless::StateMachine"
        and isinstance(resource.get("Properties", {}).get("DefinitionUri"), str)
        and resource["Properties"]["DefinitionUri"].startswith("statemachines/")
    }
    assert "training_pipeline.asl.json" in deployed
    for path in FILES:
        if path.name in deployed:
            missing = placeholders_in(_load(path)) - set(deployed[path.name])
            assert not missing, f"{path.name}: the template does not substitute {sorted(missing)}"


def test_statelint_is_really_checking() -> None:
    broken = {"StartAt": "a", "States": {"a": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke"}}}
    assert lint(broken)


# -- compiled definitions -------------------------------------------------------------------------


def _definition(*steps: dict[str, Any]) -> PipelineDefinitionRequest:
    return PipelineDefinitionRequest.model_validate({"pipeline_id": "dynamic", "steps": list(steps)})


def _step(step_id: str, job_type: str, *depends_on: str, **fields: Any) -> dict[str, Any]:
    return {"id": step_id, "type": job_type, "depends_on": list(depends_on), **fields}


DYNAMIC = {
    "data only": _definition(_step("raw", "data_preprocessing")),
    "parallel first stage": _definition(
        _step("left", "data_preprocessing"),
        _step("right", "data_preprocessing"),
        _step("join", "feature_engineering", "left", "right"),
        _step("train", "model_training", "join"),
    ),
    "diamond with evaluation": _definition(
        _step("clean", "data_preprocessing"),
        _step("a", "feature_engineering", "clean"),
        _step("b", "feature_engineering", "a"),
        _step("c", "feature_engineering", "clean"),
        _step("train", "model_training", "b", "c", resources={"spot": True, "max_wait_seconds": 7200}),
        _step("evaluate", "model_evaluation", "train", "c"),
        _step("ship", "model_deployment", "evaluate"),
    ),
    "training and evaluation in parallel stages": _definition(
        _step("raw", "data_preprocessing"),
        _step("f", "feature_engineering", "raw"),
        _step("train", "model_training", "raw"),
        _step("g", "feature_engineering", "f"),
        _step("evaluate", "model_evaluation", "train", "raw"),
    ),
    "deployment without evaluation": _definition(
        _step("raw", "data_preprocessing"),
        _step("train", "model_training", "raw"),
        _step("ship", "model_deployment", "train"),
    ),
    "wide stage": _definition(
        _step("raw", "data_preprocessing"),
        *(_step(f"feature_number_{index:02d}", "feature_engineering", "raw") for index in range(12)),
        _step("train", "model_training", *(f"feature_number_{index:02d}" for index in range(12))),
    ),
}


@pytest.mark.parametrize("name", DYNAMIC)
def test_compiled_definitions_pass_statelint(name: str) -> None:
    document = compile_definition(DYNAMIC[name])
    assert lint(document) == []
    check_resilience(document)
