"""The demo's HTML summary: one self-contained page built from what the API returned.

``render_summary(data)`` is pure: the API's answers (the real pydantic models of cirrus_core) and the
demo's own step list in, one HTML5 page out. Inline CSS, no scripts, no external resources (links to
the drift reports only). Every value that comes from data goes through ``html.escape``. A section the
demo could not fetch is a ``Missing`` carrying what and why, and the page says so where the section
would be.

Sections: the verdict and phase timings (with the reports' paths), the model's versions and their
reviews, the pipeline runs with their steps, the deployments (what each environment serves, then
every deployment with its strategy and rollback reason, and its step history), the drift runs with
each feature's scores against its thresholds, the alerts with every delivery attempt, and the demo's
steps with their outcomes.
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Final, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from pathlib import Path

    from cirrus_core.alerting.records import DeliveryRecord
    from cirrus_core.monitoring.models import AlertRule, AlertRuleDetail, DriftRun
    from cirrus_core.pipelines.models import RunDetail
    from cirrus_core.registry.models import ModelVersion, Review
    from cirrus_core.serving.deployment_models import Deployment, DeploymentList

ItemT = TypeVar("ItemT")

__all__ = [
    "AlertTrail",
    "Missing",
    "Section",
    "StepOutcome",
    "SummaryData",
    "render_summary",
]


class Section(StrEnum):
    """The groups the demo's steps fall in, in the order the summaries show them."""

    DATA = "data: source, snapshot, features and training set"
    TRAINING = "training pipeline runs"
    APPROVALS = "registration and approvals"
    DEPLOYMENTS = "deployments and the rollback"
    SERVING = "predictions, batch and edge"
    MONITORING = "monitoring, drift and alerts"
    SECURITY = "refusals and security checks"


@dataclass
class StepOutcome:
    """One numbered step of the demo: what it did, whether it behaved as expected, how long it took."""

    number: int
    title: str
    ok: bool
    summary: str
    millis: float
    section: Section


@dataclass(frozen=True)
class Missing:
    """Something the summary could not fetch: what it is, and why."""

    what: str
    why: str


@dataclass(frozen=True)
class AlertTrail:
    """An alert rule with the state of its alert, and its deliveries (newest first)."""

    rule: AlertRuleDetail | AlertRule
    deliveries: list[DeliveryRecord] | Missing


@dataclass(frozen=True)
class SummaryData:
    """Everything the page shows. Lists of ``X | Missing`` hold one entry per item asked for."""

    model_id: str
    api_url: str
    generated_at: datetime
    steps: Sequence[StepOutcome]
    versions: list[ModelVersion] | Missing
    pipeline_runs: list[RunDetail | Missing]
    deployments: DeploymentList | Missing
    drift_runs: list[DriftRun | Missing]
    alerts: list[AlertTrail | Missing]
    phases: dict[str, float] = field(default_factory=dict)
    reports: Sequence[Path] = ()

    def missing(self) -> list[Missing]:
        """Everything the summary could not fetch."""
        found: list[object] = [
            self.versions,
            *self.pipeline_runs,
            self.deployments,
            *self.drift_runs,
            *self.alerts,
            *(trail.deliveries for trail in self.alerts if isinstance(trail, AlertTrail)),
        ]
        return [item for item in found if isinstance(item, Missing)]


_METHOD_LABELS: Final[dict[str, str]] = {"ks": "KS", "chi_square": "Chi-square", "psi": "PSI", "js": "JS"}
_GOOD: Final = frozenset({"approved", "succeeded", "delivered", "deployed", "cached", "ok", "yes"})
_BAD: Final = frozenset(
    {"rejected", "failed", "timedout", "timed_out", "aborted", "dead_lettered", "firing", "unexpected"}
)
_WARN: Final = frozenset({"rolled_back", "pendingmanualapproval", "running", "in_progress", "retrying"})

_CSS: Final = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2933;
  margin: 0 auto; padding: 24px 32px 48px; max-width: 1280px; background: #fbfcfd; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 2px solid #d9e2ec; }
