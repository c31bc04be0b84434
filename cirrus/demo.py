"""`make demo`: the model lifecycle on the local cloud, over HTTP, with a real token per role.

Every step states what it expects, including the refusals the platform must make; the demo exits
non-zero when any step does not behave as expected, so it doubles as an end-to-end check.
"""

from __future__ import annotations

import base64
import functools
import importlib.util
import io
import json
import os
import tarfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import requests

from cirrus.client import CirrusApiError, CirrusClient
from cirrus.demo_datasets import NOT_FEATURES, data_steps, lineage_step
from cirrus.demo_report import AlertTrail, Missing, Section, StepOutcome, SummaryData, render_summary
from cirrus.localcloud.receiver import Receiver, start_receiver
from cirrus_core.monitoring.destinations import verify
from cirrus_core.pipelines.models import RunDetail, RunStatus

if TYPE_CHECKING:
    from types import ModuleType

    from pydantic import BaseModel

    from cirrus.localcloud.databases import LocalPostgres
    from cirrus_core.alerting.records import DeliveryRecord
    from cirrus_core.metrics.models import MetricHistory
    from cirrus_core.monitoring.models import DriftRun
    from cirrus_core.registry.models import ModelVersion
    from cirrus_core.serving.deployment_models import Deployment

T = TypeVar("T")
P = ParamSpec("P")

Echo = Callable[[str], None]
MODEL = "fraud_detection"
PIPELINE = "training"
DEMO_ROWS = 2000
RUN_TIMEOUT_SECONDS = 300.0
DEMO_DATA = Path(__file__).resolve().parents[1] / "examples" / "demo_data.py"
FAULTY_INFERENCE = Path(__file__).resolve().parents[1] / "examples" / "faulty_inference" / "inference.py"
BATCH_ROWS = 40
# Drift: requests of DRIFT_BATCH records each, DRIFT_REQUESTS times, before and after the shift.
DRIFT_REQUESTS = 12
DRIFT_BATCH = 50
DRIFTED_FEATURES = ("amount", "channel")
ALERT_CHANNEL = "ml-oncall"
METRICS_TIMEOUT_SECONDS = 60.0
DELIVERY_TIMEOUT_SECONDS = 60.0
REPORTS_DIR = Path(".cirrus") / "demo"
SUMMARY_FILE = "summary.html"
# The summary reads at most this many of the model's drift runs and alert rules back.
SUMMARY_LIMIT = 20


def demo_data() -> ModuleType:
    """examples/demo_data.py, the seeded generator of the demo dataset (loaded from the checkout)."""
    spec = importlib.util.spec_from_file_location("cirrus_demo_data", DEMO_DATA)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(DEMO_DATA)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Trail:
    """What the walkthrough started, by id, for the summary to read back from the API (in order), and
    the drift reports it wrote."""

    pipeline_runs: list[str] = field(default_factory=list)
    drift_runs: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    reports: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class AlertInbox:
    """Where the demo's alert channel delivers: a path on the local receiver, and the shared secret."""

    receiver: Receiver
    path: str
    secret: str

    @property
    def url(self) -> str:
        return self.receiver.url(self.path)

    @classmethod
    def open(cls, receiver: Receiver) -> AlertInbox:
        secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        return cls(receiver, f"/hooks/{ALERT_CHANNEL}", secret)


class Walkthrough:
    """Runs numbered steps against the API and keeps their outcomes.

    Each step falls in a `Section`: the current `section`, or the one a step names; every refusal the
    platform must make falls in `Section.SECURITY`.
    """

    def __init__(self, clients: dict[str, CirrusClient], echo: Echo) -> None:
        self._clients = clients
        self._echo = echo
        self.outcomes: list[StepOutcome] = []
        self.section = Section.TRAINING
        self.trail = Trail()

    def expect_ok(
        self,
        role: str,
        title: str,
        call: Callable[[CirrusClient], BaseModel],
        describe: Callable[[Any], str],
        holds: Callable[[Any], bool] = lambda _: True,
        section: Section | None = None,
    ) -> Any:
        """Run a call that must succeed, and whose answer must satisfy `holds`."""
        started = time.perf_counter()
        try:
            result = call(self._clients[role])
        except CirrusApiError as error:
            return self.record(
                f"{role}: {title}", False, f"unexpected {error.status} {error.code}", started, section
            )
        self.record(f"{role}: {title}", holds(result), describe(result), started, section)
        return result

    def expect_refusal(
        self, role: str, title: str, call: Callable[[CirrusClient], BaseModel], status: int, code: str
    ) -> None:
        """Run a call the platform must refuse with this status and code."""
        started = time.perf_counter()
        try:
            call(self._clients[role])
        except CirrusApiError as error:
            ok = (error.status, error.code) == (status, code)
            self.record(
                f"{role}: {title}",
                ok,
                f"refused {error.status} {error.code}: {error.message}",
                started,
                Section.SECURITY,
            )
            return
        self.record(
            f"{role}: {title}", False, f"accepted, expected {status} {code}", started, Section.SECURITY
        )

    def note(self, text: str) -> None:
        """Print a progress line that is not a step of its own."""
        self._echo(f"        {text}")

    def client(self, role: str) -> CirrusClient:
        """The API client of a role."""
        return self._clients[role]

    def record(
        self, title: str, ok: bool, summary: str, started: float, section: Section | None = None
    ) -> None:
        """Keep and print the outcome of a step that began at `started` (perf_counter)."""
        outcome = StepOutcome(
            len(self.outcomes) + 1,
            title,
            ok,
            summary,
            (time.perf_counter() - started) * 1000,
            section or self.section,
        )
        self.outcomes.append(outcome)
        mark = "ok " if ok else "FAIL"
        self._echo(
            f"  {outcome.number:>2}. [{mark}] {title}\n        -> {summary}  ({outcome.millis:.0f} ms)"
        )


