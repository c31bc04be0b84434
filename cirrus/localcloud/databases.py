"""Throwaway PostgreSQL and MariaDB servers on this machine, for the tests, the demo and the benchmarks.

Each server lives in a fresh temporary directory, listens on 127.0.0.1 on a free port (its unix socket
stays inside the directory), asks for a password over TCP, and holds one database and one user with a
random password, so a connector really connects and authenticates. Both tune durability away for
speed: they are test servers, and their data is deleted when they stop.

    with LocalPostgres() as server:
        psycopg.connect(server.dsn)

`python -m cirrus.localcloud.databases --ensure` installs the missing server packages (Debian, as
root); `--check` starts and stops each server once and prints its version and start time.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess  # starts the database servers this module manages  # nosec B404
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Final, Literal, Self

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from types import TracebackType

Kind = Literal["postgresql", "mariadb"]
KINDS: Final[tuple[Kind, ...]] = ("postgresql", "mariadb")
HOST: Final = "127.0.0.1"
START_TIMEOUT_SECONDS: Final = 60.0
STOP_TIMEOUT_SECONDS: Final = 30.0
_LOG_TAIL_LINES: Final = 20
# A free port is picked, then bound by the server a moment later: another process may take it in
# between (parallel test workers start servers at once), so a start is retried on a new port.
_PORT_ATTEMPTS: Final = 3
_ERROR_LINE = re.compile(r"error|fatal|panic", re.IGNORECASE)
_PORT_TAKEN = re.compile(r"address already in use|could not bind|do you already have another", re.IGNORECASE)

# MariaDB's 96 MB default redo log would be most of a test server's disk.
_MARIADB_REDO_LOG: Final = "16M"
_NAMES: Final[dict[Kind, str]] = {"postgresql": "PostgreSQL", "mariadb": "MariaDB"}
_PACKAGES: Final[dict[Kind, str]] = {"postgresql": "postgresql", "mariadb": "mariadb-server"}


class DatabaseServerUnavailable(RuntimeError):
    """A local database server cannot be installed, started or reached; the message says why."""


@dataclass(frozen=True)
class ServerBinaries:
    """Where a server's programs are: `server` runs it, `init` creates its data directory."""

    server: Path
    init: Path


def _postgres_bindirs() -> list[Path]:
    """Candidate bin directories: pg_config's first, then the newest of /usr/lib/postgresql/*/bin."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(  # noqa: S603  # a list, no shell: our own programs  # nosec B603
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            if out:
                candidates.append(Path(out))

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))

    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    on_path = shutil.which("postgres")
    if on_path:
        candidates.append(Path(on_path).parent)
    return candidates


def find_binaries(kind: Kind) -> ServerBinaries | None:
    """The server's programs on this machine, or None when they are not installed."""
    if kind == "postgresql":
        for bindir in _postgres_bindirs():
            server, init = bindir / "postgres", bindir / "initdb"
            if _executable(server) and _executable(init):
                return ServerBinaries(server, init)
        return None
    server_path = shutil.which("mariadbd") or _first_executable("/usr/sbin/mariadbd", "/usr/bin/mariadbd")
    init_path = shutil.which("mariadb-install-db") or _first_executable(
        "/usr/sbin/mariadb-install-db", "/usr/bin/mariadb-install-db"
    )
    if server_path and init_path:
        return ServerBinaries(Path(server_path), Path(init_path))
    return None


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _first_executable(*paths: str) -> str | None:
    return next((path for path in paths if _executable(Path(path))), None)


