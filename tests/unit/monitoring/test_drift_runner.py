"""The drift monitor's steps, called as Step Functions calls them: `Check drift` reads the window's data
capture, checks every feature against the serving version's baseline, writes the report, the Model
Monitor violations file and the full result, stores the verdict and publishes drift.detected when a
feature drifted; `Record failure` ends a run failed with the error's cause.

The version (1) has a baseline of 600 seeded rows (amount ~ N(100, 15), age ~ N(40, 8), channel
web/app/pos); windows hold 300 captured rows of the same distribution, or with amount shifted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cirrus_core.errors import MonitoringStepError
from cirrus_core.monitoring.models import new_run_id
from tests.support.registry import MODEL_ID
from tests.unit.monitoring.support import (
    CAPTURE_BUCKET,
    MONITORING_BUCKET,
    MonitoringWorld,
    api,
    capture_record,
    feature_rows,
    ok,
    put_capture,
    step,
)

WINDOW_START = datetime(2024, 6, 1, 10, tzinfo=UTC)
WINDOW_END = WINDOW_START + timedelta(hours=1)
ALERT_ID = "0123456789abcdef0123456789abcdef"
SHIFT = 30.0  # two standard deviations of amount


@pytest.fixture
def monitored(world: MonitoringWorld) -> MonitoringWorld:
    """Version 1, with its baseline, serving prod; calibration at the fewest resamples, for speed."""
    world.register_with_baseline()
    world.deploy(1, "prod")
    ok(api("put_drift_config", body={"resamples": 200}))
    return world


def capture(
    world: MonitoringWorld, rows: Sequence[dict[str, Any]], *, start: datetime = WINDOW_START
) -> None:
    """`rows` captured as requests of ten instances each, spread over the hour from `start`."""
    chunks = [rows[index : index + 10] for index in range(0, len(rows), 10)]
    spacing = timedelta(minutes=59) / max(len(chunks), 1)
    records = [
        capture_record(start + spacing * index, json.dumps({"instances": list(chunk)}))
        for index, chunk in enumerate(chunks)
    ]
    put_capture(world.aws.s3, records)


def start_run(world: MonitoringWorld) -> dict[str, Any]:
    """A run over the hour from WINDOW_START started through the API; the step event its execution gets."""
    body = {"window_start": WINDOW_START.isoformat(), "window_end": WINDOW_END.isoformat()}
    run = ok(api("start_drift_run", body=body), 202)
    (execution,) = [e for e in world.executions() if e["name"] == run["run_id"]]
    return {
        "input": json.loads(execution["input"]),
        "execution_name": execution["name"],
        "execution_start": execution["startDate"].astimezone(UTC).isoformat(),
    }


def scheduled(
    name: str = "3b0c4f5e-1a2d-4c6b-9e8f-7a6b5c4d3e2f", at: str = "2024-06-01T11:00:04.512Z"
) -> dict[str, Any]:
    """The step event of an execution an alert's schedule started (its input has no run id)."""
    return {
        "input": {
            "model_id": MODEL_ID,
            "environment": "prod",
            "alert_id": ALERT_ID,
            "window": "1h",
            "trigger": "schedule",
        },
        "execution_name": name,
        "execution_start": at,
    }


def get_run(run_id: str) -> dict[str, Any]:
    return ok(api("get_drift_run", path={"model_id": MODEL_ID, "run_id": run_id}))


