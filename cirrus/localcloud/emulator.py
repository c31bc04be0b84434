"""The AWS emulator of the local cloud: moto's threaded server on loopback, with hooks that run code.

    with Emulator() as emulator:
        lam = emulator.client("lambda")
        ...

`Emulator.start()` starts `moto.server.ThreadedMotoServer` on 127.0.0.1 (a free port unless one is
given), points `MOTO_PORT` at it (moto 5.2.5's Step Functions executor calls back into
`http://localhost:$MOTO_PORT`), turns on moto's state machine executor, and installs every hook
module in `HOOK_MODULES` that can be imported. `stop()` undoes the hooks in reverse order, stops the
server and restores what it changed. moto keeps its state in process-wide backends, so one emulator
runs per process at a time (a second `start()` elsewhere raises), and each start begins from an
empty cloud.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import shutil
import socket
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from moto.core.config import default_user_config
from moto.moto_api._internal.models import moto_api_backend
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler
from moto.server import ThreadedMotoServer

from cirrus.localcloud.clients import new_client
from cirrus.localcloud.hooks import HookContext
from cirrus.localcloud.hooks._patching import patch_attribute

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from types import TracebackType

    from cirrus.localcloud.hooks import Undo

LOG = logging.getLogger(__name__)

# Every hook the local cloud installs, in installation order (undone in reverse). Adding a hook is
# one line here; a module that does not exist yet (another part still being written) is skipped.
HOOK_MODULES: tuple[str, ...] = (
    "cirrus.localcloud.hooks.lambda_runtime",
    "cirrus.localcloud.hooks.eventbridge",
    "cirrus.localcloud.hooks.stepfunctions",
    "cirrus.localcloud.hooks.dynamodb_transactions",
    "cirrus.localcloud.hooks.sagemaker_jobs",
    "cirrus.localcloud.hooks.sagemaker_endpoints",
    "cirrus.localcloud.hooks.sagemaker_hosting",
    "cirrus.localcloud.hooks.sagemaker_compilation",
    "cirrus.localcloud.hooks.scheduler",
    "cirrus.localcloud.hooks.sqs_event_sources",
)

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT_ID = "123456789012"  # moto's default account
_QUIET_LOGGERS = (
    # moto 5.2.5's executor logs whole state objects at ERROR on every failed state (a caught
    # error included), which buries real output.
    "moto.stepfunctions.parser",
)
_ACTIVE_LOCK = threading.Lock()
_active: Emulator | None = None


class Emulator:
    """moto's server on loopback with the local cloud's hooks installed; a context manager."""

    def __init__(
        self,
        port: int = 0,
        *,
        hooks: Sequence[str] = HOOK_MODULES,
        region: str = DEFAULT_REGION,
        work_dir: Path | None = None,
    ) -> None:
        """Configure, without starting: `port` 0 picks a free port; `hooks` are module names."""
        self._requested_port = port
        self._hook_names = tuple(hooks)
        self.region = region
        self._given_work_dir = work_dir
        self._work_dir: Path | None = None
        self._server: ThreadedMotoServer | None = None
        self._port: int | None = None
        self._undos: list[Undo] = []
        self._installed: list[str] = []
        self._restore: list[Undo] = []
        self._clients: dict[str, Any] = {}
        self._lock = threading.RLock()

    # -- what callers use -------------------------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        """The base URL every client and handler uses, e.g. http://127.0.0.1:41873."""
        if self._port is None:
            raise RuntimeError("the emulator is not running: call start() first")
        return f"http://127.0.0.1:{self._port}"

    @property
    def port(self) -> int:
        """The port the server listens on (chosen at start when 0 was asked for)."""
        if self._port is None:
            raise RuntimeError("the emulator is not running: call start() first")
        return self._port

    @property
    def work_dir(self) -> Path:
        """Scratch space owned by this emulator (extracted code, job directories)."""
        if self._work_dir is None:
            raise RuntimeError("the emulator is not running: call start() first")
        return self._work_dir

    @property
    def installed_hooks(self) -> tuple[str, ...]:
        """The hook modules installed by start(), in order."""
        return tuple(self._installed)

    @property
    def running(self) -> bool:
        """True between start() and stop()."""
        return self._server is not None

    def client(self, service_name: str) -> Any:
        """The boto3 client for `service_name` bound to the emulator (region, fake credentials).

        One client per service, built on first use and shared: boto3 clients are thread-safe.
        """
        endpoint_url = self.endpoint_url  # raises when not running
        with self._lock:
            client = self._clients.get(service_name)
            if client is None:
                client = new_client(service_name, endpoint_url, self.region)
                self._clients[service_name] = client
            return client

    def hook_context(self) -> HookContext:
        """What the hooks were installed with (for installing an extra hook by hand, in a test)."""
        return HookContext(endpoint_url=self.endpoint_url, work_dir=self.work_dir, region=self.region)

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> Self:
        """Start the server and install the hooks; calling it again while running does nothing."""
        global _active
        with self._lock:
            if self._server is not None:
                return self
            with _ACTIVE_LOCK:
                if _active is not None:
                    raise RuntimeError(
                        "another Emulator is running in this process: moto's state is process-wide"
                    )
                _active = self
            try:
                self._start()
            except BaseException:
                self._teardown()
                raise
            return self

    def _start(self) -> None:
        port = self._requested_port or _free_port()
        _check_port(port)  # ThreadedMotoServer.start() would wait forever if the bind failed
        self._work_dir = self._given_work_dir or Path(tempfile.mkdtemp(prefix="cirrus-localcloud-"))
        self._work_dir.mkdir(parents=True, exist_ok=True)
        if self._given_work_dir is None:
            work_dir = self._work_dir
            self._restore.append(lambda: shutil.rmtree(work_dir, ignore_errors=True))

        # moto 5.2.5's request handler (moto.moto_server.werkzeug_app.MotoRequestHandler) prints an
        # access-log line per AWS call to stderr: thousands of lines in a demo, none of them useful.
        self._restore.append(patch_attribute(MotoRequestHandler, "log_request", _no_access_log))
        # moto 5.2.5 finds the backend of every request by listing its own package folder (a stat per
        # service) and then trying each service's URL patterns: about 2 ms a request, under a lock
        # that serialises all requests. The answer depends on the host name alone: remember it.
        self._restore.append(
            patch_attribute(
                DomainDispatcherApplication,
                "get_backend_for_host",
                _remembered_backends(DomainDispatcherApplication.get_backend_for_host),
            )
        )
        # moto's backends are process-wide: start from an empty cloud, not from what an earlier
        # emulator or test in this process left behind (what POST /moto-api/reset does).
        moto_api_backend.reset()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        self._server = server
        self._port = server.get_host_and_port()[1]
        self._restore.append(_set_environ("MOTO_PORT", str(self._port)))
        self._restore.append(_set_config("stepfunctions", {"execute_state_machine": True}))
        for name in _QUIET_LOGGERS:
            self._restore.append(_quiet_logger(name))

        context = self.hook_context()
        for module_name in self._hook_names:
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name != module_name:
                    raise  # the hook exists but something it imports is missing: a real error
                LOG.info("hook %s is not available yet; skipped", module_name)
                continue
            self._undos.append(module.install(context))
            self._installed.append(module_name)

    def stop(self) -> None:
        """Undo the hooks, stop the server and restore the process; idempotent."""
        with self._lock:
            if self._server is None and not self._restore and not self._undos:
                return
            self._teardown()

    def _teardown(self) -> None:
        global _active
        # Hooks first, while the server still answers: their cleanup may call it (deliveries).
        while self._undos:
            undo = self._undos.pop()
            try:
                undo()
            except Exception:
                LOG.exception("a hook failed to undo")
        self._installed.clear()
        if self._server is not None:
            _stop_server(self._server, self._port)
            self._server = None
        self._port = None
        self._clients.clear()  # bound to this run's port
        while self._restore:
            self._restore.pop()()
        self._work_dir = None
        with _ACTIVE_LOCK:
            if _active is self:
                _active = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _stop_server(server: ThreadedMotoServer, port: int | None) -> None:
    """`server.stop()`, without waiting out the half-second poll of moto's serve_forever loop.

    The loop checks for shutdown only when its select() returns: a connection attempt makes it
    return at once (the loop then exits without accepting it).
    """
    stopping = threading.Thread(target=server.stop, name="moto-server-stop", daemon=True)
    stopping.start()
    while stopping.is_alive():
        if port is not None:
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
        stopping.join(0.02)


