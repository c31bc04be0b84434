"""Lambda runs the function's real handler, in a warm worker process per execution environment.

moto 5.2.5 runs handlers only in Docker (or returns canned payloads). This hook replaces, in
`moto.awslambda.models` (moto 5.2.5):

- `LambdaFunction._invoke_lambda(self, event) -> (payload, errored, logs)`, where every invoke
  path ends: it now runs the handler in a worker (`cirrus.localcloud.lambda_workers`), with the
  function's code and layers, environment, Timeout, and logs in CloudWatch Logs.
- `LambdaFunction.invoke(self, body, request_headers, response_headers)`: moto's runs every
  invocation inside the caller's request, reports `FunctionError: Handled` (AWS says `Unhandled`
  for an exception the handler raised) and hands an empty payload to the handler as the string
  "{}". Ours queues `InvocationType=Event` invocations on a bounded thread pool, with Lambda's
  asynchronous semantics: retries (the function's EventInvokeConfig, default 2) and OnSuccess /
  OnFailure destinations (SQS, SNS, Lambda, EventBridge).

moto also calls functions inside the producer's own request for deliveries that AWS makes
asynchronously. These run on the same pool, as asynchronous invocations:
- `LambdaBackend.send_sns_message` (SNS subscriptions, moto.awslambda.models),
- `moto.s3.notifications._invoke_awslambda` (S3 event notifications),
- `moto.events.notifications._invoke_lambda` (events moto emits on behalf of services).
SQS event source mappings stay synchronous, as Lambda's poller invokes synchronously; moto runs
them inside SendMessage and deletes the batch when the invocation succeeds.

Like the Lambda service, every invocation the runtime runs puts `AWS/Lambda` metrics into the
emulator's CloudWatch (PutMetricData, dimension `FunctionName`): `Invocations` (1), `Errors` (1 when
the invocation errored, else 0) and `Duration` (milliseconds the handler ran; not for an invocation
that never reached the handler). They are queued off the invoke path and sent by a background
thread, aggregated per function, metric and second (`StatisticValues`), within about
`METRICS_LINGER_SECONDS`. Read them with GetMetricData (`Sum` over a period).

Local differences, on purpose: asynchronous retries wait `ASYNC_RETRY_DELAYS` (0.1 s and 0.2 s)
rather than Lambda's 1 and 2 minutes; a function's own DeadLetterConfig is not honoured (moto
5.2.5 does not keep it: use an OnFailure destination); reserved concurrency is not enforced.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
import os
import queue
import threading
import time
import uuid
import zipfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from moto.awslambda import models as lambda_models
from moto.awslambda.exceptions import LambdaClientError
from moto.events import notifications as events_notifications
from moto.s3 import notifications as s3_notifications

from cirrus.localcloud.clients import ClientCache, queue_url
from cirrus.localcloud.hooks._patching import combine, patch_attribute
from cirrus.localcloud.lambda_workers import (
    RESERVE_SIZE,
    RESERVE_SIZE_ENV,
    ConcurrencyLimitReached,
    Outcome,
    ReservePlan,
    Worker,
    WorkerError,
    WorkerPool,
    WorkerReserve,
    WorkerSpec,
    error_payload,
    extract_zip,
    function_concurrency,
    function_environment,
    stop_all,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from cirrus.localcloud.hooks import HookContext, Undo

LOG = logging.getLogger(__name__)

# Lambda waits 1 minute, then 2, between the attempts of an asynchronous invocation; locally the
# same two retries happen in a fraction of a second so that tests and demos need not wait.
ASYNC_RETRY_DELAYS = (0.1, 0.2)
ASYNC_CONCURRENCY = 8
_LOG_TAIL_BYTES = 4096  # LogType=Tail returns the last 4 KB of the invocation's log
METRICS_NAMESPACE = "AWS/Lambda"
METRICS_LINGER_SECONDS = 0.2  # how long the publisher gathers datums before one PutMetricData
_METRICS_PER_CALL = 1000  # PutMetricData's limit of datums per request
_METRIC_UNITS = {"Invocations": "Count", "Errors": "Count", "Duration": "Milliseconds"}


class UnsupportedFunction(Exception):
    """A function the local cloud cannot run (an image, a runtime other than Python, no code)."""


class LambdaMetrics:
    """Puts Lambda's own metrics into the emulator's CloudWatch from a background thread.

    `record` only queues (no call on the invoke path); the thread wakes on the first datum, lingers
    `METRICS_LINGER_SECONDS` to gather more, and sends them aggregated per function, metric and
    second as `StatisticValues`, which GetMetricData's Sum, SampleCount, Average, Minimum and
    Maximum read as if each invocation had been put alone.
    """

    def __init__(
        self, cloudwatch: Callable[[], Any], *, linger_seconds: float = METRICS_LINGER_SECONDS
    ) -> None:
        self._cloudwatch = cloudwatch
        self._linger = linger_seconds
        self._queue: queue.SimpleQueue[tuple[str, str, float, float] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    def record(self, function_name: str, *, errored: bool, duration_ms: float | None) -> None:
        """Queue one invocation's Invocations, Errors and (when the handler ran) Duration."""
        if self._closed:
            return  # the local cloud is stopping: nothing would receive them
        now = time.time()
        self._queue.put((function_name, "Invocations", 1.0, now))
        self._queue.put((function_name, "Errors", 1.0 if errored else 0.0, now))
        if duration_ms is not None:
            self._queue.put((function_name, "Duration", duration_ms, now))
        if self._thread is None:
            with self._lock:
                if self._thread is None and not self._closed:
                    self._thread = threading.Thread(
                        target=self._run, name="cirrus-lambda-metrics", daemon=True
                    )
                    self._thread.start()

    def close(self) -> None:
        """Send what is queued and stop the thread."""
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            time.sleep(self._linger)  # gather the datums of a burst into one call
            items, stop = [first], False
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                items.append(item)
            try:
                self._send(items)
            except Exception:  # metrics must never take the runtime down
                LOG.debug("could not put Lambda metrics", exc_info=True)
            if stop:
                return

    def _send(self, items: list[tuple[str, str, float, float]]) -> None:
        groups: dict[tuple[str, str, int], list[float]] = defaultdict(list)
        for function_name, metric, value, at in items:
            groups[(function_name, metric, int(at))].append(value)
        data = [
            {
                "MetricName": metric,
                "Dimensions": [{"Name": "FunctionName", "Value": function_name}],
                "Timestamp": datetime.fromtimestamp(second, UTC),
                "StatisticValues": {
                    "SampleCount": float(len(values)),
                    "Sum": float(sum(values)),
                    "Minimum": float(min(values)),
                    "Maximum": float(max(values)),
                },
                "Unit": _METRIC_UNITS[metric],
            }
            for (function_name, metric, second), values in groups.items()
        ]
        client = self._cloudwatch()
        for start in range(0, len(data), _METRICS_PER_CALL):
            client.put_metric_data(
                Namespace=METRICS_NAMESPACE, MetricData=data[start : start + _METRICS_PER_CALL]
            )


