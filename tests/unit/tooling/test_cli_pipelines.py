"""`cirrus pipelines`: each command against the pipeline handlers, through a transport that turns
the client's HTTP requests into API Gateway events (the bearer token names the caller's role)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from click.testing import CliRunner, Result
from requests.adapters import BaseAdapter

from cirrus import cli as cli_module
from cirrus.cli import cli
from cirrus_core.pipelines.models import RunDetail
from tests.support.api import build_event, call
from tests.support.authz import claims
from tests.support.aws import AwsResources
from tests.unit.pipelines.api_support import PIPELINE_ID, PipelineWorld, sample_definition

API = "http://cirrus.test"
_PREFIX = "/api/v1/pipelines"
ROUTES = [
    ("POST", rf"{_PREFIX}/execute", "execute_pipeline"),
    ("POST", rf"{_PREFIX}", "put_pipeline"),
    ("GET", rf"{_PREFIX}", "list_pipelines"),
    ("GET", rf"{_PREFIX}/(?P<pipeline_id>[^/]+)", "get_pipeline"),
    ("GET", rf"{_PREFIX}/(?P<pipeline_id>[^/]+)/runs", "list_runs"),
    ("GET", rf"{_PREFIX}/(?P<pipeline_id>[^/]+)/runs/(?P<run_id>[^/]+)", "get_run"),
    ("POST", rf"{_PREFIX}/(?P<pipeline_id>[^/]+)/runs/(?P<run_id>[^/]+)/cancel", "cancel_run"),
    ("POST", rf"{_PREFIX}/(?P<pipeline_id>[^/]+)/runs/(?P<run_id>[^/]+)/retry", "retry_run"),
    ("GET", rf"{_PREFIX}/(?P<pipeline_id>[^/]+)/schedules", "list_schedules"),
    ("DELETE", rf"{_PREFIX}/(?P<pipeline_id>[^/]+)/schedules/(?P<schedule_name>[^/]+)", "delete_schedule"),
]


class HandlerTransport(BaseAdapter):
    """Serves the client's requests with the pipeline handlers, as API Gateway would invoke them."""

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        url = urlsplit(request.url or "")
        route, path = next(
            (name, match.groupdict())
            for method, pattern, name in ROUTES
            if request.method == method and (match := re.fullmatch(pattern, url.path))
        )
        role = str(request.headers.get("Authorization", "")).removeprefix("Bearer ")
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        headers = {name: value for name, value in request.headers.items() if name == "Idempotency-Key"}
        event = build_event(
            route,
            path=path or None,
            query=dict(parse_qsl(url.query)) or None,
            claims=claims(role),
            headers=headers,
        )
        event["body"] = body
        answer = call(route, event, package="pipelines")
        response = requests.Response()
        response.status_code = answer.status
        response._content = (answer.raw_body or "").encode()
        response.headers.update(answer.headers)
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        """Nothing to release: requests are answered by calling the handlers in this process."""


@pytest.fixture
def world(aws: AwsResources, monkeypatch: pytest.MonkeyPatch) -> PipelineWorld:
    real_session = requests.Session

    def session() -> requests.Session:
        mounted = real_session()
        mounted.mount(API, HandlerTransport())
        return mounted

    monkeypatch.setattr(requests, "Session", session)
    # The handlers' metrics are printed to stdout, which the runner captures with the command's own.
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    return PipelineWorld(aws)


def cirrus(*args: str, role: str = "ml_engineer") -> Result:
    return CliRunner().invoke(cli, ["pipelines", "--endpoint-url", API, "--token", role, *args])


