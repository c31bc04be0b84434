"""Training pipelines on the local cloud: real Step Functions runs, real SageMaker jobs in
subprocesses, real models, the approval gate resumed by the registry's events."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from cirrus.client import CirrusApiError, CirrusClient
from cirrus.localcloud.cloud import LocalCloud, LocalCloudState
from cirrus_core.pipelines.models import RunDetail, RunStatus
from cirrus_core.registry.models import Environment
from examples.demo_data import generate
from tests.integration.conftest import EventTap
from tests.support.events import assert_valid_event

# Enough rows for a stable accuracy near 0.9, few enough that each job takes about a second.
DEMO_ROWS = 1200
RUN_TIMEOUT_SECONDS = 240


@pytest.fixture(scope="module")
def demo_source(local_cloud: LocalCloud) -> str:
    """The seeded demo dataset, uploaded to the artifact bucket as a user would upload theirs."""
    bucket = local_cloud.state.artifact_bucket
    key = f"datasets/it-{uuid.uuid4().hex[:8]}/transactions.csv"
    body = generate(DEMO_ROWS, seed=7, task="classification").to_csv(index=False).encode()
    local_cloud.emulator.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
    return f"s3://{bucket}/{key}"


@pytest.fixture
def model_name() -> str:
    return f"it_pipe_{uuid.uuid4().hex[:10]}"


def wait_for_run(
    client: CirrusClient,
    pipeline_id: str,
    run_id: str,
    until: Callable[[RunDetail], bool] = lambda run: run.status is not RunStatus.RUNNING,
) -> RunDetail:
    """Poll the run until `until` holds (by default: until it ends)."""
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while True:
        run = client.get_run(pipeline_id, run_id)
        if until(run):
            return run
        if run.status is not RunStatus.RUNNING or time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} is {run.status}: {run.model_dump_json(indent=1)}")
        time.sleep(0.5)


def step_status(run: RunDetail, name: str) -> str:
    return next(step.status.value for step in run.steps if step.name == name)


def awaiting_approval(run: RunDetail) -> bool:
    return run.registration is not None and step_status(run, "deploy") == "Running"


def events_of_run(tap_events: list[dict[str, Any]], run_id: str) -> dict[str, dict[str, Any]]:
    return {
        event["detail-type"]: event
        for event in tap_events
        if event["source"] == "cirrus.pipelines" and event["detail"]["data"].get("run_id") == run_id
    }


@pytest.fixture
def drained_tap(event_tap: EventTap) -> Iterator[EventTap]:
    event_tap.drain()
    return event_tap


# -- the built-in training pipeline ---------------------------------------------------------------


def test_a_run_trains_registers_with_lineage_waits_and_completes_once_a_reviewer_approves(
    clients: dict[str, CirrusClient],
    local_cloud: LocalCloud,
    demo_source: str,
    model_name: str,
    drained_tap: EventTap,
) -> None:
    engineer, reviewer = clients["ml_engineer"], clients["model_reviewer"]
    started = engineer.execute_pipeline(
        "training",
        {
            "data_source": demo_source,
            "model_type": "xgboost",
            "target_accuracy": 0.8,
            "model_name": model_name,
        },
    )

    waiting = wait_for_run(engineer, "training", started.run_id, awaiting_approval)
    assert waiting.registration is not None
    version = engineer.get_version(model_name, waiting.registration.version)
    assert version.approval_status == "PendingManualApproval"
    assert version.pipeline_execution_arn == started.execution_arn
    assert version.training_job_name
    assert version.training_job_name.startswith("training-train-")
    assert version.dataset_uri == demo_source
    assert version.training_metadata.dataset_version
    assert version.training_metadata.metrics["test:accuracy"] > 0.8
    assert version.artifact_location.endswith("/output/model.tar.gz")
    # the deployments' smoke test: raw records of the held-out test split, the target removed
    bucket = demo_source.removeprefix("s3://").split("/", 1)[0]
    samples_key = f"pipelines/training/runs/{started.run_id}/register-version/samples.jsonl"
    assert version.sample_payloads_uri == f"s3://{bucket}/{samples_key}"
    body = local_cloud.emulator.client("s3").get_object(Bucket=bucket, Key=samples_key)["Body"].read()
    samples = [json.loads(line) for line in body.decode().splitlines()]
    assert [sample["content_type"] for sample in samples] == ["application/json"] * 5 + ["text/csv"]
    raw_columns = [column for column in generate(5, seed=7).columns if column != "label"]
    assert list(json.loads(samples[0]["body"])["instances"][0]) == raw_columns
    assert samples[-1]["body"].splitlines()[0] == ",".join(raw_columns)
    reviewer.approve(model_name, version.version, "Evaluation holds up.")

    finished = wait_for_run(engineer, "training", started.run_id)
    assert finished.status is RunStatus.SUCCEEDED, finished.failure
    # The deployment step ran the deployment state machine: staging serves the version, raw records in.
    (staging,) = engineer.list_deployments(model_name).environments
    assert (staging.environment.value, staging.status.value, staging.version) == (
        "staging",
        "deployed",
        version.version,
    )
    assert engineer.get_model(model_name).aliases == {Environment.STAGING: version.version}
    prediction = engineer.predict(model_name, json.loads(samples[0]["body"]), environment="staging")
    assert prediction.version == version.version
    assert len(prediction.predictions["predictions"]) == 1
    assert {step.name: step.status.value for step in finished.steps} == {
        **dict.fromkeys(("Prepare run", "Announce start", "preprocess", "features"), "Succeeded"),
        **dict.fromkeys(("train", "evaluate", "Collect evaluation", "Quality gate"), "Succeeded"),
        **dict.fromkeys(("Profile baseline", "Register version", "deploy", "Notify completion"), "Succeeded"),
    }
    assert version.baseline_uri is not None
    assert version.baseline_uri.endswith("/profile-baseline/baseline.json")
    lifecycle = events_of_run(drained_tap.drain(), started.run_id)
    assert {"pipeline.started", "pipeline.completed"} <= set(lifecycle)
    for event in lifecycle.values():
        assert_valid_event(event)
    assert lifecycle["pipeline.completed"]["detail"]["data"]["version"] == version.version


def test_the_person_who_started_a_run_cannot_approve_its_model(
    clients: dict[str, CirrusClient], demo_source: str, model_name: str
) -> None:
    admin = clients["admin"]
    started = admin.execute_pipeline(
        "training", {"data_source": demo_source, "model_name": model_name, "use_cache": True}
    )
    waiting = wait_for_run(admin, "training", started.run_id, awaiting_approval)
    assert waiting.registration is not None

    with pytest.raises(CirrusApiError) as refused:
        admin.approve(model_name, waiting.registration.version, "my own model")

    assert (refused.value.status, refused.value.code) == (403, "access_denied")
    admin.cancel_run("training", started.run_id)
    assert wait_for_run(admin, "training", started.run_id).status is RunStatus.ABORTED


def test_a_rejected_approval_fails_the_run(
    clients: dict[str, CirrusClient], demo_source: str, model_name: str, drained_tap: EventTap
) -> None:
    scientist, reviewer = clients["data_scientist"], clients["model_reviewer"]
    started = scientist.execute_pipeline(
        "training",
        {"data_source": demo_source, "model_type": "sklearn", "model_name": model_name, "use_cache": True},
    )
    waiting = wait_for_run(scientist, "training", started.run_id, awaiting_approval)
    assert waiting.registration is not None

    reviewer.reject(model_name, waiting.registration.version, "Recall on small merchants is too low.")

    failed = wait_for_run(scientist, "training", started.run_id)
    assert failed.status is RunStatus.FAILED
    assert failed.failure is not None
    assert (failed.failure.step, failed.failure.error) == ("deploy", "ApprovalRejected")
    assert "Recall on small merchants" in (failed.failure.cause or "")
    lifecycle = events_of_run(drained_tap.drain(), started.run_id)
    assert_valid_event(lifecycle["pipeline.failed"])
    assert lifecycle["pipeline.failed"]["detail"]["data"]["error"] == "ApprovalRejected"


def test_a_run_fails_at_the_quality_gate_when_the_target_is_out_of_reach(
    clients: dict[str, CirrusClient], demo_source: str, model_name: str
) -> None:
    engineer = clients["ml_engineer"]
    started = engineer.execute_pipeline(
        "training",
        {"data_source": demo_source, "target_accuracy": 0.999, "model_name": model_name, "use_cache": True},
    )

    failed = wait_for_run(engineer, "training", started.run_id)

    assert failed.status is RunStatus.FAILED
    assert failed.failure is not None
    assert (failed.failure.step, failed.failure.error) == ("Quality gate", "QualityGateFailed")
    assert "below the target 0.999" in (failed.failure.cause or "")
    assert failed.registration is None
    with pytest.raises(CirrusApiError) as missing:
        engineer.get_model(model_name)
    assert missing.value.status == 404


def test_a_run_fails_with_the_training_scripts_error_when_training_crashes(
    clients: dict[str, CirrusClient], demo_source: str, model_name: str
) -> None:
    engineer = clients["ml_engineer"]
    started = engineer.execute_pipeline(
        "training",
        {
            "data_source": demo_source,
            "model_name": model_name,
            "hyperparameters": {"max_depth": -3},
            "use_cache": True,
        },
    )

    failed = wait_for_run(engineer, "training", started.run_id)

    assert failed.status is RunStatus.FAILED
    assert failed.failure is not None
    assert failed.failure.step == "train"
    assert "max_depth" in (failed.failure.cause or "")
    assert step_status(failed, "evaluate") == "Pending"


def test_a_run_that_asks_for_the_cache_reuses_unchanged_steps(
    clients: dict[str, CirrusClient], demo_source: str, model_name: str
) -> None:
    engineer = clients["ml_engineer"]
    parameters = {"data_source": demo_source, "model_name": model_name, "target_accuracy": 0.999}
    first = engineer.execute_pipeline("training", {**parameters, "use_cache": True})
    wait_for_run(engineer, "training", first.run_id)

    second = engineer.execute_pipeline("training", {**parameters, "use_cache": True})
    rerun = wait_for_run(engineer, "training", second.run_id)

    assert [step_status(rerun, name) for name in ("preprocess", "features", "train", "evaluate")] == [
        "Cached"
    ] * 4


def test_failed_runs_can_be_retried_and_running_ones_cannot(
    clients: dict[str, CirrusClient], demo_source: str, model_name: str
) -> None:
    engineer = clients["ml_engineer"]
    started = engineer.execute_pipeline(
        "training",
        {"data_source": demo_source, "target_accuracy": 0.999, "model_name": model_name, "use_cache": True},
    )
    wait_for_run(engineer, "training", started.run_id)

    retry = engineer.retry_run("training", started.run_id)

    assert retry.trigger.type == "retry"
    assert retry.trigger.detail["retry_of"] == started.run_id
    with pytest.raises(CirrusApiError) as refused:
        engineer.retry_run("training", retry.run_id)
    assert refused.value.code in {"run_not_retryable"}
    wait_for_run(engineer, "training", retry.run_id)


# -- dynamic pipelines ----------------------------------------------------------------------------


def test_a_dynamic_pipeline_runs_independent_feature_branches_in_parallel(
    clients: dict[str, CirrusClient], local_cloud: LocalCloud, demo_source: str, model_name: str
) -> None:
    pipeline_id = f"it_branches_{uuid.uuid4().hex[:8]}"
    stored = clients["admin"].put_pipeline(
        {
            "pipeline_id": pipeline_id,
            "steps": [
                {"id": "prepare", "type": "data_preprocessing"},
                {
                    "id": "scaled",
                    "type": "feature_engineering",
                    "depends_on": ["prepare"],
                    "parameters": {"transform": "auto"},
                },
                {
                    "id": "crossed",
                    "type": "feature_engineering",
                    "depends_on": ["prepare"],
                    "parameters": {"transform": "interactions", "columns": "amount,distance_km,hour"},
                },
                {"id": "fit", "type": "model_training", "depends_on": ["scaled", "crossed"]},
            ],
            "default_parameters": {"model_type": "sklearn"},
        }
    )
    definition = local_cloud.emulator.client("stepfunctions").describe_state_machine(
        stateMachineArn=stored.state_machine_arn
    )["definition"]
    assert any(state["Type"] == "Parallel" for state in json.loads(definition)["States"].values())

    engineer = clients["ml_engineer"]
    started = engineer.execute_pipeline(pipeline_id, {"data_source": demo_source, "model_name": model_name})
    finished = wait_for_run(engineer, pipeline_id, started.run_id)

    assert finished.status is RunStatus.SUCCEEDED, finished.failure
    scaled, crossed = (
        next(step for step in finished.steps if step.name == name) for name in ("scaled", "crossed")
    )
    assert scaled.started_at
    assert crossed.started_at
    assert scaled.ended_at
    assert crossed.ended_at
    # Both branches were under way before either finished.
    assert max(scaled.started_at, crossed.started_at) < min(scaled.ended_at, crossed.ended_at)
    assert finished.registration is not None
    version = engineer.get_version(model_name, finished.registration.version)
    assert version.tags["pipeline_id"] == pipeline_id


def test_a_definition_with_a_cycle_is_refused_and_creates_nothing(clients: dict[str, CirrusClient]) -> None:
    pipeline_id = f"it_cycle_{uuid.uuid4().hex[:8]}"
    with pytest.raises(CirrusApiError) as refused:
        clients["admin"].put_pipeline(
            {
                "pipeline_id": pipeline_id,
                "steps": [
                    {"id": "prepare", "type": "data_preprocessing"},
                    {"id": "a", "type": "feature_engineering", "depends_on": ["prepare", "b"]},
                    {"id": "b", "type": "feature_engineering", "depends_on": ["a"]},
                ],
            }
        )

    assert (refused.value.status, refused.value.code) == (422, "invalid_pipeline")
    assert any(
        "a -> b -> a" in detail.get("message", "") or "b -> a -> b" in detail.get("message", "")
        for detail in refused.value.details
    )
    with pytest.raises(CirrusApiError) as missing:
        clients["admin"].get_pipeline(pipeline_id)
    assert missing.value.status == 404


# -- schedules, webhooks and CI clients -----------------------------------------------------------


def test_a_cron_schedule_appears_in_eventbridge_scheduler(
    clients: dict[str, CirrusClient], local_cloud: LocalCloud, demo_source: str
) -> None:
    schedule = clients["ml_engineer"].schedule_pipeline(
        "training",
        "0 2 * * *",
        {"data_source": demo_source, "model_name": f"it_sched_{uuid.uuid4().hex[:6]}"},
    )

    scheduler = local_cloud.emulator.client("scheduler")
    stored = scheduler.get_schedule(Name=schedule.schedule_name, GroupName="cirrus-dev-pipelines")
    assert stored["ScheduleExpression"] == "cron(0 2 * * ? *)"
    assert stored["Target"]["Arn"].endswith(":stateMachine:cirrus-dev-training")
    assert json.loads(stored["Target"]["Input"])["trigger"]["type"] == "schedule"
    clients["ml_engineer"].delete_schedule("training", schedule.schedule_name)


def test_a_bad_cron_expression_is_refused(clients: dict[str, CirrusClient], demo_source: str) -> None:
    with pytest.raises(CirrusApiError) as refused:
        clients["ml_engineer"].schedule_pipeline("training", "0 25 * * *", {"data_source": demo_source})

    assert (refused.value.status, refused.value.code) == (422, "invalid_schedule")


def github_push(repository: str, branch: str) -> bytes:
    return json.dumps(
        {
            "ref": f"refs/heads/{branch}",
            "after": "9f2c1e0d4b7a6c5d8e3f2a1b0c9d8e7f6a5b4c3d",
            "repository": {"full_name": repository},
            "sender": {"login": "octocat"},
        }
    ).encode()


def test_a_signed_github_push_starts_a_run_once_and_a_replay_starts_nothing(
    clients: dict[str, CirrusClient], local_cloud: LocalCloud, state: LocalCloudState, demo_source: str
) -> None:
    pipeline_id = f"it_hook_{uuid.uuid4().hex[:8]}"
    repository = f"acme/fraud-{uuid.uuid4().hex[:6]}"
    clients["admin"].put_pipeline(
        {
            "pipeline_id": pipeline_id,
            "steps": [{"id": "prepare", "type": "data_preprocessing"}],
            "default_parameters": {"data_source": demo_source},
            "triggers": [{"provider": "github", "repository": repository, "branches": ["main", "release/*"]}],
        }
    )
    secret = local_cloud.emulator.client("secretsmanager").get_secret_value(
        SecretId="cirrus/dev/webhooks/github"
    )["SecretString"]
    url = f"{state.api_url}/pipelines/webhooks/github"

    def deliver(body: bytes, delivery: str, signature: str | None = None) -> requests.Response:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": signature or f"sha256={digest}",
            "Content-Type": "application/json",
        }
        return requests.post(url, data=body, headers=headers, timeout=30)

    forged = deliver(github_push(repository, "main"), str(uuid.uuid4()), signature="sha256=" + "0" * 64)
    ignored = deliver(github_push(repository, "feature/x"), str(uuid.uuid4()))
    delivery = str(uuid.uuid4())
    body = github_push(repository, "release/2026.11")
    accepted = deliver(body, delivery)
    replayed = deliver(body, delivery)

    assert forged.status_code == 401
    assert forged.json()["error"]["code"] == "invalid_webhook_signature"
    assert (ignored.status_code, ignored.json()["runs"]) == (200, [])
    assert accepted.status_code == 202
    assert replayed.status_code == 200
    assert replayed.json()["duplicate"] is True
    runs = clients["ml_engineer"].list_runs(pipeline_id).items
    assert [run.run_id for run in runs] == [accepted.json()["runs"][0]["run_id"]]
    started = clients["ml_engineer"].get_run(pipeline_id, runs[0].run_id)
    assert started.trigger is not None
    assert started.trigger.detail["branch"] == "release/2026.11"


def test_a_ci_client_starts_runs_with_client_credentials_on_the_ci_routes_only(
    state: LocalCloudState, demo_source: str
) -> None:
    token = state.ci_token()
    body = {"pipeline_id": "training", "parameters": {"data_source": demo_source, "target_accuracy": 0.999}}
    headers = {"Authorization": token, "Idempotency-Key": uuid.uuid4().hex}

    on_ci_route = requests.post(
        f"{state.api_url}/ci/pipelines/execute", json=body, headers=headers, timeout=30
    )
    on_user_route = requests.post(
        f"{state.api_url}/pipelines/execute", json=body, headers=headers, timeout=30
    )

    assert on_ci_route.status_code == 202, on_ci_route.text
    run_id = on_ci_route.json()["run_id"]
    followed = requests.get(
        f"{state.api_url}/ci/pipelines/training/runs/{run_id}", headers={"Authorization": token}, timeout=30
    )
    assert followed.status_code == 200
    assert followed.json()["actor"]["username"].startswith("client:")
    assert on_user_route.status_code == 401
