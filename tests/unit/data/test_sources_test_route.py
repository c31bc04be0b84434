# ruff: noqa: F811 - the fixture `world` comes from tests/unit/data/sources_support.py
"""POST /data/sources/{name}/test: the source's connector (from the connectors layer) is opened with
the source's stored fields and its secret, and runs its trivial request. The answer is 200 either
way: ok with the latency, or the driver's reason without any secret value in it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest

from cirrus.localcloud.databases import LocalPostgres
from cirrus_connectors import base as connectors
from cirrus_core.data.connection import SourceConfig
from tests.support.api import ApiResponse
from tests.support.authz import claims
from tests.unit.data.sources_support import (  # noqa: F401 - fixtures
    MONGO_URI,
    PASSWORD,
    SourcesWorld,
    api,
    function_logs,
    mongodb_uri,
    ok,
    postgres,
    s3,
    world,
)


@dataclass
class FakeConnector:
    """A connector whose test answers `latency` or raises `failure`; it records what it was given."""

    latency: float = 12.5
    failure: Exception | None = None
    open_failure: Exception | None = None
    opened: list[SourceConfig] = field(default_factory=list)
    closed: int = 0

    def open(self, source: SourceConfig) -> FakeConnector:
        self.opened.append(source)
        if self.open_failure is not None:
            raise self.open_failure
        return self

    def test(self) -> float:
        if self.failure is not None:
            raise self.failure
        return self.latency

    def close(self) -> None:
        self.closed += 1


@pytest.fixture
def connector(monkeypatch: pytest.MonkeyPatch) -> FakeConnector:
    """Stands in for the connectors layer's `open_connector` (what the function calls)."""
    fake = FakeConnector()
    monkeypatch.setattr(connectors, "open_connector", fake.open)
    return fake


def check(name: str, **parts: Any) -> ApiResponse:
    return api("test_source", path={"name": name}, **parts)


def test_a_source_that_answers_is_ok_with_its_latency(world: SourcesWorld, connector: FakeConnector) -> None:
    world.created(postgres(options={"chunk_rows": 1000}))

    answer = ok(check("orders-db"))

    assert answer == {
        "name": "orders-db",
        "type": "postgresql",
        "ok": True,
        "latency_ms": 12.5,
        "error": None,
    }
    assert connector.closed == 1


def test_the_connector_gets_the_stored_fields_and_the_secret(
    world: SourcesWorld, connector: FakeConnector
) -> None:
    world.created(postgres(options={"chunk_rows": 1000}))

    check("orders-db")

    (source,) = connector.opened
    assert (source.name, source.type) == ("orders-db", "postgresql")
    assert source.connection == {"host": "db.internal", "port": 5432, "database": "shop", "user": "reader"}
    assert source.secret == {"password": PASSWORD}
    assert source.options == {"chunk_rows": 1000}


def test_a_source_without_secret_fields_is_tested_with_an_empty_secret(
    world: SourcesWorld, connector: FakeConnector
) -> None:
    world.created(s3())

    ok(check("landing"))

    assert connector.opened[0].secret == {}


def test_a_failure_is_the_driver_s_reason_without_any_secret_value(
    world: SourcesWorld, connector: FakeConnector
) -> None:
    world.created(postgres())
    connector.failure = connectors.ConnectionFailed(
        f'connection to "db.internal" failed: password "{PASSWORD}" (or {quote(PASSWORD, safe="")}) '
        "authentication failed for user reader"
    )

    response = check("orders-db")

    answer = ok(response)
    assert (answer["ok"], answer["latency_ms"]) == (False, None)
    assert answer["error"] == {
        "code": "connection_failed",
        "message": 'connection to "db.internal" failed: password "***" (or ***) '
        "authentication failed for user reader",
    }
    assert PASSWORD not in response.raw_body
    assert connector.closed == 1


