"""A Lambda execution environment for the local cloud: the program each warm worker process runs.

The Lambda hook (`cirrus.localcloud.hooks.lambda_runtime`) starts one process per warm execution
environment and talks to it over two pipes whose descriptors it names in `_CIRRUS_RUNTIME_FDS`
("<read fd>,<write fd>"). Every message is a frame: a 4-byte big-endian length, then that many bytes
of UTF-8 JSON. The protocol is

    worker -> host  {"type": "ready", "initDurationMs": float, "initError": null | error}
    host -> worker  {"requestId", "event", "deadlineMs", "functionArn"}      (one per invocation)
    worker -> host  {"type": "result", "payload": "<JSON text>"} | {"type": "result", "error": error}

where `error` is Lambda's error shape, `{"errorMessage", "errorType", "requestId", "stackTrace"}`.
End of file on the read pipe means "shut down". The handler's stdout and stderr are the process's
own, which the host forwards to CloudWatch Logs; the control pipes keep them free for the handler,
as in Lambda. Around each invocation the worker prints Lambda's `START`, `END` and `REPORT` lines;
the host uses the `REPORT` line to know it has seen all of an invocation's output.

Only the standard library is imported here: the handler's own imports (its code, its layers, the
packages of the local cloud's environment) are the only others the process makes, as in Lambda.

A reserve worker (`_CIRRUS_RUNTIME_RESERVE` names a preload plan, JSON) starts before any function
needs it. It imports the plan's third-party modules, creates and drops a botocore client per listed
service so their models are parsed, and reports what the imports read from the environment:

    worker -> host  {"type": "spare", "envReads": {name: value | null}, "envIterated": bool,
                     "modules": [top-level module names], "threads": int, "preloadMs": float}
    host -> worker  {"type": "spec", "environ": {...}, "path": [...], "cwd": "..."}

The spec replaces `os.environ` entirely, puts the function's code and layers at the front of
`sys.path` (where PYTHONPATH would have put them) and changes directory; the worker then goes on as
any other, from the init phase (the handler's import) on. The host hands a function a reserve worker
only when nothing the imports read differs (`lambda_workers.spare_refusal`).
"""

from __future__ import annotations

import importlib
import io
import json
import logging
import os
import resource
import struct
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

FDS_ENV = "_CIRRUS_RUNTIME_FDS"
RESERVE_ENV = "_CIRRUS_RUNTIME_RESERVE"
_HEADER = struct.Struct(">I")

Handler = Callable[[Any, "LambdaContext"], Any]


class LambdaContext:
    """The context object Lambda passes to a Python handler (the attributes Powertools reads, too)."""

    def __init__(self, request: dict[str, Any]) -> None:
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
        self.memory_limit_in_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
        self.log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]
        self.invoked_function_arn: str = request["functionArn"]
        self.aws_request_id: str = request["requestId"]
        self.identity = None
        self.client_context = None
        self._deadline_ms: int = request["deadlineMs"]

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the host kills this invocation for exceeding the Timeout."""
        return max(0, self._deadline_ms - int(time.time() * 1000))


class _RequestIdFilter(logging.Filter):
    """Stamps the current request id on log records, as the Lambda runtime's root handler does."""

    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


def _read_exact(fd: int, size: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = os.read(fd, size - len(chunks))
        if not chunk:
            return None
        chunks.extend(chunk)
    return bytes(chunks)


def read_frame(fd: int) -> Any | None:
    """The next frame's JSON value, or None at end of file."""
    header = _read_exact(fd, _HEADER.size)
    if header is None:
        return None
    body = _read_exact(fd, _HEADER.unpack(header)[0])
    if body is None:
        return None
    return json.loads(body)


def write_frame(fd: int, value: Any) -> None:
    """Write one frame (a length-prefixed JSON value)."""
    body = json.dumps(value).encode()
    data = memoryview(_HEADER.pack(len(body)) + body)
    while data:
        data = data[os.write(fd, data) :]


def error_shape(exc: BaseException, request_id: str, skip_frames: int = 0) -> dict[str, Any]:
    """Lambda's error payload for an exception; errorType is the class name, which ASL matches on."""
    frames = traceback.extract_tb(exc.__traceback__)[skip_frames:]
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_list(frames),
    }


def _log_error(error: dict[str, Any]) -> None:
    # Lambda's runtime logs the failure the same way: "[ERROR] Type: message" and the trace.
    trace = "".join(error["stackTrace"])
    print(
        f"[ERROR] {error['errorType']}: {error['errorMessage']}\nTraceback (most recent call last):\n{trace}",
        file=sys.stderr,
        flush=True,
    )


