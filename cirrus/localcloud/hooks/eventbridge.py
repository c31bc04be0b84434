"""EventBridge rules deliver to Lambda, Step Functions, SNS and SQS, with retries and dead letters.

moto 5.2.5's `moto.events.models.Rule.send_to_targets` raises NotImplementedError for Lambda,
Step Functions and SNS targets, runs inside the producer's PutEvents call, and has no retry policy
or dead-letter queue. This hook replaces it. For each rule whose pattern matches:

- The target's input is built as EventBridge builds it: `Input` (constant JSON), `InputPath` (a
  JSONPath into the event) or `InputTransformer` (`InputPathsMap` variables substituted into
  `InputTemplate`; see `render_template`), else the whole event.
- Lambda (asynchronous Invoke, as EventBridge invokes functions), Step Functions (StartExecution),
  SNS (Publish) and SQS (SendMessage, with `SqsParameters.MessageGroupId`) targets are delivered
  through the emulator's own API on a bounded thread pool, after the producer's call returns.
- A failed delivery follows the target's `RetryPolicy`. As in EventBridge, a missing resource or a
  permission error is not retried; throttling, server and connection errors are, up to
  `MaximumRetryAttempts` (default 185) and `MaximumEventAgeInSeconds` (default 86400), with an
  exponential backoff compressed for local use: 0.05 s doubling to at most 1 s (EventBridge's spans
  up to 24 hours). The event then goes to the target's `DeadLetterConfig` queue, with the message
  attributes EventBridge sets: ERROR_CODE, ERROR_MESSAGE, RULE_ARN, TARGET_ARN, RETRY_ATTEMPTS and,
  when retries ran out, EXHAUSTED_RETRY_CONDITION.

A Lambda target's delivery succeeds once Lambda accepts the event: an exception in the handler is
the function's concern (its asynchronous retries and OnFailure destination, see the Lambda hook),
not the rule's dead-letter queue, exactly as in AWS. Targets moto handles itself (CloudWatch log
groups, archives, other event buses, API destinations) are still delivered by moto; any other kind
is logged and skipped instead of failing the producer's call. Disabled rules and schedule-only
rules (no event pattern, which moto would match against every event) deliver nothing.
"""

from __future__ import annotations

import copy
import datetime
import json
import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError
from moto.events.models import Rule

from cirrus.localcloud.clients import ClientCache, queue_url
from cirrus.localcloud.hooks._patching import combine, patch_attribute

if TYPE_CHECKING:
    from cirrus.localcloud.hooks import HookContext, Undo

LOG = logging.getLogger(__name__)

DELIVERY_CONCURRENCY = 4
BACKOFF_BASE_SECONDS = 0.05
BACKOFF_CAP_SECONDS = 1.0
DEFAULT_MAXIMUM_RETRY_ATTEMPTS = 185
DEFAULT_MAXIMUM_EVENT_AGE_SECONDS = 86400

_DELIVERED_SERVICES: Final = frozenset({"lambda", "states", "sns", "sqs"})
_NOT_FOUND_CODES: Final = frozenset(
    {
        "ResourceNotFoundException",
        "ResourceNotFound",
        "NotFound",
        "NotFoundException",
        "StateMachineDoesNotExist",
        "QueueDoesNotExist",
        "AWS.SimpleQueueService.NonExistentQueue",
    }
)
_RETRIABLE_CODES: Final = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "ServiceException",
        "InternalFailure",
        "InternalError",
        "InternalServerError",
    }
)
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")
_PATH_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+|\*)\]")


class _Missing:
    """A variable whose path matched nothing in the event."""


MISSING: Final = _Missing()


# -- input ----------------------------------------------------------------------------------------


