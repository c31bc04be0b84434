"""A local HTTP receiver for notifications (the demo's and the tests'): records every request and
answers as each path is told to. The local cloud allows its origin as a channel destination when it is
passed as a local receiver (`LocalCloud(local_receivers=...)`, `cirrus local up --allow-receiver`).

Paths are independent mailboxes: a test takes a fresh path (`receiver.mailbox()`), optionally scripts
its answers (`fail_first(path, 2)` answers 500 twice then 200; `always_fail(path)`), points a channel at
`receiver.url(path)`, and reads what arrived with `receiver.wait_for(path, count)`.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable


@dataclass(frozen=True)
class Received:
    """One request as it arrived."""

    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Script:
    failures_left: int = 0
    fail_status: int = 500
    always: bool = False


@dataclass
class Receiver:
    """The server and what it received, per path."""

    server: ThreadingHTTPServer
    received: dict[str, list[Received]] = field(default_factory=dict)
    scripts: dict[str, _Script] = field(default_factory=dict)
    lock: threading.Condition = field(default_factory=threading.Condition)

    @property
    def origin(self) -> str:
        port = self.server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def mailbox(self) -> str:
        """A path no other test uses."""
        return f"/hooks/{uuid.uuid4().hex[:12]}"

    def url(self, path: str) -> str:
        return f"{self.origin}{path}"

    def fail_first(self, path: str, count: int, status: int = 500) -> None:
        with self.lock:
            self.scripts[path] = _Script(failures_left=count, fail_status=status)

    def always_fail(self, path: str, status: int = 500) -> None:
        with self.lock:
            self.scripts[path] = _Script(fail_status=status, always=True)

    def requests(self, path: str) -> list[Received]:
        with self.lock:
            return list(self.received.get(path, []))

    def wait_for(self, path: str, count: int, timeout: float = 30.0) -> list[Received]:
        """The first `count` requests to `path`, waiting up to `timeout` seconds for them."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while len(self.received.get(path, [])) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    got = len(self.received.get(path, []))
                    raise AssertionError(f"{path}: {got} of {count} requests arrived in {timeout} s")
                self.lock.wait(remaining)
            return list(self.received[path][:count])

    def _answer(self, path: str) -> int:
        with self.lock:
            script = self.scripts.get(path)
            if script is None:
                return 200
            if script.always:
                return script.fail_status
            if script.failures_left > 0:
                script.failures_left -= 1
                return script.fail_status
            return 200

    def _record(self, item: Received) -> None:
        with self.lock:
            self.received.setdefault(item.path, []).append(item)
            self.lock.notify_all()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_receiver(port: int = 0, on_receive: Callable[[Received], None] | None = None) -> Receiver:
    """A receiver on 127.0.0.1 at `port` (0: a free one), serving on a daemon thread; `on_receive` is
    called with each request after it is recorded."""
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            receiver = holder["receiver"]
            path = self.path.split("?", 1)[0]
            status = receiver._answer(path)
            received = Received(path, {k.lower(): v for k, v in self.headers.items()}, body, status)
            receiver._record(received)
            if on_receive is not None:
                on_receive(received)
            payload = json.dumps({"ok": status < 400}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the tests read what arrived from `Receiver.received`."""

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    receiver = Receiver(server)
    holder["receiver"] = receiver
    # serve_forever notices shutdown() only between polls: a short poll keeps stop() quick.
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="notification-receiver", daemon=True
    ).start()
    return receiver