def _strip_editable_finders() -> None:
    # An editable install of the project (pip install -e) puts its packages, cirrus_core included,
    # on every interpreter's import path. Lambda has no such thing: a function sees the layer's copy
    # or nothing, so a function that forgot its layer must fail here as it would in AWS.
    sys.meta_path[:] = [
        finder
        for finder in sys.meta_path
        if not str(getattr(finder, "__module__", "")).startswith("__editable__")
    ]
    sys.path_hooks[:] = [
        hook for hook in sys.path_hooks if not str(getattr(hook, "__module__", "")).startswith("__editable__")
    ]
    sys.path[:] = [entry for entry in sys.path if not entry.startswith("__editable__")]
    sys.path_importer_cache.clear()


def _configure_logging(request_filter: _RequestIdFilter) -> None:
    # The Python runtime's root handler: tab-separated level, UTC time, request id and message.
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n"
    )
    formatter.converter = time.gmtime
    formatter.default_time_format = "%Y-%m-%dT%H:%M:%S"
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    handler.addFilter(request_filter)
    logging.getLogger().addHandler(handler)


def _load_handler(spec: str) -> Handler:
    module_name, _, function_name = spec.rpartition(".")
    if not module_name or not function_name:
        raise _RuntimeError(
            "Runtime.MalformedHandlerName", f"Bad handler '{spec}': not enough values to unpack"
        )
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as exc:
        raise _RuntimeError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}"
        ) from exc
    handler = getattr(module, function_name, None)
    if handler is None:
        raise _RuntimeError(
            "Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'"
        )
    return handler  # type: ignore[no-any-return]


class _RuntimeError(Exception):
    """A failure of the runtime itself (bad handler setting, import error), with Lambda's type name."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def _init(handler_spec: str) -> tuple[Handler | None, dict[str, Any] | None]:
    try:
        return _load_handler(handler_spec), None
    except _RuntimeError as exc:
        cause = exc.__cause__ or exc
        error = error_shape(cause, "")
        error.update(errorType=exc.error_type, errorMessage=str(exc))
        _log_error(error)
        return None, error
    except Exception as exc:  # an exception raised by the module's own top-level code
        error = error_shape(exc, "")
        _log_error(error)
        return None, error


def _invoke(handler: Handler, request: dict[str, Any]) -> dict[str, Any]:
    request_id: str = request["requestId"]
    try:
        result = handler(request["event"], LambdaContext(request))
    except Exception as exc:
        # Frame 0 is this function's call of the handler: Lambda's trace starts in the handler.
        error = error_shape(exc, request_id, skip_frames=1)
        _log_error(error)
        return {"type": "result", "error": error}
    try:
        return {"type": "result", "payload": json.dumps(result)}
    except (TypeError, ValueError) as exc:
        error = {
            "errorMessage": f"Unable to marshal response: {exc}",
            "errorType": "Runtime.MarshalError",
            "requestId": request_id,
            "stackTrace": [],
        }
        _log_error(error)
        return {"type": "result", "error": error}


class _ReadRecorder:
    """Records which environment variables are read (and their values) while it is installed."""

    def __init__(self) -> None:
        self.reads: dict[str, str | None] = {}
        self.iterated = False
        self._original = type(os.environ)

    def __enter__(self) -> _ReadRecorder:
        recorder = self
        base = self._original

        class Recording(base):  # type: ignore[valid-type,misc]
            def __getitem__(self, key: str) -> str:
                try:
                    value: str = super().__getitem__(key)
                except KeyError:
                    recorder.reads.setdefault(key, None)
                    raise
                recorder.reads.setdefault(key, value)
                return value

            def __iter__(self) -> Any:
                recorder.iterated = True
                return super().__iter__()

        os.environ.__class__ = Recording
        return self

    def __exit__(self, *exc: object) -> None:
        os.environ.__class__ = self._original


def _share_botocore_models(services: list[str]) -> None:
    # Create (and drop) a client per service so botocore parses their models, then seed every
    # loader botocore creates later for the same AWS_DATA_PATH with those parsed models. The
    # clients use their own session with explicit settings: no credentials, region or endpoint of
    # theirs outlive them, and boto3's default session stays unset.
    botocore_session = sys.modules.get("botocore.session")
    if botocore_session is None or not services:
        return
    session = botocore_session.Session()
    for service in services:
        try:
            session.create_client(
                service,
                region_name="us-east-1",
                endpoint_url="http://127.0.0.1:9",
                aws_access_key_id="preload",
                aws_secret_access_key="preload",  # noqa: S106  # nosec B106 - never sent anywhere
            )
        except Exception as exc:  # an unknown service name: nothing to share
            print(f"reserve: no preload of {service}: {exc}", file=sys.stderr, flush=True)
    warm_key = session.get_config_variable("data_path")
    warm_cache = dict(session.get_component("data_loader")._cache)
    create_loader = botocore_session.create_loader

    def seeded_loader(search_path_string: str | None = None) -> Any:
        loader = create_loader(search_path_string)
        if search_path_string == warm_key:
            loader._cache.update(warm_cache)  # the same files, already parsed
        return loader

    vars(botocore_session)["create_loader"] = seeded_loader


def _preload(plan: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    with _ReadRecorder() as recorder:
        for name in plan.get("modules", []):
            try:
                importlib.import_module(name)
            except Exception as exc:  # not installed here: the functions import what they need
                print(f"reserve: no preload of {name}: {exc}", file=sys.stderr, flush=True)
    _share_botocore_models(list(plan.get("clients", [])))
    threading = sys.modules.get("threading")
    return {
        "type": "spare",
        "envReads": recorder.reads,
        "envIterated": recorder.iterated,
        "modules": sorted({name.partition(".")[0] for name in sys.modules}),
        "threads": threading.active_count() if threading is not None else 1,
        "preloadMs": (time.perf_counter() - started) * 1000,
    }


def _become_function(read_fd: int, write_fd: int, plan: dict[str, Any]) -> bool:
    """Preload, report, wait for a function's spec and take on its environment; False at EOF."""
    write_frame(write_fd, _preload(plan))
    spec = read_frame(read_fd)
    if spec is None:
        return False
    os.environ.clear()
    os.environ.update(spec["environ"])
    sys.path[:0] = spec["path"]  # where PYTHONPATH puts them: before the standard library
    importlib.invalidate_caches()
    os.chdir(spec["cwd"])
    return True


