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
    _strip_editable_finders()
    request_filter = _RequestIdFilter()
    _configure_logging(request_filter)

    started = time.perf_counter()
    handler, init_error = _init(os.environ["_HANDLER"])
    init_ms = (time.perf_counter() - started) * 1000
    write_frame(write_fd, {"type": "ready", "initDurationMs": init_ms, "initError": init_error})
    if handler is None:
        return 1

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
    return 0


if __name__ == "__main__":
    sys.exit(main())
