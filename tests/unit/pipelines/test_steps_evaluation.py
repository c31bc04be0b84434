"""`Collect evaluation`: the evaluation's metrics, and the quality gate's verdict in both directions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cirrus_core.errors import EvaluationMissing
from cirrus_core.pipelines.definition import RunParameters
from cirrus_core.pipelines.evaluation import EvaluationReader, collect_evaluation, gate_for, judge
from cirrus_core.pipelines.run_state import GateSpec, read_state
from tests.support.api import LambdaContextStub
from tests.support.aws import AwsResources
from tests.unit.pipelines.steps_support import (
    execution_event,
    finished_state,
    make_prepare,
    put_dataset,
    put_json,
    write_recipes,
)


@pytest.fixture
def prepared(aws: AwsResources, tmp_path: Path) -> Any:
    """Prepare a run with these parameters; returns its working state after its jobs ran."""

    def prepare(**parameters: Any) -> dict[str, Any]:
        put_dataset(aws)
        state = make_prepare(aws, write_recipes(tmp_path / "recipes")).prepare(
            execution_event(parameters=parameters)
        )
        return finished_state(state)

    return prepare


def report(aws: AwsResources, state: dict[str, Any], document: Any) -> None:
    put_json(aws, state["jobs"]["evaluate"]["output"]["evaluation_uri"], document)


def collect(aws: AwsResources, state: dict[str, Any]) -> dict[str, Any]:
    return collect_evaluation(read_state({"state": state}), EvaluationReader(aws.s3))


def test_the_metrics_of_the_report_are_returned(aws: AwsResources, prepared: Any) -> None:
    state = prepared()
    report(aws, state, {"metrics": {"accuracy": 0.93, "f1": 0.9, "confusion": [[1, 2]], "label": "x"}})

    assert collect(aws, state)["metrics"] == {"accuracy": 0.93, "f1": 0.9}


def test_a_flat_report_is_read_too(aws: AwsResources, prepared: Any) -> None:
    state = prepared()
    report(aws, state, {"accuracy": 0.93, "rows": 120})

    assert collect(aws, state)["metrics"] == {"accuracy": 0.93, "rows": 120.0}


def test_accuracy_below_the_target_fails_the_gate_saying_so(aws: AwsResources, prepared: Any) -> None:
    state = prepared(target_accuracy=0.99)
    report(aws, state, {"metrics": {"accuracy": 0.71}})

    assert collect(aws, state)["gate"] == {
        "metric": "accuracy",
        "value": 0.71,
        "threshold": 0.99,
        "direction": "max",
        "enforced": True,
        "passed": False,
        "explanation": "accuracy 0.71 is below the target 0.99",
    }


def test_accuracy_meeting_the_target_passes_the_gate(aws: AwsResources, prepared: Any) -> None:
    state = prepared(target_accuracy=0.9)
    report(aws, state, {"metrics": {"accuracy": 0.9}})

    gate = collect(aws, state)["gate"]
    assert gate["passed"] is True
    assert gate["explanation"] == "accuracy 0.9 meets the target 0.9"


def test_an_error_metric_above_its_limit_fails_the_gate(aws: AwsResources, prepared: Any) -> None:
    state = prepared(task="regression", metric_threshold=2.5)
    report(aws, state, {"metrics": {"rmse": 3.2, "r2": 0.4}})

    gate = collect(aws, state)["gate"]
    assert (gate["metric"], gate["direction"], gate["passed"]) == ("rmse", "min", False)
    assert gate["explanation"] == "rmse 3.2 is above the limit 2.5"


def test_an_error_metric_within_its_limit_passes_the_gate(aws: AwsResources, prepared: Any) -> None:
    state = prepared(task="regression", metric="mae", metric_threshold=2.5)
    report(aws, state, {"metrics": {"mae": 1.25}})

    gate = collect(aws, state)["gate"]
    assert (gate["metric"], gate["passed"], gate["explanation"]) == (
        "mae",
        True,
        "mae 1.25 is within the limit 2.5",
    )


def test_without_a_threshold_the_gate_is_not_enforced(aws: AwsResources, prepared: Any) -> None:
    state = prepared()
    report(aws, state, {"metrics": {"accuracy": 0.42}})

    gate = collect(aws, state)["gate"]
    assert (gate["enforced"], gate["passed"], gate["threshold"], gate["value"]) == (False, True, None, 0.42)


def test_an_enforced_gate_whose_metric_is_missing_raises_evaluation_missing(
    aws: AwsResources, prepared: Any
) -> None:
    state = prepared(target_accuracy=0.9)
    report(aws, state, {"metrics": {"f1": 0.9}})

    with pytest.raises(EvaluationMissing, match="accuracy"):
        collect(aws, state)


def test_a_missing_report_raises_evaluation_missing(aws: AwsResources, prepared: Any) -> None:
    state = prepared()

    with pytest.raises(EvaluationMissing, match="cannot be read"):
        collect(aws, state)


def test_a_report_that_is_not_json_raises_evaluation_missing(aws: AwsResources, prepared: Any) -> None:
    state = prepared()
    bucket, _, key = (
        state["jobs"]["evaluate"]["output"]["evaluation_uri"].removeprefix("s3://").partition("/")
    )
    aws.s3.put_object(Bucket=bucket, Key=key, Body=b"accuracy: 0.9")

    with pytest.raises(EvaluationMissing, match="not JSON"):
        collect(aws, state)


def test_a_cached_evaluation_is_read_where_the_earlier_run_wrote_it(aws: AwsResources, prepared: Any) -> None:
    state = prepared(target_accuracy=0.8)
    earlier = "s3://cirrus-artifacts-123456789012/pipelines/churn/runs/old/evaluate/evaluation.json"
    state["cache"]["evaluate"] = {"key": "k", "hit": True, "output": {"evaluation_uri": earlier}}
    put_json(aws, earlier, {"metrics": {"accuracy": 0.85}})

    assert collect(aws, state)["gate"]["passed"] is True


def test_the_handler_returns_metrics_and_gate(aws: AwsResources, prepared: Any) -> None:
    from functions.pipelines.steps.collect_evaluation import lambda_handler

    state = prepared(target_accuracy=0.5)
    report(aws, state, {"metrics": {"accuracy": 0.75}})

    result = lambda_handler({"state": state}, LambdaContextStub())

    assert result["metrics"] == {"accuracy": 0.75}
    assert result["gate"]["passed"] is True


@pytest.mark.parametrize(
    ("metric", "direction"),
    [
        ("accuracy", "max"),
        ("f1", "max"),
        ("precision", "max"),
        ("recall", "max"),
        ("roc_auc", "max"),
        ("auc", "max"),
    ],
)
def test_classification_metrics_are_better_higher(metric: str, direction: str) -> None:
    gate = gate_for(
        RunParameters(data_source="s3://b/k", metric=metric, metric_threshold=0.5), has_evaluation=True
    )

    assert gate is not None
    assert gate.direction == direction


@pytest.mark.parametrize(("metric", "direction"), [("rmse", "min"), ("mae", "min"), ("r2", "max")])
def test_regression_metrics_have_their_direction(metric: str, direction: str) -> None:
    parameters = RunParameters(data_source="s3://b/k", task="regression", metric=metric, metric_threshold=0.5)

    gate = gate_for(parameters, has_evaluation=True)

    assert gate is not None
    assert gate.direction == direction


def test_a_pipeline_without_evaluation_has_no_gate() -> None:
    assert gate_for(RunParameters(data_source="s3://b/k"), has_evaluation=False) is None


def test_explanations_show_four_significant_digits() -> None:
    gate = GateSpec(metric="accuracy", threshold=0.9, direction="max", enforced=True)

    assert judge(gate, {"accuracy": 0.912345678}).explanation == "accuracy 0.9123 meets the target 0.9"