def ensure_installed(kind: Kind) -> ServerBinaries:
    """The server's programs, installing its Debian package first when they are missing and we may.

    Raises DatabaseServerUnavailable naming the server and the package to install otherwise.
    """
    found = find_binaries(kind)
    if found:
        return found
    name, package = _NAMES[kind], _PACKAGES[kind]
    apt = shutil.which("apt-get")
    if os.geteuid() != 0 or apt is None:
        raise DatabaseServerUnavailable(
            f"the {name} server is not installed and cannot be installed from here "
            f"({'not root' if os.geteuid() != 0 else 'no apt-get'}): install the Debian package "
            f"{package!r} (apt-get install --no-install-recommends {package}) or put its programs on PATH"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        [apt, "update", "-qq"],
        [apt, "install", "-y", "-qq", "--no-install-recommends", package],
    ):
        done = subprocess.run(  # noqa: S603  # apt-get with a fixed package  # nosec B603
            command, capture_output=True, text=True, env=env, check=False
        )
        if done.returncode != 0:
            raise DatabaseServerUnavailable(
                f"installing the {name} server ({package!r}) failed: `{' '.join(command)}` exited "
                f"{done.returncode}: {_tail(done.stdout + done.stderr)}"
            )
    found = find_binaries(kind)
    if found is None:
        raise DatabaseServerUnavailable(
            f"the Debian package {package!r} was installed but the {name} server's programs are still "
            "not found"
        )
    return found


def _tail(text: str, lines: int = _LOG_TAIL_LINES) -> str:
    """The last lines of a log, after its earlier error lines (a long epilogue may follow an error)."""
    every = text.strip().splitlines()
    earlier = [line for line in every[:-lines] if _ERROR_LINE.search(line)][:_LOG_TAIL_LINES]
    return "\n".join([*earlier, *(["..."] if earlier else []), *every[-lines:]])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