def registration(
    version_note: str,
    artifact: str,
    metrics: dict[str, float],
    parent: int | None,
    sample_payloads_uri: str | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "model_name": MODEL,
        "model_type": "xgboost",
        "framework_version": "1.7.6",
        "training_metadata": {
            "dataset_version": "transactions-2026-11",
            "hyperparameters": {"max_depth": 6, "eta": 0.3, "objective": "binary:logistic"},
            "metrics": metrics,
        },
        "artifact_location": artifact,
        "description": version_note,
        "tags": {"team": "risk"},
    }
    if parent is not None:
        payload["parent_version"] = parent
    if sample_payloads_uri is not None:
        payload["sample_payloads_uri"] = sample_payloads_uri
    return payload


def follow_run(
    w: Walkthrough, role: str, pipeline_id: str, run_id: str, until: Callable[[RunDetail], bool]
) -> RunDetail:
    """Print each step's status as it changes, until `until` holds or the run ends."""
    client = w.client(role)
    shown: dict[str, str] = {}
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while True:
        run = client.get_run(pipeline_id, run_id)
        for step in run.steps:
            status = step.status.value
            if status != "Pending" and shown.get(step.name) != status:
                shown[step.name] = status
                took = f" in {step.duration_seconds:.1f} s" if step.duration_seconds is not None else ""
                w.note(f"{step.name:<20} {status}{took}")
        if until(run) or run.status is not RunStatus.RUNNING or time.monotonic() > deadline:
            return run
        time.sleep(0.3)


def awaiting_approval(run: RunDetail) -> bool:
    """The run registered its version and waits at the approval gate."""
    deploy = next((step for step in run.steps if step.name == "deploy"), None)
    return run.registration is not None and deploy is not None and deploy.status.value == "Running"


def train_through_pipeline(
    w: Walkthrough, role: str, title: str, parameters: dict[str, Any]
) -> tuple[str | None, int | None]:
    """Start the training pipeline and follow it to the approval gate; the run id and version."""
    w.section = Section.TRAINING
    started = w.expect_ok(
        role,
        title,
        lambda c: c.execute_pipeline(PIPELINE, {"model_name": MODEL, **parameters}),
        lambda r: f"run {r.run_id} started ({r.status.value})",
    )
    if started is None:
        return None, None
    w.trail.pipeline_runs.append(started.run_id)
    begun = time.perf_counter()
    run = follow_run(w, role, PIPELINE, started.run_id, awaiting_approval)
    version = run.registration.version if run.registration else None
    metrics = w.client(role).get_version(MODEL, version).training_metadata.metrics if version else {}
    w.record(
        f"{role}: the run trains, evaluates, passes the quality gate and registers",
        awaiting_approval(run),
        (
            f"v{version} registered with test accuracy {metrics.get('test:accuracy', float('nan')):.3f}; "
            "the run now waits for a reviewer"
            if version
            else f"run ended {run.status.value}: {run.failure}"
        ),
        begun,
    )
    return started.run_id, version


def approve_and_finish(
    w: Walkthrough, run_id: str | None, version: int | None, comment: str, then: str
) -> None:
    """A reviewer approves the version the run registered; the run then does `then` and completes."""
    if run_id is None or version is None:
        return
    w.expect_ok(
        "model_reviewer",
        f"approve v{version}",
        lambda c: c.approve(MODEL, version, comment),
        lambda v: f"{v.approval_status} by {v.review.by}",
        section=Section.APPROVALS,
    )
    w.section = Section.TRAINING
    begun = time.perf_counter()
    run = follow_run(w, "ml_engineer", PIPELINE, run_id, lambda r: r.status is not RunStatus.RUNNING)
    w.record(
        f"the run resumes at the approval gate, {then}",
        run.status is RunStatus.SUCCEEDED,
        f"run {run.status.value}"
        + (f": {run.failure.step} {run.failure.cause}"[:200] if run.failure else ""),
        begun,
    )


def follow_deployment(w: Walkthrough, deployment: Deployment) -> Deployment:
    """Wait for a deployment started over the API to end, printing each step it passes."""
    client = w.client("ml_engineer")
    shown = 0
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while True:
        deployment = client.get_deployment(MODEL, deployment.deployment_id)
        for entry in deployment.history[shown:]:
            w.note(f"{entry.step:<28} {entry.status.value}  {entry.message}"[:150])
        shown = len(deployment.history)
        if deployment.status.value != "in_progress" or time.monotonic() > deadline:
            return deployment
        time.sleep(0.3)


