"""`make demo`: the model lifecycle on the local cloud, over HTTP, with a real token per role.

Every step states what it expects, including the refusals the platform must make; the demo exits
non-zero when any step does not behave as expected, so it doubles as an end-to-end check.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from cirrus.client import CirrusApiError, CirrusClient
from cirrus_core.pipelines.models import RunDetail, RunStatus

if TYPE_CHECKING:
    from types import ModuleType

    from pydantic import BaseModel

    from cirrus_core.registry.models import PromotionResult

Echo = Callable[[str], None]
MODEL = "fraud_detection"
PIPELINE = "training"
DEMO_ROWS = 2000
RUN_TIMEOUT_SECONDS = 300.0
DEMO_DATA = Path(__file__).resolve().parents[1] / "examples" / "demo_data.py"


def demo_data() -> ModuleType:
    """examples/demo_data.py, the seeded generator of the demo dataset (loaded from the checkout)."""
    spec = importlib.util.spec_from_file_location("cirrus_demo_data", DEMO_DATA)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(DEMO_DATA)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class StepOutcome:
    number: int
    title: str
    ok: bool
    summary: str
    millis: float


class Walkthrough:
    """Runs numbered steps against the API and keeps their outcomes."""

    def __init__(self, clients: dict[str, CirrusClient], echo: Echo) -> None:
        self._clients = clients
        self._echo = echo
        self.outcomes: list[StepOutcome] = []

    def expect_ok(
        self,
        role: str,
        title: str,
        call: Callable[[CirrusClient], BaseModel],
        describe: Callable[[Any], str],
        holds: Callable[[Any], bool] = lambda _: True,
    ) -> Any:
        """Run a call that must succeed, and whose answer must satisfy `holds`."""
        started = time.perf_counter()
        try:
            result = call(self._clients[role])
        except CirrusApiError as error:
            return self.record(f"{role}: {title}", False, f"unexpected {error.status} {error.code}", started)
        self.record(f"{role}: {title}", holds(result), describe(result), started)
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
                f"{role}: {title}", ok, f"refused {error.status} {error.code}: {error.message}", started
            )
            return
        self.record(f"{role}: {title}", False, f"accepted, expected {status} {code}", started)

    def note(self, text: str) -> None:
        """Print a progress line that is not a step of its own."""
        self._echo(f"        {text}")

    def client(self, role: str) -> CirrusClient:
        """The API client of a role."""
        return self._clients[role]

    def record(self, title: str, ok: bool, summary: str, started: float) -> None:
        """Keep and print the outcome of a step that began at `started` (perf_counter)."""
        outcome = StepOutcome(
            len(self.outcomes) + 1, title, ok, summary, (time.perf_counter() - started) * 1000
        )
        self.outcomes.append(outcome)
        mark = "ok " if ok else "FAIL"
        self._echo(
            f"  {outcome.number:>2}. [{mark}] {title}\n        -> {summary}  ({outcome.millis:.0f} ms)"
        )


def registration(
    version_note: str, artifact: str, metrics: dict[str, float], parent: int | None
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
    return payload


def promote_step(w: Walkthrough, version: int, environment: str) -> None:
    """Promote a version and show where the alias came from."""

    def describe(result: PromotionResult) -> str:
        moved = f"{result.environment} -> v{result.version}"
        previous = result.promotion.previous_version if result.promotion else None
        return f"{moved} (was v{previous})" if previous else moved

    w.expect_ok(
        "ml_engineer",
        f"promote v{version} to {environment}",
        lambda c: c.promote(MODEL, version, environment, "Passed offline evaluation."),
        describe,
    )


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
    started = w.expect_ok(
        role,
        title,
        lambda c: c.execute_pipeline(PIPELINE, {"model_name": MODEL, **parameters}),
        lambda r: f"run {r.run_id} started ({r.status.value})",
    )
    if started is None:
        return None, None
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


def approve_and_finish(w: Walkthrough, run_id: str | None, version: int | None, comment: str) -> None:
    """A reviewer approves the version the run registered; the run then completes."""
    if run_id is None or version is None:
        return
    w.expect_ok(
        "model_reviewer",
        f"approve v{version}",
        lambda c: c.approve(MODEL, version, comment),
        lambda v: f"{v.approval_status} by {v.review.by}",
    )
    begun = time.perf_counter()
    run = follow_run(w, "ml_engineer", PIPELINE, run_id, lambda r: r.status is not RunStatus.RUNNING)
    w.record(
        "the run resumes at the approval gate and completes",
        run.status is RunStatus.SUCCEEDED,
        f"run {run.status.value}",
        begun,
    )


def walk(
    walkthrough: Walkthrough, artifact_bucket: str, api_url: str, upload: Callable[[str, bytes], str]
) -> None:
    """The lifecycle: train through the pipeline, review, approve, promote, roll back, retire."""
    w = walkthrough
    started = time.perf_counter()
    rows = demo_data().generate(DEMO_ROWS, seed=7, task="classification")
    source = upload("datasets/demo/transactions.csv", rows.to_csv(index=False).encode())
    w.record(
        "anyone: upload the demo dataset (seeded, examples/demo_data.py)",
        True,
        f"{len(rows)} card transactions, {rows['label'].mean():.0%} fraud, at {source}",
        started,
    )
    first_run, first = train_through_pipeline(
        w,
        "ml_engineer",
        f"train {MODEL} through the training pipeline (xgboost, target accuracy 0.85)",
        {"data_source": source, "model_type": "xgboost", "target_accuracy": 0.85},
    )
    w.expect_refusal(
        "ml_engineer",
        f"promote v{first} to prod before anyone approved it",
        lambda c: c.promote(MODEL, first or 1, "prod", "hotfix"),
        409,
        "version_not_approved",
    )
    approve_and_finish(w, first_run, first, "Baseline accepted.")
    second_run, second = train_through_pipeline(
        w,
        "data_scientist",
        f"retrain {MODEL} with deeper trees, reusing the cached preprocessing and features",
        {
            "data_source": source,
            "model_type": "xgboost",
            "target_accuracy": 0.85,
            "hyperparameters": {"max_depth": 8, "n_estimators": 150},
            "use_cache": True,
        },
    )
    approve_and_finish(w, second_run, second, "Calibration and fairness checks pass.")
    artifact = w.client("model_reviewer").get_version(MODEL, second or 2).artifact_location
    w.expect_refusal(
        "data_scientist",
        "promote v1 to prod (deploying needs model_deploy, which data scientists do not hold)",
        lambda c: c.promote(MODEL, 1, "prod", "ship it"),
        403,
        "access_denied",
    )
    w.expect_ok(
        "admin",
        f"register {MODEL} (an admin's experiment)",
        lambda c: c.register_model(
            registration(
                "Admin's re-registration of v2's model for a shadow test.", artifact, {"auc": 0.925}, 2
            )
        ),
        lambda v: f"version {v.version}, {v.approval_status}",
    )
    w.expect_refusal(
        "admin",
        "approve v3, which the admin registered (separation of duties binds admins too)",
        lambda c: c.approve(MODEL, 3, "self-approved"),
        403,
        "access_denied",
    )
    w.expect_ok(
        "model_reviewer",
        "approve v3 (a second person decides)",
        lambda c: c.approve(MODEL, 3, "Reviewed independently."),
        lambda v: f"{v.approval_status} by {v.review.by if v.review else '?'}",
    )
    for version, environment in ((1, "staging"), (1, "prod"), (2, "staging"), (2, "prod")):
        promote_step(w, version, environment)
    w.expect_ok(
        "ml_engineer",
        "roll prod back",
        lambda c: c.rollback(MODEL, "prod", "p99 latency regression after v2."),
        lambda r: f"prod -> v{r.version}",
    )
    w.expect_refusal(
        "admin", "retire v2 while staging still serves it", lambda c: c.retire(MODEL, 2), 409, "alias_in_use"
    )
    w.expect_ok(
        "ml_engineer",
        "roll staging back",
        lambda c: c.rollback(MODEL, "staging", "Keep staging on what prod runs."),
        lambda r: f"staging -> v{r.version}",
    )
    w.expect_ok("admin", "retire v2", lambda c: c.retire(MODEL, 2), lambda r: f"v{r.version} retired")
    w.expect_refusal(
        "ml_engineer",
        "promote the retired v2 to dev",
        lambda c: c.promote(MODEL, 2, "dev"),
        409,
        "version_retired",
    )
    w.expect_ok(
        "data_scientist",
        "read the model",
        lambda c: c.get_model(MODEL),
        lambda m: (
            f"aliases {dict(sorted((str(k), v) for k, v in m.aliases.items()))}, "
            f"counts {m.counts.model_dump()}"
        ),
    )
    w.expect_ok(
        "model_reviewer",
        "read prod's promotion history",
        lambda c: c.promotions(MODEL, "prod"),
        lambda p: ", ".join(f"#{i.sequence} {i.action} v{i.version}" for i in reversed(p.items)),
    )
    w.expect_ok(
        "data_scientist",
        "read the lineage of v2",
        lambda c: c.lineage(MODEL, 2),
        lambda g: (
            f"{len(g.nodes)} nodes, edges: "
            + ", ".join(f"{e.source} {e.relation} {e.target}" for e in g.edges[:3])
        ),
    )
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


def run_demo(project_dir: Path, echo: Echo = print) -> int:
    """Start the local cloud, walk the lifecycle, stop; 0 when every step behaved as expected."""
    from cirrus.localcloud.cloud import LocalCloud

    echo("Cirrus demo: the model lifecycle on the local cloud (no AWS account, no Docker)\n")
    phases: dict[str, float] = {}
    started = time.perf_counter()
    cloud = LocalCloud(project_dir, api_port=0, aws_port=0)
    try:
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

        walk(walkthrough, info.artifact_bucket, info.api_url, upload)
        phases["lifecycle walkthrough over HTTP (two pipeline runs)"] = time.perf_counter() - started
    finally:
        started = time.perf_counter()
        cloud.stop()
        phases["stop"] = time.perf_counter() - started
    failed = [outcome for outcome in walkthrough.outcomes if not outcome.ok]
    echo("\nSummary")
    for phase, seconds in phases.items():
        echo(f"  {phase:<50} {seconds:6.2f} s")
    echo(
        f"  steps: {len(walkthrough.outcomes)}, as expected: {len(walkthrough.outcomes) - len(failed)}, "
        f"unexpected: {len(failed)}"
    )
    return 1 if failed else 0