class _LocalServer(ABC):
    """What both servers share: a temporary directory, a process, readiness, shutdown, cleanup."""

    kind: ClassVar[Kind]
    # The signal that shuts the server down quickly and cleanly.
    stop_signal: ClassVar[signal.Signals]

    def __init__(
        self, *, database: str = "cirrus", user: str = "cirrus", start_timeout: float = START_TIMEOUT_SECONDS
    ) -> None:
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,30}", database) or not re.fullmatch(
            r"[a-z_][a-z0-9_]{0,30}", user
        ):
            raise ValueError("database and user must be lower-case identifiers of at most 31 characters")
        self.host = HOST
        self.port = 0
        self.database = database
        self.user = user
        self.password = secrets.token_urlsafe(18)
        self.version = ""
        self.start_seconds = 0.0
        self.directory: Path | None = None
        self._start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0  # where the current launch's lines start in the log

    @property
    def name(self) -> str:
        return _NAMES[self.kind]

    @property
    @abstractmethod
    def dsn(self) -> str:
        """A URL with the user's credentials, for drivers and tools that take one."""

    @property
    def log_path(self) -> Path:
        if self.directory is None:
            raise RuntimeError(f"the local {self.name} server is not running")
        return self.directory / "server.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Create the data directory, start the server, create the database and the user."""
        if self._process is not None:
            raise RuntimeError(f"the local {self.name} server is already running")
        started = time.perf_counter()
        binaries = ensure_installed(self.kind)
        self.directory = Path(tempfile.mkdtemp(prefix=f"cirrus-{self.kind}-"))
        atexit.register(self.stop)
        try:
            self._initialise(binaries)
            for attempt in range(1, _PORT_ATTEMPTS + 1):
                self.port = _free_port()
                try:
                    self._launch(binaries)
                    self._wait_ready()
                    break
                except DatabaseServerUnavailable:
                    taken = bool(_PORT_TAKEN.search(self._log_tail(self._log_offset)))
                    self._terminate()
                    if not taken or attempt == _PORT_ATTEMPTS:
                        raise
            self._provision()
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.perf_counter() - started

    def stop(self) -> None:
        """Shut the server down (fast shutdown) and delete its directory; safe to call twice."""
        self._terminate()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None
        atexit.unregister(self.stop)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- what each server does its own way ---

    @abstractmethod
    def _initialise(self, binaries: ServerBinaries) -> None:
        """Create the data directory."""

    @abstractmethod
    def _command(self, binaries: ServerBinaries) -> list[str]:
        """The command that runs the server in the foreground."""

    @abstractmethod
    def _probe(self) -> None:
        """Connect once as the administrator; raises while the server is not ready."""

    @abstractmethod
    def _provision(self) -> None:
        """Create the database and the user, and read the server's version."""

    # --- shared mechanics ---

    def _prefix(self) -> list[str]:
        """Runs the server as an unprivileged user where it needs one, and ends it with its parent.

        setpriv's parent-death signal stops the server if this process dies without stopping it.
        """
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            return []
        return [setpriv, "--pdeathsig", self.stop_signal.name.removeprefix("SIG")]

    def _launch(self, binaries: ServerBinaries) -> None:
        directory = self._directory()
        with (directory / "server.log").open("ab") as log:
            self._log_offset = log.tell()
            self._process = subprocess.Popen(  # noqa: S603  # a list, no shell: the server  # nosec B603
                [*self._prefix(), *self._command(binaries)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=directory,
                env=_server_environment(),
                start_new_session=True,
            )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self._start_timeout
        last_error = ""
        while True:
            process = self._process
            if process is None or process.poll() is not None:
                code = None if process is None else process.returncode
                raise DatabaseServerUnavailable(
                    f"the local {self.name} server exited ({code}) before it was ready; its log ends:\n"
                    f"{self._log_tail()}"
                )
            try:
                self._probe()
                return
            except Exception as error:  # not ready yet: every driver error looks alike here
                last_error = str(error)
            if time.monotonic() > deadline:
                raise DatabaseServerUnavailable(
                    f"the local {self.name} server was not ready after {self._start_timeout:.0f} s "
                    f"({last_error.strip()}); its log ends:\n{self._log_tail()}"
                )
            time.sleep(0.05)

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(self.stop_signal)
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT_SECONDS)

    def _directory(self) -> Path:
        if self.directory is None:
            raise RuntimeError(f"the local {self.name} server has no directory")
        return self.directory

    def _log_tail(self, offset: int = 0) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                return _tail(log.read().decode(errors="replace"))
        except (OSError, RuntimeError):
            return "(no log)"

    def _run(self, command: Sequence[str], what: str) -> None:
        """Run a setup program; its output goes to the server log, and a failure names it."""
        with self.log_path.open("ab") as log:
            done = subprocess.run(  # noqa: S603  # a list, no shell: our own programs  # nosec B603
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._directory(),
                env=_server_environment(),
                check=False,
                timeout=self._start_timeout,
            )
        if done.returncode != 0:
            raise DatabaseServerUnavailable(
                f"{what} for the local {self.name} server failed (exit {done.returncode}); the log ends:\n"
                f"{self._log_tail()}"
            )


def _server_environment() -> dict[str, str]:
    # The servers must not pick up a client's PG*/MYSQL* settings or a locale that is not installed.
    keep = {"PATH", "HOME", "TMPDIR"}
    env = {key: value for key, value in os.environ.items() if key in keep}
    env["LC_ALL"] = "C"
    return env