class LambdaRuntime:
    """Runs functions in warm worker processes and queues asynchronous invocations.

    One instance serves the whole emulator; `install` wires it into moto.
    """

    def __init__(
        self,
        context: HookContext,
        *,
        async_concurrency: int = ASYNC_CONCURRENCY,
        reserve_size: int | None = None,
        reserve_plan: ReservePlan | None = None,
    ) -> None:
        """`reserve_size`: reserve workers kept ready (default: $CIRRUS_LOCAL_RESERVE_WORKERS, else 2)."""
        self._context = context
        self._code_root = context.work_dir / "lambda" / "code"
        self._layer_root = context.work_dir / "lambda" / "layers"
        self._pools: dict[str, WorkerPool] = {}
        self._lock = threading.Lock()
        self._extract_lock = threading.Lock()
        self._logs_lock = threading.Lock()  # moto's logs backend is not thread-safe
        self._executor = ThreadPoolExecutor(async_concurrency, thread_name_prefix="cirrus-lambda-async")
        self._scope = threading.local()
        self._stopping = threading.Event()
        self._clients = ClientCache(context.endpoint_url, context.region)
        self.metrics = LambdaMetrics(lambda: self._clients.get("cloudwatch"))
        if reserve_size is None:
            reserve_size = _reserve_size_from_environment()
        self.reserve = WorkerReserve(
            reserve_size,
            reserve_plan or ReservePlan(),
            context.endpoint_url,
            context.region,
            context.work_dir / "lambda" / "reserve",
        )

    # -- synchronous invocations ------------------------------------------------------------------

    def invoke(self, fn: Any, event: Any, request_id: str | None = None) -> Outcome:
        """Run `fn` (a moto LambdaFunction) on `event` in a warm worker, starting one if none is idle.

        Every invocation is counted in the `AWS/Lambda` metrics, as the Lambda service counts it.
        """
        timing: list[float] = []
        outcome = self._invoke(fn, event, request_id or str(uuid.uuid4()), timing)
        self.metrics.record(
            str(fn.function_name), errored=outcome.errored, duration_ms=timing[0] if timing else None
        )
        return outcome

    def _invoke(self, fn: Any, event: Any, request_id: str, timing: list[float]) -> Outcome:
        try:
            spec = self._spec_for(fn)
        except UnsupportedFunction as exc:
            return Outcome(
                error_payload("Cirrus.UnsupportedFunction", str(exc), request_id),
                "Cirrus.UnsupportedFunction",
                "",
                False,
            )
        pool = self._pool_for(fn, spec)
        try:
            worker, _ = pool.acquire()
        except ConcurrencyLimitReached as exc:
            return Outcome(error_payload(exc.error_type, str(exc), request_id), exc.error_type, "", False)
        except WorkerError as exc:
            return Outcome(
                error_payload("Runtime.ExitError", str(exc), request_id), "Runtime.ExitError", "", False
            )
        outcome: Outcome | None = None
        try:
            if worker.init_error is not None:
                # Lambda reports an init failure as the invocation's error and drops the environment.
                error = {**worker.init_error, "requestId": request_id}
                outcome = Outcome(json.dumps(error), str(error["errorType"]), "", reusable=False)
            else:
                started = time.perf_counter()
                outcome = worker.invoke(request_id, event, fn.function_arn)
                timing.append((time.perf_counter() - started) * 1000)
        finally:
            pool.release(worker, reusable=outcome is not None and outcome.reusable)
        return outcome

    def _spec_for(self, fn: Any) -> WorkerSpec:
        if fn.package_type != "Zip":
            raise UnsupportedFunction(f"{fn.function_name}: the local cloud runs zip packages, not images")
        if not str(fn.run_time or "").startswith("python"):
            raise UnsupportedFunction(f"{fn.function_name}: the local cloud runs Python, not {fn.run_time}")
        if not fn.code_bytes:
            raise UnsupportedFunction(f"{fn.function_name}: moto holds no code for this function")
        digest = getattr(fn, "code_digest", "") or _sha256(fn.code_bytes)
        backend = lambda_models.lambda_backends[fn.account_id][fn.region]
        layer_dirs = []
        with self._extract_lock:
            try:
                code_dir = extract_zip(fn.code_bytes, digest, self._code_root)
                for layer in fn.layers:
                    version = backend.layers_versions_by_arn(layer["Arn"])
                    if version is None or not version.code_bytes:
                        raise UnsupportedFunction(f"{fn.function_name}: layer {layer['Arn']} has no content")
                    layer_digest = version.code_digest or _sha256(version.code_bytes)
                    layer_dirs.append(extract_zip(version.code_bytes, layer_digest, self._layer_root))
            except zipfile.BadZipFile as exc:  # moto accepts any bytes as a zip; Lambda would not
                raise UnsupportedFunction(f"{fn.function_name}: code or layer is not a zip file") from exc
        return WorkerSpec(
            function_name=fn.function_name,
            version=str(fn.version),
            runtime=str(fn.run_time),
            handler=str(fn.handler),
            memory_mb=int(fn.memory_size),
            timeout_seconds=float(fn.timeout),
            code_dir=code_dir,
            layer_dirs=tuple(layer_dirs),
            variables={str(key): str(value) for key, value in (fn.environment_vars or {}).items()},
            endpoint_url=self._context.endpoint_url,
            region=fn.region,
            log_group=fn.logs_group_name,
        )

    def _pool_for(self, fn: Any, spec: WorkerSpec) -> WorkerPool:
        key = fn.function_arn  # versions are separate functions with qualified ARNs
        retired: WorkerPool | None = None
        with self._lock:
            pool = self._pools.get(key)
            if pool is None or pool.spec.fingerprint != spec.fingerprint:
                # New code, layers or configuration: Lambda starts fresh environments for them.
                retired = pool
                logs_backend = fn.logs_backend
                pool = WorkerPool(
                    spec,
                    lambda s: self._start_worker(s, logs_backend),
                    function_concurrency(_reserved_concurrency(fn)),
                )
                self._pools[key] = pool
        if retired is not None:
            retired.retire()
        return pool

    def _start_worker(self, spec: WorkerSpec, logs_backend: Any) -> Worker:
        if self._stopping.is_set():
            raise WorkerError("the local cloud is stopping")
        stream = f"{time.strftime('%Y/%m/%d', time.gmtime())}/[{spec.version}]{uuid.uuid4().hex}"
        worker = Worker(spec, stream, self._log_writer(logs_backend, spec.log_group, stream))
        with self.reserve.init_phase():
            spare = self.reserve.take(spec, function_environment(spec, stream))
            if spare is not None:
                try:
                    worker.start(spare)
                except WorkerError:
                    # The reserve worker died before it could take the function on: a plain one.
                    LOG.warning("a reserve worker failed to take on %s", spec.function_name, exc_info=True)
                    worker = Worker(spec, stream, self._log_writer(logs_backend, spec.log_group, stream))
                else:
                    return worker
            worker.start()
        return worker

    def _log_writer(self, backend: Any, group: str, stream: str) -> Callable[[str], None]:
        with self._logs_lock:
            backend.ensure_log_group(group)
            backend.ensure_log_stream(group, stream)

        def write(line: str) -> None:
            if not line.strip():
                return  # CloudWatch Logs rejects empty events
            event = {"timestamp": int(time.time() * 1000), "message": line}
            try:
                with self._logs_lock:
                    # Someone may have deleted the group (a test's cleanup): recreate, as Lambda does.
                    backend.ensure_log_group(group)
                    backend.ensure_log_stream(group, stream)
                    backend.put_log_events(group, stream, [event])
            except Exception:  # a log line must never take down the reader thread
                LOG.debug("could not write a log line to %s/%s", group, stream, exc_info=True)

        return write

    # -- asynchronous invocations -----------------------------------------------------------------

    def in_async_scope(self) -> bool:
        """True on a pool thread running an asynchronous delivery (its invocations are asynchronous)."""
        return bool(getattr(self._scope, "active", False))

    def defer(self, work: Callable[[], None]) -> None:
        """Run `work` on the asynchronous pool, off the caller's thread; dropped once stopping."""

        def run() -> None:
            self._scope.active = True
            try:
                work()
            except Exception:
                LOG.exception("asynchronous Lambda work failed")
            finally:
                self._scope.active = False

        try:
            self._executor.submit(run)
        except RuntimeError:  # the pool is shut down: the emulator is stopping
            LOG.warning("the local cloud is stopping: an asynchronous invocation was dropped")

    def invoke_async(self, fn: Any, event: Any) -> str:
        """Queue an asynchronous invocation (InvocationType=Event); returns its request id."""
        request_id = str(uuid.uuid4())
        queued_at = time.time()
        if self.in_async_scope():
            # Already on a pool thread (an SNS or S3 delivery): run here rather than queue again.
            self._run_async(fn, event, request_id, queued_at)
        else:
            self.defer(lambda: self._run_async(fn, event, request_id, queued_at))
        return request_id

    def _run_async(self, fn: Any, event: Any, request_id: str, queued_at: float) -> None:
        config = _event_invoke_config(fn)
        max_retries = int(config.get("MaximumRetryAttempts", len(ASYNC_RETRY_DELAYS)))
        max_age = float(config.get("MaximumEventAgeInSeconds", 21600))
        attempts = 0
        while True:
            outcome = self.invoke(fn, event, request_id)  # retries keep the request id, as in Lambda
            attempts += 1
            if not outcome.errored:
                condition = "Success"
                break
            if attempts > max_retries:
                condition = "RetriesExhausted"
                break
            if time.time() - queued_at >= max_age:
                condition = "EventAgeExceeded"
                break
            delay = ASYNC_RETRY_DELAYS[min(attempts - 1, len(ASYNC_RETRY_DELAYS) - 1)]
            if self._stopping.wait(delay):
                return
        success = condition == "Success"
        destination = config.get("DestinationConfig", {}).get("OnSuccess" if success else "OnFailure", {})
        arn = destination.get("Destination")
        if not arn:
            if not success:
                LOG.warning("%s failed asynchronously (%s): %s", fn.function_name, condition, outcome.payload)
            return
        record = _destination_record(fn, event, request_id, condition, attempts, outcome)
        try:
            self._send_to_destination(arn, record, fn.function_arn, success=success)
        except Exception:
            LOG.exception("could not send %s's %s record to %s", fn.function_name, condition, arn)

    def _send_to_destination(
        self, arn: str, record: dict[str, Any], function_arn: str, *, success: bool
    ) -> None:
        body = json.dumps(record)
        service = arn.split(":")[2]
        if service == "sqs":
            sqs = self._clients.get("sqs")
            sqs.send_message(QueueUrl=queue_url(sqs, arn), MessageBody=body)
        elif service == "sns":
            self._clients.get("sns").publish(TopicArn=arn, Message=body)
        elif service == "lambda":
            self._clients.get("lambda").invoke(
                FunctionName=arn, InvocationType="Event", Payload=body.encode()
            )
        elif service == "events":
            result = "Success" if success else "Failure"
            self._clients.get("events").put_events(
                Entries=[
                    {
                        "Source": "lambda",
                        "DetailType": f"Lambda Function Invocation Result - {result}",
                        "Detail": body,
                        "Resources": [function_arn],
                        "EventBusName": arn,
                    }
                ]
            )
        else:
            raise ValueError(f"unsupported destination {arn}")

    # -- lifecycle --------------------------------------------------------------------------------

    @property
    def warm_workers(self) -> dict[str, int]:
        """Workers alive per function ARN (for diagnostics and tests)."""
        with self._lock:
            return {arn: pool.size for arn, pool in self._pools.items()}

    def prewarm(self) -> None:
        """Start filling the reserve of workers now rather than at the first cold start."""
        self.reserve.fill()

    def close(self) -> None:
        """Stop every worker and the asynchronous pool; queued invocations are dropped."""
        self._stopping.set()
        self.reserve.close()
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        idle = [worker for pool in pools for worker in pool.retire_idle()]
        for pool in pools:
            pool.kill_busy()  # their callers get Runtime.ExitError at once
        stop_all(idle)
        self._executor.shutdown(wait=True, cancel_futures=True)
        self.metrics.close()


