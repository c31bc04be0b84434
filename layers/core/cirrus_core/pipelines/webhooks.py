"""Repository webhooks: GitHub and GitLab deliveries that start pipeline runs.

`WebhookReceiver.receive(provider, headers, body)` takes one delivery through these steps, in order:

1. Authenticate, on the raw body and before anything parses it: GitHub signs the body with the
   hook's secret (`X-Hub-Signature-256: sha256=<HMAC-SHA256 hex>`), GitLab sends the secret token
   itself (`X-Gitlab-Token`); both are compared in constant time. The secrets live in Secrets
   Manager (`GITHUB_WEBHOOK_SECRET_ARN`, `GITLAB_WEBHOOK_SECRET_ARN`), read through Powertools and
   cached for `SECRET_MAX_AGE_SECONDS`. A provider without a configured secret is unknown (404);
   a bad or missing signature is 401 and nothing is written.
2. Parse into a `RepositoryEvent` (provider, repository, event, branch or tag, commit, delivery id,
   sender). GitHub's `ping` answers at once; events Cirrus does not start runs for (issues, closed
   pull requests, deleted branches, ...) are acknowledged and ignored. The body is JSON, or for
   GitHub's form content type a `payload` field holding it; a signed body that is not the event it
   claims to be is 422.
3. Claim the delivery: a conditional put of `DELIVERY#<provider>#<delivery id>` (expiring after
   `DELIVERY_TTL_DAYS`). The delivery id is GitHub's `X-GitHub-Delivery`, GitLab's
   `X-Gitlab-Event-UUID` (or `Idempotency-Key`). Neither header is covered by GitHub's signature,
   so whoever captured a signed body could replay it under a fresh id: the body's SHA-256 is
   claimed too (`DELIVERY#<provider>#sha256:<hex>`), in the same transaction. A delivery whose id
   or body was seen starts nothing (`duplicate`).
4. Match the pipelines' trigger rules, read from the trigger index
   (`TRIGGER#<provider>#<repository>`): same provider and repository (case-insensitive, as both
   providers treat repository paths), the event type among the rule's `events`, and the ref name
   matching one of the rule's `branches` globs (`fnmatch` on the whole name, case-sensitive as git
   refs are; `*` crosses `/`, so `release/*` also matches `release/1.2/hotfix`).
5. Start one run per matched pipeline through the pipeline service's `start_triggered_run`, with
   the rule's parameters and `trigger = {"type": "webhook", "detail": RepositoryEvent}`; the
   service audits the runs it starts. The started runs are recorded on the delivery.

Which branch a change request is matched on: its target. A GitHub pull request (`opened`,
`synchronize`, `reopened`) or a GitLab merge request (`open`, `reopen`, or `update` with new
commits) is matched on its base (target) branch, so `branches: ["main"]` means "changes proposed
to main"; the commit is the head of the proposed change, and its source branch is recorded in the
trigger detail as `source_branch`. For tag events the globs are matched against the tag name
(`branches: ["v*"]`), and `branch` is null in the detail.
"""

from __future__ import annotations

import base64
import fnmatch
import functools
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, TypeVar
from urllib.parse import parse_qs

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cirrus_core.errors import (
    CirrusError,
    InvalidWebhookPayload,
    InvalidWebhookSignature,
    UnknownWebhookProvider,
)
from cirrus_core.observability import logger
from cirrus_core.pipelines.definition import TriggerRule

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

    from cirrus_core.pipelines.settings import PipelineSettings

Provider = Literal["github", "gitlab"]
EventType = Literal["push", "pull_request", "merge_request", "tag"]

PROVIDERS: Final[tuple[Provider, ...]] = ("github", "gitlab")
SECRET_MAX_AGE_SECONDS: Final = 300
DELIVERY_TTL_DAYS: Final = 30
MAX_DELIVERY_ID_LENGTH: Final = 128

GITHUB_SIGNATURE_HEADER: Final = "X-Hub-Signature-256"
GITHUB_EVENT_HEADER: Final = "X-GitHub-Event"
GITHUB_DELIVERY_HEADER: Final = "X-GitHub-Delivery"
GITLAB_TOKEN_HEADER: Final = "X-Gitlab-Token"  # noqa: S105 - a header name, not a secret
GITLAB_DELIVERY_HEADERS: Final = ("X-Gitlab-Event-UUID", "Idempotency-Key")
# GitHub's other content type: the JSON in a `payload` form field (signed as sent, form and all).
FORM_CONTENT_TYPE: Final = "application/x-www-form-urlencoded"

