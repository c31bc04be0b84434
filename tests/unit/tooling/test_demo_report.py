"""The demo's HTML summary (cirrus/demo_report.py): every section rendered from the API's real models,
hostile values escaped, and a section that could not be fetched said so."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from cirrus.demo_report import AlertTrail, Missing, Section, StepOutcome, SummaryData, render_summary
from cirrus_core.alerting.records import DeliveryRecord
from cirrus_core.monitoring.models import AlertRuleDetail, DriftRun
from cirrus_core.pipelines.models import RunDetail
from cirrus_core.registry.models import ModelVersion
from cirrus_core.serving.deployment_models import DeploymentList

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
MODEL = "fraud_detection"
FIRST_RUN = "20261127T090000Z-1a2b3c4d"
SECOND_RUN = "20261127T091500Z-5e6f7a8b"
HOSTILE = "<script>alert('x')</script>"
ALERT_ID = "a" * 32


def version(number: int, status: str = "Approved", description: str = "", **fields: object) -> ModelVersion:
    body: dict[str, object] = {
        "model_id": MODEL,
        "version": number,
        "model_type": "xgboost",
        "framework_version": "1.7.6",
        "training_metadata": {
            "dataset_version": "transactions-2026-11",
            "metrics": {"test:accuracy": 0.91, "test:auc": 0.95},
        },
        "artifact_location": f"s3://artifacts/models/{MODEL}/{number}/model.tar.gz",
        "description": description,
        "approval_status": status,
        "sagemaker": {"base_name": "fraud-detection", "model_name": f"fraud-detection-{number}"},
        "created_at": T0 + timedelta(minutes=number),
        "created_by": "ml_engineer",
        "updated_at": T0 + timedelta(minutes=number, seconds=30),
    }
    if status != "PendingManualApproval":
        body["review"] = {"by": "model_reviewer", "at": T0 + timedelta(minutes=number + 1), "comment": "ok"}
    return ModelVersion.model_validate({**body, **fields})


def run(run_id: str, version_number: int) -> RunDetail:
    steps = [
        ("preprocess", "step", "Succeeded", 4.2, None),
        ("train", "step", "Succeeded", 12.5, None),
        ("Quality gate", "state", "Succeeded", 0.1, None),
        ("deploy", "step", "Failed", 3.0, "States.TaskFailed"),
    ]
    return RunDetail.model_validate(
        {
            "run_id": run_id,
            "pipeline_id": "training",
            "execution_arn": f"arn:aws:states:us-east-1:123456789012:execution:training:{run_id}",
            "status": "SUCCEEDED",
            "started_at": T0,
            "stopped_at": T0 + timedelta(seconds=42),
            "parameters": {"model_type": "xgboost", "deploy_to": ["staging", "prod"]},
            "actor": {"sub": "s-1", "username": "ml_engineer"},
            "steps": [
                {
                    "name": name,
                    "kind": kind,
                    "status": status,
                    "started_at": T0,
                    "ended_at": T0 + timedelta(seconds=took),
                    "duration_seconds": took,
                    "error": error,
                }
                for name, kind, status, took, error in steps
            ],
            "registration": {"model_id": MODEL, "version": version_number},
        }
    )


def deployment(number: int, status: str, previous: int | None, **fields: object) -> dict[str, object]:
    return {
        "deployment_id": f"{number:032x}",
        "model_id": MODEL,
        "version": number,
        "environment": "prod",
        "status": status,
        "config": {"instance_type": "ml.m5.large", "initial_instance_count": 1},
        "source": {"kind": "api"},
        "started_by": "ml_engineer",
        "started_at": T0 + timedelta(minutes=number),
        "finished_at": T0 + timedelta(minutes=number, seconds=20),
        "previous_version": previous,
        "history": [
            {"status": "in_progress", "step": "Prepare deployment", "at": T0, "message": "Started."},
            {"status": status, "step": "Mark deployed", "at": T0, "message": "Done."},
        ],
        **fields,
    }


def deployments() -> DeploymentList:
    return DeploymentList.model_validate(
        {
            "model_id": MODEL,
            "environments": [
                {"environment": "prod", "status": "deployed", "version": 2, "updated_at": T0},
                {"environment": "staging", "status": "deployed", "version": 1, "updated_at": T0},
            ],
            "items": [
                deployment(
                    1,
                    "succeeded",
                    None,
                    source={"kind": "pipeline", "pipeline_id": "training", "run_id": FIRST_RUN},
                ),
                deployment(2, "succeeded", 1),
                deployment(
                    3,
                    "rolled_back",
                    2,
                    failed_step="Smoke test candidate",
                    cause="KeyError: 'merchant_risk' in every sample",
                ),
            ],
        }
    )


def drift_run() -> DriftRun:
    def method(name: str, score: float, threshold: float, source: str, drifted: bool) -> dict[str, object]:
        return {
            "method": name,
            "score": score,
            "threshold": threshold,
            "threshold_source": source,
            "drifted": drifted,
        }

    return DriftRun.model_validate(
        {
            "run_id": "20261127T093000Z-0123456789ab",
            "model_id": MODEL,
            "environment": "prod",
            "version": 2,
            "status": "succeeded",
            "trigger": "api",
            "window_start": T0,
            "window_end": T0 + timedelta(minutes=5),
            "rows": 600,
            "drifted_features": ["amount"],
            "drift_share": 0.5,
            "dataset_drift": True,
            "started_at": T0,
            "started_by": "data_scientist",
            "features": [
                {
                    "name": "amount",
                    "kind": "numeric",
                    "status": "checked",
                    "drifted": True,
                    "present_rows": 600,
                    "methods": [
                        method("ks", 1.2e-9, 0.025, "benjamini_hochberg", True),
                        method("psi", 1.3141, 0.1234, "calibrated", True),
                    ],
                    "quality": {},
                },
                {
                    "name": "hour",
                    "kind": "numeric",
                    "status": "checked",
                    "drifted": False,
                    "present_rows": 600,
                    "methods": [method("psi", 0.0123, 0.0987, "calibrated", False)],
                    "quality": {},
                },
            ],
        }
    )


def alert() -> AlertTrail:
    rule = AlertRuleDetail.model_validate(
        {
            "alert_id": ALERT_ID,
            "model_id": MODEL,
            "alert_type": "drift_detection",
            "environment": "prod",
            "threshold": 0.2,
            "notification_channels": ["ml-oncall"],
            "evaluation_window": "1h",
            "schedule_expression": "rate(1 hour)",
            "created_at": T0,
            "created_by": "admin",
            "states": [{"subject": "-", "status": "firing", "fired_at": T0}],
        }
    )
    delivery = DeliveryRecord.model_validate(
        {
            "delivery_id": "d-1",
            "alert_id": ALERT_ID,
            "notification_id": "n-1",
            "notification_kind": "trigger",
            "channel": "ml-oncall",
            "kind": "webhook",
            "status": "delivered",
            "attempts": [
                {
                    "attempt": 1,
                    "at": T0,
                    "status_code": 503,
                    "latency_ms": 12,
                    "error": "Service Unavailable",
                },
                {"attempt": 2, "at": T0 + timedelta(seconds=5), "status_code": 204, "latency_ms": 7},
            ],
            "queued_at": T0,
            "updated_at": T0,
        }
    )
    return AlertTrail(rule, [delivery])


def sample(**changes: object) -> SummaryData:
    data = SummaryData(
        model_id=MODEL,
        api_url="http://127.0.0.1:3000/api/v1",
        generated_at=T0 + timedelta(hours=1),
        steps=[
            StepOutcome(1, "ml_engineer: train", True, "run started", 120.0, Section.TRAINING),
            StepOutcome(
                2, "admin: approve v3 itself", False, "accepted, expected 403", 8.0, Section.SECURITY
            ),
        ],
        versions=[version(2), version(1), version(3, "PendingManualApproval")],
        pipeline_runs=[run(FIRST_RUN, 1), run(SECOND_RUN, 2)],
        deployments=deployments(),
        drift_runs=[drift_run()],
        alerts=[alert()],
        phases={"start the local cloud": 9.5, "stop": 0.4},
        reports=[Path("/tmp/demo/drift-report-x.html")],
    )
    return dataclasses.replace(data, **changes)  # type: ignore[arg-type]


class _Page(HTMLParser):
    """The page's tags, text, and its ids (for the checks on structure)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.ids: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.ids.update(value for name, value in attrs if name == "id" and value)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def absent(text: str, *parts: str) -> list[str]:
    """The parts the text does not contain."""
    return [part for part in parts if part not in text]


def parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    return parser


def section_text(page: str, anchor: str) -> str:
    """The visible text of one section: from its heading to the next."""
    start = page.index(f'id="{anchor}"')
    end = page.find("<h2", start)
    return " ".join(parse(page[start : end if end != -1 else len(page)]).text)


def test_hostile_values_are_escaped_everywhere() -> None:
    hostile_version = version(4, description=HOSTILE, created_by='"><img src=x onerror=alert(1)>')
    page = render_summary(
        sample(
            model_id="fraud_detection",
            api_url=HOSTILE,
            versions=[hostile_version],
            steps=[StepOutcome(1, HOSTILE, True, f"answered {HOSTILE}", 1.0, Section.SERVING)],
            pipeline_runs=[Missing(HOSTILE, HOSTILE)],
        )
    )

    assert "<script" not in page
    assert "<img" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    assert "script" not in parse(page).tags


def test_the_page_is_self_contained() -> None:
    page = render_summary(sample())

    tags = parse(page).tags
    assert page.startswith("<!DOCTYPE html>")
    assert "style" in tags
    assert not {"script", "link", "img", "iframe"} & set(tags)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)


def test_each_section_is_rendered_from_the_api_models() -> None:
    page = render_summary(sample())

    assert {"versions", "runs", "deployments", "drift", "alerts", "steps"} <= parse(page).ids

    versions = section_text(page, "versions")
    assert versions.index("v1") < versions.index("v2") < versions.index("v3")
    assert absent(versions, "Approved", "PendingManualApproval") == []
    assert absent(versions, "ml_engineer", "model_reviewer") == []
    assert "2026-11-27 09:03:00 UTC" in versions  # v2's review

    runs = section_text(page, "runs")
    assert absent(runs, FIRST_RUN, SECOND_RUN) == []
    assert absent(runs, "preprocess", "Quality gate", "12.5 s", "States.TaskFailed") == []
    assert "took 42.0 s" in runs

    history = section_text(page, "deployments")
    assert "rolled_back" in history
    assert absent(history, "Smoke test candidate", "KeyError: 'merchant_risk' in every sample") == []
    assert absent(history, "blue/green from v2", "new endpoint") == []
    assert f"pipeline run {FIRST_RUN}" in history

    drift = section_text(page, "drift")
    assert absent(drift, "drift in amount", "hour") == []
    assert absent(drift, "PSI", "1.3141", "0.1234", "calibrated") == []
    assert absent(drift, "1.20e-09", "benjamini_hochberg") == []

    alerts = section_text(page, "alerts")
    assert absent(alerts, ALERT_ID, "drift_detection", "firing") == []
    assert absent(alerts, "503", "Service Unavailable", "204", "7 ms") == []

    steps = section_text(page, "steps")
    assert absent(steps, "ml_engineer: train", "unexpected", "120") == []

    header = " ".join(parse(page[: page.index('id="versions"')]).text)
    assert "2 steps: 1 as expected, 1 unexpected (#2)" in header
    assert absent(header, "9.50 s", "/tmp/demo/drift-report-x.html") == []
    assert Section.SECURITY.value in header


