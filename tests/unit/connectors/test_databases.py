"""The throwaway database servers (cirrus.localcloud.databases): where they listen, who may connect,
what a failed start says, and how missing server programs are reported or installed."""

from __future__ import annotations

import os
import pwd
import socket
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest

from cirrus.localcloud import databases
from cirrus.localcloud.databases import DatabaseServerUnavailable, LocalMariaDB, LocalPostgres


def accepts_connections(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_postgres_takes_the_users_password_over_tcp(postgres_server: LocalPostgres) -> None:
    with psycopg.connect(postgres_server.dsn) as connection:
        row = connection.execute(
            "SELECT current_user, current_database(), inet_server_addr()::text"
        ).fetchone()

    assert row == (postgres_server.user, postgres_server.database, "127.0.0.1/32")


def test_postgres_refuses_a_wrong_password(postgres_server: LocalPostgres) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(
            host=postgres_server.host,
            port=postgres_server.port,
            user=postgres_server.user,
            password="wrong",
            dbname=postgres_server.database,
        )


def test_postgres_refuses_a_missing_password_over_tcp(postgres_server: LocalPostgres) -> None:
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(
            host=postgres_server.host,
            port=postgres_server.port,
            user=postgres_server.user,
            dbname=postgres_server.database,
            password="",
        )


def test_postgres_data_belongs_to_the_unprivileged_user_it_runs_as(postgres_server: LocalPostgres) -> None:
    expected = pwd.getpwnam("postgres").pw_uid if os.geteuid() == 0 else os.geteuid()
    data = postgres_server.data_directory

    assert data.stat().st_uid == expected
    assert stat.S_IMODE(data.stat().st_mode) & 0o077 == 0
    with psycopg.connect(postgres_server.dsn) as connection:
        owner = connection.execute("SELECT usename FROM pg_user WHERE usesysid = 10").fetchone()
    assert owner == ("postgres",)


def test_mariadb_takes_the_users_password_over_tcp(mariadb_server: LocalMariaDB) -> None:
    connection = pymysql.connect(
        host=mariadb_server.host,
        port=mariadb_server.port,
        user=mariadb_server.user,
        password=mariadb_server.password,
        database=mariadb_server.database,
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT CURRENT_USER(), DATABASE()")
            row = cursor.fetchone()
    finally:
        connection.close()

    assert row == (f"{mariadb_server.user}@127.0.0.1", mariadb_server.database)


def test_mariadb_refuses_a_wrong_password(mariadb_server: LocalMariaDB) -> None:
    with pytest.raises(pymysql.err.OperationalError, match="Access denied"):
        pymysql.connect(
            host=mariadb_server.host,
            port=mariadb_server.port,
            user=mariadb_server.user,
            password="wrong",
            database=mariadb_server.database,
        )


def test_mariadb_root_is_not_reachable_over_tcp(mariadb_server: LocalMariaDB) -> None:
    with pytest.raises(pymysql.err.OperationalError, match=r"Access denied|not allowed"):
        pymysql.connect(host=mariadb_server.host, port=mariadb_server.port, user="root", password="")


@pytest.mark.parametrize("server_class", [LocalPostgres, LocalMariaDB])
def test_stopping_a_server_ends_it_and_deletes_its_directory(
    server_class: type[LocalPostgres] | type[LocalMariaDB],
) -> None:
    with server_class() as server:
        directory, port = server.directory, server.port
        assert directory is not None
        assert directory.is_dir()
        assert accepts_connections(port)
        assert server.version
        assert server.start_seconds > 0

    assert not directory.exists()
    assert not accepts_connections(port)
    assert not server.running
    server.stop()  # a second stop is harmless


@pytest.mark.parametrize("server_class", [LocalPostgres, LocalMariaDB])
def test_servers_started_at_once_do_not_collide(
    server_class: type[LocalPostgres] | type[LocalMariaDB],
) -> None:
    # As pytest-xdist workers start theirs (MariaDB's bootstraps once shared /tmp's temporary tables).
    servers = [server_class() for _ in range(3)]
    try:
        with ThreadPoolExecutor(len(servers)) as pool:
            list(pool.map(lambda server: server.start(), servers))

        assert len({server.port for server in servers}) == len(servers)
        assert all(server.running for server in servers)
    finally:
        for server in servers:
            server.stop()


def test_postgres_that_cannot_start_says_why_and_leaves_nothing() -> None:
    server = LocalPostgres(settings={"no_such_setting": "1"})

    with pytest.raises(DatabaseServerUnavailable, match="no_such_setting") as failed:
        server.start()

    assert "exited" in str(failed.value)
    assert server.directory is None
    assert not server.running


def test_mariadb_that_cannot_start_says_why_and_leaves_nothing() -> None:
    server = LocalMariaDB(options=["--no-such-option=1"])

    with pytest.raises(DatabaseServerUnavailable, match="no-such-option") as failed:
        server.start()

    assert "exited" in str(failed.value)
    assert server.directory is None


def test_a_port_taken_between_picking_and_binding_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        ports = iter([taken])
        free = databases._free_port
        monkeypatch.setattr(databases, "_free_port", lambda: next(ports, None) or free())

        with LocalPostgres() as server:
            assert server.port != taken
            assert "Address already in use" in server.log_path.read_text()


def test_missing_programs_without_root_name_the_package_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(databases, "find_binaries", lambda kind: None)
    monkeypatch.setattr(databases.os, "geteuid", lambda: 1000)

    with pytest.raises(DatabaseServerUnavailable, match="PostgreSQL") as postgres:
        databases.ensure_installed("postgresql")
    with pytest.raises(DatabaseServerUnavailable, match="MariaDB") as mariadb:
        databases.ensure_installed("mariadb")

    assert "apt-get install --no-install-recommends postgresql" in str(postgres.value)
    assert "apt-get install --no-install-recommends mariadb-server" in str(mariadb.value)


def test_a_failed_package_install_is_reported_with_apts_output(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake_apt = tmp_path / "apt-get"
    fake_apt.write_text('#!/bin/sh\necho "E: Unable to locate package $5" >&2\nexit 100\n')
    fake_apt.chmod(0o755)
    calls: list[str] = []

    def which(name: str) -> str | None:
        calls.append(name)
        return str(fake_apt) if name == "apt-get" else None

    monkeypatch.setattr(databases, "find_binaries", lambda kind: None)
    monkeypatch.setattr(databases.os, "geteuid", lambda: 0)
    monkeypatch.setattr(databases.shutil, "which", which)

    with pytest.raises(DatabaseServerUnavailable, match="mariadb-server") as failed:
        databases.ensure_installed("mariadb")

    assert "exited 100" in str(failed.value)
    assert "Unable to locate package" in str(failed.value)


def test_installed_programs_are_found_without_installing(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[list[str]] = []
    run = databases.subprocess.run

    def recording_run(command: list[str], *args: Any, **kwargs: Any) -> Any:
        ran.append(list(command))
        return run(command, *args, **kwargs)

    monkeypatch.setattr(databases.subprocess, "run", recording_run)

    for kind in databases.KINDS:
        found = databases.find_binaries(kind)
        assert found is not None
        assert databases.ensure_installed(kind) == found

    assert not [command for command in ran if "apt-get" in " ".join(command)]


def test_the_ensure_command_lists_the_servers(capsys: pytest.CaptureFixture[str]) -> None:
    assert databases.main(["--ensure"]) == 0

    out = capsys.readouterr().out
    assert "PostgreSQL: " in out
    assert "MariaDB: " in out


def test_the_ensure_command_fails_naming_what_cannot_be_installed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(databases, "find_binaries", lambda kind: None)
    monkeypatch.setattr(databases.os, "geteuid", lambda: 1000)

    assert databases.main(["--ensure"]) == 1

    assert "unavailable: PostgreSQL, MariaDB" in capsys.readouterr().err