_GITHUB_PR_ACTIONS: Final = frozenset({"opened", "synchronize", "reopened"})
_GITLAB_MR_ACTIONS: Final = frozenset({"open", "reopen"})
_NO_COMMIT: Final = "0" * 40
_BRANCH_REF: Final = "refs/heads/"
_TAG_REF: Final = "refs/tags/"


# ---------------------------------------------------------------------------------------- the event


@dataclass(frozen=True, slots=True)
class RepositoryEvent:
    """A repository event, the same for both providers, as the trigger detail records it."""

    provider: Provider
    repository: str
    event: EventType
    branch: str | None  # the pushed branch, or a change request's target; None for tags
    commit: str
    delivery_id: str
    sender: str
    tag: str | None = None
    source_branch: str | None = None  # a change request's own branch

    @property
    def ref_name(self) -> str:
        """What the rules' `branches` globs are matched against: the branch, or the tag name."""
        return self.tag if self.event == "tag" and self.tag is not None else self.branch or ""

    def detail(self) -> dict[str, Any]:
        """The trigger detail of the runs this event starts."""
        detail: dict[str, Any] = {
            "provider": self.provider,
            "repository": self.repository,
            "event": self.event,
            "branch": self.branch,
            "commit": self.commit,
            "delivery_id": self.delivery_id,
            "sender": self.sender,
        }
        if self.tag is not None:
            detail["tag"] = self.tag
        if self.source_branch is not None:
            detail["source_branch"] = self.source_branch
        return detail


def rule_matches(rule: TriggerRule, event: RepositoryEvent) -> bool:
    """True when `rule` asks for runs on `event`: provider, repository, event type and ref name."""
    return (
        rule.provider == event.provider
        and rule.repository.lower() == event.repository.lower()
        and event.event in rule.events
        and any(fnmatch.fnmatchcase(event.ref_name, pattern) for pattern in rule.branches)
    )


# ---------------------------------------------------------------------------------------- authentication


