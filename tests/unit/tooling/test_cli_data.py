"""`cirrus data`: each command against a small HTTP server on 127.0.0.1 that records what it is sent
and answers as the data API documents (docs/data.md, "API")."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from click.testing import CliRunner, Result

from cirrus.cli import cli

TOKEN = "id-token-of-the-caller"
PASSWORD = "s3cr3t-Pa55word-never-shown"  # nosec B105
CREATED_AT = "2025-01-02T03:04:05Z"
JOB_ID = "0123456789abcdef0123456789abcdef"
HASH = "sha256:" + "ab" * 32


# ------------------------------------------------------------------------------------------ the server


@dataclass
class Sent:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeApi:
    """Answers scripted per (method, path): each answer once, the last one again for later requests."""

    url: str = ""
    sent: list[Sent] = field(default_factory=list)
    answers: dict[tuple[str, str], list[tuple[int, Any]]] = field(default_factory=dict)

    def answer(self, method: str, path: str, status: int, body: Any = None) -> None:
        self.answers.setdefault((method, f"/api/v1{path}"), []).append((status, body))

    def refuse(self, method: str, path: str, status: int, code: str, message: str, **details: Any) -> None:
        error = {"code": code, "message": message, "details": [details] if details else []}
        self.answer(method, path, status, {"error": error, "request_id": "req-1"})

    def respond(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        url = urlsplit(target)
        body = json.loads(raw) if raw else None
        self.sent.append(Sent(method, url.path, dict(parse_qsl(url.query)), headers, body))
        queued = self.answers.get((method, url.path))
        if not queued:
            return 404, {"error": {"code": "unexpected_request", "message": f"{method} {url.path}"}}
        return queued.pop(0) if len(queued) > 1 else queued[0]

    @property
    def last(self) -> Sent:
        return self.sent[-1]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _serve(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, body = self.server.api.respond(self.command, self.path, dict(self.headers.items()), raw)
        payload = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if payload:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _serve  # noqa: N815  # http.server's names

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read the recorded requests instead."""


class _Server(ThreadingHTTPServer):
    api: FakeApi