@pytest.mark.parametrize(
    ("field", "anchor"),
    [("versions", "versions"), ("deployments", "deployments"), ("drift_runs", "drift"), ("alerts", "alerts")],
)
def test_a_section_that_could_not_be_fetched_says_what_and_why(field: str, anchor: str) -> None:
    gap = Missing(f"the {field} of {MODEL}", "the API answered 503 service_unavailable: try later")
    # Versions and deployments are fetched as one list each; drift runs and alerts one by one.
    data = sample(**{field: [gap] if field in ("drift_runs", "alerts") else gap})
    page = render_summary(data)

    assert data.missing() == [gap]
    assert f"Could not fetch the {field} of {MODEL}: the API answered 503" in section_text(page, anchor)
    assert "This summary is incomplete" in page
    # The other sections still render.
    assert SECOND_RUN in section_text(page, "runs")


def test_one_missing_run_or_delivery_log_leaves_the_rest() -> None:
    trail = AlertTrail(alert().rule, Missing(f"the deliveries of alert {ALERT_ID}", "timed out"))
    data = sample(
        pipeline_runs=[run(FIRST_RUN, 1), Missing(f"pipeline run {SECOND_RUN}", "404 run_not_found")],
        alerts=[trail],
    )
    page = render_summary(data)

    runs = section_text(page, "runs")
    assert absent(runs, FIRST_RUN, f"Could not fetch pipeline run {SECOND_RUN}: 404 run_not_found") == []
    alerts = section_text(page, "alerts")
    assert absent(alerts, ALERT_ID, "Could not fetch the deliveries") == []
    assert [gap.what for gap in data.missing()] == [
        f"pipeline run {SECOND_RUN}",
        f"the deliveries of alert {ALERT_ID}",
    ]


def test_empty_sections_say_so() -> None:
    page = render_summary(
        sample(versions=[], pipeline_runs=[], drift_runs=[], alerts=[], steps=[], reports=[])
    )

    assert "The model has no version." in page
    assert "The demo started no pipeline run." in page
    assert "The demo started no drift run." in page
    assert "The demo created no alert rule." in page
    assert "No drift report was written" in page
    assert "This summary is incomplete" not in page