class TrafficDuringRollout:
    """Predictions sent to an environment from another thread while a deployment runs."""

    def __init__(self, client: CirrusClient, environment: str, payload: Any) -> None:
        self._client = client
        self._environment = environment
        self._payload = payload
        self._stop = threading.Event()
        self.answered_by: list[int] = []
        self.failures: list[str] = []
        self._thread = threading.Thread(target=self._send, name="demo-traffic", daemon=True)

    def __enter__(self) -> TrafficDuringRollout:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _send(self) -> None:
        while not self._stop.is_set():
            try:
                answer = self._client.predict(MODEL, self._payload, environment=self._environment)
            except (CirrusApiError, requests.RequestException) as error:
                self.failures.append(str(error))
            else:
                self.answered_by.append(answer.version)
            self._stop.wait(0.05)


def faulty_model_archive() -> bytes:
    """model.tar.gz with examples/faulty_inference/inference.py as its `code/inference.py`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(FAULTY_INFERENCE, arcname="code/inference.py")
    return buffer.getvalue()


def walk(
    walkthrough: Walkthrough,
    artifact_bucket: str,
    api_url: str,
    upload: Callable[[str, bytes], str],
    download: Callable[[str], bytes],
    inbox: AlertInbox,
    postgres: LocalPostgres,
) -> None:
    """The lifecycle: train, review, deploy through the pipeline, predict, redeploy, a safe rollback."""
    w = walkthrough
    rows = demo_data().generate(DEMO_ROWS, seed=7, task="classification")
    training = data_steps(w, postgres, rows)
    w.section = Section.TRAINING
    if training is not None:
        data: dict[str, Any] = {"data_source": training.reference, "exclude_columns": list(NOT_FEATURES)}
    else:
        # The data steps failed (and say so): train from the same rows as a CSV object, so the rest
        # of the lifecycle still runs.
        started = time.perf_counter()
        source = upload("datasets/demo/transactions.csv", rows.to_csv(index=False).encode())
        w.record(
            "anyone: upload the demo dataset as CSV instead", True, f"{len(rows)} rows at {source}", started
        )
        data = {"data_source": source}
    first_run, first = train_through_pipeline(
        w,
        "ml_engineer",
        f"train {MODEL} from the training set through the training pipeline, to deploy to staging and "
        "prod once approved",
        {**data, "model_type": "xgboost", "target_accuracy": 0.85, "deploy_to": ["staging", "prod"]},
    )
    w.expect_refusal(
        "ml_engineer",
        f"deploy v{first} to prod before anyone approved it",
        lambda c: c.deploy(MODEL, first or 1, "prod"),
        409,
        "version_not_approved",
    )
    approve_and_finish(
        w, first_run, first, "Baseline accepted.", "deploys it to staging, then prod (smoke-tested)"
    )
    transaction = rows.drop(columns=["label"]).iloc[[0]].to_dict(orient="records")
    w.section = Section.SERVING
    w.expect_ok(
        "data_scientist",
        "predict one raw transaction on prod",
        lambda c: c.predict(MODEL, {"instances": transaction}, environment="prod"),
        lambda p: (
            f"v{p.version} says {p.predictions['predictions'][0]} "
            f"(fraud probability {p.predictions['probabilities'][0][-1]:.3f}), inference id {p.inference_id}"
        ),
        holds=lambda p: p.version == first,
    )
    if training is not None and first is not None:
        lineage_step(w, MODEL, first, training)
    second_run, second = train_through_pipeline(
        w,
        "data_scientist",
        f"retrain {MODEL} with deeper trees, reusing the cached preprocessing and features (no deploy)",
        {
            **data,
            "model_type": "xgboost",
            "target_accuracy": 0.85,
            "hyperparameters": {"max_depth": 8, "n_estimators": 150},
            "use_cache": True,
            "deploy_to": [],
        },
    )
    approve_and_finish(w, second_run, second, "Calibration and fairness checks pass.", "completes")
    w.expect_refusal(
        "data_scientist",
        f"deploy v{second} to prod (deploying needs model_deploy, which data scientists do not hold)",
        lambda c: c.deploy(MODEL, second or 2, "prod"),
        403,
        "access_denied",
    )
    deploy_step(w, second or 2, "prod", f"deploy v{second} to prod over the API (blue/green)", "succeeded")
    w.section = Section.SERVING
    w.expect_ok(
        "data_scientist",
        "predict the same transaction on prod",
        lambda c: c.predict(MODEL, {"instances": transaction}, environment="prod"),
        lambda p: f"v{p.version} answers {p.predictions['predictions'][0]}",
        holds=lambda p: p.version == second,
    )
    w.section = Section.APPROVALS
    samples = w.client("model_reviewer").get_version(MODEL, second or 2).sample_payloads_uri
    faulty = upload(f"models/{MODEL}/hand-packed/model.tar.gz", faulty_model_archive())
    broken = w.expect_ok(
        "admin",
        f"register {MODEL} packed by hand with an inference script that fails every request",
        lambda c: c.register_model(
            registration(
                "Hand-packed build; its inference script reads a feature the data never had.",
                faulty,
                {"auc": 0.93},
                second,
                samples,
            )
        ),
        lambda v: f"version {v.version}, {v.approval_status}",
    )
    broken_version = broken.version if broken else 3
    w.expect_refusal(
        "admin",
        f"approve v{broken_version}, which the admin registered (separation of duties binds admins too)",
        lambda c: c.approve(MODEL, broken_version, "self-approved"),
        403,
        "access_denied",
    )
    w.expect_ok(
        "model_reviewer",
        f"approve v{broken_version} (a second person decides; the review cannot see the bug)",
        lambda c: c.approve(MODEL, broken_version, "Metrics look fine."),
        lambda v: f"{v.approval_status} by {v.review.by if v.review else '?'}",
    )
    with TrafficDuringRollout(
        w.client("data_scientist").clone(), "prod", {"instances": transaction}
    ) as traffic:
        deploy_step(
            w,
            broken_version,
            "prod",
            f"deploy v{broken_version} to prod while traffic flows: the smoke test fails, it rolls back",
            "rolled_back",
        )
        time.sleep(0.5)
    started = time.perf_counter()
    served = sorted(set(traffic.answered_by))
    w.record(
        "anyone: every prediction sent during and after the attempt succeeded",
        not traffic.failures and served == [second],
        f"{len(traffic.answered_by)} answered, all by v{served[0] if served else '?'}; "
        f"{len(traffic.failures)} failed",
        started,
    )
    w.expect_ok(
        "ml_engineer",
        "read the model's environments",
        lambda c: c.list_deployments(MODEL),
        lambda d: (
            ", ".join(f"{e.environment.value}: v{e.version} {e.status.value}" for e in d.environments)
            + f"; {len(d.items)} deployments"
        ),
        holds=lambda d: (
            {e.environment.value: e.version for e in d.environments} == {"staging": first, "prod": second}
        ),
    )
    monitored = drift_step(w, second or 2, inbox)
    batch_step(w, rows, upload, download, second or 2)
    edge_step(w, second or 2)
    w.expect_refusal(
        "admin",
        f"retire v{second} while prod serves it",
        lambda c: c.retire(MODEL, second or 2),
        409,
        "alias_in_use",
    )
    w.section = Section.DEPLOYMENTS
    w.expect_ok(
        "model_reviewer",
        "read prod's promotion history (deployments move the alias)",
        lambda c: c.promotions(MODEL, "prod"),
        lambda p: ", ".join(f"#{i.sequence} {i.action} v{i.version}" for i in reversed(p.items)),
    )
    w.section = Section.APPROVALS
    w.expect_ok(
        "data_scientist",
        f"read the lineage of v{second}",
        lambda c: c.lineage(MODEL, second or 2),
        lambda g: (
            f"{len(g.nodes)} nodes, edges: "
            + ", ".join(f"{e.source} {e.relation} {e.target}" for e in g.edges[:3])
        ),
    )
    w.section = Section.SECURITY
    w.expect_ok(
        "model_reviewer",
        "verify the audit trail (hash chain against its latest signed anchor)",
        lambda c: c.verify_audit(),
        lambda r: (
            f"intact={r.intact}, {r.records} records, head seq {r.head_seq}"
            + (f", first bad seq {r.first_bad_seq}: {r.reason}" if not r.intact else "")
        ),
        holds=lambda r: r.intact,
    )
    started = time.perf_counter()
    anonymous = requests.get(f"{api_url}/models/{MODEL}", timeout=10)
    w.record(
        "anyone: read a model without a token",
        anonymous.status_code == 401,
        f"refused {anonymous.status_code} {anonymous.text.strip()}",
        started,
    )
    # The monitoring that went on meanwhile: the alert that was sent, accuracy, what Prometheus sees.
    alert_delivery_step(w, inbox)
    accuracy_step(w, monitored)
    prometheus_step(w)


def deploy_step(w: Walkthrough, version: int, environment: str, title: str, expected: str) -> None:
    """Deploy a version over the API and follow it; `expected` is the status it must end in."""
    w.section = Section.DEPLOYMENTS
    started = w.expect_ok(
        "ml_engineer",
        title,
        lambda c: c.deploy(MODEL, version, environment),
        lambda d: f"deployment {d.deployment_id} {d.status.value}",
    )
    if started is None:
        return
    begun = time.perf_counter()
    ended = follow_deployment(w, started)
    outcome = f"{ended.status.value}" + (
        f" at {ended.failed_step}: {ended.cause}"[:200] if ended.cause else ""
    )
    w.record(
        f"the deployment of v{version} to {environment} ends {expected}",
        ended.status.value == expected,
        outcome,
        begun,
    )


@dataclass(frozen=True)
class LabelledTraffic:
    """The normal traffic the demo sent: when it began, each request's inference id and rows, the labels."""

    since: datetime
    requests: list[tuple[str, int]]
    labels: list[int]


