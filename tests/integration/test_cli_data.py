"""`cirrus data` against the running local cloud and a real PostgreSQL, as a user types it."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from click.testing import CliRunner, Result

from cirrus.cli import cli
from cirrus.localcloud.databases import LocalPostgres

if TYPE_CHECKING:
    from collections.abc import Iterator

    from cirrus.localcloud.cloud import LocalCloudState

ROWS = 250
PASSWORD_VARIABLE = "CIRRUS_IT_PGPASSWORD"  # nosec B105  # a variable's name


@pytest.fixture(scope="module")
def postgres() -> Iterator[LocalPostgres]:
    """A PostgreSQL server of this module's own, holding an `orders` table (never skipped)."""
    with LocalPostgres() as server:
        with psycopg.connect(server.dsn, autocommit=True) as connection:
            connection.execute(
                "CREATE TABLE orders (id bigint PRIMARY KEY, customer text NOT NULL, total double precision, "
                "placed_at timestamptz NOT NULL)"
            )
            connection.execute(
                "INSERT INTO orders SELECT n, 'customer ' || (n %% 7), n * 1.5, "
                "timestamptz '2024-01-01 00:00:00+00' + n * interval '1 hour' "
                "FROM generate_series(1, %s) AS n",
                (ROWS,),
            )
        yield server


def data(state: LocalCloudState, role: str, *args: str, env: dict[str, str] | None = None) -> Result:
    command = ["data", "--endpoint-url", state.api_url, "--token", state.token(role), *args]
    return CliRunner().invoke(cli, command, env=env, catch_exceptions=False)


def field_of(result: Result, name: str) -> str:
    """The value of a `name: value` line the command printed."""
    values = [
        line.partition(":")[2].strip() for line in result.stdout.splitlines() if line.startswith(f"{name}:")
    ]
    assert len(values) == 1, result.stdout
    return values[0]


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def test_a_postgres_source_made_with_the_cli_snapshots_into_a_dataset_to_list_and_sample(
    state: LocalCloudState, postgres: LocalPostgres
) -> None:
    source = f"it_pg_{uuid.uuid4().hex[:8]}"
    dataset = f"it_orders_{uuid.uuid4().hex[:8]}"
    password_env = {PASSWORD_VARIABLE: postgres.password}

    # GIVEN a source registered by the admin, its password read from an environment variable
    created = ok(
        data(
            state,
            "admin",
            "sources",
            "create",
            source,
            "--type",
            "postgresql",
            "--host",
            postgres.host,
            "--port",
            str(postgres.port),
            "--database",
            postgres.database,
            "--user",
            postgres.user,
            "--password-env",
            PASSWORD_VARIABLE,
            "--json",
            env=password_env,
        )
    )
    shown: dict[str, Any] = json.loads(created.stdout)
    assert shown["secret_fields"] == ["password"]
    tested = ok(data(state, "ml_engineer", "sources", "test", source))
    assert tested.stdout.startswith(f"{source}: ok (")

    # WHEN an ml_engineer snapshots its table and waits for the job
    snapshot = ok(
        data(state, "ml_engineer", "snapshot", dataset, "--source", source, "--table", "orders", "--wait")
    )

    # THEN the version is ready with every row and a content hash, listed and sampled
    assert f"Dataset {dataset} version 1: ready" in snapshot.stdout
    assert field_of(snapshot, "rows") == str(ROWS)
    assert field_of(snapshot, "content hash").startswith("sha256:")
    listed = ok(data(state, "data_scientist", "datasets", "list", "--limit", "100"))
    assert [line.split()[:3] for line in listed.stdout.splitlines() if line.startswith(dataset)] == [
        [dataset, "snapshot", "1"]
    ]
    version = json.loads(
        ok(data(state, "data_scientist", "datasets", "version", dataset, "1", "--json")).stdout
    )
    assert version["row_count"] == ROWS
    assert [column["name"] for column in version["schema"]] == ["id", "customer", "total", "placed_at"]
    sample = ok(data(state, "data_scientist", "datasets", "sample", dataset, "1", "--limit", "3"))
    lines = sample.stdout.splitlines()
    assert lines[0].split() == ["id", "customer", "total", "placed_at"]
    assert [line.split()[0] for line in lines[1:]] == ["1", "2", "3"]

    # AND the password never showed in anything the CLI printed
    for result in (created, tested, snapshot, listed, sample):
        assert postgres.password not in result.output


def test_a_source_with_a_wrong_password_fails_its_test_with_the_drivers_reason(
    state: LocalCloudState, postgres: LocalPostgres
) -> None:
    source = f"it_pg_bad_{uuid.uuid4().hex[:8]}"
    wrong = f"wrong-{uuid.uuid4().hex}"
    ok(
        data(
            state,
            "admin",
            "sources",
            "create",
            source,
            "--type",
            "postgresql",
            "--host",
            postgres.host,
            "--port",
            str(postgres.port),
            "--database",
            postgres.database,
            "--user",
            postgres.user,
            "--password-env",
            PASSWORD_VARIABLE,
            env={PASSWORD_VARIABLE: wrong},
        )
    )

    tested = data(state, "ml_engineer", "sources", "test", source)

    assert tested.exit_code == 1
    assert "not ok: connection_failed" in tested.stderr
    assert "password authentication failed" in tested.stderr
    assert wrong not in tested.output


def test_only_admin_may_create_a_source(state: LocalCloudState, postgres: LocalPostgres) -> None:
    result = data(
        state,
        "ml_engineer",
        "sources",
        "create",
        f"it_pg_denied_{uuid.uuid4().hex[:8]}",
        "--type",
        "postgresql",
        "--host",
        postgres.host,
        "--port",
        str(postgres.port),
        "--database",
        postgres.database,
        "--user",
        postgres.user,
        "--password-env",
        PASSWORD_VARIABLE,
        env={PASSWORD_VARIABLE: postgres.password},
    )

    assert result.exit_code == 1
    assert json.loads(result.stderr)["status"] == 403
    assert postgres.password not in result.output