def test_a_connector_that_cannot_open_reports_why(world: SourcesWorld, connector: FakeConnector) -> None:
    world.created(mongodb_uri())
    connector.open_failure = connectors.ConnectionFailed(f"no server at {MONGO_URI} answered in 10 s")

    response = check("events-mongo")

    answer = ok(response)
    assert answer["ok"] is False
    assert answer["error"]["message"] == "no server at *** answered in 10 s"
    assert PASSWORD not in response.raw_body
    assert connector.closed == 0


def test_a_connector_refusing_the_source_is_a_failed_test(
    world: SourcesWorld, connector: FakeConnector
) -> None:
    world.created(postgres())
    connector.open_failure = connectors.ExtractionRefused("a postgresql source needs `host`")

    answer = ok(check("orders-db"))

    assert answer["error"] == {"code": "connection_failed", "message": "a postgresql source needs `host`"}


def test_a_long_driver_message_is_cut(world: SourcesWorld, connector: FakeConnector) -> None:
    world.created(postgres())
    connector.failure = connectors.ConnectionFailed("timeout " * 500)

    answer = ok(check("orders-db"))

    assert len(answer["error"]["message"]) == 1000


def test_testing_an_unknown_source_is_404(world: SourcesWorld, connector: FakeConnector) -> None:
    response = check("nowhere")

    assert (response.status, response.error_code) == (404, "source_not_found")
    assert connector.opened == []


@pytest.mark.parametrize("role", ["ml_engineer", "data_scientist"])
def test_data_access_holders_test_sources(world: SourcesWorld, connector: FakeConnector, role: str) -> None:
    world.created(postgres())

    assert ok(check("orders-db", claims=claims(role)))["ok"] is True


def test_a_model_reviewer_may_not_test_sources(world: SourcesWorld, connector: FakeConnector) -> None:
    world.created(postgres())

    response = check("orders-db", claims=claims("model_reviewer"))

    assert (response.status, response.error_code) == (403, "access_denied")
    assert connector.opened == []


def test_a_failed_test_logs_no_secret(
    world: SourcesWorld, connector: FakeConnector, caplog: pytest.LogCaptureFixture
) -> None:
    world.created(postgres())
    connector.failure = connectors.ConnectionFailed(f"password {PASSWORD} rejected")

    with function_logs() as logs:
        response = check("orders-db")

    assert response.status == 200
    assert PASSWORD not in caplog.text + logs.getvalue()


# -- against a real PostgreSQL server and the real connector --------------------------------------------


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[LocalPostgres]:
    with LocalPostgres() as server:
        yield server


def real_postgres(
    server: LocalPostgres, name: str = "local-pg", password: str | None = None
) -> dict[str, Any]:
    return postgres(
        name,
        host=server.host,
        port=server.port,
        database=server.database,
        user=server.user,
        password=password or server.password,
        sslmode="disable",
    )


def test_a_local_postgresql_server_answers(world: SourcesWorld, postgres_server: LocalPostgres) -> None:
    world.created(real_postgres(postgres_server))

    answer = ok(check("local-pg"))

    assert (answer["ok"], answer["error"]) == (True, None)
    assert answer["latency_ms"] > 0


def test_a_wrong_password_fails_with_postgresql_s_reason_and_no_password(
    world: SourcesWorld, postgres_server: LocalPostgres
) -> None:
    wrong = "Wr0ng-" + PASSWORD
    world.created(real_postgres(postgres_server, password=wrong))

    response = check("local-pg")

    answer = ok(response)
    assert answer["ok"] is False
    assert answer["error"]["code"] == "connection_failed"
    assert "password authentication failed" in answer["error"]["message"]
    assert wrong not in response.raw_body
    assert postgres_server.password not in response.raw_body


def test_a_server_that_is_not_there_fails_with_the_reason(
    world: SourcesWorld, postgres_server: LocalPostgres
) -> None:
    body = real_postgres(postgres_server, name="closed-port")
    body["connection"]["port"] = _closed_port()
    world.created(body)

    answer = ok(check("closed-port"))

    assert answer["ok"] is False
    assert "could not connect" in answer["error"]["message"].lower()
    assert json.dumps(answer).count(postgres_server.password) == 0


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
