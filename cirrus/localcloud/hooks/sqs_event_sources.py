"""Lambda's SQS poller for the local cloud: event source mappings polled, batched and settled as AWS does.

moto 5.2.5 invokes a mapped function inside SendMessage itself (`moto.sqs.models.Queue.add_message`
loops over the queue's `lambda_event_source_mappings`), makes every message of a failed batch visible
again at once and ignores `ReportBatchItemFailures`. This hook replaces that with a poller:

- moto internal touched (one): `moto.awslambda.models.LambdaBackend.create_event_source_mapping` is
  wrapped so that, after moto creates an SQS mapping, the mapping is taken out of
  `moto.sqs.models.Queue.lambda_event_source_mappings` (the dict `add_message` loops over). The
  mapping itself stays in the Lambda backend: Create/Get/List/Update/DeleteEventSourceMapping work
  as before. The wrapper also wakes the poller so a new mapping is polled at once.
- A daemon thread lists the mappings through the emulator's Lambda API every `RESCAN_SECONDS` and
  runs one receiver thread per enabled SQS mapping. A receiver long-polls ReceiveMessage through
  the emulator's SQS API (so moto's visibility timeout, ApproximateReceiveCount and redrive to the
  dead-letter queue all apply), waits up to `MaximumBatchingWindowInSeconds` to fill `BatchSize`,
  and invokes the function synchronously through the emulator's Lambda API with the event Lambda
  sends (`Records` of `aws:sqs` messages). At most `ScalingConfig.MaximumConcurrency` batches per
  mapping are in flight (`DEFAULT_MAX_CONCURRENCY` when not set).
- Settling, as Lambda does: a successful invoke deletes the batch; with `ReportBatchItemFailures`
  a response `{"batchItemFailures": [{"itemIdentifier": <messageId>}]}` deletes all but those
  (an empty or unknown identifier fails the whole batch, as in Lambda); an errored invoke deletes
  nothing. Undeleted messages keep whatever visibility timeout they have (the queue's, or the one
  the handler set with ChangeMessageVisibility): nothing is made visible early.

Local differences: only SQS mappings are polled (the provisioner refuses stream and broker sources);
`FilterCriteria` is not evaluated (the provisioner refuses it); the 6 MB payload limit of a batch is
not enforced; the poller scales to MaximumConcurrency at once rather than ramping up.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from moto.awslambda import models as lambda_models
from moto.sqs.models import sqs_backends

from cirrus.localcloud.clients import FAKE_SECRET, new_client, queue_url
from cirrus.localcloud.hooks._patching import combine, patch_attribute

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from cirrus.localcloud.hooks import HookContext, Undo

LOG = logging.getLogger(__name__)

POLL_SECONDS: Final = 1  # ReceiveMessage's WaitTimeSeconds: a sent message wakes it at once
RESCAN_SECONDS: Final = 1.0  # how often mapping changes (Enabled, BatchSize, ...) are picked up
DEFAULT_MAX_CONCURRENCY: Final = 2  # Lambda's minimum MaximumConcurrency; plenty locally
_RECEIVE_LIMIT: Final = 10  # ReceiveMessage returns at most 10 messages a call
_INVOKE_READ_TIMEOUT: Final = 960  # longer than Lambda's 900 s maximum Timeout
_JOIN_SECONDS: Final = 5.0
_STOP_WAIT_SECONDS: Final = POLL_SECONDS + 0.5
# The system attributes Lambda puts in a record's `attributes`, when the message has them.
_RECORD_ATTRIBUTES: Final = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
)


@dataclass(frozen=True)
class MappingSpec:
    """What one enabled SQS event source mapping asks the poller to do."""

    uuid: str
    function_arn: str
    queue_arn: str
    batch_size: int
    window_seconds: float
    report_failures: bool
    max_concurrency: int

    @classmethod
    def of(cls, configuration: Mapping[str, Any]) -> MappingSpec | None:
        """The spec of a ListEventSourceMappings entry; None unless it is an enabled SQS mapping."""
        source = str(configuration.get("EventSourceArn", ""))
        if source.split(":")[2:3] != ["sqs"] or configuration.get("State", "Enabled") != "Enabled":
            return None
        scaling = configuration.get("ScalingConfig") or {}
        return cls(
            uuid=str(configuration["UUID"]),
            function_arn=str(configuration["FunctionArn"]),
            queue_arn=source,
            batch_size=max(1, int(configuration.get("BatchSize") or _RECEIVE_LIMIT)),
            window_seconds=float(configuration.get("MaximumBatchingWindowInSeconds") or 0),
            report_failures="ReportBatchItemFailures" in (configuration.get("FunctionResponseTypes") or ()),
            max_concurrency=max(1, int(scaling.get("MaximumConcurrency") or DEFAULT_MAX_CONCURRENCY)),
        )


@dataclass(frozen=True)
class Settled:
    """What one batch came to: the message ids delivered, and those left on the queue."""

    mapping_uuid: str
    delivered: tuple[str, ...]
    kept: tuple[str, ...]
    errored: bool


class QueuePoller:
    """Polls one mapping's queue and invokes its function, `max_concurrency` batches at a time."""

    def __init__(
        self,
        spec: MappingSpec,
        sqs: Any,
        lambda_: Any,
        region: str,
        *,
        on_settled: Callable[[Settled], None] = lambda _: None,
    ) -> None:
        self.spec = spec
        self._sqs = sqs
        self._lambda = lambda_
        self._region = region
        self._on_settled = on_settled
        self._queue_url: str | None = None
        self._slots = threading.BoundedSemaphore(spec.max_concurrency)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> QueuePoller:
        """Start receiving on a daemon thread."""
        self._thread = threading.Thread(
            target=self._loop, name=f"cirrus-sqs-poller-{self.spec.uuid[:8]}", daemon=True
        )
        self._thread.start()
        return self

    def request_stop(self) -> None:
        """Ask the receiver to stop after its current long poll (batches in flight finish on their own)."""
        self._stop.set()

    def join(self, timeout: float = _JOIN_SECONDS) -> None:
        """Wait for the receiver to end."""
        if self._thread is not None:
            self._thread.join(timeout)

    # -- receiving --------------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self._slots.acquire(timeout=POLL_SECONDS):
                continue  # every slot busy: check for stop, then wait again
            handed_over = False
            try:
                batch = self._receive()
                if batch and self._stop.is_set():
                    # Received as the emulator stops: left to reappear after the visibility timeout,
                    # as when Lambda's poller is stopped mid-poll.
                    return
                if batch:
                    threading.Thread(
                        target=self._run_batch,
                        args=(batch,),
                        name=f"cirrus-sqs-batch-{self.spec.uuid[:8]}",
                        daemon=True,
                    ).start()
                    handed_over = True
            except Exception:
                if self._stop.is_set():
                    return  # the emulator is going away under us
                LOG.exception("polling %s for %s failed", self.spec.queue_arn, self.spec.function_arn)
                self._stop.wait(POLL_SECONDS)  # a missing queue or function: do not spin
            finally:
                if not handed_over:
                    self._slots.release()

    def _url(self) -> str:
        if self._queue_url is None:
            self._queue_url = queue_url(self._sqs, self.spec.queue_arn)
        return self._queue_url

    def _receive_once(self, count: int, wait_seconds: int) -> list[dict[str, Any]]:
        response = self._sqs.receive_message(
            QueueUrl=self._url(),
            MaxNumberOfMessages=min(_RECEIVE_LIMIT, count),
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages", []))

    def _receive(self) -> list[dict[str, Any]]:
        """A batch: the first messages of a long poll, then more until full or the window closes."""
        spec = self.spec
        batch = self._receive_once(spec.batch_size, POLL_SECONDS)
        if not batch or spec.window_seconds <= 0:
            return batch
        deadline = time.monotonic() + spec.window_seconds
        while len(batch) < spec.batch_size and not self._stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            wait = min(POLL_SECONDS, int(remaining))
            more = self._receive_once(spec.batch_size - len(batch), wait)
            if not more and wait == 0:
                self._stop.wait(min(remaining, 0.1))
            batch.extend(more)
        return batch

    # -- invoking and settling --------------------------------------------------------------------

    def _run_batch(self, batch: list[dict[str, Any]]) -> None:
        try:
            self._settle(batch, self._invoke(batch))
        except Exception:
            if not self._stop.is_set():
                LOG.exception("a batch of %s for %s failed", self.spec.queue_arn, self.spec.function_arn)
        finally:
            self._slots.release()

    def _invoke(self, batch: list[dict[str, Any]]) -> tuple[bool, Any]:
        event = {"Records": [sqs_record(message, self.spec.queue_arn, self._region) for message in batch]}
        response = self._lambda.invoke(
            FunctionName=self.spec.function_arn,
            InvocationType="RequestResponse",
            Payload=json.dumps(event).encode(),
        )
        raw = response["Payload"].read()
        errored = "FunctionError" in response
        try:
            result = json.loads(raw) if raw else None
        except ValueError:
            result = None
        return errored, result

    def _settle(self, batch: list[dict[str, Any]], invoked: tuple[bool, Any]) -> None:
        errored, result = invoked
        ids = [str(message["MessageId"]) for message in batch]
        failed = set(ids) if errored else self._failures(ids, result)
        done = [message for message in batch if message["MessageId"] not in failed]
        for start in range(0, len(done), _RECEIVE_LIMIT):
            chunk = done[start : start + _RECEIVE_LIMIT]
            answer = self._sqs.delete_message_batch(
                QueueUrl=self._url(),
                Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                    for index, message in enumerate(chunk)
                ],
            )
            for failure in answer.get("Failed", []):
                LOG.warning("could not delete a message of %s: %s", self.spec.queue_arn, failure)
        kept = tuple(message_id for message_id in ids if message_id in failed)
        delivered = tuple(message_id for message_id in ids if message_id not in failed)
        self._on_settled(Settled(self.spec.uuid, delivered, kept, errored))

    def _failures(self, ids: list[str], result: Any) -> set[str]:
        """The message ids a successful invoke reported failed (ReportBatchItemFailures only)."""
        if not self.spec.report_failures or not isinstance(result, dict):
            return set()
        items = result.get("batchItemFailures")
        if not items:
            return set()  # null or [] means every message succeeded
        if not isinstance(items, list):
            return set(ids)
        failed: set[str] = set()
        for item in items:
            identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
            if not isinstance(identifier, str) or identifier not in ids:
                # Lambda treats a missing, empty or unknown identifier as a failure of the whole batch.
                return set(ids)
            failed.add(identifier)
        return failed