def _remembered_backends(original: Callable[[Any, str | None], Any]) -> Callable[[Any, str | None], Any]:
    known: dict[str | None, Any] = {}

    def get_backend_for_host(app: Any, host: str | None) -> Any:
        # Called under the dispatcher's lock, so the dict needs no lock of its own.
        if host not in known:
            known[host] = original(app, host)
        return known[host]

    return get_backend_for_host


def _no_access_log(handler: Any, code: int | str = "-", size: int | str = "-") -> None:
    del handler, code, size


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _check_port(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise OSError(f"port {port} on 127.0.0.1 is not available: {exc}") from exc


def _set_environ(name: str, value: str) -> Undo:
    previous = os.environ.get(name)
    os.environ[name] = value

    def restore() -> None:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous

    return restore


def _set_config(section: str, value: dict[str, Any]) -> Undo:
    # moto 5.2.5 reads its user config (moto.core.config.default_user_config) at each request; this
    # is what POST /moto-api/config changes too.
    config: dict[str, Any] = default_user_config  # type: ignore[assignment]
    previous = config.get(section)
    config[section] = value

    def restore() -> None:
        if previous is None:
            config.pop(section, None)
        else:
            config[section] = previous

    return restore


def _quiet_logger(name: str) -> Undo:
    logger = logging.getLogger(name)
    previous = logger.level
    logger.setLevel(logging.CRITICAL)

    def restore() -> None:
        with contextlib.suppress(Exception):
            logger.setLevel(previous)

    return restore
