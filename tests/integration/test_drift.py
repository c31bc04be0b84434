"""Drift detection on the local cloud: a baseline built through the API from a dataset, real traffic
through a served model captured in SageMaker's format, and drift monitor runs (the same state machine
and step as on AWS) that flag the shifted feature and only it."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from click.testing import CliRunner

from cirrus.cli import cli
from cirrus.client import CirrusApiError, CirrusClient
from tests.support.endpoints import ServedModel, serve_model, wait_for

if TYPE_CHECKING:
    from cirrus.localcloud.cloud import LocalCloud
    from cirrus_core.monitoring.models import DriftRun

ROWS_PER_REQUEST = 50
REQUESTS = 8


def rows(seed: int, *, b_shift: float = 0.0, n: int = REQUESTS * ROWS_PER_REQUEST) -> list[list[float]]:
    generator = np.random.default_rng(seed)
    a = generator.normal(2.0, 1.0, n)
    b = generator.normal(1.0, 0.5, n) + b_shift
    return [[round(float(x), 4), round(float(y), 4)] for x, y in zip(a, b, strict=True)]


def send(client: CirrusClient, model_id: str, records: list[list[float]]) -> None:
    for index in range(0, len(records), ROWS_PER_REQUEST):
        client.predict(model_id, records[index : index + ROWS_PER_REQUEST])


def next_second() -> datetime:
    """A whole second after now, once it has passed: capture times have one-second resolution."""
    moment = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    time.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()) + 0.01)
    return moment


def finished(client: CirrusClient, model_id: str, run_id: str) -> DriftRun:
    return wait_for(lambda: client.get_drift_run(model_id, run_id), lambda run: run.status != "running")


@pytest.fixture(scope="module")
def monitored(local_cloud: LocalCloud, clients: dict[str, CirrusClient]) -> ServedModel:
    """A served model whose version has a baseline built through the API from its training data."""
    served = serve_model(local_cloud, clients, f"it_drift_{uuid.uuid4().hex[:10]}")
    bucket = local_cloud.state.artifact_bucket
    key = f"datasets/{served.model_id}/train.csv"
    training = "a,b,y\n" + "".join(f"{a},{b},{2 * a + 3 * b + 1}\n" for a, b in rows(1, n=4000))
    local_cloud.emulator.client("s3").put_object(Bucket=bucket, Key=key, Body=training.encode())
    baseline = clients["data_scientist"].create_baseline(
        served.model_id, served.version, f"s3://{bucket}/{key}", target_column="y"
    )
    assert [(f.name, f.kind) for f in baseline.features] == [("a", "numeric"), ("b", "numeric")]
    return served


@pytest.fixture(scope="module")
def windows(monitored: ServedModel, clients: dict[str, CirrusClient]) -> dict[str, tuple[datetime, datetime]]:
    """Normal traffic, then traffic whose `b` moved up by one standard deviation and a half."""
    client = clients["data_scientist"]
    start = next_second()
    send(client, monitored.model_id, rows(2))
    middle = next_second()
    send(client, monitored.model_id, rows(3, b_shift=0.75))
    end = next_second()
    return {"normal": (start, middle), "shifted": (middle, end)}


def test_the_baseline_is_linked_to_the_version(
    monitored: ServedModel, clients: dict[str, CirrusClient]
) -> None:
    version = clients["model_reviewer"].get_version(monitored.model_id, monitored.version)

    assert version.baseline_uri is not None
    assert version.baseline_uri.endswith("/baseline.json")


def test_normal_traffic_drifts_nowhere(
    monitored: ServedModel, windows: dict[str, tuple[datetime, datetime]], clients: dict[str, CirrusClient]
) -> None:
    start, end = windows["normal"]
    started = clients["data_scientist"].start_drift_run(
        monitored.model_id, window_start=start, window_end=end
    )

    run = finished(clients["model_reviewer"], monitored.model_id, started.run_id)

    assert run.status == "succeeded", run.failure_reason
    assert run.rows == REQUESTS * ROWS_PER_REQUEST
    assert run.drifted_features == []
    assert {feature.name for feature in run.features} == {"a", "b"}


def test_shifted_traffic_flags_the_shifted_feature_and_only_it(
    monitored: ServedModel,
    windows: dict[str, tuple[datetime, datetime]],
    clients: dict[str, CirrusClient],
    local_cloud: LocalCloud,
) -> None:
    start, end = windows["shifted"]
    started = clients["data_scientist"].start_drift_run(
        monitored.model_id, window_start=start, window_end=end
    )

    run = finished(clients["model_reviewer"], monitored.model_id, started.run_id)

    assert run.status == "succeeded", run.failure_reason
    assert run.drifted_features == ["b"]
    b = next(feature for feature in run.features if feature.name == "b")
    assert {m.method: m.threshold_source for m in b.methods}["ks"] == "benjamini_hochberg"
    report = clients["model_reviewer"].drift_report(monitored.model_id, run.run_id)
    assert report.lstrip().lower().startswith("<!doctype html")
    assert "<svg" in report
    assert run.violations_uri is not None
    bucket, _, key = run.violations_uri.removeprefix("s3://").partition("/")
    body = local_cloud.emulator.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    violations = json.loads(body)["violations"]
    assert [(v["feature_name"], v["constraint_check_type"]) for v in violations] == [
        ("b", "baseline_drift_check")
    ]


def test_a_drift_run_publishes_drift_detected_with_the_drifted_features(
    monitored: ServedModel,
    windows: dict[str, tuple[datetime, datetime]],
    clients: dict[str, CirrusClient],
    event_tap: Any,
) -> None:
    start, end = windows["shifted"]
    started = clients["data_scientist"].start_drift_run(
        monitored.model_id, window_start=start, window_end=end
    )
    finished(clients["model_reviewer"], monitored.model_id, started.run_id)

    events = [
        event
        for event in event_tap.drain()
        if event["detail-type"] == "drift.detected" and event["detail"]["data"]["run_id"] == started.run_id
    ]

    assert len(events) == 1
    assert [feature["name"] for feature in events[0]["detail"]["data"]["drifted_features"]] == ["b"]


def test_a_model_reviewer_may_not_start_a_drift_run(
    monitored: ServedModel, clients: dict[str, CirrusClient]
) -> None:
    with pytest.raises(CirrusApiError) as refused:
        clients["model_reviewer"].start_drift_run(monitored.model_id, window="1h")

    assert (refused.value.status, refused.value.code) == (403, "access_denied")


def test_a_model_without_a_deployment_has_no_traffic_to_check(
    monitored: ServedModel, clients: dict[str, CirrusClient]
) -> None:
    with pytest.raises(CirrusApiError) as refused:
        clients["data_scientist"].start_drift_run(monitored.model_id, environment="staging", window="1h")

    assert (refused.value.status, refused.value.code) == (404, "environment_not_deployed")
    runs = clients["model_reviewer"].list_drift_runs(monitored.model_id, environment="staging")
    assert runs.items == []


def test_a_drift_alert_schedules_monitor_runs(
    monitored: ServedModel, clients: dict[str, CirrusClient], local_cloud: LocalCloud
) -> None:
    rule = clients["admin"].create_alert(monitored.model_id, "drift_detection", 0.5, evaluation_window="30m")

    scheduler = local_cloud.emulator.client("scheduler")
    schedule = scheduler.get_schedule(
        Name=rule.schedule_name, GroupName=local_cloud.deployment.physical_id("MonitoringScheduleGroup")
    )
    assert schedule["ScheduleExpression"] == "rate(30 minutes)"
    assert json.loads(schedule["Target"]["Input"])["alert_id"] == rule.alert_id


def test_the_cli_runs_the_monitor_prints_the_drifted_feature_and_writes_the_report(
    monitored: ServedModel,
    windows: dict[str, tuple[datetime, datetime]],
    local_cloud: LocalCloud,
    tmp_path: Path,
) -> None:
    state = local_cloud.state
    options = ["monitor", "--endpoint-url", state.api_url, "--token", state.token("data_scientist"), "drift"]
    # The CLI checks the last --window; the shifted traffic is the newest, and the last 5 minutes
    # hold both windows, so `b` drifts.
    result = CliRunner().invoke(
        cli, [*options, "run", monitored.model_id, "--window", "5m", "--follow", "--interval", "0.2"]
    )

    assert result.exit_code == 2, result.output
    assert "drifted: b:" in result.output
    run_id = result.output.split()[2].rstrip(":")
    report = tmp_path / "report.html"
    written = CliRunner().invoke(cli, [*options, "report", monitored.model_id, run_id, "-o", str(report)])
    assert written.exit_code == 0, written.output
    assert "<svg" in report.read_text(encoding="utf-8")