def github_signature(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value GitHub sends for `body` under `secret`."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_github_signature(secret: str, body: bytes, header: str | None) -> None:
    """Refuse a body whose signature header is missing or does not match (constant-time)."""
    if not secret or not header:
        raise InvalidWebhookSignature(f"The delivery carries no valid {GITHUB_SIGNATURE_HEADER} header.")
    expected = github_signature(secret, body).encode("ascii")
    if not hmac.compare_digest(expected, header.strip().encode("utf-8")):
        raise InvalidWebhookSignature("The delivery's signature does not match the webhook secret.")


def verify_gitlab_token(secret: str, header: str | None) -> None:
    """Refuse a delivery whose secret token is missing or wrong (constant-time)."""
    if not secret or not header:
        raise InvalidWebhookSignature(f"The delivery carries no valid {GITLAB_TOKEN_HEADER} header.")
    if not hmac.compare_digest(secret.encode("utf-8"), header.encode("utf-8")):
        raise InvalidWebhookSignature("The delivery's token does not match the webhook secret.")


# ---------------------------------------------------------------------------------------- payloads
# Only the fields Cirrus reads; everything else in the (large) payloads is ignored.


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


_M = TypeVar("_M", bound=_Payload)


class _GitHubRepository(_Payload):
    full_name: str = Field(min_length=1)


class _GitHubUser(_Payload):
    login: str = ""


class _GitHubPush(_Payload):
    ref: str = Field(min_length=1)
    after: str = Field(min_length=1)
    deleted: bool = False
    repository: _GitHubRepository
    sender: _GitHubUser = Field(default_factory=_GitHubUser)


class _GitHubRef(_Payload):
    ref: str = Field(min_length=1)
    sha: str = Field(min_length=1)


class _GitHubPull(_Payload):
    base: _GitHubRef
    head: _GitHubRef


class _GitHubPullRequestEvent(_Payload):
    action: str
    pull_request: _GitHubPull
    repository: _GitHubRepository
    sender: _GitHubUser = Field(default_factory=_GitHubUser)


class _GitLabProject(_Payload):
    path_with_namespace: str = Field(min_length=1)


class _GitLabPush(_Payload):
    object_kind: Literal["push", "tag_push"]
    ref: str = Field(min_length=1)
    after: str = ""
    checkout_sha: str | None = None
    user_username: str = ""
    project: _GitLabProject


class _GitLabCommit(_Payload):
    id: str = Field(min_length=1)


class _GitLabMergeAttributes(_Payload):
    action: str = ""
    target_branch: str = Field(min_length=1)
    source_branch: str = Field(min_length=1)
    last_commit: _GitLabCommit
    oldrev: str | None = None


class _GitLabUser(_Payload):
    username: str = ""


class _GitLabMergeRequest(_Payload):
    object_kind: Literal["merge_request"]
    object_attributes: _GitLabMergeAttributes
    user: _GitLabUser = Field(default_factory=_GitLabUser)
    project: _GitLabProject


def _document(body: bytes, content_type: str | None) -> dict[str, Any]:
    """The JSON payload: the body, or its `payload` field when GitHub sends a form."""
    try:
        if (content_type or "").split(";", 1)[0].strip().lower() == FORM_CONTENT_TYPE:
            fields = parse_qs(body.decode("utf-8"), strict_parsing=False)
            body = (fields.get("payload") or [""])[0].encode("utf-8")
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise InvalidWebhookPayload(
            "The delivery's body is not JSON.",
            [{"field": "body", "message": "Invalid JSON", "type": "json_invalid"}],
        ) from None
    if not isinstance(document, dict):
        raise InvalidWebhookPayload(
            "The delivery's body must be a JSON object.",
            [{"field": "body", "message": "Input should be an object", "type": "object_type"}],
        )
    return document


def _model(model: type[_M], document: Mapping[str, Any]) -> _M:
    try:
        return model.model_validate(document)
    except ValidationError as error:
        details = [
            {
                "field": ".".join(str(part) for part in item["loc"]),
                "message": item["msg"],
                "type": item["type"],
            }
            for item in error.errors()
        ]
        raise InvalidWebhookPayload(
            "The delivery's body is not the event it claims to be.", details
        ) from None


def _ref_event(ref: str) -> tuple[EventType, str] | None:
    """("push", branch) for a branch ref, ("tag", name) for a tag ref, None for anything else."""
    if ref.startswith(_BRANCH_REF):
        return "push", ref.removeprefix(_BRANCH_REF)
    if ref.startswith(_TAG_REF):
        return "tag", ref.removeprefix(_TAG_REF)
    return None


def _from_ref(
    provider: Provider, ref: str, repository: str, commit: str, delivery_id: str, sender: str
) -> RepositoryEvent | None:
    kind = _ref_event(ref)
    if kind is None:
        return None
    event, name = kind
    return RepositoryEvent(
        provider=provider,
        repository=repository,
        event=event,
        branch=name if event == "push" else None,
        tag=name if event == "tag" else None,
        commit=commit,
        delivery_id=delivery_id,
        sender=sender,
    )


def parse_github(event_name: str, document: Mapping[str, Any], delivery_id: str) -> RepositoryEvent | None:
    """The repository event of a GitHub delivery, or None for an event that starts no run."""
    if event_name == "push":
        push = _model(_GitHubPush, document)
        if push.deleted or push.after == _NO_COMMIT:
            return None  # a deleted branch or tag: nothing to build
        return _from_ref(
            "github", push.ref, push.repository.full_name, push.after, delivery_id, push.sender.login
        )
    if event_name == "pull_request":
        pull = _model(_GitHubPullRequestEvent, document)
        if pull.action not in _GITHUB_PR_ACTIONS:
            return None  # closed, labeled, edited, ...: no new code to build
        return RepositoryEvent(
            provider="github",
            repository=pull.repository.full_name,
            event="pull_request",
            branch=pull.pull_request.base.ref,
            source_branch=pull.pull_request.head.ref,
            commit=pull.pull_request.head.sha,
            delivery_id=delivery_id,
            sender=pull.sender.login,
        )
    return None


def parse_gitlab(document: Mapping[str, Any], delivery_id: str) -> RepositoryEvent | None:
    """The repository event of a GitLab delivery, or None for an event that starts no run."""
    kind = document.get("object_kind")
    if kind in ("push", "tag_push"):
        push = _model(_GitLabPush, document)
        commit = push.checkout_sha or ""
        if not commit or commit == _NO_COMMIT:
            return None  # a deleted branch or tag
        return _from_ref(
            "gitlab", push.ref, push.project.path_with_namespace, commit, delivery_id, push.user_username
        )
    if kind == "merge_request":
        merge = _model(_GitLabMergeRequest, document)
        attributes = merge.object_attributes
        new_commits = attributes.action == "update" and bool(attributes.oldrev)
        if attributes.action not in _GITLAB_MR_ACTIONS and not new_commits:
            return None  # closed, merged, approved, a title edit, ...
        return RepositoryEvent(
            provider="gitlab",
            repository=merge.project.path_with_namespace,
            event="merge_request",
            branch=attributes.target_branch,
            source_branch=attributes.source_branch,
            commit=attributes.last_commit.id,
            delivery_id=delivery_id,
            sender=merge.user.username,
        )
    return None


# ---------------------------------------------------------------------------------------- ports


class StartedRun(Protocol):
    """What the pipeline service answers for a started run."""

    @property
    def pipeline_id(self) -> str: ...

    @property
    def run_id(self) -> str: ...


class RunStarter(Protocol):
    """Starts runs on behalf of a trigger: `PipelineService.start_triggered_run`."""

    def start_triggered_run(
        self, pipeline_id: str, parameters: dict[str, Any], trigger: dict[str, Any]
    ) -> StartedRun: ...


class WebhookStorage(Protocol):
    """The pipelines table, as far as webhooks need it: `WebhookStore` is the DynamoDB one."""

    def trigger_rules(self, provider: Provider, repository: str) -> list[tuple[str, TriggerRule]]: ...

    def claim_delivery(self, provider: Provider, delivery_ids: list[str], received_at: datetime) -> bool: ...

    def record_runs(self, provider: Provider, delivery_id: str, runs: list[dict[str, str]]) -> None: ...

    def release_delivery(self, provider: Provider, delivery_ids: list[str]) -> None: ...


# ---------------------------------------------------------------------------------------- the outcome


class TriggeredRun(BaseModel):
    """A run a delivery started."""

    pipeline_id: str
    run_id: str


class FailedTrigger(BaseModel):
    """A matched pipeline whose run the pipeline service refused (the pipeline is gone, say)."""

    pipeline_id: str
    error: dict[str, str]


class WebhookResponse(BaseModel):
    """What a delivery is answered with: the runs it started, or why it started none."""

    delivery_id: str | None = None
    event: str | None = Field(default=None, description="The repository event, when the delivery is one.")
    duplicate: bool = Field(default=False, description="The delivery was received before: nothing started.")
    ignored: str | None = Field(
        default=None, description="Why the delivery starts no run, when it is not one."
    )
    runs: list[TriggeredRun] = Field(default_factory=list)
    failed: list[FailedTrigger] = Field(default_factory=list)

    @property
    def accepted(self) -> bool:
        """True when rules matched, so runs were (or were tried to be) started: 202 rather than 200."""
        return bool(self.runs or self.failed)


# ---------------------------------------------------------------------------------------- the receiver


@dataclass
class WebhookReceiver:
    """Authenticates, deduplicates and matches deliveries, and starts the runs they ask for."""

    storage: WebhookStorage
    starter: RunStarter
    secrets: Callable[[Provider], str | None]
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def receive(self, provider: str, headers: Mapping[str, str], body: bytes) -> WebhookResponse:
        """Handle one delivery; raises the API's errors for refusals (401, 404, 422)."""
        known = _provider(provider)
        header = _header_reader(headers)
        secret = self.secrets(known)
        if secret is None:
            raise UnknownWebhookProvider(f"Webhooks from {provider} are not configured.")
        if known == "github":
            verify_github_signature(secret, body, header(GITHUB_SIGNATURE_HEADER))
        else:
            verify_gitlab_token(secret, header(GITLAB_TOKEN_HEADER))
        # Authenticated from here on: the body may be parsed.
        delivery_id = _delivery_id(known, header, body)
        if known == "github":
            event_name = header(GITHUB_EVENT_HEADER)
            if not event_name:
                raise InvalidWebhookPayload(
                    f"The delivery has no {GITHUB_EVENT_HEADER} header.",
                    [{"field": GITHUB_EVENT_HEADER, "message": "Field required", "type": "missing"}],
                )
            document = _document(body, header("Content-Type"))
            if event_name == "ping":
                return WebhookResponse(delivery_id=delivery_id, event="ping", ignored="ping")
            event = parse_github(event_name, document, delivery_id)
            label = event_name
        else:
            document = _document(body, header("Content-Type"))
            event = parse_gitlab(document, delivery_id)
            label = str(document.get("object_kind") or "unknown")
        if event is None:
            return WebhookResponse(delivery_id=delivery_id, event=label, ignored="not_a_triggering_event")
        return self._start(event, _body_digest(body))

    def _start(self, event: RepositoryEvent, digest: str) -> WebhookResponse:
        keys = list(dict.fromkeys([event.delivery_id, digest]))
        if not self.storage.claim_delivery(event.provider, keys, self.clock()):
            logger.info("Webhook delivery replayed", extra={"delivery_id": event.delivery_id})
            return WebhookResponse(delivery_id=event.delivery_id, event=event.event, duplicate=True)
        try:
            matched = self._matching(event)
        except Exception:
            self.storage.release_delivery(event.provider, keys)  # a redelivery may try again
            raise
        response = WebhookResponse(delivery_id=event.delivery_id, event=event.event)
        if not matched:
            response.ignored = "no_matching_trigger"
            return response
        trigger = {"type": "webhook", "detail": event.detail()}
        for pipeline_id, rule in matched:
            try:
                started = self.starter.start_triggered_run(
                    pipeline_id, parameters=dict(rule.parameters), trigger=trigger
                )
            except CirrusError as error:
                # A refusal (the pipeline was deleted, its parameters no longer validate) would be
                # refused again on a redelivery: record it and go on with the other pipelines.
                logger.warning(
                    "A webhook trigger did not start its run",
                    extra={"pipeline_id": pipeline_id, "code": error.code, "delivery_id": event.delivery_id},
                )
                response.failed.append(
                    FailedTrigger(
                        pipeline_id=pipeline_id, error={"code": error.code, "message": error.message}
                    )
                )
                continue
            except Exception:
                if not response.runs:
                    self.storage.release_delivery(event.provider, keys)  # nothing started: retryable
                else:
                    self._record(event, response)
                raise
            response.runs.append(TriggeredRun(pipeline_id=started.pipeline_id, run_id=started.run_id))
        self._record(event, response)
        return response

    def _matching(self, event: RepositoryEvent) -> list[tuple[str, TriggerRule]]:
        rules: dict[str, TriggerRule] = {}
        # The index is keyed by the repository as the rule names it; providers send the canonical
        # case, which a rule written in lower case would miss: both spellings are looked up.
        for repository in dict.fromkeys([event.repository, event.repository.lower()]):
            for pipeline_id, rule in self.storage.trigger_rules(event.provider, repository):
                if pipeline_id not in rules and rule_matches(rule, event):
                    rules[pipeline_id] = rule
        return sorted(rules.items())

    def _record(self, event: RepositoryEvent, response: WebhookResponse) -> None:
        runs = [run.model_dump() for run in response.runs]
        try:
            self.storage.record_runs(event.provider, event.delivery_id, runs)
        except ClientError:  # the runs are started and audited; the delivery item is bookkeeping
            logger.exception("Could not record a delivery's runs", extra={"delivery_id": event.delivery_id})


def _provider(name: str) -> Provider:
    for provider in PROVIDERS:
        if name == provider:
            return provider
    raise UnknownWebhookProvider(
        f"No webhook provider '{name[:40]}'.",
        [{"field": "provider", "message": f"Expected one of {', '.join(PROVIDERS)}", "type": "enum"}],
    )


def _header_reader(headers: Mapping[str, str]) -> Callable[[str], str | None]:
    lowered = {str(name).lower(): str(value) for name, value in (headers or {}).items()}

    def read(name: str) -> str | None:
        value = lowered.get(name.lower())
        return value if value else None

    return read


def _body_digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _delivery_id(provider: Provider, header: Callable[[str], str | None], body: bytes) -> str:
    """The provider's delivery id; the body's digest when the provider sent none (older GitLab)."""
    names = (GITHUB_DELIVERY_HEADER,) if provider == "github" else GITLAB_DELIVERY_HEADERS
    for name in names:
        value = header(name)
        if value:
            return value.strip()[:MAX_DELIVERY_ID_LENGTH]
    return _body_digest(body)


def raw_body(event: Mapping[str, Any]) -> bytes:
    """The request body exactly as the provider sent it (what the signature covers)."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(body)
    return str(body).encode("utf-8")


# ---------------------------------------------------------------------------------------- the adapter


def _s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def _delivery_key(provider: Provider, delivery_id: str) -> dict[str, AttributeValueTypeDef]:
    return {"pk": _s(f"DELIVERY#{provider}#{delivery_id}"), "sk": _s("DELIVERY")}


class WebhookStore:
    """The pipelines table's trigger index and webhook delivery items (docs/pipelines.md)."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def trigger_rules(self, provider: Provider, repository: str) -> list[tuple[str, TriggerRule]]:
        """(pipeline id, rule) of every trigger index item of this repository."""
        found: list[tuple[str, TriggerRule]] = []
        paginator = self._client.get_paginator("query")
        pages = paginator.paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": _s(f"TRIGGER#{provider}#{repository}")},
        )
        for page in pages:
            for item in page.get("Items", []):
                entry = _trigger_entry(item)
                if entry is not None:
                    found.append(entry)
        return found

    def claim_delivery(self, provider: Provider, delivery_ids: list[str], received_at: datetime) -> bool:
        """Record the delivery under each of its ids; False when any of them was recorded before."""
        expires_at = int((received_at + timedelta(days=DELIVERY_TTL_DAYS)).timestamp())
        puts: list[Any] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        **_delivery_key(provider, delivery_id),
                        "received_at": _s(received_at.isoformat()),
                        "runs": {"L": []},
                        "expires_at": {"N": str(expires_at)},
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for delivery_id in delivery_ids
        ]
        try:
            self._client.transact_write_items(TransactItems=puts)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = error.response.get("CancellationReasons") or []
            if any(reason.get("Code") == "ConditionalCheckFailed" for reason in reasons):
                return False
            raise
        return True

    def record_runs(self, provider: Provider, delivery_id: str, runs: list[dict[str, str]]) -> None:
        """The runs a delivery started, on its delivery item."""
        self._client.update_item(
            TableName=self._table,
            Key=_delivery_key(provider, delivery_id),
            UpdateExpression="SET #runs = :runs",
            ExpressionAttributeNames={"#runs": "runs"},
            ExpressionAttributeValues={
                ":runs": {"L": [{"M": {name: _s(value) for name, value in run.items()}} for run in runs]}
            },
        )

    def release_delivery(self, provider: Provider, delivery_ids: list[str]) -> None:
        """Forget a claimed delivery that started nothing, so the provider's redelivery may retry."""
        for delivery_id in delivery_ids:
            self._client.delete_item(TableName=self._table, Key=_delivery_key(provider, delivery_id))