def drift_step(w: Walkthrough, version: int, inbox: AlertInbox) -> LabelledTraffic:
    """Normal traffic, then traffic with two features shifted; a monitor run after each, the second
    of which fires the drift alert to the signed webhook channel."""
    w.section = Section.MONITORING
    w.expect_ok(
        "model_reviewer",
        f"read v{version}'s drift baseline (the pipeline profiled its raw training split)",
        lambda c: c.get_version(MODEL, version),
        lambda v: f"baseline_uri {v.baseline_uri}",
        holds=lambda v: bool(v.baseline_uri),
    )
    w.expect_refusal(
        "admin",
        "add a webhook channel pointing at the instance metadata address",
        lambda c: c.create_channel(
            "metadata",
            "webhook",
            {"url": "https://169.254.169.254/latest/meta-data", "signing_secret": inbox.secret},
        ),
        422,
        "destination_refused",
    )
    w.expect_ok(
        "admin",
        f"add the {ALERT_CHANNEL} webhook channel (signed; its secret goes to Secrets Manager)",
        lambda c: c.create_channel(
            ALERT_CHANNEL, "webhook", {"url": inbox.url, "signing_secret": inbox.secret}
        ),
        lambda ch: f"channel {ch.name}: {ch.type} to {ch.host}, secret version {ch.secret_version}",
    )
    w.expect_refusal(
        "admin",
        "schedule a drift alert every 2 minutes (shorter than the 5-minute minimum)",
        lambda c: c.create_alert(MODEL, "drift_detection", 0.2, evaluation_window="2m"),
        422,
        "validation_error",
    )
    rule = w.expect_ok(
        "admin",
        f"alert {ALERT_CHANNEL} when 20% of prod's features drift (a monitor run every hour)",
        lambda c: c.create_alert(
            MODEL, "drift_detection", 0.2, evaluation_window="1h", notification_channels=[ALERT_CHANNEL]
        ),
        lambda a: f"alert {a.alert_id}, schedule {a.schedule_expression}",
    )
    if rule is not None:
        w.trail.alerts.append(rule.alert_id)
    client = w.client("data_scientist")
    normal = demo_data().generate(DRIFT_REQUESTS * DRIFT_BATCH, seed=11, task="classification")
    labels = [int(label) for label in normal.pop("label")]
    shifted = demo_data().generate(DRIFT_REQUESTS * DRIFT_BATCH, seed=12).drop(columns=["label"])
    shifted["amount"] = (shifted["amount"] * 3.0).round(2)
    shifted["channel"] = ["online" if i % 10 < 7 else c for i, c in enumerate(shifted["channel"])]
    normal_start = _next_second()
    normal_ids = _send_traffic(client, normal)
    normal_end = _next_second()
    _send_traffic(client, shifted)
    shifted_end = _next_second()
    expected: set[str] = set()
    for label, start, end, drifted in (
        ("normal", normal_start, normal_end, expected),
        ("shifted", normal_end, shifted_end, set(DRIFTED_FEATURES)),
    ):
        run = w.expect_ok(
            "data_scientist",
            f"run the drift monitor over the {DRIFT_REQUESTS * DRIFT_BATCH} {label} transactions sent "
            "to prod",
            functools.partial(_finished_drift_run, start=start, end=end),
            _describe_drift_run,
            holds=functools.partial(_verdict_is, drifted),
        )
        if run is not None:
            w.trail.drift_runs.append(run.run_id)
        if run is not None and run.drifted_features:
            report = client.drift_report(MODEL, run.run_id)
            REPORTS_DIR.mkdir(parents=True, exist_ok=True)
            path = REPORTS_DIR / f"drift-report-{run.run_id}.html"
            path.write_text(report, encoding="utf-8")
            w.trail.reports.append(path.resolve())
            w.note(f"report: {path.resolve()} (also {run.report_uri})")
    return LabelledTraffic(normal_start, normal_ids, labels)