def json_path(document: Any, path: str) -> list[Any]:
    """Every value `path` selects in `document`: EventBridge's subset of JSONPath.

    Dot notation (`$.detail.model-id`), array indices (`$.resources[0]`) and wildcards (`.*`,
    `[*]`), as EventBridge documents for InputPath and InputPathsMap.
    """
    if not path.startswith("$"):
        raise ValueError(f"not a JSONPath: {path!r}")
    rest = path[1:]
    nodes = [document]
    position = 0
    while position < len(rest):
        step = _PATH_STEP.match(rest, position)
        if step is None:
            raise ValueError(f"unsupported JSONPath: {path!r}")
        position = step.end()
        key, index = step.group(1), step.group(2)
        selected: list[Any] = []
        for node in nodes:
            if key == "*" or index == "*":
                selected.extend(
                    node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
                )
            elif key is not None:
                if isinstance(node, dict) and key in node:
                    selected.append(node[key])
            elif isinstance(node, list) and int(index) < len(node):
                selected.append(node[int(index)])
        nodes = selected
    return nodes


def _select(event: dict[str, Any], path: str) -> Any:
    matches = json_path(event, path)
    if not matches:
        return MISSING
    return matches[0] if len(matches) == 1 and "*" not in path else matches


def render_template(template: str, variables: dict[str, Any]) -> str:
    """Substitute `<name>` placeholders in an InputTemplate as EventBridge does.

    Inside a JSON string a value goes in as text, escaped (a string without its quotes); outside a
    string, in a JSON template (one starting with `{` or `[`), it goes in as JSON (a string
    quoted, a missing value as null); in a plain-text template, as text. Names without a variable
    are left as they are.
    """
    json_mode = template.lstrip().startswith(("{", "["))
    out: list[str] = []
    in_string = False
    escaped = False
    position = 0
    while position < len(template):
        char = template[position]
        match = _PLACEHOLDER.match(template, position) if char == "<" else None
        if match is not None and match.group(1) in variables:
            out.append(_substitute(variables[match.group(1)], in_string=in_string, json_mode=json_mode))
            position = match.end()
            continue
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            in_string = not in_string
        out.append(char)
        position += 1
    return "".join(out)


def _substitute(value: Any, *, in_string: bool, json_mode: bool) -> str:
    if isinstance(value, _Missing):
        return "null" if json_mode and not in_string else ""
    text = value if isinstance(value, str) else json.dumps(value)
    if in_string:
        return json.dumps(text)[1:-1]  # escaped, without the quotes
    if json_mode:
        return json.dumps(value)
    return text


def target_input(target: dict[str, Any], event: dict[str, Any], rule_arn: str, rule_name: str) -> str:
    """The text a target receives for `event`: Input, InputPath, InputTransformer or the event."""
    if "Input" in target:
        return str(target["Input"])
    if "InputPath" in target:
        selected = _select(event, str(target["InputPath"]))
        return "null" if isinstance(selected, _Missing) else json.dumps(selected)
    transformer = target.get("InputTransformer")
    if transformer:
        variables: dict[str, Any] = {
            name: _select(event, str(path)) for name, path in (transformer.get("InputPathsMap") or {}).items()
        }
        without_detail = {key: value for key, value in event.items() if key != "detail"}
        variables.update(
            {
                "aws.events.rule-arn": rule_arn,
                "aws.events.rule-name": rule_name,
                "aws.events.event.ingestion-time": event["time"],
                "aws.events.event": without_detail,
                "aws.events.event.json": event,
            }
        )
        return render_template(str(transformer["InputTemplate"]), variables)
    return json.dumps(event)


def delivered_event(event: dict[str, Any]) -> dict[str, Any]:
    """The event as targets see it: moto's internal fields dropped, `time` in ISO 8601."""
    delivered = {key: value for key, value in event.items() if key != "ingestion-time"}
    stamp = delivered.get("time")
    if isinstance(stamp, int | float):
        moment = datetime.datetime.fromtimestamp(float(stamp), datetime.UTC)
        delivered["time"] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return delivered