class LocalPostgres(_LocalServer):
    """A PostgreSQL server of its own: scram-sha-256 password authentication over TCP on 127.0.0.1.

    `settings` adds server settings (`-c name=value`). As root, PostgreSQL (which refuses to run as
    root) runs as the `postgres` system user, which owns the directory.
    """

    kind = "postgresql"
    stop_signal = signal.SIGINT  # PostgreSQL's fast shutdown
    admin_user: Final = "postgres"

    def __init__(
        self,
        *,
        database: str = "cirrus",
        user: str = "cirrus",
        settings: Mapping[str, str] | None = None,
        start_timeout: float = START_TIMEOUT_SECONDS,
    ) -> None:
        super().__init__(database=database, user=user, start_timeout=start_timeout)
        self.settings = dict(settings or {})

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}"

    @property
    def data_directory(self) -> Path:
        return self._directory() / "data"

    def _prefix(self) -> list[str]:
        prefix = super()._prefix()
        if os.geteuid() != 0:
            return prefix
        _postgres_account()
        if prefix:
            return [*prefix, "--reuid=postgres", "--regid=postgres", "--init-groups"]
        runuser = shutil.which("runuser")
        if runuser is None:
            raise DatabaseServerUnavailable(
                "PostgreSQL refuses to run as root, and neither setpriv nor runuser (util-linux) is there "
                "to run it as the 'postgres' user"
            )
        # runuser waits for the server and passes the stop signal on.
        return [runuser, "-u", "postgres", "--"]

    def _initialise(self, binaries: ServerBinaries) -> None:
        directory = self._directory()
        (directory / "server.log").touch()
        if os.geteuid() == 0:
            account = _postgres_account()
            for path in (directory, directory / "server.log"):
                os.chown(path, account.pw_uid, account.pw_gid)
        self._run(
            [
                *self._prefix(),
                str(binaries.init),
                "--pgdata",
                str(self.data_directory),
                "--username",
                self.admin_user,
                # The administrator connects through the socket, which only this directory's owner
                # can reach; everyone else must give a password over TCP.
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            ],
            "initdb",
        )

    def _command(self, binaries: ServerBinaries) -> list[str]:
        settings = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": str(self._directory()),
            "password_encryption": "scram-sha-256",  # a hashing method (md5 before 14)  # nosec B105
            # Test servers only: durability is traded for speed, and the data is deleted on stop.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            **self.settings,
        }
        command = [str(binaries.server), "-D", str(self.data_directory)]
        for key, value in settings.items():
            command += ["-c", f"{key}={value}"]
        return command

    def _admin(self) -> Any:
        import psycopg

        return psycopg.connect(
            host=str(self._directory()),
            port=self.port,
            user=self.admin_user,
            dbname="postgres",
            connect_timeout=2,
            autocommit=True,
        )

    def _probe(self) -> None:
        self._admin().close()

    def _provision(self) -> None:
        import psycopg
        from psycopg import sql

        with self._admin() as admin:
            admin.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(self.user), sql.Literal(self.password)
                )
            )
            admin.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(self.database), sql.Identifier(self.user)
                )
            )
            self.version = str(admin.execute("SHOW server_version").fetchone()[0])
        # The user's own way in: TCP with a password, as a connector comes.
        with psycopg.connect(self.dsn, connect_timeout=5) as check:
            check.execute("SELECT 1")


def _postgres_account() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise DatabaseServerUnavailable(
            "PostgreSQL refuses to run as root, and there is no 'postgres' system user to run it as "
            "(the Debian package 'postgresql' creates one)"
        ) from None