def alert_delivery_step(w: Walkthrough, inbox: AlertInbox) -> None:
    """The drift alert, as the webhook receiver got it, with its Standard Webhooks signature checked."""
    w.section = Section.MONITORING
    started = time.perf_counter()
    try:
        arrived = inbox.receiver.wait_for(inbox.path, 1, timeout=DELIVERY_TIMEOUT_SECONDS)[0]
    except AssertionError as error:
        w.record(f"receiver: get the drift alert at {inbox.url}", False, str(error), started)
        return
    verified = verify(inbox.secret, arrived.headers, arrived.body, now=int(time.time()))
    body = arrived.json()
    holds = verified and body.get("kind") == "trigger" and body.get("alert_type") == "drift_detection"
    w.record(
        f"receiver: get the drift alert at {inbox.url}",
        holds,
        f"{body.get('summary')}; webhook-id {arrived.headers.get('webhook-id')}, signature "
        + ("verified with the channel's secret" if verified else "DOES NOT VERIFY"),
        started,
    )
    w.note(f"webhook-signature: {arrived.headers.get('webhook-signature', '')[:40]}...")


def accuracy_step(w: Walkthrough, traffic: LabelledTraffic) -> None:
    """Labels for the normal traffic arrive later: joined to the predictions, they make accuracy."""
    w.section = Section.MONITORING
    since, predictions, labels = traffic.since, traffic.requests, traffic.labels
    w.expect_ok(
        "data_scientist",
        f"read prod's invocations per minute (the {2 * DRIFT_REQUESTS} monitored requests among them)",
        functools.partial(_metric_settled, metric="invocations", since=since, total=2 * DRIFT_REQUESTS),
        lambda h: ", ".join(f"{p.timestamp:%H:%M} {p.value:g}" for p in h.points),
        holds=lambda h: sum(p.value for p in h.points) >= 2 * DRIFT_REQUESTS,
    )
    records: list[dict[str, Any]] = []
    offset = 0
    for inference_id, rows in predictions:
        records.append({"inference_id": inference_id, "label": labels[offset : offset + rows]})
        offset += rows
    result = w.expect_ok(
        "data_scientist",
        f"send the ground truth of the {offset} normal transactions (one labelled list per request)",
        lambda c: c.put_ground_truth(records),
        lambda r: f"{r.recorded} requests joined, {r.rows_correct} of {r.rows_compared} rows predicted right",
        holds=lambda r: r.recorded == len(records) and r.rows_compared == offset,
    )
    if result is None:
        return
    expected = result.rows_correct / result.rows_compared
    until = datetime.now(UTC) + timedelta(minutes=1)
    reader = w.client("model_reviewer")

    def hourly(client: CirrusClient, metric: str) -> MetricHistory:
        return client.model_metrics(MODEL, metric, start=since, end=until, resolution="1h")

    def weighted(history: MetricHistory) -> float:
        # An hour bucket each; the demo may straddle two, so weigh each by its labelled rows.
        counts = {p.timestamp: p.value for p in hourly(reader, "ground_truth_count").points}
        total = sum(counts.get(p.timestamp, 0.0) for p in history.points)
        return sum(p.value * counts.get(p.timestamp, 0.0) for p in history.points) / total if total else -1.0

    w.expect_ok(
        "model_reviewer",
        "read prod's accuracy from the joined ground truth (GET .../metrics?metric=accuracy)",
        lambda c: hourly(c, "accuracy"),
        lambda h: ", ".join(f"{p.timestamp:%H:%M} bucket {p.value:.3f}" for p in h.points) or "no data",
        holds=lambda h: abs(weighted(h) - expected) < 1e-9,
    )