def _trigger_entry(item: Mapping[str, Any]) -> tuple[str, TriggerRule] | None:
    pipeline_id = item.get("pipeline_id", {}).get("S") or str(item["sk"]["S"]).removeprefix("PIPELINE#")
    raw = item.get("rule", {})
    try:
        if "S" in raw:
            rule = TriggerRule.model_validate_json(raw["S"])
        else:
            from boto3.dynamodb.types import TypeDeserializer

            rule = TriggerRule.model_validate(_plain(TypeDeserializer().deserialize(raw)))
    except (ValidationError, TypeError, KeyError, ValueError):
        logger.warning("A trigger index item holds no valid rule", extra={"pk": item["pk"]["S"]})
        return None
    return pipeline_id, rule


def _plain(value: Any) -> Any:
    """DynamoDB's Decimals as ints or floats, for a rule's numeric parameters."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | set):
        return [_plain(item) for item in value]
    return value


# ---------------------------------------------------------------------------------------- wiring


def provider_secret(provider: Provider, settings: PipelineSettings | None = None) -> str | None:
    """The provider's webhook secret from Secrets Manager (cached), or None when not configured."""
    from cirrus_core.pipelines.settings import get_pipeline_settings

    settings = settings or get_pipeline_settings()
    arn = settings.github_secret_arn if provider == "github" else settings.gitlab_secret_arn
    if not arn:
        return None
    from aws_lambda_powertools.utilities.parameters import get_secret

    return get_secret(arn, max_age=SECRET_MAX_AGE_SECONDS).strip()


@functools.cache
def webhook_receiver() -> WebhookReceiver:
    """The receiver of this execution environment, starting runs through the pipeline service."""
    import boto3

    from cirrus_core.pipelines.settings import get_pipeline_settings
    from cirrus_core.pipelines.wiring import pipeline_service

    return WebhookReceiver(
        storage=WebhookStore(boto3.client("dynamodb"), get_pipeline_settings().pipelines_table),
        starter=pipeline_service(),
        secrets=provider_secret,
    )