def read_json(world: MonitoringWorld, uri: str) -> Any:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return json.loads(world.aws.s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def drift_events(world: MonitoringWorld) -> list[dict[str, Any]]:
    return [event for event in world.monitoring_events() if event["detail-type"] == "drift.detected"]


# -- verdicts ---------------------------------------------------------------------------------------------


def test_a_window_like_the_baseline_succeeds_without_drift(monitored: MonitoringWorld) -> None:
    capture(monitored, feature_rows(300, seed=100))
    event = start_run(monitored)

    outcome = step("run_drift_check", event)

    run_id = event["input"]["run_id"]
    assert outcome == {
        "run_id": run_id,
        "model_id": MODEL_ID,
        "status": "succeeded",
        "drifted_features": [],
        "report_uri": f"s3://{MONITORING_BUCKET}/drift/{MODEL_ID}/prod/{run_id}/report.html",
    }
    run = get_run(run_id)
    assert (run["status"], run["rows"], run["drift_share"], run["dataset_drift"]) == (
        "succeeded",
        300,
        0.0,
        False,
    )
    assert [(f["name"], f["status"], f["drifted"]) for f in run["features"]] == [
        ("amount", "checked", False),
        ("age", "checked", False),
        ("channel", "checked", False),
    ]
    assert drift_events(monitored) == []


def test_every_verdict_says_which_threshold_it_used_and_where_it_came_from(
    monitored: MonitoringWorld,
) -> None:
    capture(monitored, feature_rows(300, seed=100))
    event = start_run(monitored)
    step("run_drift_check", event)

    features = {feature["name"]: feature for feature in get_run(event["input"]["run_id"])["features"]}

    assert [m["method"] for m in features["amount"]["methods"]] == ["ks", "psi", "js"]
    assert [m["method"] for m in features["channel"]["methods"]] == ["chi_square", "psi", "js"]
    for feature in features.values():
        assert feature["present_rows"] == 300
        for method in feature["methods"]:
            assert method["threshold_source"] in {"benjamini_hochberg", "calibrated", "floor"}
            assert method["threshold"] > 0


def test_the_report_violations_and_result_are_written_beside_the_run(monitored: MonitoringWorld) -> None:
    capture(monitored, feature_rows(300, seed=100))
    event = start_run(monitored)
    step("run_drift_check", event)
    run_id = event["input"]["run_id"]

    run = get_run(run_id)

    prefix = f"drift/{MODEL_ID}/prod/{run_id}/"
    assert [key for key in monitored.monitoring_objects() if key.startswith("drift/")] == [
        f"{prefix}constraint_violations.json",
        f"{prefix}report.html",
        f"{prefix}result.json",
    ]
    assert run["violations_uri"] == f"s3://{MONITORING_BUCKET}/{prefix}constraint_violations.json"
    assert read_json(monitored, run["violations_uri"]) == {"violations": []}
    result = read_json(monitored, run["result_uri"])
    assert (result["rows"], result["requests"], result["truncated"], result["drifted_features"]) == (
        300,
        30,
        False,
        [],
    )
    report = api("get_drift_report", path={"model_id": MODEL_ID, "run_id": run_id})
    assert report.status == 200
    assert report.raw_body.lower().startswith("<!doctype html>")
    assert "amount" in report.raw_body
    assert run["links"]["report"].endswith(f"/drift-runs/{run_id}/report")


def test_a_shifted_feature_and_only_it_drifts_and_drift_detected_is_published(
    monitored: MonitoringWorld,
) -> None:
    capture(monitored, feature_rows(300, seed=100, amount_shift=SHIFT))
    event = start_run(monitored)

    outcome = step("run_drift_check", event)

    assert (outcome["status"], outcome["drifted_features"]) == ("succeeded", ["amount"])
    run = get_run(event["input"]["run_id"])
    assert (run["drifted_features"], run["dataset_drift"]) == (["amount"], True)
    assert run["drift_share"] == pytest.approx(1 / 3)
    (published,) = drift_events(monitored)  # checked against events/schemas/drift.detected.v1.json
    data = published["detail"]["data"]
    assert (data["model_id"], data["version"], data["environment"], data["run_id"]) == (
        MODEL_ID,
        1,
        "prod",
        run["run_id"],
    )
    assert [feature["name"] for feature in data["drifted_features"]] == ["amount"]
    assert (data["alert_id"], data["rows"], data["report_uri"]) == (None, 300, run["report_uri"])
    assert published["detail"]["metadata"]["actor"] == "alice@example.com"


def test_a_drifted_feature_is_a_baseline_drift_check_violation(monitored: MonitoringWorld) -> None:
    capture(monitored, feature_rows(300, seed=101, amount_shift=SHIFT))
    event = start_run(monitored)
    step("run_drift_check", event)

    violations = read_json(monitored, get_run(event["input"]["run_id"])["violations_uri"])["violations"]

    assert [(v["feature_name"], v["constraint_check_type"]) for v in violations] == [
        ("amount", "baseline_drift_check")
    ]


def test_a_window_with_fewer_rows_than_the_config_needs_has_insufficient_data(
    monitored: MonitoringWorld,
) -> None:
    capture(monitored, feature_rows(90, seed=100, amount_shift=SHIFT))
    event = start_run(monitored)

    outcome = step("run_drift_check", event)

    run = get_run(event["input"]["run_id"])
    assert (outcome["status"], outcome["report_uri"]) == ("insufficient_data", None)
    assert (run["status"], run["rows"], run["drifted_features"]) == ("insufficient_data", 90, [])
    assert "needs at least 100" in run["failure_reason"]
    assert drift_events(monitored) == []
    assert [key for key in monitored.monitoring_objects() if key.startswith("drift/")] == []


def test_an_empty_window_has_insufficient_data(monitored: MonitoringWorld) -> None:
    event = start_run(monitored)

    assert step("run_drift_check", event)["status"] == "insufficient_data"


def test_unreadable_requests_are_counted_in_the_result(monitored: MonitoringWorld) -> None:
    capture(monitored, feature_rows(200, seed=100))
    put_capture(
        monitored.aws.s3,
        [capture_record(WINDOW_START + timedelta(minutes=m), "{torn") for m in range(3)],
    )
    event = start_run(monitored)
    step("run_drift_check", event)

    result = read_json(monitored, get_run(event["input"]["run_id"])["result_uri"])

    assert (result["rows"], result["requests"]) == (200, 23)


def test_a_window_larger_than_a_run_reads_is_checked_on_its_newest_rows_and_says_so(
    monitored: MonitoringWorld,
) -> None:
    capture(monitored, feature_rows(1100, seed=100))  # DRIFT_MAX_WINDOW_ROWS is 1000 here
    event = start_run(monitored)
    step("run_drift_check", event)

    run = get_run(event["input"]["run_id"])

    result = read_json(monitored, run["result_uri"])
    assert (run["rows"], result["rows"], result["truncated"]) == (1000, 1000, True)


def test_the_models_drift_config_decides(monitored: MonitoringWorld) -> None:
    ok(api("put_drift_config", body={"resamples": 200, "min_rows": 500}))
    capture(monitored, feature_rows(300, seed=100))
    event = start_run(monitored)

    assert step("run_drift_check", event)["status"] == "insufficient_data"


def test_per_feature_thresholds_of_another_versions_features_do_not_fail_the_served_versions_run(
    monitored: MonitoringWorld,
) -> None:
    from cirrus_science.drift.baseline import build_baseline

    rows = feature_rows(200, seed=5)
    columns: dict[str, list[Any]] = {
        name: [row[name] for row in rows] for name in ("amount", "age", "channel")
    }
    columns["device"] = ["ios", "android"] * 100
    newer = build_baseline(columns, kinds={"age": "categorical"}).to_json()
    key = "baselines/fraud_detection_v2/v2/newer/baseline.json"
    monitored.aws.s3.put_object(Bucket=MONITORING_BUCKET, Key=key, Body=newer)
    monitored.register(baseline_uri=f"s3://{MONITORING_BUCKET}/{key}")  # version 2, not deployed
    thresholds = {"device": {"psi": 0.3}, "age": {"chi_square": 0.01, "psi": 0.5}, "amount": {"ks": 0.2}}
    ok(api("put_drift_config", body={"resamples": 200, "feature_thresholds": thresholds}))
    capture(monitored, feature_rows(300, seed=100))
    event = start_run(monitored)

    outcome = step("run_drift_check", event)

    assert outcome["status"] == "succeeded"
    features = {feature["name"]: feature for feature in get_run(event["input"]["run_id"])["features"]}
    used = {
        (name, method["method"]): (method["threshold"], method["threshold_source"])
        for name, feature in features.items()
        for method in feature["methods"]
    }
    assert used["amount", "ks"] == (0.2, "feature")
    assert used["age", "psi"] == (0.5, "feature")
    assert used["age", "ks"][1] == "benjamini_hochberg"


# -- bookkeeping ---------------------------------------------------------------------------------------------


def test_a_repeated_check_returns_the_recorded_outcome_without_publishing_again(
    monitored: MonitoringWorld,
) -> None:
    capture(monitored, feature_rows(300, seed=100, amount_shift=SHIFT))
    event = start_run(monitored)
    first = step("run_drift_check", event)
    recorded = get_run(event["input"]["run_id"])

    again = step("run_drift_check", event)

    assert again == first
    assert get_run(event["input"]["run_id"]) == recorded
    assert len(drift_events(monitored)) == 1


def test_the_calibration_is_stored_and_reused_by_the_next_run_of_the_same_size(
    monitored: MonitoringWorld,
) -> None:
    capture(monitored, feature_rows(300, seed=100))
    first = start_run(monitored)
    step("run_drift_check", first)
    second = scheduled()  # the window 10:00 to 11:00, the same captured rows

    reused = step("run_drift_check", second)

    (calibration,) = [key for key in monitored.monitoring_objects() if key.startswith("calibrations/")]
    assert calibration.endswith(".json")
    views = [get_run(first["input"]["run_id"]), get_run(reused["run_id"])]
    assert [(v["calibration_window_size"], v["calibration_reused"]) for v in views] == [
        (300, False),
        (300, True),
    ]


def test_a_scheduled_run_derives_its_id_and_window_from_the_execution(monitored: MonitoringWorld) -> None:
    capture(monitored, feature_rows(300, seed=100))
    event = scheduled(at="2024-06-01T11:00:04.512Z")

    outcome = step("run_drift_check", event)

    started = datetime(2024, 6, 1, 11, 0, 4, 512_000, tzinfo=UTC)
    assert outcome["run_id"] == new_run_id(started, seed=event["execution_name"])
    assert outcome["run_id"].startswith("20240601T110004Z-")
    run = get_run(outcome["run_id"])
    assert (run["window_start"], run["window_end"]) == ("2024-06-01T10:00:00Z", "2024-06-01T11:00:00Z")
    assert (run["trigger"], run["alert_id"], run["started_by"], run["version"]) == (
        "schedule",
        ALERT_ID,
        "scheduler",
        1,
    )
    assert (run["status"], run["rows"]) == ("succeeded", 300)


def test_a_retried_scheduled_step_finds_its_own_run(monitored: MonitoringWorld) -> None:
    capture(monitored, feature_rows(300, seed=100, amount_shift=SHIFT))
    event = scheduled()

    first = step("run_drift_check", event)
    again = step("run_drift_check", event)

    assert again == first
    assert len(ok(api("list_drift_runs"))["items"]) == 1
    (published,) = drift_events(monitored)
    assert (published["detail"]["data"]["alert_id"], published["detail"]["metadata"]["actor"]) == (
        ALERT_ID,
        "scheduler",
    )


def test_two_scheduled_executions_are_two_runs(monitored: MonitoringWorld) -> None:
    step("run_drift_check", scheduled(name="first", at="2024-06-01T11:00:00.000Z"))
    step("run_drift_check", scheduled(name="second", at="2024-06-01T12:00:00.000Z"))

    assert len(ok(api("list_drift_runs"))["items"]) == 2


def test_a_scheduled_run_of_an_environment_that_serves_nothing_fails_saying_so(
    world: MonitoringWorld,
) -> None:
    world.register_with_baseline()

    outcome = step("run_drift_check", scheduled())

    run = get_run(outcome["run_id"])
    assert (outcome["status"], run["status"]) == ("failed", "failed")
    assert run["failure_reason"] == f"Model '{MODEL_ID}' is not deployed to prod."
    assert drift_events(world) == []


def test_a_scheduled_run_of_a_version_without_a_baseline_fails_saying_so(world: MonitoringWorld) -> None:
    world.register()
    world.deploy(1, "prod")

    outcome = step("run_drift_check", scheduled())

    run = get_run(outcome["run_id"])
    assert (run["status"], run["version"]) == ("failed", 1)
    assert run["failure_reason"] == f"Version 1 of '{MODEL_ID}' has no drift baseline."


def test_a_step_event_that_is_not_the_state_machines_is_refused() -> None:
    with pytest.raises(MonitoringStepError, match="step input is invalid"):
        step("run_drift_check", {"input": {"model_id": MODEL_ID}, "execution_name": "x"})


# -- failures -----------------------------------------------------------------------------------------------


def lambda_error(message: str) -> dict[str, str]:
    """What a Lambda task's Catch puts in `$.error`: the error type and the function's error as JSON."""
    cause = {
        "errorMessage": message,
        "errorType": "ClientError",
        "requestId": "r-1",
        "stackTrace": ["  File ..."],
    }
    return {"Error": "ClientError", "Cause": json.dumps(cause)}


def test_a_failed_check_is_recorded_with_the_functions_error_message(monitored: MonitoringWorld) -> None:
    event = start_run(monitored)

    outcome = step(
        "record_drift_failure", {**event, "error": lambda_error("An error occurred (AccessDenied)")}
    )

    run = get_run(event["input"]["run_id"])
    assert (outcome["status"], run["status"]) == ("failed", "failed")
    assert run["failure_reason"] == "An error occurred (AccessDenied)"
    assert run["finished_at"] is not None


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            {"Error": "States.Timeout", "Cause": "Task timed out after 900.00 seconds"},
            "Task timed out after 900.00 seconds",
        ),
        ({"Error": "States.TaskFailed", "Cause": "[1, 2]"}, "[1, 2]"),
        ({"Error": "Lambda.Unknown"}, "Lambda.Unknown"),
        ({}, "The drift monitor failed."),
    ],
)
def test_a_cause_that_is_not_a_functions_error_is_recorded_as_it_came(
    monitored: MonitoringWorld, error: dict[str, str], reason: str
) -> None:
    event = start_run(monitored)

    step("record_drift_failure", {**event, "error": error})

    assert get_run(event["input"]["run_id"])["failure_reason"] == reason