def _metric_settled(client: CirrusClient, *, metric: str, since: datetime, total: int) -> MetricHistory:
    """The metric at 1-minute resolution once its points add up to `total` (aggregation is queued)."""
    deadline = time.monotonic() + METRICS_TIMEOUT_SECONDS
    while True:
        history = client.model_metrics(
            MODEL,
            metric,
            start=since - timedelta(minutes=1),
            end=datetime.now(UTC) + timedelta(minutes=1),
            resolution="1m",
        )
        if sum(p.value for p in history.points) >= total or time.monotonic() > deadline:
            return history
        time.sleep(0.2)


def prometheus_step(w: Walkthrough) -> None:
    """What a Prometheus server scrapes: counters, the latency histogram and accuracy, per version."""
    w.section = Section.MONITORING
    started = time.perf_counter()
    try:
        text = w.client("model_reviewer").prometheus_metrics()
    except CirrusApiError as error:
        w.record(
            "model_reviewer: scrape the Prometheus metrics", False, f"{error.status} {error.code}", started
        )
        return
    wanted = (
        "cirrus_model_invocations_total{",
        "cirrus_model_latency_seconds_count{",
        "cirrus_model_accuracy{",
    )
    lines = [
        line
        for line in text.splitlines()
        if line.startswith(wanted) and f'model="{MODEL}"' in line and 'environment="prod"' in line
    ]
    found = {prefix for prefix in wanted if any(line.startswith(prefix) for line in lines)}
    w.record(
        "model_reviewer: scrape the Prometheus metrics (GET /monitoring/metrics)",
        found == set(wanted),
        f"{len(text.splitlines())} lines; prod's series: {len(lines)}",
        started,
    )
    for line in lines:
        w.note(line)


def _verdict_is(drifted: set[str], run: DriftRun) -> bool:
    return run.status == "succeeded" and set(run.drifted_features) == drifted


def _next_second() -> datetime:
    """A whole second strictly after now, once it has passed (capture times have second resolution)."""
    moment = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    time.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()) + 0.01)
    return moment


def _send_traffic(client: CirrusClient, frame: Any) -> list[tuple[str, int]]:
    """Predict in requests of DRIFT_BATCH rows; each request's inference id and row count."""
    records = json.loads(frame.to_json(orient="records"))
    sent = []
    for index in range(0, len(records), DRIFT_BATCH):
        batch = records[index : index + DRIFT_BATCH]
        prediction = client.predict(MODEL, {"instances": batch}, environment="prod")
        sent.append((prediction.inference_id, len(batch)))
    return sent


def _finished_drift_run(client: CirrusClient, *, start: datetime, end: datetime) -> DriftRun:
    started = client.start_drift_run(MODEL, environment="prod", window_start=start, window_end=end)
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        run = client.get_drift_run(MODEL, started.run_id)
        if run.status != "running":
            return run
        time.sleep(0.2)
    raise TimeoutError(f"drift run {started.run_id} did not finish")


def _describe_drift_run(run: DriftRun) -> str:
    if run.status != "succeeded":
        return f"{run.status}: {run.failure_reason}"
    drifted = []
    for feature in run.features:
        if feature.drifted:
            psi = next((m for m in feature.methods if m.method == "psi"), None)
            detail = f" (PSI {psi.score:.2f} >= {psi.threshold:.3f}, {psi.threshold_source})" if psi else ""
            drifted.append(f"{feature.name}{detail}")
    verdict = ", ".join(drifted) if drifted else "no feature drifted"
    return f"{run.rows} rows, {len(run.features)} features checked: {verdict}"


