"""`Announce start`, `Notify completion`, `Notify failure`: schema-valid run events, and the cache."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cirrus_core.errors import PipelineStepError
from cirrus_core.pipelines.cache import StepCache
from cirrus_core.pipelines.run_events import RunNotifier
from tests.support.api import LambdaContextStub
from tests.support.aws import EVENT_BUS, AwsResources
from tests.support.events import assert_valid_event
from tests.unit.pipelines.steps_support import (
    ACTOR,
    DATA_URI,
    EXECUTION_ARN,
    PIPELINE_ID,
    PIPELINES_TABLE,
    RUN_ID,
    History,
    execution_event,
    finished_state,
    make_prepare,
    put_dataset,
    write_recipes,
)

NOW = datetime(2024, 6, 3, 2, 30, 0, 123000, tzinfo=UTC)
EVALUATION = {
    "metrics": {"accuracy": 0.93, "f1": 0.91},
    "gate": {
        "metric": "accuracy",
        "value": 0.93,
        "threshold": 0.9,
        "direction": "max",
        "enforced": True,
        "passed": True,
        "explanation": "accuracy 0.93 meets the target 0.9",
    },
}


class RecordedHistory:
    """ExecutionHistory with hand-written events, recording which execution was asked for."""

    def __init__(self, history: History | None = None) -> None:
        self.history = history or History()
        self.asked: list[str] = []

    def events(self, execution_arn: str) -> list[dict[str, Any]]:
        self.asked.append(execution_arn)
        return self.history.events


@pytest.fixture
def prepared(aws: AwsResources, tmp_path: Path) -> dict[str, Any]:
    """A run of the LINEAR pipeline, prepared; `preprocess` reused from the cache."""
    put_dataset(aws)
    state = make_prepare(aws, write_recipes(tmp_path / "recipes")).prepare(execution_event())
    state["cache"]["preprocess"].update(hit=True, output={"data_uri": "s3://b/old/", "job_name": "old-job"})
    return state


def notifier(aws: AwsResources, history: RecordedHistory) -> RunNotifier:
    return RunNotifier(
        aws.events,
        EVENT_BUS,
        history,
        StepCache(aws.dynamodb, PIPELINES_TABLE),
        clock=lambda: NOW,
    )


def published(aws: AwsResources) -> dict[str, Any]:
    [event] = aws.published_events()
    assert_valid_event(event)
    assert event["source"] == "cirrus.pipelines"
    return event


def completed_history() -> History:
    """A run that got as far as `Notify completion`, with `preprocess` reused."""
    history = History()
    last = history.task("Prepare run")
    last = history.task("Announce start", previous=last)
    last = history.passes("preprocess: cached?", "Choice", last)
    last = history.passes("preprocess: reuse cached output", previous=last)
    for step_id in ("features", "train", "evaluate"):
        last = history.passes(f"{step_id}: cached?", "Choice", last)
        last = history.task(step_id, previous=last, job=("ProcessingJobName", f"job-{step_id}"))
    last = history.task("Collect evaluation", previous=last)
    last = history.passes("Quality gate", "Choice", last)
    last = history.task("Register version", previous=last)
    last = history.task("Await approval", previous=last)
    last = history.passes("Deployment hand-off", previous=last)
    history.task("Notify completion", previous=last, outcome="running")
    return history


def cache_items(aws: AwsResources) -> dict[str, dict[str, Any]]:
    items = aws.dynamodb.scan(TableName=PIPELINES_TABLE)["Items"]
    return {item["step_id"]["S"]: item for item in items if item["pk"]["S"].startswith("CACHE#")}


# -- started ---------------------------------------------------------------------------------------


def test_started_announces_the_run_and_what_it_trains_on(aws: AwsResources, prepared: dict[str, Any]) -> None:
    notifier(aws, RecordedHistory()).notify("started", prepared)

    event = published(aws)
    assert event["detail-type"] == "pipeline.started"
    assert event["detail"]["data"] == {
        "pipeline_id": PIPELINE_ID,
        "run_id": RUN_ID,
        "execution_arn": EXECUTION_ARN,
        "definition_version": 3,
        "trigger": "api",
        "model_type": "xgboost",
        "data_source": DATA_URI,
        "dataset_version": prepared["run"]["dataset"]["version"],
    }
    assert event["detail"]["metadata"]["actor"] == ACTOR["username"]
    assert event["detail"]["metadata"]["correlation_id"] == RUN_ID


# -- completed -------------------------------------------------------------------------------------


@pytest.fixture
def completed(prepared: dict[str, Any]) -> dict[str, Any]:
    return finished_state(
        prepared,
        evaluation=EVALUATION,
        registration={"model_id": PIPELINE_ID, "version": 4, "approval_status": "PendingManualApproval"},
        approval_decision={"decision": "approved", "by": "bob@example.com", "comment": ""},
    )


def test_completed_reports_the_version_metrics_duration_and_steps(
    aws: AwsResources, completed: dict[str, Any]
) -> None:
    history = RecordedHistory(completed_history())

    notifier(aws, history).notify("completed", completed)

    data = published(aws)["detail"]["data"]
    assert history.asked == [EXECUTION_ARN]
    assert data == {
        "pipeline_id": PIPELINE_ID,
        "run_id": RUN_ID,
        "execution_arn": EXECUTION_ARN,
        "model_id": PIPELINE_ID,
        "version": 4,
        "approval_decision": "approved",
        "metrics": [{"name": "accuracy", "value": 0.93}, {"name": "f1", "value": 0.91}],
        "duration_seconds": 1800.0,
        "steps": [
            {"step": "preprocess", "status": "Cached"},
            {"step": "features", "status": "Succeeded"},
            {"step": "train", "status": "Succeeded"},
            {"step": "evaluate", "status": "Succeeded"},
            {"step": "deploy", "status": "Succeeded"},
        ],
    }


def test_completion_caches_each_job_that_ran_and_not_the_reused_ones(
    aws: AwsResources, completed: dict[str, Any]
) -> None:
    notifier(aws, RecordedHistory(completed_history())).notify("completed", completed)

    items = cache_items(aws)
    assert set(items) == {"features", "train", "evaluate"}
    train = items["train"]
    assert train["pk"]["S"] == f"CACHE#{completed['cache']['train']['key']}"
    assert json.loads(train["output"]["S"]) == {
        "model_uri": completed["jobs"]["train"]["output"]["model_uri"],
        "job_name": completed["jobs"]["train"]["job_name"],
        "status": "Cached",
        "run_id": RUN_ID,
    }
    assert (train["run_id"]["S"], train["pipeline_id"]["S"]) == (RUN_ID, PIPELINE_ID)


def test_a_cached_entry_is_what_the_next_run_reuses(
    aws: AwsResources, completed: dict[str, Any], tmp_path: Path
) -> None:
    notifier(aws, RecordedHistory(completed_history())).notify("completed", completed)

    again = make_prepare(aws, write_recipes(tmp_path / "recipes")).prepare(
        execution_event(parameters={"use_cache": True}, run_id="20240604T020000Z-0d4f6e81")
    )

    assert again["cache"]["features"]["hit"] is True
    assert (
        again["cache"]["features"]["output"]["data_uri"]
        == completed["jobs"]["features"]["output"]["data_uri"]
    )


# -- failed ----------------------------------------------------------------------------------------


def test_a_gate_refusal_is_reported_from_the_failure(aws: AwsResources, prepared: dict[str, Any]) -> None:
    failure = {
        "step": "Quality gate",
        "error": "QualityGateFailed",
        "cause": "accuracy 0.71 is below the target 0.9",
    }
    state = finished_state(prepared, failure=failure)

    notifier(aws, RecordedHistory(completed_history())).notify("failed", state)

    data = published(aws)["detail"]["data"]
    assert data == {
        "pipeline_id": PIPELINE_ID,
        "run_id": RUN_ID,
        "execution_arn": EXECUTION_ARN,
        "failed_step": "Quality gate",
        "error": "QualityGateFailed",
        "cause": "accuracy 0.71 is below the target 0.9",
    }


def test_a_failed_job_is_found_in_the_history(aws: AwsResources, prepared: dict[str, Any]) -> None:
    history = History()
    last = history.task("Prepare run")
    last = history.passes("preprocess: cached?", "Choice", last)
    last = history.passes("preprocess: reuse cached output", previous=last)
    last = history.passes("features: cached?", "Choice", last)
    last = history.task("features", previous=last, job=("ProcessingJobName", "job-features"))
    last = history.passes("train: cached?", "Choice", last)
    cause = json.dumps({"FailureReason": "AlgorithmError: label column missing"})
    history.task("train", previous=last, job=("TrainingJobName", "job-train"), outcome="failed", cause=cause)
    state = {**prepared, "error": {"Error": "States.TaskFailed", "Cause": cause}}

    notifier(aws, RecordedHistory(history)).notify("failed", state)

    data = published(aws)["detail"]["data"]
    assert (data["failed_step"], data["error"], data["cause"]) == (
        "train",
        "States.TaskFailed",
        "AlgorithmError: label column missing",
    )
    assert set(cache_items(aws)) == {"features"}  # what succeeded before the failure is reusable


def test_a_failed_prepare_is_reported_from_the_error_with_the_payloads_execution(aws: AwsResources) -> None:
    event = execution_event()
    state = {
        **event["input"],
        "error": {"Error": "DataSourceUnavailable", "Cause": json.dumps({"errorMessage": "no such object"})},
    }
    history = RecordedHistory()

    notifier(aws, history).notify("failed", state, event["execution"])

    data = published(aws)["detail"]["data"]
    assert (data["run_id"], data["execution_arn"]) == (RUN_ID, EXECUTION_ARN)
    assert (data["failed_step"], data["error"], data["cause"]) == (
        None,
        "DataSourceUnavailable",
        "no such object",
    )
    assert cache_items(aws) == {}


def test_a_failure_without_a_known_execution_is_still_reported(aws: AwsResources) -> None:
    state = {**execution_event()["input"], "error": {"Error": "InvalidRunParameters", "Cause": "seed"}}

    notifier(aws, RecordedHistory()).notify("failed", state)

    data = published(aws)["detail"]["data"]
    assert (data["run_id"], data["execution_arn"], data["error"]) == (None, None, "InvalidRunParameters")


def test_an_unknown_event_is_refused(aws: AwsResources, prepared: dict[str, Any]) -> None:
    with pytest.raises(PipelineStepError, match="unknown event"):
        notifier(aws, RecordedHistory()).notify("paused", prepared)


def test_the_handler_publishes_the_event_it_is_told(aws: AwsResources, prepared: dict[str, Any]) -> None:
    from functions.pipelines.steps.notify_run import lambda_handler

    result = lambda_handler({"event": "started", "state": prepared}, LambdaContextStub())

    assert result == {"published": "pipeline.started", "run_id": RUN_ID}
    assert published(aws)["detail-type"] == "pipeline.started"


def test_the_handler_reports_a_failure_whose_history_it_cannot_read(
    aws: AwsResources, prepared: dict[str, Any]
) -> None:
    from functions.pipelines.steps.notify_run import lambda_handler

    state = {**prepared, "error": {"Error": "States.TaskFailed", "Cause": "boom"}}

    lambda_handler({"event": "failed", "state": state}, LambdaContextStub())

    data = published(aws)["detail"]["data"]
    assert (data["failed_step"], data["error"], data["cause"]) == (None, "States.TaskFailed", "boom")