def test_a_failure_reason_is_cut_to_1024_characters(monitored: MonitoringWorld) -> None:
    event = start_run(monitored)

    step("record_drift_failure", {**event, "error": lambda_error("x" * 5000)})

    assert get_run(event["input"]["run_id"])["failure_reason"] == "x" * 1024


def test_a_scheduled_run_that_failed_before_it_was_recorded_is_recorded_failed(
    monitored: MonitoringWorld,
) -> None:
    event = scheduled()

    outcome = step("record_drift_failure", {**event, "error": lambda_error("boom")})

    run = get_run(outcome["run_id"])
    assert (run["status"], run["failure_reason"], run["trigger"]) == ("failed", "boom", "schedule")


def test_a_late_failure_does_not_undo_a_recorded_outcome(monitored: MonitoringWorld) -> None:
    capture(monitored, feature_rows(300, seed=100))
    event = start_run(monitored)
    step("run_drift_check", event)

    outcome = step("record_drift_failure", {**event, "error": lambda_error("late")})

    assert outcome["status"] == "succeeded"
    assert get_run(event["input"]["run_id"])["status"] == "succeeded"


def test_the_capture_bucket_is_read_not_written(monitored: MonitoringWorld) -> None:
    capture(monitored, feature_rows(300, seed=100))
    before = monitored.aws.s3.list_objects_v2(Bucket=CAPTURE_BUCKET)["KeyCount"]

    step("run_drift_check", start_run(monitored))

    assert monitored.aws.s3.list_objects_v2(Bucket=CAPTURE_BUCKET)["KeyCount"] == before