class LocalMariaDB(_LocalServer):
    """A MariaDB server of its own: the user (password) at '127.0.0.1' and 'localhost'.

    `options` adds mariadbd command-line options (`--name=value`).
    """

    kind = "mariadb"
    stop_signal = signal.SIGTERM  # MariaDB's normal shutdown, quick without a slow shutdown set

    def __init__(
        self,
        *,
        database: str = "cirrus",
        user: str = "cirrus",
        options: Sequence[str] = (),
        start_timeout: float = START_TIMEOUT_SECONDS,
    ) -> None:
        super().__init__(database=database, user=user, start_timeout=start_timeout)
        self.options = list(options)

    @property
    def dsn(self) -> str:
        return f"mysql://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}"

    @property
    def socket_path(self) -> Path:
        return self._directory() / "mariadb.sock"

    def _root_option(self) -> list[str]:
        # mariadbd runs as root only when told to (the directory is root's).
        return ["--user=root"] if os.geteuid() == 0 else []

    def _initialise(self, binaries: ServerBinaries) -> None:
        self._run(
            [
                str(binaries.init),
                "--no-defaults",
                f"--datadir={self._directory() / 'data'}",
                # Its own temporary directory: bootstraps running at once collide on /tmp's
                # temporary table names (seen with parallel test workers).
                f"--tmpdir={self._directory()}",
                *self._root_option(),
                # root@localhost with no password, through the socket (other root accounts are dropped).
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                f"--innodb-log-file-size={_MARIADB_REDO_LOG}",
            ],
            "mariadb-install-db",
        )

    def _command(self, binaries: ServerBinaries) -> list[str]:
        directory = self._directory()
        return [
            str(binaries.server),
            "--no-defaults",
            f"--datadir={directory / 'data'}",
            f"--socket={self.socket_path}",
            f"--pid-file={directory / 'mariadb.pid'}",
            f"--tmpdir={directory}",
            f"--port={self.port}",
            f"--bind-address={self.host}",
            "--skip-name-resolve",
            *self._root_option(),
            # Test servers only: durability is traded for speed, and the data is deleted on stop.
            "--innodb-flush-log-at-trx-commit=0",
            "--innodb-doublewrite=0",
            "--sync-binlog=0",
            f"--innodb-log-file-size={_MARIADB_REDO_LOG}",
            *self.options,
        ]

    def _admin(self) -> Any:
        import pymysql

        return pymysql.connect(
            unix_socket=str(self.socket_path), user="root", connect_timeout=2, autocommit=True
        )

    def _probe(self) -> None:
        self._admin().close()

    def _provision(self) -> None:
        import pymysql

        admin = self._admin()
        try:
            with admin.cursor() as cursor:
                # mariadb-install-db also makes password-less root accounts for 127.0.0.1, ::1 and the
                # host name: anyone on the machine could use them over TCP. Root keeps the socket only.
                cursor.execute("SELECT Host FROM mysql.user WHERE User = 'root' AND Host <> 'localhost'")
                for (host,) in cursor.fetchall():
                    cursor.execute("DROP USER 'root'@%s", (host,))
                cursor.execute(f"CREATE DATABASE `{self.database}`")
                for host in (self.host, "localhost"):
                    cursor.execute(f"CREATE USER '{self.user}'@'{host}' IDENTIFIED BY %s", (self.password,))
                    cursor.execute(f"GRANT ALL PRIVILEGES ON `{self.database}`.* TO '{self.user}'@'{host}'")
                cursor.execute("SELECT VERSION()")
                self.version = str(cursor.fetchone()[0])
        finally:
            admin.close()
        check = pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=self.database,
            connect_timeout=5,
        )
        check.close()


SERVERS: Final[dict[Kind, Callable[[], _LocalServer]]] = {
    "postgresql": LocalPostgres,
    "mariadb": LocalMariaDB,
}


def main(argv: Sequence[str] | None = None) -> int:
    """`--ensure`: install the missing servers; `--check`: start and stop each once."""
    parser = argparse.ArgumentParser(prog="python -m cirrus.localcloud.databases", description=__doc__)
    parser.add_argument("--ensure", action="store_true", help="install the missing server packages")
    parser.add_argument("--check", action="store_true", help="start and stop each server once")
    args = parser.parse_args(argv)
    if not (args.ensure or args.check):
        parser.error("give --ensure, --check or both")
    failed: list[str] = []
    for kind in KINDS:
        name = _NAMES[kind]
        try:
            binaries = ensure_installed(kind)
        except DatabaseServerUnavailable as error:
            print(f"{name}: cannot be installed: {error}", file=sys.stderr)
            failed.append(name)
            continue
        if args.ensure:
            print(f"{name}: {binaries.server}")
        if args.check:
            server = SERVERS[kind]()
            try:
                server.start()
            except DatabaseServerUnavailable as error:
                print(f"{name}: does not start: {error}", file=sys.stderr)
                failed.append(name)
                continue
            stopping = time.perf_counter()
            server.stop()
            print(
                f"{name} {server.version}: started in {server.start_seconds:.2f} s, "
                f"stopped in {time.perf_counter() - stopping:.2f} s"
            )
    if failed:
        print(f"unavailable: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