def _exit(code: int) -> int:
    # Lambda ends an execution environment without running the interpreter's finalisation (atexit,
    # module teardown); skipping it here makes stopping hundreds of workers quick.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _peak_memory_mb() -> int:
    # Linux keeps ru_maxrss across exec, so it would report the emulator's size; VmHWM is this
    # program's own peak.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // (1024 * 1024) if sys.platform == "darwin" else peak // 1024


def main() -> int:
    """Initialise the function, then serve invocations until the host closes the pipe."""
    read_fd, write_fd = (int(fd) for fd in os.environ.pop(FDS_ENV).split(","))
    for fd in (read_fd, write_fd):
        os.set_inheritable(fd, False)  # processes the handler starts must not hold the pipes open
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(line_buffering=True)  # a print reaches the logs when it happens
    plan = os.environ.pop(RESERVE_ENV, None)
    _strip_editable_finders()
    request_filter = _RequestIdFilter()
    _configure_logging(request_filter)
    if plan is not None and not _become_function(read_fd, write_fd, json.loads(plan)):
        return _exit(0)

    started = time.perf_counter()
    handler, init_error = _init(os.environ["_HANDLER"])
    init_ms = (time.perf_counter() - started) * 1000
    write_frame(write_fd, {"type": "ready", "initDurationMs": init_ms, "initError": init_error})
    if handler is None:
        return _exit(1)

    first = True
    version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
    memory = os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
    while (request := read_frame(read_fd)) is not None:
        request_id = request["requestId"]
        request_filter.request_id = request_id
        print(f"START RequestId: {request_id} Version: {version}", flush=True)
        started = time.perf_counter()
        response = _invoke(handler, request)
        duration = (time.perf_counter() - started) * 1000
        sys.stdout.flush()
        sys.stderr.flush()
        used_mb = _peak_memory_mb()
        init = f"\tInit Duration: {init_ms:.2f} ms" if first else ""
        print(f"END RequestId: {request_id}", flush=True)
        print(
            f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\t"
            f"Billed Duration: {int(duration) + 1} ms\tMemory Size: {memory} MB\t"
            f"Max Memory Used: {used_mb} MB{init}",
            flush=True,
        )
        first = False
        write_frame(write_fd, response)
    return _exit(0)


if __name__ == "__main__":
    sys.exit(main())