def batch_step(
    w: Walkthrough,
    rows: Any,
    upload: Callable[[str, bytes], str],
    download: Callable[[str], bytes],
    version: int,
) -> None:
    """Score a file of transactions with a batch transform job: one output line per input line."""
    w.section = Section.SERVING
    records = rows.drop(columns=["label"]).head(BATCH_ROWS).to_dict(orient="records")
    body = "".join(json.dumps({"instances": [record]}) + "\n" for record in records).encode()
    source = upload("datasets/demo/batch/transactions.jsonl", body)
    output = source.rsplit("/", 2)[0] + "/batch-scores/"
    job = w.expect_ok(
        "data_scientist",
        f"score {len(records)} transactions with a batch transform job (the version prod serves)",
        lambda c: c.start_batch_job(
            MODEL, input_uri=source, output_uri=output, environment="prod", content_type="application/json"
        ),
        lambda j: f"job {j.job_id} {j.status.value} on v{j.version}",
    )
    if job is None:
        return
    begun = time.perf_counter()
    client = w.client("data_scientist")
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while job.status.value == "in_progress" and time.monotonic() < deadline:
        time.sleep(0.3)
        job = client.get_batch_job(MODEL, job.job_id)
    lines = (
        download(f"{output}transactions.jsonl.out").decode().splitlines()
        if job.status.value == "succeeded"
        else []
    )
    w.record(
        "the batch job writes one scored line per transaction",
        job.status.value == "succeeded" and len(lines) == len(records) and job.version == version,
        f"{job.status.value}: {len(lines)} lines at {output}",
        begun,
    )


def edge_step(w: Walkthrough, version: int) -> None:
    """Package a version for a Jetson Nano (Neo + Greengrass v2) and verify its signed manifest."""
    w.section = Section.SERVING
    package = w.expect_ok(
        "ml_engineer",
        f"package v{version} for a Jetson Nano (Neo compilation, Greengrass v2 component, KMS-signed)",
        lambda c: c.create_edge_package(
            MODEL,
            {
                "version": version,
                "target_device": "jetson_nano",
                "framework": "XGBOOST",
                "data_input_config": '{"input": [1, 12]}',
            },
        ),
        lambda p: f"package {p.package_id} {p.status.value}",
    )
    if package is None:
        return
    begun = time.perf_counter()
    client = w.client("ml_engineer")
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while package.status.value not in ("ready", "failed") and time.monotonic() < deadline:
        time.sleep(0.3)
        package = client.get_edge_package(MODEL, package.package_id)
    w.record(
        "the package is built",
        package.status.value == "ready",
        f"{package.status.value}: {package.component_name}; {package.compilation_note}"[:220],
        begun,
    )
    w.expect_ok(
        "model_reviewer",
        "verify the package: every artifact's SHA-256 and the manifest's signature",
        lambda c: c.verify_edge_package(MODEL, package.package_id),
        lambda v: f"valid={v.valid}, {len(v.artifacts)} artifacts, signature_valid={v.signature_valid}",
        holds=lambda v: v.valid,
    )


def gather_summary(client: CirrusClient, walkthrough: Walkthrough, api_url: str) -> SummaryData:
    """Read back from the API what the walkthrough left behind, for the HTML summary.

    The model's versions and deployments, and each pipeline run, drift run and alert rule the
    walkthrough started (by id), with the alert's deliveries. Each is fetched on its own, a few at a
    time (the routes not called before start cold); one that cannot be is a `Missing` naming what and
    why, so the page shows the failure where it would be and the rest still renders.
    """
    trail = walkthrough.trail
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="demo-summary") as pool:

        def fetch(
            what: str, call: Callable[Concatenate[CirrusClient, P], T], *args: P.args, **kwargs: P.kwargs
        ) -> Future[T | Missing]:
            # A client of its own per call: a requests.Session is not for two threads.
            return pool.submit(_fetch, what, lambda: call(client.clone(), *args, **kwargs))

        versions = fetch(f"the versions of {MODEL}", _all_versions)
        deployments = fetch(f"the deployments of {MODEL}", CirrusClient.list_deployments, MODEL, limit=100)
        runs = [
            fetch(f"pipeline run {run_id}", CirrusClient.get_run, PIPELINE, run_id)
            for run_id in trail.pipeline_runs
        ]
        drift_runs = [
            fetch(f"drift run {run_id}", CirrusClient.get_drift_run, MODEL, run_id)
            for run_id in trail.drift_runs
        ]
        rules = [
            (
                fetch(f"alert {alert_id}", CirrusClient.get_alert, alert_id),
                fetch(f"the deliveries of alert {alert_id}", _deliveries, alert_id),
            )
            for alert_id in trail.alerts
        ]
        alerts: list[AlertTrail | Missing] = []
        for rule, deliveries in rules:
            found = rule.result()
            alerts.append(found if isinstance(found, Missing) else AlertTrail(found, deliveries.result()))
        return SummaryData(
            model_id=MODEL,
            api_url=api_url,
            generated_at=datetime.now(UTC),
            steps=list(walkthrough.outcomes),
            versions=versions.result(),
            pipeline_runs=[run.result() for run in runs],
            deployments=deployments.result(),
            drift_runs=[run.result() for run in drift_runs],
            alerts=alerts,
            reports=list(trail.reports),
        )


def _all_versions(client: CirrusClient) -> list[ModelVersion]:
    return client.list_versions(MODEL, limit=100).items


def _deliveries(client: CirrusClient, alert_id: str) -> list[DeliveryRecord]:
    return client.alert_deliveries(alert_id, limit=SUMMARY_LIMIT).items