# -- delivery -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """Why a delivery failed, in EventBridge's dead-letter terms."""

    code: str  # ERROR_CODE, e.g. RESOURCE_NOT_FOUND
    message: str
    retriable: bool


def classify(error: Exception) -> Failure:
    """EventBridge's view of a failed call: its error code, and whether it retries the call."""
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        message = str(error.response.get("Error", {}).get("Message", "")) or code
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400))
        if code in _NOT_FOUND_CODES or status == 404:
            return Failure("RESOURCE_NOT_FOUND", message, retriable=False)
        if code.startswith("AccessDenied") or status == 403:
            return Failure("NO_PERMISSIONS", message, retriable=False)
        if code in _RETRIABLE_CODES or "Throttl" in code:
            return Failure("THROTTLING", message, retriable=True)
        if status >= 500:
            return Failure("INTERNAL_ERROR", message, retriable=True)
        return Failure("INVALID_PARAMETER", message, retriable=False)
    if isinstance(error, BotoCoreError):  # connection refused, timeouts: transient
        return Failure("SDK_CLIENT_ERROR", str(error), retriable=True)
    return Failure("INTERNAL_ERROR", f"{type(error).__name__}: {error}", retriable=False)


def backoff_seconds(retry: int) -> float:
    """The wait before retry number `retry` (0-based): exponential, compressed for local use."""
    return float(min(BACKOFF_BASE_SECONDS * 2**retry, BACKOFF_CAP_SECONDS))


@dataclass(frozen=True)
class Delivery:
    """One event on its way to one target."""

    rule_arn: str
    target: dict[str, Any]
    payload: str
    event: dict[str, Any]
    queued_at: float