def _reserve_size_from_environment() -> int:
    raw = os.environ.get(RESERVE_SIZE_ENV, "")
    try:
        return max(0, int(raw)) if raw.strip() else RESERVE_SIZE
    except ValueError:
        LOG.warning("%s=%r is not a number: using %d", RESERVE_SIZE_ENV, raw, RESERVE_SIZE)
        return RESERVE_SIZE


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _event_invoke_config(fn: Any) -> dict[str, Any]:
    # moto 5.2.5 appends a new EventInvokeConfig on every put/update: the last one is current.
    configs = getattr(fn, "event_invoke_config", None) or []
    return dict(configs[-1].config) if configs else {}


def _destination_record(
    fn: Any, event: Any, request_id: str, condition: str, attempts: int, outcome: Outcome
) -> dict[str, Any]:
    """The invocation record Lambda sends to an asynchronous invocation's destination."""
    qualifier = str(fn.version)
    arn = fn.function_arn if fn.function_arn.endswith(f":{qualifier}") else f"{fn.function_arn}:{qualifier}"
    try:
        response: Any = json.loads(outcome.payload)
    except ValueError:
        response = outcome.payload
    response_context: dict[str, Any] = {"statusCode": 200, "executedVersion": qualifier}
    if outcome.errored:
        response_context["functionError"] = "Unhandled"
    return {
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "requestContext": {
            "requestId": request_id,
            "functionArn": arn,
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "requestPayload": event,
        "responseContext": response_context,
        "responsePayload": response,
    }


def _header(headers: Any, name: str) -> str | None:
    # moto passes werkzeug's case-insensitive headers from HTTP calls and plain dicts internally.
    value = headers.get(name) if headers else None
    return None if value is None else str(value)


def install(context: HookContext) -> Undo:
    """Route moto's Lambda invocations to worker processes; the returned callable stops them all."""
    runtime = LambdaRuntime(context)

    def invoke_lambda(fn: Any, event: Any = None) -> tuple[str, bool, str]:
        outcome = runtime.invoke(fn, {} if event is None else event)
        return outcome.payload, outcome.errored, outcome.logs

    def invoke(fn: Any, body: Any, request_headers: Any, response_headers: Any) -> bytes:
        try:
            event = json.loads(body) if body else {}
        except ValueError as exc:
            raise LambdaClientError(
                "InvalidRequestContentException", f"Could not parse request body into json: {exc}"
            ) from exc
        invocation_type = _header(request_headers, "x-amz-invocation-type")
        if invocation_type == "DryRun":
            return b""
        if invocation_type == "Event" or (invocation_type is None and runtime.in_async_scope()):
            runtime.invoke_async(fn, event)
            return b""  # 202 Accepted, no payload
        payload, errored, logs = fn._invoke_lambda(event)
        if errored:
            response_headers["x-amz-function-error"] = "Unhandled"
        response_headers["x-amz-executed-version"] = str(fn.version)
        tail = logs.encode()[-_LOG_TAIL_BYTES:]
        response_headers["x-amz-log-result"] = base64.b64encode(tail).decode()
        return str(payload).encode()

    def deferred(original: Callable[..., Any]) -> Callable[..., None]:
        @functools.wraps(original)
        def run_later(*args: Any, **kwargs: Any) -> None:
            runtime.defer(functools.partial(original, *args, **kwargs))

        return run_later

    undos = [
        patch_attribute(lambda_models.LambdaFunction, "_invoke_lambda", invoke_lambda),
        patch_attribute(lambda_models.LambdaFunction, "invoke", invoke),
        patch_attribute(
            lambda_models.LambdaBackend,
            "send_sns_message",
            deferred(lambda_models.LambdaBackend.send_sns_message),
        ),
        patch_attribute(s3_notifications, "_invoke_awslambda", deferred(s3_notifications._invoke_awslambda)),
        patch_attribute(
            events_notifications, "_invoke_lambda", deferred(events_notifications._invoke_lambda)
        ),
    ]
    global _active
    previous, _active = _active, runtime

    def stop() -> None:
        global _active
        _active = previous
        runtime.close()

    return combine(undos, then=stop)


_active: LambdaRuntime | None = None


def active_runtime() -> LambdaRuntime | None:
    """The runtime of the running emulator, if this hook is installed (diagnostics, tests)."""
    return _active


def _reserved_concurrency(fn: Any) -> int | None:
    """The function's ReservedConcurrentExecutions, when it has one."""
    reserved = getattr(fn, "reserved_concurrency", None)
    return int(reserved) if reserved not in (None, "") else None