h3 { font-size: 15px; margin: 22px 0 6px; }
p.meta, .muted { color: #616e7c; }
nav { margin: 12px 0 4px; }
nav a { margin-right: 14px; color: #2457a6; text-decoration: none; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 10px; background: #fff; }
th, td { border: 1px solid #d9e2ec; padding: 4px 8px; text-align: left; vertical-align: top;
  overflow-wrap: anywhere; }
th { background: #f0f4f8; font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.when { white-space: nowrap; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
.badge { display: inline-block; padding: 0 7px; border-radius: 9px; font-size: 12px; font-weight: 600;
  background: #e4e7eb; color: #3e4c59; white-space: nowrap; }
.badge.good { background: #d6f5e3; color: #0e6245; }
.badge.bad { background: #fde2e1; color: #a61b1b; }
.badge.warn { background: #fff3c4; color: #8d5b00; }
.verdict { padding: 10px 14px; border-radius: 6px; margin: 14px 0; font-size: 15px; }
.verdict.good { background: #e3f9ec; border: 1px solid #9ce0b9; }
.verdict.bad { background: #fde8e8; border: 1px solid #f29b9b; }
.missing { padding: 8px 12px; border-left: 4px solid #d64545; background: #fde8e8; margin: 8px 0; }
.cols { display: flex; flex-wrap: wrap; gap: 24px; }
.cols > div { flex: 1 1 420px; }
details { margin: 2px 0; }
summary { cursor: pointer; color: #2457a6; }
tr.drifted td { background: #fff5f5; }
tr.fail td { background: #fff5f5; }
"""


def render_summary(data: SummaryData) -> str:
    """The summary page: a complete HTML5 document."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Cirrus demo summary: {_e(data.model_id)}</title>",
        f"<style>{_CSS}</style></head><body>",
        _header(data),
        _versions_section(data.versions),
        _runs_section(data.pipeline_runs),
        _deployments_section(data.deployments),
        _drift_section(data.drift_runs),
        _alerts_section(data.alerts),
        _steps_section(data.steps),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


# -- sections -----------------------------------------------------------------------------------------


def _header(data: SummaryData) -> str:
    failed = [step for step in data.steps if not step.ok]
    verdict_class = "bad" if failed else "good"
    verdict = (
        f"{len(data.steps)} steps: {len(data.steps) - len(failed)} as expected, {len(failed)} unexpected"
    )
    if failed:
        verdict += " (" + ", ".join(f"#{step.number}" for step in failed) + ")"
    counts = _section_counts(data.steps)
    section_rows = [
        _row(
            [
                _e(section.value),
                _num(ok),
                _num(bad) if not bad else _badge(str(bad), "bad"),
            ]
        )
        for section, (ok, bad) in counts.items()
    ]
    phase_rows = [_row([_e(phase), _num(f"{seconds:.2f} s")]) for phase, seconds in data.phases.items()]
    reports = (
        "<ul>"
        + "".join(
            f'<li><a href="{_e(_href(path))}"><code>{_e(str(path))}</code></a></li>' for path in data.reports
        )
        + "</ul>"
        if data.reports
        else '<p class="muted">No drift report was written (only runs that found drift have one).</p>'
    )
    nav = "".join(
        f'<a href="#{anchor}">{_e(label)}</a>'
        for anchor, label in (
            ("versions", "Versions"),
            ("runs", "Pipeline runs"),
            ("deployments", "Deployments"),
            ("drift", "Drift"),
            ("alerts", "Alerts"),
            ("steps", "Demo steps"),
        )
    )
    return (
        f"<h1>Cirrus demo: <code>{_e(data.model_id)}</code></h1>"
        f'<p class="meta">Read from the API at <code>{_e(data.api_url)}</code> on '
        f"{_e(_when(data.generated_at))}, at the end of the walkthrough.</p>"
        f"<nav>{nav}</nav>"
        f'<div class="verdict {verdict_class}">{_e(verdict)}</div>'
        + _gaps(data.missing())
        + '<div class="cols"><div><h3>Steps by section</h3>'
        + _table(["section", "as expected", "unexpected"], section_rows, numeric={1, 2})
        + "</div><div><h3>Phases</h3>"
        + (_table(["phase", "took"], phase_rows, numeric={1}) if phase_rows else "<p>Not timed.</p>")
        + "</div></div><h3>Drift reports</h3>"
        + reports
    )


def _each(head: str, items: Sequence[ItemT | Missing], empty: str, render: Callable[[ItemT], str]) -> str:
    """A section of one block per item; an item that could not be fetched says why instead."""
    if not items:
        return f"{head}<p>{empty}</p>"
    return head + "".join(_missing(item) if isinstance(item, Missing) else render(item) for item in items)


def _versions_section(versions: list[ModelVersion] | Missing) -> str:
    head = '<h2 id="versions">Model versions and their reviews</h2>'
    if isinstance(versions, Missing):
        return head + _missing(versions)
    if not versions:
        return head + "<p>The model has no version.</p>"
    rows = []
    for version in sorted(versions, key=lambda v: v.version):
        shown = list(version.training_metadata.metrics.items())[:3]
        metrics = ", ".join(f"{name} {value:.3f}" for name, value in shown)
        origin = _run_of(version.pipeline_execution_arn)
        source = f"pipeline run <code>{_e(origin)}</code>" if origin else "registered over the API"
        if version.parent_version is not None:
            source += f"; parent v{_e(version.parent_version)}"
        status = _badge(version.approval_status.value)
        if version.retired:
            status += " " + _badge("retired")
        rows.append(
            _row(
                [
                    f"<b>v{_e(version.version)}</b>",
                    status,
                    _e(version.description) or '<span class="muted">-</span>',
                    source,
                    _e(metrics) or '<span class="muted">-</span>',
                    _review(version.created_by, version.created_at),
                    _review_of(version.review_request),
                    _review_of(version.review),
                ]
            )
        )
    return head + _table(
        [
            "version",
            "status",
            "description",
            "source",
            "metrics",
            "registered",
            "review requested",
            "approved / rejected",
        ],
        rows,
    )


def _runs_section(runs: list[RunDetail | Missing]) -> str:
    head = '<h2 id="runs">Pipeline runs</h2>'
    return _each(head, runs, "The demo started no pipeline run.", _run_block)


def _run_block(run: RunDetail) -> str:
    parts: list[str] = []
    took = (run.stopped_at - run.started_at).total_seconds() if run.stopped_at else None
    registered = (
        f"v{_e(run.registration.version)} of <code>{_e(run.registration.model_id)}</code>"
        if run.registration
        else "nothing"
    )
    actor = run.actor.username if run.actor and run.actor.username else "-"
    parameters = {
        name: run.parameters[name]
        for name in ("model_type", "target_accuracy", "deploy_to", "use_cache", "hyperparameters")
        if run.parameters.get(name) not in (None, {}, "")
    }
    parts.append(
        f"<h3>{_e(run.pipeline_id)} run <code>{_e(run.run_id)}</code> {_badge(run.status.value)}</h3>"
        f'<p class="meta">Started {_e(_when(run.started_at))} by {_e(actor)}'
        + (f", took {_e(f'{took:.1f}')} s" if took is not None else ", still running")
        + f"; registered {registered}."
        + (
            f" Parameters: <code>{_e(', '.join(f'{k}={v}' for k, v in parameters.items()))}</code>"
            if parameters
            else ""
        )
        + "</p>"
    )
    if run.failure:
        parts.append(
            _missing_text(
                f"Failed at {run.failure.step or '?'}: {run.failure.error or ''} {run.failure.cause or ''}"
            )
        )
    rows = [
        _row(
            [
                _e(step.name),
                _e(step.kind),
                _badge(step.status.value),
                _when_cell(step.started_at),
                _num(f"{step.duration_seconds:.1f} s" if step.duration_seconds is not None else "-"),
                f"<code>{_e(step.job_name)}</code>" if step.job_name else "",
                _e(" ".join(part for part in (step.error, step.cause) if part)),
            ],
            css="fail" if step.error else "",
        )
        for step in run.steps
    ]
    parts.append(
        _table(["step", "kind", "status", "started", "took", "job", "error"], rows, numeric={4})
        if rows
        else "<p>No step has started.</p>"
    )
    return "".join(parts)


def _deployments_section(deployments: DeploymentList | Missing) -> str:
    head = '<h2 id="deployments">Deployments</h2>'
    if isinstance(deployments, Missing):
        return head + _missing(deployments)
    environments = [
        _row(
            [
                _e(env.environment.value),
                _badge(env.status.value),
                f"v{_e(env.version)}" if env.version is not None else "-",
                f"<code>{_e(env.endpoint_name or '-')}</code>",
                f"<code>{_e(env.deployment_id or '-')}</code>",
                _when_cell(env.updated_at),
            ]
        )
        for env in deployments.environments
    ]
    rows = [
        _deployment_row(deployment) for deployment in sorted(deployments.items, key=lambda d: d.started_at)
    ]
    return (
        head
        + "<h3>What each environment serves</h3>"
        + (
            _table(["environment", "status", "version", "endpoint", "deployment", "since"], environments)
            if environments
            else "<p>No environment is deployed.</p>"
        )
        + "<h3>History (oldest first)</h3>"
        + (
            _table(
                [
                    "started",
                    "version",
                    "environment",
                    "status",
                    "strategy",
                    "started by",
                    "took",
                    "rollback reason and steps",
                ],
                rows,
                numeric={6},
            )
            if rows
            else "<p>The model was never deployed.</p>"
        )
    )


def _deployment_row(deployment: Deployment) -> str:
    took = (
        f"{(deployment.finished_at - deployment.started_at).total_seconds():.1f} s"
        if deployment.finished_at
        else "-"
    )
    reason = f"<b>{_e(deployment.failed_step or '?')}</b>: {_e(deployment.cause)}" if deployment.cause else ""
    history = _table(
        ["at", "step", "status", "message"],
        [
            _row([_when_cell(entry.at), _e(entry.step), _badge(entry.status.value), _e(entry.message)])
            for entry in deployment.history
        ],
    )
    steps = f"<details><summary>its {len(deployment.history)} steps</summary>{history}</details>"
    return _row(
        [
            _when_cell(deployment.started_at),
            f"<b>v{_e(deployment.version)}</b>",
            _e(deployment.environment.value),
            _badge(deployment.status.value),
            _e(_strategy(deployment)),
            _e(deployment.started_by),
            _num(took),
            reason + steps,
        ]
    )


def _drift_section(runs: list[DriftRun | Missing]) -> str:
    head = (
        '<h2 id="drift">Drift runs</h2><p class="muted">A test\'s score (KS, chi-square) is its p-value: '
        "it flags drift below its threshold. A distance's (PSI, JS) flags drift at or above it. "
        "The feature's verdict combines its methods by the model's drift config.</p>"
    )
    return _each(head, runs, "The demo started no drift run.", _drift_block)


def _drift_block(run: DriftRun) -> str:
    parts: list[str] = []
    verdict = (
        "drift in " + ", ".join(run.drifted_features)
        if run.drifted_features
        else ("no feature drifted" if run.status == "succeeded" else run.failure_reason or run.status)
    )
    share = f"{run.drift_share:.0%} of features drifted" if run.drift_share is not None else ""
    parts.append(
        f"<h3>Run <code>{_e(run.run_id)}</code> {_badge(run.status.value)} "
        f"{_drift_badge(run)}</h3>"
        f'<p class="meta">{_e(run.environment.value)}, '
        f"v{_e(run.version if run.version is not None else '?')}, "
        f"window {_e(_when(run.window_start))} to {_e(_when(run.window_end))}, "
        f"{_e(run.rows if run.rows is not None else '?')} rows, started by {_e(run.started_by)} "
        f"({_e(run.trigger.value)}). Verdict: <b>{_e(verdict)}</b>"
        + (f" ({_e(share)})" if share else "")
        + ".</p>"
        + (f'<p class="meta">Report: <code>{_e(run.report_uri)}</code></p>' if run.report_uri else "")
    )
    rows: list[str] = []
    for feature in run.features:
        methods = feature.methods or []
        span = max(1, len(methods))
        verdict_badge = (
            _badge("drifted", "bad")
            if feature.drifted
            else _badge("no drift", "good")
            if feature.status == "checked"
            else _badge(feature.status.replace("_", " "), "warn")
        )
        lead = (
            f'<td rowspan="{span}"><b>{_e(feature.name)}</b></td>'
            f'<td rowspan="{span}">{_e(feature.kind)}</td>'
            f'<td rowspan="{span}">{verdict_badge}</td>'
        )
        if not methods:
            rows.append(f'<tr>{lead}<td colspan="5" class="muted">no method ran</td></tr>')
            continue
        for index, method in enumerate(methods):
            cells = (
                f"<td>{_e(_METHOD_LABELS.get(method.method, method.method))}</td>"
                f'<td class="num">{_e(_score(method.score))}</td>'
                f'<td class="num">{_e(_score(method.threshold))}</td>'
                f"<td>{_e(method.threshold_source)}</td>"
                f"<td>{_badge('flagged', 'warn') if method.drifted else 'no'}</td>"
            )
            css = ' class="drifted"' if feature.drifted else ""
            rows.append(f"<tr{css}>{lead if index == 0 else ''}{cells}</tr>")
    parts.append(
        _table(
            [
                "feature",
                "kind",
                "verdict",
                "method",
                "score",
                "threshold",
                "threshold source",
                "flags drift",
            ],
            rows,
            numeric={4, 5},
        )
        if rows
        else "<p>No feature was checked.</p>"
    )
    return "".join(parts)


def _alerts_section(alerts: list[AlertTrail | Missing]) -> str:
    head = '<h2 id="alerts">Alerts and their deliveries</h2>'
    return _each(head, alerts, "The demo created no alert rule.", _alert_block)


def _alert_block(trail: AlertTrail) -> str:
    parts: list[str] = []
    rule = trail.rule
    states = getattr(rule, "states", [])
    state = ", ".join(
        _badge(s.status.value) + (f" since {_e(_when(s.fired_at))}" if s.fired_at else "") for s in states
    )
    parts.append(
        f"<h3>Alert <code>{_e(rule.alert_id)}</code>: {_e(rule.alert_type.value)} "
        f"{_badge(str(rule.severity.value) if rule.severity else '-')}</h3>"
        f'<p class="meta">Threshold {_e(f"{rule.threshold:g}")} over {_e(rule.evaluation_window)} '
        f"({_e(rule.schedule_expression or 'no schedule')}), channels "
        f"{_e(', '.join(rule.notification_channels) or 'none')}; created by {_e(rule.created_by)}"
        + (f"; state: {state}" if state else "")
        + ".</p>"
    )
    if isinstance(trail.deliveries, Missing):
        parts.append(_missing(trail.deliveries))
        return "".join(parts)
    rows: list[str] = []
    for delivery in trail.deliveries:
        attempts = delivery.attempts or []
        span = max(1, len(attempts))
        lead = (
            f'<td rowspan="{span}"><code>{_e(delivery.delivery_id)}</code></td>'
            f'<td rowspan="{span}">{_e(delivery.notification_kind.value)}</td>'
            f'<td rowspan="{span}">{_e(delivery.channel)}'
            + (f" ({_e(delivery.kind)})" if delivery.kind else "")
            + "</td>"
            f'<td rowspan="{span}">{_badge(delivery.status.value)}'
            + (f"<br>{_e(delivery.reason)}" if delivery.reason else "")
            + "</td>"
        )
        if not attempts:
            rows.append(f'<tr>{lead}<td colspan="5" class="muted">not tried yet</td></tr>')
            continue
        for index, attempt in enumerate(attempts):
            code = str(attempt.status_code) if attempt.status_code is not None else "no answer"
            rows.append(
                f"<tr>{lead if index == 0 else ''}"
                f'<td class="num">{_e(attempt.attempt)}</td>'
                f'<td class="when">{_e(_when(attempt.at))}</td>'
                f'<td class="num">{_e(code)}</td>'
                f'<td class="num">{_e(attempt.latency_ms)} ms</td>'
                f"<td>{_e(attempt.error or '')}</td></tr>"
            )
    parts.append(
        _table(
            ["delivery", "kind", "channel", "status", "attempt", "at", "HTTP status", "latency", "error"],
            rows,
            numeric={4, 6, 7},
        )
        if rows
        else "<p>Nothing was delivered for this alert.</p>"
    )
    return "".join(parts)


def _steps_section(steps: Sequence[StepOutcome]) -> str:
    head = '<h2 id="steps">The demo\'s steps</h2>'
    if not steps:
        return head + "<p>No step ran.</p>"
    rows = [
        _row(
            [
                _num(step.number),
                _e(step.section.value),
                _e(step.title),
                _badge("ok", "good") if step.ok else _badge("unexpected", "bad"),
                _e(step.summary),
                _num(f"{step.millis:.0f}"),
            ],
            css="" if step.ok else "fail",
        )
        for step in steps
    ]
    return head + _table(["#", "section", "step", "outcome", "what happened", "ms"], rows, numeric={0, 5})


# -- pieces -------------------------------------------------------------------------------------------


def _section_counts(steps: Iterable[StepOutcome]) -> dict[Section, tuple[int, int]]:
    ok: Counter[Section] = Counter()
    bad: Counter[Section] = Counter()
    for step in steps:
        (ok if step.ok else bad)[step.section] += 1
    return {section: (ok[section], bad[section]) for section in Section if ok[section] or bad[section]}


def _drift_badge(run: DriftRun) -> str:
    if run.drifted_features:
        return _badge("drift", "bad")
    return _badge("no drift", "good") if run.status == "succeeded" else ""


def _strategy(deployment: Deployment) -> str:
    """How the deployment changed its environment: a new endpoint, or blue/green over the last version;
    always behind a smoke-tested candidate endpoint. With its capacity and what started it."""
    config = deployment.config
    if config.serverless is not None:
        capacity = f"serverless {config.serverless.memory_size_mb} MB"
    else:
        capacity = f"{config.instance_type or '?'} x {config.initial_instance_count or '?'}"
    change = (
        f"blue/green from v{deployment.previous_version}"
        if deployment.previous_version is not None
        else "new endpoint"
    )
    run = getattr(deployment.source, "run_id", None)
    source = f"pipeline run {run}" if deployment.source.kind == "pipeline" and run else deployment.source.kind
    return f"{change}, candidate smoke test; {capacity}; via {source}"


def _run_of(execution_arn: str | None) -> str | None:
    """A Step Functions execution ARN's execution name: the run id."""
    if not execution_arn:
        return None
    return execution_arn.rsplit(":", 1)[-1]


def _review_of(review: Review | None) -> str:
    if review is None:
        return '<span class="muted">-</span>'
    return _review(review.by, review.at, review.comment)


def _review(by: str, at: datetime, comment: str = "") -> str:
    text = f'<b>{_e(by)}</b><br><span class="muted">{_e(_when(at))}</span>'
    if comment:
        text += f"<br>&ldquo;{_e(comment)}&rdquo;"
    return text


def _gaps(missing: Sequence[Missing]) -> str:
    if not missing:
        return ""
    items = "".join(f"<li>{_e(item.what)}: {_e(item.why)}</li>" for item in missing)
    return f'<div class="missing">This summary is incomplete: it could not fetch<ul>{items}</ul></div>'


def _missing(missing: Missing) -> str:
    return _missing_text(f"Could not fetch {missing.what}: {missing.why}")


def _missing_text(text: str) -> str:
    return f'<div class="missing">{_e(text)}</div>'


def _badge(value: str, tone: str | None = None) -> str:
    if tone is None:
        key = value.lower().replace(" ", "_")
        tone = "good" if key in _GOOD else "bad" if key in _BAD else "warn" if key in _WARN else ""
    return f'<span class="badge {tone}">{_e(value)}</span>'


def _table(headers: Sequence[str], rows: Sequence[str], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(
        f'<th class="num">{_e(name)}</th>' if index in numeric else f"<th>{_e(name)}</th>"
        for index, name in enumerate(headers)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _row(cells: Sequence[str], css: str = "") -> str:
    """A row of cells that are HTML already (escaped by the caller); `_num` cells keep their class."""
    body = "".join(cell if cell.startswith("<td") else f"<td>{cell}</td>" for cell in cells)
    return f'<tr class="{css}">{body}</tr>' if css else f"<tr>{body}</tr>"


def _num(value: object) -> str:
    return f'<td class="num">{_e(value)}</td>'


def _when_cell(moment: datetime | None) -> str:
    return f'<td class="when">{_e(_when(moment))}</td>'


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _score(value: float) -> str:
    return f"{value:.2e}" if value != 0 and abs(value) < 1e-3 else f"{value:.4f}"


def _href(path: Path) -> str:
    return path.as_uri() if path.is_absolute() else str(path)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)