class Deliverer:
    """Delivers events to targets on a bounded pool, with retries and dead-letter queues."""

    def __init__(self, context: HookContext, *, concurrency: int = DELIVERY_CONCURRENCY) -> None:
        self._clients = ClientCache(context.endpoint_url, context.region)
        self._executor = ThreadPoolExecutor(concurrency, thread_name_prefix="cirrus-events")
        self._stopping = threading.Event()

    def route(self, rule: Any, event: dict[str, Any], original: Any, transform_input: bool) -> None:
        """Deliver `event` to the targets of `rule` if it matches (what Rule.send_to_targets does)."""
        if getattr(rule, "state", "ENABLED") == "DISABLED" or not rule.event_pattern.get_pattern():
            return
        if not rule.event_pattern.matches_event(event):
            return
        delivered = delivered_event(event)
        for target in rule.targets:
            service = str(target["Arn"]).split(":")[2]
            if service not in _DELIVERED_SERVICES:
                self._deliver_with_moto(rule, target, event, original, transform_input)
                continue
            queued_at = time.time()
            try:
                payload = target_input(target, delivered, rule.arn, rule.name)
            except (ValueError, KeyError, TypeError) as exc:  # a template EventBridge would refuse
                failed = Delivery(rule.arn, dict(target), "", delivered, queued_at)
                self._dead_letter(failed, Failure("INVALID_PARAMETER", str(exc), retriable=False), 0, None)
                continue
            self._submit(Delivery(rule.arn, dict(target), payload, delivered, queued_at))

    def _deliver_with_moto(
        self, rule: Any, target: dict[str, Any], event: Any, original: Any, transform: bool
    ) -> None:
        # moto's own method handles log groups, archives, buses and API destinations; give it a
        # copy of the rule holding just this target. These run in-process and start no code.
        single = copy.copy(rule)
        single.targets = [target]
        try:
            original(single, event, transform)
        except NotImplementedError:
            LOG.warning("the local cloud cannot deliver to %s (rule %s); skipped", target["Arn"], rule.arn)

    def _submit(self, delivery: Delivery) -> None:
        try:
            self._executor.submit(self._deliver, delivery)
        except RuntimeError:  # shut down: the emulator is stopping
            LOG.warning("the local cloud is stopping: an event for %s was dropped", delivery.target["Arn"])

    def _deliver(self, delivery: Delivery) -> None:
        policy = delivery.target.get("RetryPolicy") or {}
        max_retries = int(policy.get("MaximumRetryAttempts", DEFAULT_MAXIMUM_RETRY_ATTEMPTS))
        max_age = float(policy.get("MaximumEventAgeInSeconds", DEFAULT_MAXIMUM_EVENT_AGE_SECONDS))
        retries = 0
        while True:
            try:
                self._send(delivery)
                return
            except Exception as exc:
                failure = classify(exc)
            if not failure.retriable:
                exhausted = None
                break
            if retries >= max_retries:
                exhausted = "MaximumRetryAttempts"
                break
            if time.time() - delivery.queued_at >= max_age:
                exhausted = "MaximumEventAgeInSeconds"
                break
            if self._stopping.wait(backoff_seconds(retries)):
                return
            retries += 1
        self._dead_letter(delivery, failure, retries, exhausted)

    def _send(self, delivery: Delivery) -> None:
        target = delivery.target
        arn = str(target["Arn"])
        service = arn.split(":")[2]
        if service == "lambda":
            self._clients.get("lambda").invoke(
                FunctionName=arn, InvocationType="Event", Payload=delivery.payload.encode()
            )
        elif service == "states":
            self._clients.get("stepfunctions").start_execution(stateMachineArn=arn, input=delivery.payload)
        elif service == "sns":
            self._clients.get("sns").publish(TopicArn=arn, Message=delivery.payload)
        else:
            sqs = self._clients.get("sqs")
            params: dict[str, Any] = {"QueueUrl": queue_url(sqs, arn), "MessageBody": delivery.payload}
            group = (target.get("SqsParameters") or {}).get("MessageGroupId")
            if group:
                params["MessageGroupId"] = group
            if arn.endswith(".fifo"):
                params["MessageDeduplicationId"] = str(delivery.event.get("id", ""))
            sqs.send_message(**params)

    def _dead_letter(self, delivery: Delivery, failure: Failure, retries: int, exhausted: str | None) -> None:
        dlq = (delivery.target.get("DeadLetterConfig") or {}).get("Arn")
        if not dlq:
            LOG.warning(
                "event %s to %s dropped after %s: %s",
                delivery.event.get("id"),
                delivery.target["Arn"],
                failure.code,
                failure.message,
            )
            return
        attributes = {
            "RULE_ARN": delivery.rule_arn,
            "TARGET_ARN": str(delivery.target["Arn"]),
            "ERROR_CODE": failure.code,
            "ERROR_MESSAGE": failure.message or failure.code,  # SQS refuses empty attribute values
            "RETRY_ATTEMPTS": str(retries),
        }
        if exhausted:
            attributes["EXHAUSTED_RETRY_CONDITION"] = exhausted
        try:
            sqs = self._clients.get("sqs")
            sqs.send_message(
                QueueUrl=queue_url(sqs, dlq),
                MessageBody=json.dumps(delivery.event),
                MessageAttributes={
                    name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()
                },
            )
        except Exception:
            LOG.exception("could not dead-letter event %s to %s", delivery.event.get("id"), dlq)

    def close(self) -> None:
        """Stop retrying and drop queued deliveries; deliveries under way finish."""
        self._stopping.set()
        self._executor.shutdown(wait=True, cancel_futures=True)


def install(context: HookContext) -> Undo:
    """Deliver rule targets as EventBridge does; the returned callable restores moto's method."""
    deliverer = Deliverer(context)
    original = Rule.send_to_targets

    def send_to_targets(rule: Any, original_event: dict[str, Any], transform_input: bool = True) -> None:
        deliverer.route(rule, original_event, original, transform_input)

    return combine([patch_attribute(Rule, "send_to_targets", send_to_targets)], then=deliverer.close)