def output(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def defined(world: PipelineWorld, tmp_path: Path) -> PipelineWorld:
    path = tmp_path / "fraud.json"
    path.write_text(json.dumps(sample_definition()))
    output(cirrus("create", str(path), role="admin"))
    return world


def test_create_defines_a_pipeline_from_a_json_file(world: PipelineWorld, tmp_path: Path) -> None:
    path = tmp_path / "fraud.json"
    path.write_text(json.dumps(sample_definition()))

    stored = output(cirrus("create", str(path), role="admin"))

    assert (stored["pipeline_id"], stored["definition_version"], stored["changed"]) == (PIPELINE_ID, 1, True)


def test_create_reads_yaml_too(world: PipelineWorld, tmp_path: Path) -> None:
    import yaml

    path = tmp_path / "fraud.yaml"
    path.write_text(yaml.safe_dump(sample_definition(pipeline_id="fraud_yaml")))

    stored = output(cirrus("create", str(path), role="admin"))

    assert stored["pipeline_id"] == "fraud_yaml"


def test_create_as_a_role_that_may_not_define_pipelines_exits_1_with_the_error(
    world: PipelineWorld, tmp_path: Path
) -> None:
    path = tmp_path / "fraud.json"
    path.write_text(json.dumps(sample_definition()))

    result = cirrus("create", str(path))

    assert result.exit_code == 1
    assert json.loads(result.stderr)["code"] == "access_denied"


def test_create_refuses_a_file_that_is_not_one_object(world: PipelineWorld, tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")

    result = cirrus("create", str(path), role="admin")

    assert result.exit_code == 2
    assert "one object" in result.output


def test_list_and_get_show_pipelines(defined: PipelineWorld) -> None:
    listed = output(cirrus("list", role="model_reviewer"))
    shown = output(cirrus("get", PIPELINE_ID, "--version", "1"))

    assert [item["pipeline_id"] for item in listed["items"]] == [PIPELINE_ID, "training"]
    assert shown["definition_version"] == 1


def test_execute_starts_a_run_with_the_given_parameters(defined: PipelineWorld) -> None:
    started = output(
        cirrus("execute", PIPELINE_ID, "--param", "target_accuracy=0.95", "--param", "model_type=sklearn")
    )

    parameters = defined.execution_input(started["execution_arn"])["parameters"]
    assert (parameters["target_accuracy"], parameters["model_type"]) == (0.95, "sklearn")
    assert started["status"] == "RUNNING"


def test_execute_with_a_schedule_creates_one(defined: PipelineWorld) -> None:
    schedule = output(cirrus("execute", PIPELINE_ID, "--schedule", "0 2 * * *", "--timezone", "Europe/Paris"))

    assert (schedule["expression"], schedule["timezone"]) == ("cron(0 2 * * ? *)", "Europe/Paris")
    assert list(defined.schedules()) == [schedule["schedule_name"]]


def test_execute_with_a_bad_parameter_exits_1_naming_it(defined: PipelineWorld) -> None:
    result = cirrus("execute", PIPELINE_ID, "--param", "target_accuracy=7")

    assert result.exit_code == 1
    error = json.loads(result.stderr)
    assert (error["code"], error["details"][0]["field"]) == (
        "invalid_run_parameters",
        "parameters.target_accuracy",
    )


def test_a_param_without_a_value_is_a_usage_error(defined: PipelineWorld) -> None:
    result = cirrus("execute", PIPELINE_ID, "--param", "oops")

    assert result.exit_code == 2


def test_runs_status_cancel_and_retry(defined: PipelineWorld) -> None:
    started = output(cirrus("execute", PIPELINE_ID))
    run_id = started["run_id"]

    runs = output(cirrus("runs", PIPELINE_ID, "--status", "RUNNING"))
    status = output(cirrus("status", PIPELINE_ID, run_id))
    cancelled = output(cirrus("cancel", PIPELINE_ID, run_id, role="data_scientist"))
    retried = output(cirrus("retry", PIPELINE_ID, run_id))

    assert [item["run_id"] for item in runs["items"]] == [run_id]
    assert (status["run_id"], status["status"]) == (run_id, "RUNNING")
    assert cancelled["status"] == "ABORTED"
    assert retried["trigger"] == {"type": "retry", "detail": {"retry_of": run_id}}


def test_cancelling_a_finished_run_exits_1(defined: PipelineWorld) -> None:
    started = output(cirrus("execute", PIPELINE_ID))
    defined.finish(started["execution_arn"], "SUCCEEDED")

    result = cirrus("cancel", PIPELINE_ID, started["run_id"])

    assert result.exit_code == 1
    assert json.loads(result.stderr)["code"] == "run_not_cancellable"


def test_schedules_are_listed_and_deleted(defined: PipelineWorld) -> None:
    schedule = output(cirrus("execute", PIPELINE_ID, "--schedule", "@daily"))

    listed = output(cirrus("schedules", PIPELINE_ID, role="model_reviewer"))
    deleted = cirrus("unschedule", PIPELINE_ID, schedule["schedule_name"])
    again = cirrus("unschedule", PIPELINE_ID, schedule["schedule_name"])

    assert [item["schedule_name"] for item in listed["items"]] == [schedule["schedule_name"]]
    assert (deleted.exit_code, deleted.stdout.strip()) == (
        0,
        f"Deleted schedule {schedule['schedule_name']}.",
    )
    assert again.exit_code == 1
    assert json.loads(again.stderr)["code"] == "schedule_not_found"


# -- following a run ----------------------------------------------------------------------------------


def _run(status: str, steps: dict[str, str], **extra: Any) -> RunDetail:
    return RunDetail.model_validate(
        {
            "run_id": "r1",
            "pipeline_id": PIPELINE_ID,
            "execution_arn": "arn:aws:states:us-east-1:123456789012:execution:p:r1",
            "status": status,
            "started_at": "2024-06-01T12:00:00Z",
            "steps": [{"name": name, "kind": "step", "status": state} for name, state in steps.items()],
            **extra,
        }
    )


def _script(monkeypatch: pytest.MonkeyPatch, runs: list[RunDetail]) -> list[float]:
    """Answer get_run with `runs` in turn; returns the pauses the follower took."""
    from cirrus.client import CirrusClient

    remaining = iter(runs)
    monkeypatch.setattr(CirrusClient, "get_run", lambda self, pipeline_id, run_id: next(remaining))
    pauses: list[float] = []
    monkeypatch.setattr(cli_module, "_sleep", pauses.append)
    return pauses


def test_follow_prints_each_step_as_it_changes_and_exits_0_when_the_run_succeeds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pauses = _script(
        monkeypatch,
        [
            _run("RUNNING", {"preprocess": "Running", "train": "Pending"}),
            _run("RUNNING", {"preprocess": "Running", "train": "Pending"}),
            _run("RUNNING", {"preprocess": "Succeeded", "train": "Running"}),
            _run(
                "SUCCEEDED",
                {"preprocess": "Succeeded", "train": "Succeeded"},
                registration={"model_id": PIPELINE_ID, "version": 4},
            ),
        ],
    )

    result = cirrus("status", PIPELINE_ID, "r1", "--follow", "--interval", "2")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "preprocess: Running",
        "preprocess: Succeeded",
        "train: Running",
        "train: Succeeded",
        "Run r1: SUCCEEDED",
        f"  registered {PIPELINE_ID} version 4",
    ]
    assert pauses == [2.0, 2.0, 2.0]


def test_follow_exits_1_when_the_run_fails_and_says_where(monkeypatch: pytest.MonkeyPatch) -> None:
    _script(
        monkeypatch,
        [
            _run("RUNNING", {"train": "Running"}),
            _run(
                "FAILED",
                {"train": "Failed"},
                failure={"step": "train", "error": "AlgorithmError", "cause": "out of memory"},
            ),
        ],
    )

    result = cirrus("status", PIPELINE_ID, "r1", "--follow")

    assert result.exit_code == 1
    assert result.stdout.splitlines() == ["train: Running", "train: Failed", "Run r1: FAILED"]
    assert "failed at train: AlgorithmError out of memory" in result.stderr


def test_follow_of_an_unknown_run_exits_1(defined: PipelineWorld) -> None:
    result = cirrus("status", PIPELINE_ID, "20240101T000000Z-00000000", "--follow")

    assert result.exit_code == 1
    assert json.loads(result.stderr)["code"] == "run_not_found"