def sqs_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One `Records` entry of Lambda's SQS event, from a ReceiveMessage message."""
    system = message.get("Attributes", {})
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": {name: str(system[name]) for name in _RECORD_ATTRIBUTES if name in system},
        "messageAttributes": {
            name: _message_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    """A message attribute in Lambda's shape (camelCase, binary as base64 text)."""
    import base64

    shaped: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": value["DataType"]}
    if "StringValue" in value:
        shaped["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        shaped["binaryValue"] = base64.b64encode(bytes(value["BinaryValue"])).decode("ascii")
    return shaped


class EventSourcePoller:
    """Keeps one `QueuePoller` per enabled SQS mapping the emulator's Lambda API lists."""

    def __init__(
        self,
        lambda_: Any,
        sqs: Any,
        region: str,
        *,
        invoker: Callable[[], Any] | None = None,
        rescan_seconds: float = RESCAN_SECONDS,
    ) -> None:
        """`lambda_` lists mappings; `invoker` builds the client that invokes (a long read timeout)."""
        self._lambda = lambda_
        self._sqs = sqs
        self._region = region
        self._invoker_factory = invoker or (lambda: lambda_)
        self._invoker: Any = None
        self._rescan = rescan_seconds
        self._pollers: dict[str, QueuePoller] = {}
        self._settled: list[Settled] = []
        self._settled_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def polling(self) -> dict[str, MappingSpec]:
        """The mappings being polled, by UUID (for diagnostics and tests)."""
        return {uuid: poller.spec for uuid, poller in dict(self._pollers).items()}

    @property
    def settled(self) -> list[Settled]:
        """Every batch settled so far, oldest first (for diagnostics and tests)."""
        with self._settled_lock:
            return list(self._settled)

    def wake(self) -> None:
        """Rescan the mappings now (a mapping was created)."""
        self._wake.set()

    def start(self) -> EventSourcePoller:
        """Scan the mappings on a daemon thread until `stop()`."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="cirrus-sqs-event-sources", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop scanning and every receiver; batches in flight end with their invocations."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(_JOIN_SECONDS)
            self._thread = None
        pollers, self._pollers = list(self._pollers.values()), {}
        for poller in pollers:
            poller.request_stop()
        # A receiver in a long poll ends when the poll does (within POLL_SECONDS) and then invokes
        # nothing; its request must end while the emulator still serves (and keeps quiet) though.
        deadline = time.monotonic() + _STOP_WAIT_SECONDS
        for poller in pollers:
            poller.join(max(0.0, deadline - time.monotonic()))

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # a pass must never end the thread: the next one tries again
                if not self._stop.is_set():
                    LOG.exception("scanning the event source mappings failed")
            self._wake.wait(self._rescan)
            self._wake.clear()

    def run_once(self) -> None:
        """Start pollers for new or changed enabled SQS mappings; stop those gone or disabled."""
        wanted: dict[str, MappingSpec] = {}
        for configuration in self._mappings():
            spec = MappingSpec.of(configuration)
            if spec is not None:
                wanted[spec.uuid] = spec
        for uuid, poller in list(self._pollers.items()):
            if wanted.get(uuid) != poller.spec:
                poller.request_stop()
                del self._pollers[uuid]
        for uuid, spec in wanted.items():
            if uuid not in self._pollers and not self._stop.is_set():
                if self._invoker is None:
                    self._invoker = self._invoker_factory()
                poller = QueuePoller(spec, self._sqs, self._invoker, self._region, on_settled=self._record)
                self._pollers[uuid] = poller.start()

    def _mappings(self) -> list[dict[str, Any]]:
        mappings: list[dict[str, Any]] = []
        params: dict[str, Any] = {}
        while True:
            response = self._lambda.list_event_source_mappings(**params)
            mappings.extend(response.get("EventSourceMappings", []))
            marker = response.get("NextMarker")
            if not marker:
                return mappings
            params["Marker"] = marker

    def _record(self, settled: Settled) -> None:
        with self._settled_lock:
            self._settled.append(settled)
            del self._settled[:-1000]  # a bounded history


def _invoke_client(context: HookContext) -> Any:
    """A Lambda client whose read timeout outlasts any function's Timeout, and that never retries."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "lambda",
        endpoint_url=context.endpoint_url,
        region_name=context.region,
        config=Config(read_timeout=_INVOKE_READ_TIMEOUT, retries={"max_attempts": 0, "mode": "standard"}),
        aws_access_key_id=FAKE_SECRET,
        aws_secret_access_key=FAKE_SECRET,
        aws_session_token=FAKE_SECRET,
    )


def detach_from_queue(esm: Any) -> None:
    """Take an SQS mapping out of moto's queue, so SendMessage no longer invokes the function itself."""
    if str(esm.event_source_arn).split(":")[2:3] != ["sqs"]:
        return
    backend = sqs_backends[esm.account_id][esm.region]
    for queue in list(backend.queues.values()):
        if queue.queue_arn == esm.event_source_arn:
            mappings = queue.lambda_event_source_mappings
            for key, value in list(mappings.items()):
                if value is esm:
                    del mappings[key]


def install(context: HookContext) -> Undo:
    """Poll SQS event source mappings like Lambda; the returned Undo stops the poller."""
    poller = EventSourcePoller(
        new_client("lambda", context.endpoint_url, context.region),
        new_client("sqs", context.endpoint_url, context.region),
        context.region,
        invoker=functools.partial(_invoke_client, context),
    )
    original = lambda_models.LambdaBackend.create_event_source_mapping

    @functools.wraps(original)
    def create_event_source_mapping(backend: Any, spec: dict[str, Any]) -> Any:
        esm = original(backend, spec)
        detach_from_queue(esm)
        poller.wake()
        return esm

    undo = patch_attribute(
        lambda_models.LambdaBackend, "create_event_source_mapping", create_event_source_mapping
    )
    global _active
    previous, _active = _active, poller
    poller.start()

    def stop() -> None:
        global _active
        _active = previous
        poller.stop()

    return combine([undo], then=stop)


_active: EventSourcePoller | None = None


def active_poller() -> EventSourcePoller | None:
    """The poller of the running emulator, if this hook is installed (diagnostics, tests)."""
    return _active