def _fetch(what: str, call: Callable[[], T]) -> T | Missing:
    """The call's answer, or what could not be fetched and why (the summary must not stop the demo)."""
    try:
        return call()
    except CirrusApiError as error:
        return Missing(what, f"the API answered {error.status} {error.code}: {error.message}")
    except requests.RequestException as error:
        return Missing(what, f"the request failed: {error}")
    except Exception as error:  # a parse error or a bug: shown on the page, not raised
        return Missing(what, f"{type(error).__name__}: {error}")


def write_summary(data: SummaryData, directory: Path) -> Path:
    """Render the HTML summary into `directory`; the file's absolute path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = (directory / SUMMARY_FILE).resolve()
    path.write_text(render_summary(data), encoding="utf-8")
    return path


def print_summary(
    echo: Echo,
    outcomes: list[StepOutcome],
    phases: dict[str, float],
    data: SummaryData | None,
    written: Path | str,
) -> None:
    """The end of the demo: the phases' times, the steps by section, the runs, where the reports are."""
    failed = [outcome for outcome in outcomes if not outcome.ok]
    width = max((len(phase) for phase in phases), default=0)
    echo("\nSummary")
    for phase, seconds in phases.items():
        echo(f"  {phase:<{width}} {seconds:7.2f} s")
    echo(f"  {len(outcomes)} steps: {len(outcomes) - len(failed)} as expected, {len(failed)} unexpected")
    for section in Section:
        steps = [outcome for outcome in outcomes if outcome.section is section]
        if not steps:
            continue
        bad = [f"#{outcome.number}" for outcome in steps if not outcome.ok]
        verdict = f"{len(bad)} unexpected ({', '.join(bad)})" if bad else "all as expected"
        echo(f"    {section.value:<32} {len(steps):>2} steps, {verdict}")
    if data is not None:
        runs = [
            f"{run.what} (not fetched)" if isinstance(run, Missing) else f"{run.run_id} {run.status.value}"
            for run in data.pipeline_runs
        ]
        echo("  pipeline runs: " + (", ".join(runs) or "none started"))
        for report in data.reports:
            echo(f"  drift report:  {report}")
    echo(f"  HTML summary:  {written}")


def run_demo(project_dir: Path, echo: Echo = print) -> int:
    """Start the local cloud, walk the lifecycle, stop; 0 when every step behaved as expected."""
    from cirrus.localcloud.cloud import LocalCloud
    from cirrus.localcloud.databases import LocalPostgres

    echo("Cirrus demo: the model lifecycle on the local cloud (no AWS account, no Docker)\n")
    phases: dict[str, float] = {}
    summary: SummaryData | None = None
    started = time.perf_counter()
    receiver = start_receiver()
    inbox = AlertInbox.open(receiver)
    # The source the demo's data comes from: a real PostgreSQL server of its own, started beside the
    # local cloud and stopped with it.
    postgres = LocalPostgres(database="payments", user="cirrus_reader")
    cloud = LocalCloud(project_dir, api_port=0, aws_port=0, local_receivers=[receiver.origin])
    try:
        # Started from this thread: the server is tied to the thread that starts it (it stops when
        # that thread ends), so not from a pool's worker.
        postgres.start()
        echo(f"  ... PostgreSQL {postgres.version} on {postgres.host}:{postgres.port}")
        info = cloud.start(progress=lambda message: echo(f"  ... {message}"))
        phases["start the local cloud and deploy template.yaml"] = time.perf_counter() - started
        echo(f"\n  API {info.api_url}   AWS emulator {info.aws_endpoint_url}\n")
        clients = {role: CirrusClient(info.api_url, cloud.token(role)) for role in info.users}
        walkthrough = Walkthrough(clients, echo)
        started = time.perf_counter()
        s3 = cloud.emulator.client("s3")

        def upload(key: str, body: bytes) -> str:
            s3.put_object(Bucket=info.artifact_bucket, Key=key, Body=body)
            return f"s3://{info.artifact_bucket}/{key}"

        def download(uri: str) -> bytes:
            bucket, _, key = uri.removeprefix("s3://").partition("/")
            return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())

        walk(walkthrough, info.artifact_bucket, info.api_url, upload, download, inbox, postgres)
        phases["lifecycle walkthrough over HTTP (two pipeline runs, four deployments)"] = (
            time.perf_counter() - started
        )
        started = time.perf_counter()
        summary = gather_summary(clients["admin"], walkthrough, info.api_url)
        phases["read the summary back from the API"] = time.perf_counter() - started
    finally:
        started = time.perf_counter()
        cloud.stop()
        postgres.stop()
        receiver.stop()
        phases["stop"] = time.perf_counter() - started
    written: Path | str = "not written"
    if summary is not None:
        summary = replace(summary, phases=dict(phases))
        try:
            written = write_summary(summary, REPORTS_DIR)
        except OSError as error:
            written = f"not written: {error}"
        gaps = [f"{gap.what}: {gap.why}" for gap in summary.missing()]
        if gaps:
            written = f"{written} (it could not fetch {len(gaps)}: {'; '.join(gaps)})"[:400]
    print_summary(echo, walkthrough.outcomes, phases, summary, written)
    return 1 if any(not outcome.ok for outcome in walkthrough.outcomes) else 0
