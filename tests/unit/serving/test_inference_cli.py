"""`cirrus predict` and `cirrus batch`: each command against the serving handlers, through a transport
that turns the client's HTTP requests into API Gateway events (the bearer token names the role)."""

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

import functions.serving.predict as predict_module
from cirrus import cli as cli_module
from cirrus.cli import cli
from cirrus_core.observability import metrics
from cirrus_core.serving.environments import EnvironmentDirectory
from cirrus_core.serving.inference import EndpointAnswer, InferenceService
from tests.support.api import build_event, call
from tests.support.authz import claims
from tests.support.aws import TABLE_NAMES
from tests.support.registry import MODEL_ID
from tests.unit.serving.batch_support import (
    INPUT_URI,
    OUTPUT_URI,
    BatchWorld,
    _serving_wiring_once,  # noqa: F401  # a fixture
    serving_environment,  # noqa: F401  # a fixture
)
from tests.unit.serving.inference_support import CountingMetrics, FakeEndpoint, put_environment

API = "http://cirrus.test"
_MODEL = r"/api/v1/models/(?P<model_id>[^/]+)"
ROUTES = [
    ("POST", rf"{_MODEL}/predict", "predict"),
    ("POST", rf"{_MODEL}/batch-jobs", "start_batch_job"),
    ("GET", rf"{_MODEL}/batch-jobs", "list_batch_jobs"),
    ("GET", rf"{_MODEL}/batch-jobs/(?P<job_id>[^/]+)", "get_batch_job"),
]

pytestmark = pytest.mark.usefixtures("serving_environment")


class HandlerTransport(BaseAdapter):
    """Serves the client's requests with the serving handlers, as API Gateway would invoke them."""

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        url = urlsplit(request.url or "")
        route, path = next(
            (name, match.groupdict())
            for method, pattern, name in ROUTES
            if request.method == method and (match := re.fullmatch(pattern, url.path))
        )
        role = str(request.headers.get("Authorization", "")).removeprefix("Bearer ")
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        forwarded = {"Content-Type", "Accept", "Idempotency-Key"}
        headers = {name: value for name, value in request.headers.items() if name in forwarded}
        event = build_event(
            route, path=path, query=dict(parse_qsl(url.query)) or None, claims=claims(role), headers=headers
        )
        event["body"] = body
        answer = call(route, event, package="serving")
        # Metrics are disabled here (their EMF would land in the CLI's output), so log_metrics does not
        # flush, and flushing is what clears the dimensions a handler added; clear them as it would.
        metrics.clear_metrics()
        response = requests.Response()
        response.status_code = answer.status
        response._content = (answer.raw_body or "").encode()
        response.headers.update(answer.headers)
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        """Nothing to release."""


@pytest.fixture
def endpoint(aws: Any, monkeypatch: pytest.MonkeyPatch) -> FakeEndpoint:
    put_environment(aws)
    fake = FakeEndpoint()
    service = InferenceService(
        EnvironmentDirectory(aws.dynamodb, TABLE_NAMES["ServingTable"]),
        fake,
        CountingMetrics(),
        max_payload_bytes=1024,
    )
    monkeypatch.setattr(predict_module, "inference_service", lambda: service)
    return fake


@pytest.fixture
def world(aws: Any) -> BatchWorld:
    world = BatchWorld(aws)
    world.register()
    return world


@pytest.fixture(autouse=True)
def _transport(monkeypatch: pytest.MonkeyPatch) -> None:
    session = requests.Session()
    session.mount(API, HandlerTransport())
    original = cli_module._ClientFactory.__call__

    def with_transport(self: Any) -> Any:
        client = original(self)
        client._session = session
        return client

    monkeypatch.setattr(cli_module._ClientFactory, "__call__", with_transport)
    monkeypatch.setattr(cli_module, "_sleep", lambda seconds: None)
    # The handlers' metrics are printed to stdout, which the runner captures with the command's own.
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")


def run(command: str, *args: str, role: str = "ml_engineer") -> Result:
    """`cirrus <command> [<subcommand>] ...` with the API options where the command takes them."""
    api = ["--endpoint-url", API, "--token", role]
    if command == "batch":
        return CliRunner().invoke(cli, [command, *api, *args])
    return CliRunner().invoke(cli, [command, *args, *api])


def test_predict_sends_inline_json_and_prints_the_predictions(endpoint: FakeEndpoint) -> None:
    result = run("predict", MODEL_ID, "--data", "[[1.0, 2.0]]")

    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["predictions"] == [0.93]
    assert printed["inference_id"] == endpoint.invocations[0].inference_id
    assert endpoint.invocations[0].content_type == "application/json"


def test_predict_sends_a_csv_file_as_csv(endpoint: FakeEndpoint, tmp_path: Path) -> None:
    endpoint.answer = EndpointAnswer(b"0.5\n", "text/csv")
    rows = tmp_path / "rows.csv"
    rows.write_text("1.0,2.0\n")

    result = run("predict", MODEL_ID, "--file", str(rows), "--env", "prod", "--accept", "text/csv")

    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["predictions"] == "0.5\n"
    assert (endpoint.invocations[0].body, endpoint.invocations[0].content_type) == (b"1.0,2.0\n", "text/csv")


def test_predict_prints_a_refusal_and_exits_1(endpoint: FakeEndpoint) -> None:
    result = run("predict", MODEL_ID, "--data", "[[1.0]]", "--environment", "dev")

    assert result.exit_code == 1
    assert '"code": "environment_not_deployed"' in result.output


def test_predict_needs_exactly_one_body(endpoint: FakeEndpoint) -> None:
    assert run("predict", MODEL_ID).exit_code == 2


def test_batch_start_status_and_list(world: BatchWorld) -> None:
    started = run("batch", "start", MODEL_ID, "--version", "1", "--input", INPUT_URI, "--output", OUTPUT_URI)
    assert started.exit_code == 0, started.output
    job_id = json.loads(started.output)["job_id"]

    status = run("batch", "status", MODEL_ID, job_id)
    listed = run("batch", "list", MODEL_ID)

    assert json.loads(status.output)["status"] == "in_progress"
    assert [item["job_id"] for item in json.loads(listed.output)["items"]] == [job_id]


def test_batch_status_follow_exits_1_when_the_job_failed(world: BatchWorld, aws: Any) -> None:
    started = run("batch", "start", MODEL_ID, "--version", "1", "--input", INPUT_URI, "--output", OUTPUT_URI)
    job_id = json.loads(started.output)["job_id"]
    aws.dynamodb.update_item(
        TableName=TABLE_NAMES["ServingTable"],
        Key={"pk": {"S": f"MODEL#{MODEL_ID}"}, "sk": {"S": f"BATCH#{job_id}"}},
        UpdateExpression="SET #s = :failed, failure_reason = :reason, finished_at = updated_at",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":failed": {"S": "failed"}, ":reason": {"S": "ClientError: bad row"}},
    )

    result = run("batch", "status", MODEL_ID, job_id, "--follow")

    assert result.exit_code == 1
    assert f"Batch job {job_id}: failed" in result.output
    assert "ClientError: bad row" in result.output


def test_batch_start_needs_exactly_one_of_version_and_environment(world: BatchWorld) -> None:
    result = run("batch", "start", MODEL_ID, "--input", INPUT_URI, "--output", OUTPUT_URI)

    assert result.exit_code == 2
    assert "exactly one of --version and --environment" in result.output
