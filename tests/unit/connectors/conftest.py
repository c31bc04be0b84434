"""Real database servers for the connector tests: one PostgreSQL and one MariaDB per test process.

Each starts on first use and stops when the process ends (pytest-xdist workers each start their own).
A server that cannot start fails the tests that need it, with the reason: never a skip.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from typing import Any

import psycopg
import pymysql
import pytest

from cirrus.localcloud.databases import DatabaseServerUnavailable, LocalMariaDB, LocalPostgres
from cirrus_connectors.base import SourceConfig

_names = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[LocalPostgres]:
    server = LocalPostgres()
    try:
        server.start()
    except DatabaseServerUnavailable as error:
        pytest.fail(f"the local PostgreSQL server did not start: {error}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[LocalMariaDB]:
    server = LocalMariaDB()
    try:
        server.start()
    except DatabaseServerUnavailable as error:
        pytest.fail(f"the local MariaDB server did not start: {error}")
    yield server
    server.stop()


def unique_name(prefix: str) -> str:
    """A table name no other test in this process uses (the servers are shared per process)."""
    return f"{prefix}_{os.getpid()}_{next(_names)}"


def postgres_source(server: LocalPostgres, **options: Any) -> SourceConfig:
    return SourceConfig(
        name="warehouse",
        type="postgresql",
        connection={
            "host": server.host,
            "port": server.port,
            "database": server.database,
            "user": server.user,
        },
        secret={"password": server.password},
        options=options,
    )


def mariadb_source(server: LocalMariaDB, **options: Any) -> SourceConfig:
    return SourceConfig(
        name="shop",
        type="mysql",
        connection={
            "host": server.host,
            "port": server.port,
            "database": server.database,
            "user": server.user,
        },
        secret={"password": server.password},
        options=options,
    )


def postgres_execute(server: LocalPostgres, *statements: str) -> None:
    """Run setup statements as the server's user (who owns its database)."""
    with psycopg.connect(server.dsn, autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement.encode())


def mariadb_execute(server: LocalMariaDB, *statements: str) -> None:
    connection = pymysql.connect(
        host=server.host,
        port=server.port,
        user=server.user,
        password=server.password,
        database=server.database,
        autocommit=True,
    )
    try:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    finally:
        connection.close()