@pytest.fixture
def api() -> Iterator[FakeApi]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.api = FakeApi(url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.api
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Polls do not sleep; the pauses asked for are recorded, and the clock advances by them."""
    pauses: list[float] = []
    now = [0.0]

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        now[0] += seconds

    monkeypatch.setattr("cirrus.cli_data._sleep", sleep)
    monkeypatch.setattr("cirrus.cli_data._clock", lambda: now[0])
    return pauses


def cirrus(api: FakeApi, *args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Result:
    command = ["data", "--endpoint-url", api.url, "--token", TOKEN, *args]
    return CliRunner().invoke(cli, command, env=env, input=stdin)


def answer_of(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def field_of(result: Result, name: str) -> str:
    """The value of a `name: value` line the command printed."""
    values = [
        line.partition(":")[2].strip() for line in result.stdout.splitlines() if line.startswith(f"{name}:")
    ]
    assert len(values) == 1, result.stdout
    return values[0]


# ------------------------------------------------------------------------------------------ bodies


def source_view(name: str = "shop", **connection: Any) -> dict[str, Any]:
    """A source as GET /data/sources/{name} shows it (never a secret value)."""
    return {
        "name": name,
        "type": "postgresql",
        "description": "",
        "connection": connection
        or {"host": "db.internal", "port": 5432, "database": "shop", "user": "reader"},
        "options": {},
        "secret_fields": ["password"],
        "secret_version": "v-1",
        "created_at": CREATED_AT,
        "created_by": "ana",
    }


# ------------------------------------------------------------------------------------------ sources


def test_create_sends_the_connection_and_the_password_from_the_named_variable(api: FakeApi) -> None:
    api.answer("POST", "/data/sources", 201, source_view())

    result = cirrus(
        api,
        "sources",
        "create",
        "shop",
        "--type",
        "postgresql",
        "--host",
        "db.internal",
        "--port",
        "5432",
        "--database",
        "shop",
        "--user",
        "reader",
        "--password-env",
        "SHOP_DB_PASSWORD",
        "--option",
        "chunk_rows=10000",
        "--connection",
        "sslmode=require",
        env={"SHOP_DB_PASSWORD": PASSWORD},
    )

    assert result.exit_code == 0, result.output
    sent = api.last
    assert (sent.method, sent.path) == ("POST", "/api/v1/data/sources")
    assert sent.body == {
        "name": "shop",
        "type": "postgresql",
        "connection": {
            "host": "db.internal",
            "port": 5432,
            "database": "shop",
            "user": "reader",
            "sslmode": "require",
            "password": PASSWORD,
        },
        "options": {"chunk_rows": 10000},
    }
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["Idempotency-Key"]
    assert "Created source shop." in result.stdout
    assert "password (kept in Secrets Manager)" in result.stdout
    assert PASSWORD not in result.output


def test_create_reads_the_password_from_the_first_line_of_stdin(api: FakeApi) -> None:
    api.answer("POST", "/data/sources", 201, source_view())

    result = cirrus(
        api,
        "sources",
        "create",
        "shop",
        "--type",
        "postgresql",
        "--host",
        "db.internal",
        "--port",
        "5432",
        "--database",
        "shop",
        "--user",
        "reader",
        "--password-stdin",
        "--json",
        stdin=f"{PASSWORD}\nignored second line\n",
    )

    assert answer_of(result)["secret_fields"] == ["password"]
    assert api.last.body["connection"]["password"] == PASSWORD
    assert PASSWORD not in result.output


def test_a_password_cannot_be_given_on_the_command_line(api: FakeApi) -> None:
    for args in (
        ["--password", PASSWORD],
        ["--connection", f"password={PASSWORD}"],
        ["--connection", f"uri=mongodb://u:{PASSWORD}@h/db"],
    ):
        result = cirrus(api, "sources", "create", "shop", "--type", "postgresql", *args)

        assert result.exit_code == 2, result.output
        assert PASSWORD not in result.output
    assert api.sent == []


def test_an_unset_password_variable_is_refused_before_any_request(api: FakeApi) -> None:
    result = cirrus(
        api,
        "sources",
        "create",
        "shop",
        "--type",
        "postgresql",
        "--host",
        "db",
        "--password-env",
        "NOT_SET_ANYWHERE",
        env={"NOT_SET_ANYWHERE": None},  # type: ignore[dict-item]  # CliRunner unsets None
    )

    assert result.exit_code == 2
    assert "NOT_SET_ANYWHERE is not set" in result.output
    assert api.sent == []


def test_an_empty_password_variable_or_stdin_is_refused(api: FakeApi) -> None:
    from_env = cirrus(
        api, "sources", "create", "s", "--type", "postgresql", "--password-env", "PW", env={"PW": ""}
    )
    from_stdin = cirrus(api, "sources", "create", "s", "--type", "postgresql", "--password-stdin", stdin="\n")

    assert (from_env.exit_code, from_stdin.exit_code) == (2, 2)
    assert "PW is empty" in from_env.output
    assert "holds no password" in from_stdin.output
    assert api.sent == []


def test_both_password_sources_at_once_are_refused(api: FakeApi) -> None:
    result = cirrus(
        api,
        "sources",
        "create",
        "s",
        "--type",
        "postgresql",
        "--password-env",
        "PW",
        "--password-stdin",
        env={"PW": PASSWORD},
        stdin=PASSWORD,
    )

    assert result.exit_code == 2
    assert "not both" in result.output
    assert api.sent == []


def test_create_from_a_yaml_file_resolves_env_references(api: FakeApi, tmp_path: Path) -> None:
    spec = tmp_path / "shop.yaml"
    spec.write_text(
        "name: shop\n"
        "type: postgresql\n"
        "description: the shop's orders\n"
        "connection:\n"
        "  host: db.internal\n"
        "  port: 5432\n"
        "  database: shop\n"
        "  user: reader\n"
        "  password: {env: PGPASSWORD}\n"
        "options:\n"
        "  chunk_rows: 5000\n"
    )
    api.answer("POST", "/data/sources", 201, source_view())

    result = cirrus(api, "sources", "create", "--from-file", str(spec), env={"PGPASSWORD": PASSWORD})

    assert result.exit_code == 0, result.output
    assert api.last.body == {
        "name": "shop",
        "type": "postgresql",
        "description": "the shop's orders",
        "connection": {
            "host": "db.internal",
            "port": 5432,
            "database": "shop",
            "user": "reader",
            "password": PASSWORD,
        },
        "options": {"chunk_rows": 5000},
    }
    assert PASSWORD not in result.output


def test_a_file_reference_to_an_unset_variable_is_refused(api: FakeApi, tmp_path: Path) -> None:
    spec = tmp_path / "shop.json"
    spec.write_text(json.dumps({"type": "postgresql", "connection": {"password": {"env": "MISSING_PW"}}}))

    result = cirrus(api, "sources", "create", "shop", "--from-file", str(spec), env={"MISSING_PW": None})  # type: ignore[dict-item]

    assert result.exit_code == 2
    assert "connection.password reads the environment variable MISSING_PW, which is not set" in result.output
    assert api.sent == []


def test_a_file_without_a_password_takes_it_from_password_env(api: FakeApi, tmp_path: Path) -> None:
    spec = tmp_path / "shop.json"
    spec.write_text(json.dumps({"name": "shop", "type": "postgresql", "connection": {"host": "db"}}))
    api.answer("POST", "/data/sources", 201, source_view())

    result = cirrus(
        api, "sources", "create", "--from-file", str(spec), "--password-env", "PW", env={"PW": PASSWORD}
    )

    assert result.exit_code == 0, result.output
    assert api.last.body["connection"] == {"host": "db", "password": PASSWORD}


def test_a_password_in_the_file_and_on_password_env_is_refused(api: FakeApi, tmp_path: Path) -> None:
    spec = tmp_path / "shop.json"
    spec.write_text(
        json.dumps({"name": "shop", "type": "postgresql", "connection": {"password": {"env": "PW"}}})
    )

    result = cirrus(
        api, "sources", "create", "--from-file", str(spec), "--password-env", "PW", env={"PW": PASSWORD}
    )

    assert result.exit_code == 2
    assert "already gives a password" in result.output
    assert PASSWORD not in result.output
    assert api.sent == []


def test_a_file_and_connection_options_together_are_refused(api: FakeApi, tmp_path: Path) -> None:
    spec = tmp_path / "shop.json"
    spec.write_text(json.dumps({"name": "shop", "type": "postgresql", "connection": {}}))

    result = cirrus(api, "sources", "create", "--from-file", str(spec), "--host", "db")

    assert result.exit_code == 2
    assert "not both (--host)" in result.output
    assert api.sent == []


def test_a_name_that_differs_from_the_file_is_refused(api: FakeApi, tmp_path: Path) -> None:
    spec = tmp_path / "shop.json"
    spec.write_text(json.dumps({"name": "shop", "type": "postgresql", "connection": {}}))

    result = cirrus(api, "sources", "create", "other", "--from-file", str(spec))

    assert result.exit_code == 2
    assert api.sent == []


def test_a_file_that_is_not_one_object_is_refused(api: FakeApi, tmp_path: Path) -> None:
    spec = tmp_path / "shop.yaml"
    spec.write_text("- just\n- a list\n")

    result = cirrus(api, "sources", "create", "--from-file", str(spec))

    assert result.exit_code == 2
    assert "must hold one object" in result.output
    assert api.sent == []


def test_create_without_a_name_or_type_is_a_usage_error(api: FakeApi) -> None:
    result = cirrus(api, "sources", "create", "shop")

    assert result.exit_code == 2
    assert "--type" in result.output
    assert api.sent == []


def test_an_api_refusal_prints_the_error_body_and_exits_1(api: FakeApi) -> None:
    api.refuse(
        "POST",
        "/data/sources",
        422,
        "invalid_connection",
        "Bad connection parameters for a source of type postgresql: connection.port required.",
        field="connection.port",
    )

    result = cirrus(
        api,
        "sources",
        "create",
        "shop",
        "--type",
        "postgresql",
        "--host",
        "db",
        "--password-env",
        "PW",
        env={"PW": PASSWORD},
    )

    assert result.exit_code == 1
    error = json.loads(result.stderr)
    assert (error["status"], error["code"]) == (422, "invalid_connection")
    assert error["details"] == [{"field": "connection.port"}]
    assert PASSWORD not in result.output


def test_list_prints_a_table_and_the_next_token(api: FakeApi) -> None:
    api.answer(
        "GET",
        "/data/sources",
        200,
        {
            "items": [
                source_view("shop"),
                {**source_view("lake"), "type": "s3", "connection": {"bucket": "data", "prefix": "raw/"}},
            ],
            "next_token": "tok-2",
        },
    )

    result = cirrus(api, "sources", "list", "--limit", "2")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "TYPE", "WHERE", "CREATED"]
    assert lines[1].split()[:3] == ["shop", "postgresql", "db.internal:5432/shop"]
    assert lines[2].split()[:3] == ["lake", "s3", "s3://data/raw/"]
    assert "--next-token tok-2" in lines[-1]
    assert api.last.query == {"limit": "2"}


def test_list_json_is_the_page(api: FakeApi) -> None:
    api.answer("GET", "/data/sources", 200, {"items": [source_view()], "next_token": None})

    page = answer_of(cirrus(api, "sources", "list", "--json", "--next-token", "abc"))

    assert [item["name"] for item in page["items"]] == ["shop"]
    assert api.last.query == {"limit": "50", "next_token": "abc"}


def test_get_shows_the_connection_and_names_the_secret(api: FakeApi) -> None:
    api.answer("GET", "/data/sources/shop", 200, source_view())

    result = cirrus(api, "sources", "get", "shop")

    assert result.exit_code == 0, result.output
    assert "connection.host:" in result.stdout
    assert "db.internal" in result.stdout
    assert "password (kept in Secrets Manager)" in result.stdout


def test_get_of_an_unknown_source_exits_1_with_the_code(api: FakeApi) -> None:
    api.refuse("GET", "/data/sources/nope", 404, "source_not_found", "Source nope does not exist.")

    result = cirrus(api, "sources", "get", "nope")

    assert result.exit_code == 1
    assert json.loads(result.stderr)["code"] == "source_not_found"


def test_delete_says_what_went(api: FakeApi) -> None:
    api.answer("DELETE", "/data/sources/shop", 204)

    result = cirrus(api, "sources", "delete", "shop")

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "Deleted source shop."
    assert (api.last.method, api.last.path) == ("DELETE", "/api/v1/data/sources/shop")


def test_test_prints_ok_and_the_latency(api: FakeApi) -> None:
    api.answer(
        "POST",
        "/data/sources/shop/test",
        200,
        {"name": "shop", "type": "postgresql", "ok": True, "latency_ms": 12.34},
    )

    result = cirrus(api, "sources", "test", "shop")

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "shop: ok (12.3 ms)"


def test_test_prints_the_drivers_error_and_exits_1_when_not_ok(api: FakeApi) -> None:
    failed = {
        "name": "shop",
        "type": "postgresql",
        "ok": False,
        "error": {"code": "connection_failed", "message": 'password authentication failed for user "reader"'},
    }
    api.answer("POST", "/data/sources/shop/test", 200, failed)

    result = cirrus(api, "sources", "test", "shop")
    as_json = cirrus(api, "sources", "test", "shop", "--json")

    assert result.exit_code == 1
    assert 'connection_failed: password authentication failed for user "reader"' in result.stderr
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["ok"] is False


def test_an_unreachable_api_exits_1_with_a_message() -> None:
    result = CliRunner().invoke(
        cli, ["data", "--endpoint-url", "http://127.0.0.1:9", "--token", TOKEN, "sources", "list"]
    )

    assert result.exit_code == 1
    assert "Cannot reach the API" in result.stderr


def test_every_command_says_what_it_does() -> None:
    groups = {
        "sources": ["create", "list", "get", "delete", "test"],
        "datasets": ["list", "get", "versions", "version", "sample", "job"],
        "transformations": ["put", "list", "get", "run"],
        "features": ["put", "list", "get", "ingest", "materialize", "online"],
        "training-sets": ["create", "get"],
    }
    for group, commands in groups.items():
        for command in commands:
            result = CliRunner().invoke(cli, ["data", group, command, "--help"])

            assert result.exit_code == 0, result.output
            assert result.output.split("\n\n")[1].strip(), f"{group} {command} has no help text"


# ------------------------------------------------------------------------------------------ snapshots


def snapshot_job(status: str = "queued", **fields: Any) -> dict[str, Any]:
    """A snapshot job as POST .../snapshots (202) and GET .../snapshots/{job_id} answer it."""
    return {
        "job_id": JOB_ID,
        "dataset": "orders",
        "version": 3,
        "status": status,
        "request": {"source": "shop", "table": "public.orders"},
        "source_type": "postgresql",
        "execution_arn": "arn:aws:states:us-east-1:123456789012:execution:snapshot:x",
        "created_by": "ana",
        "created_at": CREATED_AT,
        "updated_at": CREATED_AT,
        **fields,
    }


def dataset_version(version: int = 3, status: str = "ready") -> dict[str, Any]:
    """A version as GET /data/datasets/{name}/versions/{version} answers it (`schema` included)."""
    return {
        "dataset": "orders",
        "version": version,
        "kind": "snapshot",
        "status": status,
        "schema": [
            {"name": "id", "type": "int64", "nullable": False},
            {"name": "total", "type": "double", "nullable": True},
        ],
        "row_count": 1200,
        "content_hash": HASH,
        "location": f"s3://data-bucket/datasets/orders/v{version}/",
        "files": [
            {
                "key": f"datasets/orders/v{version}/part-00000.parquet",
                "rows": 1200,
                "bytes": 4096,
                "sha256": "cd" * 32,
            }
        ],
        "lineage": {"source": "shop", "source_type": "postgresql", "query": "public.orders"},
        "created_at": CREATED_AT,
        "created_by": "ana",
    }


def test_snapshot_sends_the_extraction_and_prints_the_job(api: FakeApi) -> None:
    api.answer("POST", "/data/datasets/orders/snapshots", 202, snapshot_job())

    result = cirrus(
        api,
        "snapshot",
        "orders",
        "--source",
        "shop",
        "--table",
        "public.orders",
        "--incremental-column",
        "id",
    )

    assert result.exit_code == 0, result.output
    assert api.last.body == {
        "source": "shop",
        "table": "public.orders",
        "incremental": {"watermark_column": "id"},
    }
    assert api.last.headers["Idempotency-Key"]
    assert f"Snapshot job {JOB_ID} started: version 3 of orders, queued." in result.stdout


def test_snapshot_of_a_mongodb_collection_sends_the_filter_and_projection(api: FakeApi) -> None:
    api.answer("POST", "/data/datasets/events/snapshots", 202, snapshot_job(dataset="events"))

    result = cirrus(
        api,
        "snapshot",
        "events",
        "--source",
        "mongo",
        "--table",
        "events",
        "--filter",
        '{"kind": "click"}',
        "--projection",
        '{"_id": 0}',
        "--json",
    )

    assert answer_of(result)["job_id"] == JOB_ID
    assert api.last.body == {
        "source": "mongo",
        "table": "events",
        "filter": {"kind": "click"},
        "projection": {"_id": 0},
    }


def test_snapshot_of_an_s3_prefix_sends_the_prefix_and_format(api: FakeApi) -> None:
    api.answer("POST", "/data/datasets/raw/snapshots", 202, snapshot_job(dataset="raw"))

    result = cirrus(
        api, "snapshot", "raw", "--source", "lake", "--prefix", "s3://data/raw/", "--format", "parquet"
    )

    assert result.exit_code == 0, result.output
    assert api.last.body == {"source": "lake", "prefix": "s3://data/raw/", "format": "parquet"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--table", "t", "--query", "SELECT 1"], "not both"),
        (["--prefix", "s3://b/p/", "--table", "t"], "--prefix"),
        (["--table", "t", "--filter", "{not json"], "not JSON"),
        (["--table", "t", "--projection", "[1, 2]"], "must be a JSON object"),
    ],
)
def test_snapshot_refuses_contradictory_or_malformed_options_before_any_request(
    api: FakeApi, args: list[str], message: str
) -> None:
    result = cirrus(api, "snapshot", "orders", "--source", "shop", *args)

    assert result.exit_code == 2
    assert message in result.output
    assert api.sent == []


def test_snapshot_wait_polls_until_succeeded_and_prints_version_rows_and_hash(
    api: FakeApi, no_waiting: list[float]
) -> None:
    api.answer("POST", "/data/datasets/orders/snapshots", 202, snapshot_job())
    path = f"/data/datasets/orders/snapshots/{JOB_ID}"
    api.answer("GET", path, 200, snapshot_job("running"))
    api.answer("GET", path, 200, snapshot_job("running"))
    api.answer("GET", path, 200, snapshot_job("succeeded", row_count=1200))
    api.answer("GET", "/data/datasets/orders/versions/3", 200, dataset_version())

    result = cirrus(
        api, "snapshot", "orders", "--source", "shop", "--table", "public.orders", "--wait", "--interval", "3"
    )

    assert result.exit_code == 0, result.output
    assert [(s.method, s.path) for s in api.sent] == [
        ("POST", "/api/v1/data/datasets/orders/snapshots"),
        ("GET", f"/api/v1{path}"),
        ("GET", f"/api/v1{path}"),
        ("GET", f"/api/v1{path}"),
        ("GET", "/api/v1/data/datasets/orders/versions/3"),
    ]
    assert no_waiting == [3.0, 3.0]
    assert "Dataset orders version 3: ready" in result.stdout
    assert "1200" in result.stdout
    assert HASH in result.stdout
    assert f"Snapshot job {JOB_ID}: succeeded" in result.stderr


def test_snapshot_wait_exits_1_with_the_jobs_error_when_it_fails(api: FakeApi) -> None:
    api.answer("POST", "/data/datasets/orders/snapshots", 202, snapshot_job())
    failed = snapshot_job("failed", error='relation "public.orders" does not exist')
    api.answer("GET", f"/data/datasets/orders/snapshots/{JOB_ID}", 200, failed)

    result = cirrus(api, "snapshot", "orders", "--source", "shop", "--table", "public.orders", "--wait")

    assert result.exit_code == 1
    assert 'Snapshot of orders failed: relation "public.orders" does not exist' in result.stderr
    assert not any(s.path.endswith("/versions/3") for s in api.sent)


def test_snapshot_wait_gives_up_after_the_timeout(api: FakeApi, no_waiting: list[float]) -> None:
    api.answer("POST", "/data/datasets/orders/snapshots", 202, snapshot_job())
    api.answer("GET", f"/data/datasets/orders/snapshots/{JOB_ID}", 200, snapshot_job("running"))

    result = cirrus(
        api,
        "snapshot",
        "orders",
        "--source",
        "shop",
        "--table",
        "t",
        "--wait",
        "--timeout",
        "10",
        "--interval",
        "4",
    )

    assert result.exit_code == 1
    assert "Gave up waiting after 10 s" in result.stderr
    assert "still running" in result.stderr
    assert no_waiting == [4.0, 4.0, 2.0]


def test_snapshot_of_an_unknown_source_prints_the_api_error(api: FakeApi) -> None:
    api.refuse(
        "POST", "/data/datasets/orders/snapshots", 404, "source_not_found", "Source shop does not exist."
    )

    result = cirrus(api, "snapshot", "orders", "--source", "shop", "--table", "t", "--wait")

    assert result.exit_code == 1
    assert json.loads(result.stderr)["code"] == "source_not_found"
    assert len(api.sent) == 1


def test_datasets_job_shows_a_job_and_exits_1_when_it_failed(api: FakeApi) -> None:
    api.answer(
        "GET", f"/data/datasets/orders/snapshots/{JOB_ID}", 200, snapshot_job("failed", error="timeout")
    )

    result = cirrus(api, "datasets", "job", "orders", JOB_ID)

    assert result.exit_code == 1
    assert "timeout" in result.stdout


# ------------------------------------------------------------------------------------------ datasets


def dataset(name: str = "orders") -> dict[str, Any]:
    return {
        "name": name,
        "kind": "snapshot",
        "description": "",
        "source": "shop",
        "latest_version": 3,
        "created_at": CREATED_AT,
        "created_by": "ana",
    }


def test_datasets_list_prints_a_table(api: FakeApi) -> None:
    api.answer(
        "GET", "/data/datasets", 200, {"items": [dataset("orders"), dataset("users")], "next_token": None}
    )

    result = cirrus(api, "datasets", "list")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "KIND", "LATEST", "SOURCE", "CREATED"]
    assert [line.split()[:4] for line in lines[1:]] == [
        ["orders", "snapshot", "3", "shop"],
        ["users", "snapshot", "3", "shop"],
    ]


def test_datasets_list_says_so_when_there_are_none(api: FakeApi) -> None:
    api.answer("GET", "/data/datasets", 200, {"items": []})

    result = cirrus(api, "datasets", "list")

    assert result.stdout.strip() == "No datasets."


def test_datasets_get_shows_the_latest_ready_version(api: FakeApi) -> None:
    api.answer("GET", "/data/datasets/orders", 200, {**dataset(), "latest_ready_version": 2})

    result = cirrus(api, "datasets", "get", "orders")

    assert result.exit_code == 0, result.output
    assert "latest ready version: 2" in result.stdout


def test_datasets_versions_lists_newest_first_with_short_hashes(api: FakeApi) -> None:
    summary = {
        key: value for key, value in dataset_version().items() if key not in ("schema", "files", "lineage")
    }
    page = {
        "items": [
            {**summary, "reference": "dataset:orders@3"},
            {
                **summary,
                "version": 2,
                "status": "failed",
                "row_count": None,
                "content_hash": None,
                "reference": "dataset:orders@2",
            },
        ]
    }
    api.answer("GET", "/data/datasets/orders/versions", 200, page)

    result = cirrus(api, "datasets", "versions", "orders", "--limit", "10")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1].split()[:5] == ["3", "ready", "snapshot", "1200", "sha256:abababababab"]
    assert lines[2].split()[:5] == ["2", "failed", "snapshot", "-", "-"]
    assert api.last.query == {"limit": "10"}


def test_datasets_version_shows_schema_files_and_lineage(api: FakeApi) -> None:
    api.answer("GET", "/data/datasets/orders/versions/3", 200, dataset_version())

    result = cirrus(api, "datasets", "version", "orders", "3")

    assert result.exit_code == 0, result.output
    assert f"content hash: {HASH}" in result.stdout
    assert "source:" in result.stdout
    assert any(line.split() == ["total", "double", "true"] for line in result.stdout.splitlines())
    assert "datasets/orders/v3/part-00000.parquet" in result.stdout


def test_datasets_version_json_keeps_the_schema_name(api: FakeApi) -> None:
    api.answer("GET", "/data/datasets/orders/versions/3", 200, dataset_version())

    shown = answer_of(cirrus(api, "datasets", "version", "orders", "3", "--json"))

    assert [column["name"] for column in shown["schema"]] == ["id", "total"]


def test_datasets_sample_prints_the_rows_as_a_table(api: FakeApi) -> None:
    sample = {
        "dataset": "orders",
        "version": 3,
        "schema": [{"name": "id", "type": "int64", "nullable": False}, {"name": "note", "type": "string"}],
        "rows": [{"id": 1, "note": "first"}, {"id": 2, "note": None}],
        "row_count": 1200,
    }
    api.answer("GET", "/data/datasets/orders/versions/3/sample", 200, sample)

    result = cirrus(api, "datasets", "sample", "orders", "3", "--limit", "2")

    assert result.exit_code == 0, result.output
    assert [line.split() for line in result.stdout.splitlines()] == [
        ["id", "note"],
        ["1", "first"],
        ["2", "-"],
    ]
    assert api.last.query == {"limit": "2"}


def test_datasets_sample_of_a_version_not_ready_exits_1(api: FakeApi) -> None:
    api.refuse(
        "GET",
        "/data/datasets/orders/versions/4/sample",
        409,
        "dataset_version_not_ready",
        "Version 4 of dataset orders is building, not ready.",
    )

    result = cirrus(api, "datasets", "sample", "orders", "4")

    assert result.exit_code == 1
    assert json.loads(result.stderr)["code"] == "dataset_version_not_ready"


def test_an_answer_the_client_does_not_understand_exits_1_with_a_message(api: FakeApi) -> None:
    api.answer("GET", "/data/datasets/orders", 200, {"name": "orders"})

    result = cirrus(api, "datasets", "get", "orders")

    assert result.exit_code == 1
    assert "not what this client expects" in result.stderr


# ------------------------------------------------------------------------------------------ transformations

CODE_HASH = "sha256:" + "12" * 32
RUN_ID = "fedcba9876543210fedcba9876543210"


def transformation(revision: int = 1) -> dict[str, Any]:
    return {
        "name": "daily_totals",
        "description": "",
        "inputs": {"orders": "dataset:orders"},
        "output": {"dataset": "daily_totals", "description": ""},
        "runtime": "duckdb",
        "kind": "sql",
        "sql": "SELECT day, sum(total) AS total\nFROM orders GROUP BY day",
        "parameters": {},
        "code_hash": CODE_HASH,
        "revision": revision,
        "created_at": CREATED_AT,
        "created_by": "ana",
        "updated_at": CREATED_AT,
        "updated_by": "ana",
    }


def transformation_run(status: str = "running", **fields: Any) -> dict[str, Any]:
    return {
        "run_id": RUN_ID,
        "transformation": "daily_totals",
        "revision": 1,
        "status": status,
        "runtime": "duckdb",
        "code_hash": CODE_HASH,
        "inputs": [{"alias": "orders", "dataset": "orders", "version": 3, "reference": "dataset:orders@3"}],
        "output": {"dataset": "daily_totals", "version": 1, "reference": "dataset:daily_totals@1"},
        "execution_arn": "arn:aws:states:us-east-1:123456789012:execution:transform:x",
        "started_at": CREATED_AT,
        "started_by": "ana",
        **fields,
    }


def test_transformations_put_sends_the_spec_file(api: FakeApi, tmp_path: Path) -> None:
    spec = tmp_path / "daily_totals.yaml"
    spec.write_text(
        "inputs:\n  orders: dataset:orders\noutput:\n  dataset: daily_totals\n"
        "sql: SELECT day, sum(total) AS total FROM orders GROUP BY day\n"
    )
    api.answer("PUT", "/data/transformations/daily_totals", 200, transformation(revision=2))

    result = cirrus(api, "transformations", "put", "daily_totals", "--from-file", str(spec))

    assert result.exit_code == 0, result.output
    assert api.last.body == {
        "inputs": {"orders": "dataset:orders"},
        "output": {"dataset": "daily_totals"},
        "sql": "SELECT day, sum(total) AS total FROM orders GROUP BY day",
    }
    assert "Stored transformation daily_totals (revision 2)." in result.stdout
    assert "  FROM orders GROUP BY day" in result.stdout


def test_transformations_put_reads_a_python_module_file_beside_the_spec(api: FakeApi, tmp_path: Path) -> None:
    (tmp_path / "clean.py").write_text("def transform(inputs, parameters):\n    return inputs['orders']\n")
    spec = tmp_path / "clean.json"
    spec.write_text(
        json.dumps(
            {
                "inputs": {"orders": "dataset:orders"},
                "output": {"dataset": "clean"},
                "python": {"module_file": "clean.py", "engine": "polars"},
            }
        )
    )
    api.answer("PUT", "/data/transformations/clean", 201, transformation())

    result = cirrus(api, "transformations", "put", "clean", "--from-file", str(spec), "--json")

    assert result.exit_code == 0, result.output
    assert api.last.body["python"] == {
        "module": "def transform(inputs, parameters):\n    return inputs['orders']\n",
        "engine": "polars",
    }


def test_transformations_put_refuses_a_missing_module_file(api: FakeApi, tmp_path: Path) -> None:
    spec = tmp_path / "clean.json"
    spec.write_text(json.dumps({"python": {"module_file": "nowhere.py"}}))

    result = cirrus(api, "transformations", "put", "clean", "--from-file", str(spec))

    assert result.exit_code == 2
    assert "cannot read" in result.output
    assert api.sent == []


def test_transformations_put_prints_a_validation_refusal(api: FakeApi, tmp_path: Path) -> None:
    spec = tmp_path / "bad.json"
    spec.write_text(
        json.dumps(
            {"inputs": {"orders": "dataset:orders"}, "output": {"dataset": "x"}, "sql": "DROP TABLE orders"}
        )
    )
    api.refuse(
        "PUT", "/data/transformations/bad", 422, "invalid_transformation_sql", "Only a SELECT may be given."
    )

    result = cirrus(api, "transformations", "put", "bad", "--from-file", str(spec))

    assert result.exit_code == 1
    assert json.loads(result.stderr)["code"] == "invalid_transformation_sql"


def test_transformations_list_and_get(api: FakeApi) -> None:
    summary = {
        key: transformation()[key]
        for key in ("name", "description", "output", "runtime", "kind", "code_hash", "revision", "updated_at")
    }
    api.answer("GET", "/data/transformations", 200, {"items": [summary]})
    api.answer("GET", "/data/transformations/daily_totals", 200, transformation())

    listed = cirrus(api, "transformations", "list")
    shown = cirrus(api, "transformations", "get", "daily_totals")

    assert listed.stdout.splitlines()[1].split()[:5] == ["daily_totals", "sql", "duckdb", "daily_totals", "1"]
    assert "input orders: dataset:orders" in shown.stdout
    assert field_of(shown, "code hash") == CODE_HASH


def test_transformations_run_wait_follows_the_run_to_its_output(api: FakeApi) -> None:
    api.answer("POST", "/data/transformations/daily_totals/runs", 202, transformation_run())
    path = f"/data/transformations/daily_totals/runs/{RUN_ID}"
    api.answer("GET", path, 200, transformation_run())
    api.answer("GET", path, 200, transformation_run("succeeded", row_count=30, content_hash=HASH))

    result = cirrus(api, "transformations", "run", "daily_totals", "--wait")

    assert result.exit_code == 0, result.output
    assert api.sent[0].body is None
    assert api.sent[0].headers["Idempotency-Key"]
    assert [s.path for s in api.sent[1:]] == [f"/api/v1{path}"] * 2
    assert f"Run {RUN_ID} of daily_totals: succeeded" in result.stdout
    assert "dataset:daily_totals@1" in result.stdout
    assert HASH in result.stdout


def test_transformations_run_that_fails_exits_1_with_its_failure(api: FakeApi) -> None:
    api.answer("POST", "/data/transformations/daily_totals/runs", 202, transformation_run())
    api.answer(
        "GET",
        f"/data/transformations/daily_totals/runs/{RUN_ID}",
        200,
        transformation_run("failed", failure='Binder Error: column "day" not found'),
    )

    result = cirrus(api, "transformations", "run", "daily_totals", "--wait")

    assert result.exit_code == 1
    assert 'failed: Binder Error: column "day" not found' in result.stderr


def test_transformations_run_without_wait_prints_the_started_run(api: FakeApi) -> None:
    api.answer("POST", "/data/transformations/daily_totals/runs", 202, transformation_run())

    result = cirrus(api, "transformations", "run", "daily_totals", "--json")

    assert answer_of(result)["status"] == "running"
    assert len(api.sent) == 1


# ------------------------------------------------------------------------------------------ features

INGESTION_ID = "0190000000aa" + "11" * 10
MATERIALIZATION_ID = "0190000000bb" + "22" * 10
DEFINITION = {
    "name": "customer",
    "entity_key": {"name": "customer_id", "type": "string"},
    "event_time": "event_time",
    "features": [
        {"name": "orders_7d", "type": "int64", "description": "", "nullable": True},
        {"name": "spend_7d", "type": "float64", "description": "", "nullable": True},
    ],
    "owner": "growth",
    "description": "",
    "tags": {},
}


def group_version(version: int = 1, **fields: Any) -> dict[str, Any]:
    return {
        "definition": DEFINITION,
        "version": version,
        "parent_version": None,
        "breaking": False,
        "compatible_since": 1,
        "changes": [],
        "created_at": CREATED_AT,
        "created_by": "ana",
        **fields,
    }


def group_summary() -> dict[str, Any]:
    return {
        "name": "customer",
        "latest_version": 1,
        "owner": "growth",
        "description": "",
        "entity_key": "customer_id",
        "event_time": "event_time",
        "feature_count": 2,
        "has_data": True,
        "created_at": CREATED_AT,
        "created_by": "ana",
        "updated_at": CREATED_AT,
        "updated_by": "ana",
    }


def ingestion(status: str = "running", **fields: Any) -> dict[str, Any]:
    return {
        "ingestion_id": INGESTION_ID,
        "group": "customer",
        "version": 1,
        "dataset": "customer_features",
        "dataset_version": 3,
        "status": status,
        "started_at": CREATED_AT,
        "started_by": "ana",
        "execution_arn": "arn:aws:states:us-east-1:123456789012:execution:features:x",
        **fields,
    }


def materialization(status: str = "running", **fields: Any) -> dict[str, Any]:
    return {
        "materialization_id": MATERIALIZATION_ID,
        "group": "customer",
        "version": 1,
        "status": status,
        "started_at": CREATED_AT,
        "started_by": "ana",
        "execution_arn": "arn:aws:states:us-east-1:123456789012:execution:features:y",
        **fields,
    }


def test_features_put_sends_the_definition_with_the_groups_name(api: FakeApi, tmp_path: Path) -> None:
    path = tmp_path / "customer.yaml"
    path.write_text(json.dumps({key: value for key, value in DEFINITION.items() if key != "name"}))
    api.answer("PUT", "/data/features/customer", 201, {**group_version(), "change": "created"})

    result = cirrus(api, "features", "put", "customer", "--from-file", str(path))

    assert result.exit_code == 0, result.output
    assert api.last.body == DEFINITION
    assert result.stdout.strip() == "Created feature group customer (version 1)."


def test_features_put_new_version_accepts_a_breaking_change(api: FakeApi, tmp_path: Path) -> None:
    path = tmp_path / "customer.json"
    path.write_text(json.dumps(DEFINITION))
    change = {"feature": "spend_7d", "change": "type_changed", "from": "float64", "to": "string"}
    answer = {
        **group_version(2, parent_version=1, breaking=True, compatible_since=2, changes=[change]),
        "change": "breaking",
    }
    api.answer("PUT", "/data/features/customer", 201, answer)

    result = cirrus(api, "features", "put", "customer", "--from-file", str(path), "--new-version")

    assert result.exit_code == 0, result.output
    assert api.last.body == {**DEFINITION, "new_version": True}
    assert "a breaking change" in result.stdout
    assert ["type_changed", "spend_7d", "float64", "string"] in [
        line.split() for line in result.stdout.splitlines()
    ]


def test_features_put_breaking_change_without_new_version_prints_the_refusal(
    api: FakeApi, tmp_path: Path
) -> None:
    path = tmp_path / "customer.json"
    path.write_text(json.dumps(DEFINITION))
    api.refuse("PUT", "/data/features/customer", 422, "breaking_feature_change", "spend_7d changed type.")

    result = cirrus(api, "features", "put", "customer", "--from-file", str(path))

    assert result.exit_code == 1
    assert "new_version" not in api.last.body
    assert json.loads(result.stderr)["code"] == "breaking_feature_change"


def test_features_put_refuses_a_file_naming_another_group(api: FakeApi, tmp_path: Path) -> None:
    path = tmp_path / "customer.json"
    path.write_text(json.dumps(DEFINITION))

    result = cirrus(api, "features", "put", "merchant", "--from-file", str(path))

    assert result.exit_code == 2
    assert api.sent == []


def test_features_list_and_get(api: FakeApi) -> None:
    api.answer("GET", "/data/features", 200, {"items": [group_summary()]})
    api.answer("GET", "/data/features/customer", 200, {**group_summary(), "latest": group_version()})

    listed = cirrus(api, "features", "list")
    shown = cirrus(api, "features", "get", "customer")

    assert listed.stdout.splitlines()[1].split()[:6] == [
        "customer",
        "1",
        "customer_id",
        "2",
        "growth",
        "true",
    ]
    assert shown.exit_code == 0, shown.output
    assert "entity key:" in shown.stdout
    assert ["spend_7d", "float64", "true"] in [line.split() for line in shown.stdout.splitlines()]


def test_features_ingest_wait_polls_the_ingestion(api: FakeApi) -> None:
    api.answer("POST", "/data/features/customer/ingestions", 202, ingestion())
    api.answer(
        "GET", f"/data/features/customer/ingestions/{INGESTION_ID}", 200, ingestion("succeeded", rows=500)
    )

    result = cirrus(
        api, "features", "ingest", "customer", "--dataset", "dataset:customer_features@3", "--wait"
    )

    assert result.exit_code == 0, result.output
    assert api.sent[0].body == {"dataset": "dataset:customer_features@3"}
    assert f"Ingestion {INGESTION_ID} into customer version 1: succeeded" in result.stdout
    assert field_of(result, "rows") == "500"


def test_features_ingest_failure_prints_the_column_problems(api: FakeApi) -> None:
    problem = {"column": "spend_7d", "problem": "uncastable_values", "message": "12 rows are not numbers"}
    api.answer("POST", "/data/features/customer/ingestions", 202, ingestion())
    api.answer(
        "GET",
        f"/data/features/customer/ingestions/{INGESTION_ID}",
        200,
        ingestion("failed", failure="The data does not fit.", problems=[problem]),
    )

    result = cirrus(
        api, "features", "ingest", "customer", "--dataset", "dataset:x@1", "--group-version", "1", "--wait"
    )

    assert result.exit_code == 1
    assert api.sent[0].body == {"dataset": "dataset:x@1", "version": 1}
    assert "spend_7d: 12 rows are not numbers" in result.stderr


def test_features_materialize_starts_the_job(api: FakeApi) -> None:
    api.answer("POST", "/data/features/customer/materializations", 202, materialization())

    result = cirrus(api, "features", "materialize", "customer", "--group-version", "1")

    assert result.exit_code == 0, result.output
    assert api.last.body == {"version": 1}
    assert api.last.headers["Idempotency-Key"]
    assert result.stdout.strip() == f"Materialization {MATERIALIZATION_ID} of customer version 1: running"


def test_features_materialize_wait_prints_what_was_written(api: FakeApi) -> None:
    api.answer("POST", "/data/features/customer/materializations", 202, materialization())
    api.answer(
        "GET",
        f"/data/features/customer/materializations/{MATERIALIZATION_ID}",
        200,
        materialization("succeeded", entities=40, written=38, skipped=2),
    )

    result = cirrus(api, "features", "materialize", "customer", "--wait")

    assert result.exit_code == 0, result.output
    assert api.sent[0].body == {}
    assert [s.path for s in api.sent[1:]] == [
        f"/api/v1/data/features/customer/materializations/{MATERIALIZATION_ID}"
    ]
    assert (field_of(result, "written"), field_of(result, "skipped (older)")) == ("38", "2")


def test_features_materialize_that_fails_exits_1(api: FakeApi) -> None:
    api.answer("POST", "/data/features/customer/materializations", 202, materialization())
    api.answer(
        "GET",
        f"/data/features/customer/materializations/{MATERIALIZATION_ID}",
        200,
        materialization("failed", failure="the offline store is empty"),
    )

    result = cirrus(api, "features", "materialize", "customer", "--wait")

    assert result.exit_code == 1
    assert "failed: the offline store is empty" in result.stderr


def test_features_online_prints_the_entitys_values(api: FakeApi) -> None:
    online = {
        "group": "customer",
        "entity": "c-42",
        "version": 1,
        "event_time": "2025-01-01T00:00:00Z",
        "written_at": CREATED_AT,
        "features": {"orders_7d": 3, "spend_7d": 120.5},
    }
    api.answer("GET", "/data/features/customer/online", 200, online)

    result = cirrus(api, "features", "online", "customer", "--entity", "c-42")
    chosen = cirrus(
        api, "features", "online", "customer", "--entity", "c-42", "--feature", "a", "--feature", "b"
    )

    assert chosen.exit_code == 0, chosen.output
    assert api.last.query == {"entity": "c-42", "features": "a,b"}
    assert result.exit_code == 0, result.output
    assert api.sent[0].query == {"entity": "c-42"}
    assert [line.split() for line in result.stdout.splitlines()[1:]] == [
        ["FEATURE", "VALUE"],
        ["orders_7d", "3"],
        ["spend_7d", "120.5"],
    ]


def test_features_online_of_an_unknown_entity_exits_1(api: FakeApi) -> None:
    api.refuse("GET", "/data/features/customer/online", 404, "entity_not_found", "No entity c-0 in customer.")

    result = cirrus(api, "features", "online", "customer", "--entity", "c-0")

    assert result.exit_code == 1
    assert json.loads(result.stderr)["code"] == "entity_not_found"


# ------------------------------------------------------------------------------------------ training sets

TRAINING_SET_ID = "0190000000cc" + "33" * 10
TRAINING_REQUEST = {
    "dataset": "churn_training",
    "labels": {"dataset": "dataset:churn_labels@2", "label_time": "observed_at"},
    "feature_groups": [{"group": "customer", "features": ["orders_7d"], "max_age": "P7D"}],
}


def training_set(status: str = "building", **fields: Any) -> dict[str, Any]:
    return {
        "training_set_id": TRAINING_SET_ID,
        "dataset": "churn_training",
        "description": "",
        "status": status,
        "labels": {"dataset": "churn_labels", "version": 2, "label_time": "observed_at"},
        "feature_groups": [
            {
                "group": "customer",
                "version": 1,
                "features": ["orders_7d"],
                "max_age": "P7D",
                "entity_column": "customer_id",
            }
        ],
        "created_at": CREATED_AT,
        "created_by": "ana",
        "execution_arn": "arn:aws:states:us-east-1:123456789012:execution:features:z",
        **fields,
    }


def test_training_sets_create_wait_prints_the_dataset_version(api: FakeApi, tmp_path: Path) -> None:
    path = tmp_path / "churn.json"
    path.write_text(json.dumps(TRAINING_REQUEST))
    api.answer("POST", "/data/training-sets", 202, training_set())
    api.answer("GET", f"/data/training-sets/{TRAINING_SET_ID}", 200, training_set(dataset_version=1))
    api.answer(
        "GET",
        f"/data/training-sets/{TRAINING_SET_ID}",
        200,
        training_set("ready", dataset_version=1, row_count=900, content_hash=HASH),
    )

    result = cirrus(api, "training-sets", "create", "--from-file", str(path), "--wait")

    assert result.exit_code == 0, result.output
    assert api.sent[0].body == TRAINING_REQUEST
    assert api.sent[0].headers["Idempotency-Key"]
    assert len(api.sent) == 3
    assert "dataset:churn_training@1" in result.stdout
    assert HASH in result.stdout


def test_training_sets_get_of_a_failed_build_exits_1(api: FakeApi) -> None:
    api.answer(
        "GET", f"/data/training-sets/{TRAINING_SET_ID}", 200, training_set("failed", failure="no label rows")
    )

    result = cirrus(api, "training-sets", "get", TRAINING_SET_ID)

    assert result.exit_code == 1
    assert "failed: no label rows" in result.stderr


def test_training_sets_create_refusal_prints_the_error(api: FakeApi, tmp_path: Path) -> None:
    path = tmp_path / "churn.json"
    path.write_text(json.dumps(TRAINING_REQUEST))
    api.refuse("POST", "/data/training-sets", 404, "feature_group_not_found", "No feature group customer.")

    result = cirrus(api, "training-sets", "create", "--from-file", str(path), "--wait")

    assert result.exit_code == 1
    assert json.loads(result.stderr)["code"] == "feature_group_not_found"
    assert len(api.sent) == 1
