"""What the webhook tests share: the providers' secrets, trigger rules in the index, deliveries.

The sample deliveries (events/samples/api/webhook_*.json) are signed with `GITHUB_SECRET` and carry
`GITLAB_TOKEN`; `github_delivery` and `gitlab_delivery` re-sign or re-token a changed body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.utilities import parameters

from cirrus_core.pipelines.definition import TriggerRule
from tests.support.aws import TABLE_NAMES, AwsResources, environment, load_sample

GITHUB_SECRET = "cirrus-test-github-webhook-secret"
GITLAB_TOKEN = "cirrus-test-gitlab-webhook-token"
GITHUB_REPOSITORY = "acme-ml/fraud-model"  # the samples' repositories
GITLAB_REPOSITORY = "acme/ml/fraud-model"
PIPELINES_TABLE = TABLE_NAMES["PipelinesTable"]


def store_secrets(aws: AwsResources) -> None:
    """The providers' webhook secrets in Secrets Manager, where the settings point."""
    import boto3

    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    env = environment()
    secrets.create_secret(Name=env["GITHUB_WEBHOOK_SECRET_ARN"], SecretString=GITHUB_SECRET)
    secrets.create_secret(Name=env["GITLAB_WEBHOOK_SECRET_ARN"], SecretString=GITLAB_TOKEN)
    parameters.clear_caches()  # Powertools caches secrets per execution environment


def add_trigger(aws: AwsResources, pipeline_id: str, **rule: Any) -> TriggerRule:
    """A pipeline's trigger rule in the trigger index, as storing its definition writes it."""
    trigger = TriggerRule.model_validate({"provider": "github", "repository": GITHUB_REPOSITORY, **rule})
    aws.dynamodb.put_item(
        TableName=PIPELINES_TABLE,
        Item={
            "pk": {"S": f"TRIGGER#{trigger.provider}#{trigger.repository}"},
            "sk": {"S": f"PIPELINE#{pipeline_id}"},
            "rule": {"S": trigger.model_dump_json()},
            "pipeline_id": {"S": pipeline_id},
        },
    )
    return trigger


def deliveries(aws: AwsResources) -> dict[str, dict[str, Any]]:
    """Every webhook delivery item, by key."""
    items = aws.dynamodb.scan(TableName=PIPELINES_TABLE, ConsistentRead=True)["Items"]
    return {item["pk"]["S"]: item for item in items if item["pk"]["S"].startswith("DELIVERY#")}


def sign(body: bytes, secret: str = GITHUB_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class Delivery:
    """One delivery as the receiver gets it: provider, headers, raw body."""

    provider: str
    headers: dict[str, str]
    body: bytes

    def with_headers(self, **changes: str | None) -> Delivery:
        """A copy with headers changed (`X_GitHub_Delivery="..."`); None removes one."""
        headers = dict(self.headers)
        for name, value in changes.items():
            header = name.replace("_", "-")
            headers = {key: item for key, item in headers.items() if key.lower() != header.lower()}
            if value is not None:
                headers[header] = value
        return Delivery(self.provider, headers, self.body)


def sample_delivery(name: str) -> tuple[dict[str, Any], Delivery]:
    """A sample API event (`webhook_github_push`) and the delivery it carries."""
    event = load_sample(f"api/{name}")
    provider = event["pathParameters"]["provider"]
    return event, Delivery(provider, dict(event["headers"]), event["body"].encode())


def github_delivery(
    name: str = "webhook_github_push", *, delivery_id: str | None = None, **changes: Any
) -> Delivery:
    """A GitHub sample with its payload changed (nested keys as `ref=...`, or `payload=` whole), signed."""
    _, delivery = sample_delivery(name)
    payload = changes.pop("payload", None) or json.loads(delivery.body)
    payload.update(changes)
    body = json.dumps(payload).encode()
    headers = {**delivery.headers, "X-Hub-Signature-256": sign(body)}
    if delivery_id is not None:
        headers["X-GitHub-Delivery"] = delivery_id
    return Delivery("github", headers, body)


def gitlab_delivery(
    name: str = "webhook_gitlab_push", *, delivery_id: str | None = None, **changes: Any
) -> Delivery:
    """A GitLab sample with its payload changed, with the right token."""
    _, delivery = sample_delivery(name)
    payload = json.loads(delivery.body)
    payload.update(changes)
    headers = dict(delivery.headers)
    if delivery_id is not None:
        headers["X-Gitlab-Event-UUID"] = headers["Idempotency-Key"] = delivery_id
    return Delivery("gitlab", headers, json.dumps(payload).encode())


@dataclass
class StartedRun:
    pipeline_id: str
    run_id: str


@dataclass
class RecordingStarter:
    """Starts nothing: records what the receiver asked the pipeline service to start."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    refuse: dict[str, Exception] = field(default_factory=dict)  # pipeline id -> what to raise

    def start_triggered_run(
        self, pipeline_id: str, parameters: dict[str, Any], trigger: dict[str, Any]
    ) -> StartedRun:
        if pipeline_id in self.refuse:
            raise self.refuse[pipeline_id]
        self.calls.append({"pipeline_id": pipeline_id, "parameters": parameters, "trigger": trigger})
        return StartedRun(pipeline_id, f"run-{len(self.calls)}")

    @property
    def started(self) -> list[str]:
        return [call["pipeline_id"] for call in self.calls]
