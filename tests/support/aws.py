"""AWS resources for unit tests, created under moto from the definitions in template.yaml."""

from __future__ import annotations

import copy
import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
SCHEMAS = ROOT / "events" / "schemas"
SAMPLES = ROOT / "events" / "samples"

TABLE_NAMES = {
    "RegistryTable": "cirrus-test-registry",
    "IdempotencyTable": "cirrus-test-idempotency",
    "RateLimitTable": "cirrus-test-rate-limit",
    "AuditTable": "cirrus-test-audit",
    "SecurityTable": "cirrus-test-security",
    "PipelinesTable": "cirrus-test-pipelines",
    "ServingTable": "cirrus-test-serving",
    "MonitoringTable": "cirrus-test-monitoring",
    "MetricsTable": "cirrus-test-metrics",
    "FeedConnectionsTable": "cirrus-test-feed-connections",
    "DataTable": "cirrus-test-data",
    "FeatureOnlineTable": "cirrus-test-feature-online",
}
# Every authenticated request counts against its caller's limit, refused ones included: those
# counters are not state a refusal could have changed, so snapshots leave them out.
STATE_TABLES = (
    "RegistryTable",
    "IdempotencyTable",
    "SecurityTable",
    "PipelinesTable",
    "ServingTable",
    "MonitoringTable",
    "DataTable",
    "FeatureOnlineTable",
)
EVENT_BUS = "cirrus-test"
ARTIFACT_BUCKET = "cirrus-artifacts-123456789012"
ALLOWLISTED_BUCKET = "shared-models-123456789012"
CAPTURE_BUCKET = "cirrus-capture-123456789012"
MONITORING_BUCKET = "cirrus-monitoring-123456789012"
DATA_BUCKET = "cirrus-data-123456789012"
DATA_SOURCE_SECRET_PREFIX = "cirrus/dev/data-sources"


@functools.cache
def _parsed_template() -> dict[str, Any]:
    return dict(yaml_parse(TEMPLATE.read_text()))


def load_template() -> dict[str, Any]:
    """template.yaml as a dict (intrinsic tags parsed as SAM does); a copy the caller may change.

    Parsed once per test session: the YAML parser takes about a third of a second for it.
    """
    return copy.deepcopy(_parsed_template())


# One boto3 session for the harness's clients: a client from a warm session costs milliseconds,
# from a new session a tenth of a second, which added up to minutes over the unit suites.
_SESSION = boto3.session.Session()


def _client(service: str) -> Any:
    # boto3-stubs type client() per literal service name; the harness takes any name.
    return _SESSION.client(service, region_name="us-east-1")  # type: ignore[call-overload]


def create_template_tables(client: Any) -> None:
    """Create every DynamoDB table the template declares, with the template's keys and indexes."""
    for logical_id, resource in _parsed_template()["Resources"].items():
        if resource["Type"] != "AWS::DynamoDB::Table":
            continue
        props = resource["Properties"]
        params: dict[str, Any] = {
            "TableName": TABLE_NAMES[logical_id],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props["BillingMode"],
        }
        if "GlobalSecondaryIndexes" in props:
            params["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        client.create_table(**params)


@dataclass
class AwsResources:
    """Clients and resources of one moto-backed test."""

    dynamodb: Any
    events: Any
    sqs: Any
    s3: Any
    capture_queue_url: str
    _seen: list[dict[str, Any]] = field(default_factory=list)

    def published_events(self) -> list[dict[str, Any]]:
        """Every lifecycle event put on the bus so far, as EventBridge envelopes, oldest first."""
        while True:
            response = self.sqs.receive_message(
                QueueUrl=self.capture_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            )
            messages = response.get("Messages", [])
            if not messages:
                break
            for message in messages:
                self._seen.append(json.loads(message["Body"]))
                self.sqs.delete_message(
                    QueueUrl=self.capture_queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        return list(self._seen)

    def table_items(self) -> dict[str, list[dict[str, Any]]]:
        """Every item of every table, for asserting that a refusal wrote nothing."""
        snapshot = {}
        for name in (TABLE_NAMES[logical_id] for logical_id in STATE_TABLES):
            items = self.dynamodb.scan(TableName=name, ConsistentRead=True)["Items"]
            snapshot[name] = sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
        return snapshot


def create_resources() -> AwsResources:
    """Create the tables, bus, bucket and an event capture queue; call inside mock_aws."""
    dynamodb = _client("dynamodb")
    events = _client("events")
    sqs = _client("sqs")
    s3 = _client("s3")
    create_template_tables(dynamodb)
    events.create_event_bus(Name=EVENT_BUS)
    s3.create_bucket(Bucket=ARTIFACT_BUCKET)
    s3.create_bucket(Bucket=DATA_BUCKET)
    queue_url = sqs.create_queue(QueueName="cirrus-test-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name="capture-all",
        EventBusName=EVENT_BUS,
        EventPattern=json.dumps({"source": [{"prefix": "cirrus."}]}),
    )
    events.put_targets(
        Rule="capture-all", EventBusName=EVENT_BUS, Targets=[{"Id": "queue", "Arn": queue_arn}]
    )
    return AwsResources(dynamodb=dynamodb, events=events, sqs=sqs, s3=s3, capture_queue_url=queue_url)


def environment() -> dict[str, str]:
    """The function environment the template gives the registry, pointing at the test resources."""
    return {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "CIRRUS_STAGE": "dev",
        "POWERTOOLS_SERVICE_NAME": "cirrus-registry",
        "POWERTOOLS_METRICS_NAMESPACE": "Cirrus",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "REGISTRY_TABLE_NAME": TABLE_NAMES["RegistryTable"],
        "IDEMPOTENCY_TABLE_NAME": TABLE_NAMES["IdempotencyTable"],
        "EVENT_BUS_NAME": EVENT_BUS,
        "ARTIFACT_BUCKET": ARTIFACT_BUCKET,
        "ARTIFACT_BUCKET_ALLOWLIST": ALLOWLISTED_BUCKET,
        "CORS_ALLOW_ORIGIN": "*",
        "AUDIT_TABLE_NAME": TABLE_NAMES["AuditTable"],
        "RATE_LIMIT_TABLE_NAME": TABLE_NAMES["RateLimitTable"],
        "SECURITY_TABLE_NAME": TABLE_NAMES["SecurityTable"],
        # High enough that no test but the rate limit's own comes near it.
        "RATE_LIMIT_PER_MINUTE": "100000",
        "RATE_LIMIT_WINDOW_SECONDS": "60",
        "PIPELINES_TABLE_NAME": TABLE_NAMES["PipelinesTable"],
        "SAGEMAKER_ROLE_ARN": "arn:aws:iam::123456789012:role/cirrus-test-sagemaker",
        "SKLEARN_IMAGE_URI": (
            "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
        ),
        "XGBOOST_IMAGE_URI": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
        "PIPELINE_STATE_MACHINE_ROLE_ARN": "arn:aws:iam::123456789012:role/cirrus-test-pipelines",
        "PIPELINE_STATE_MACHINE_PREFIX": "cirrus-test-pipeline-",
        "TRAINING_PIPELINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:cirrus-test-training",
        "SCHEDULER_GROUP_NAME": "cirrus-test",
        "SCHEDULER_ROLE_ARN": "arn:aws:iam::123456789012:role/cirrus-test-scheduler",
        "GITHUB_WEBHOOK_SECRET_ARN": "cirrus-test/webhooks/github",
        "GITLAB_WEBHOOK_SECRET_ARN": "cirrus-test/webhooks/gitlab",
        "PREPARE_RUN_FUNCTION_ARN": "arn:aws:lambda:us-east-1:123456789012:function:cirrus-test-prepare-run",
        "NOTIFY_RUN_FUNCTION_ARN": "arn:aws:lambda:us-east-1:123456789012:function:cirrus-test-notify-run",
        "COLLECT_EVALUATION_FUNCTION_ARN": (
            "arn:aws:lambda:us-east-1:123456789012:function:cirrus-test-collect-evaluation"
        ),
        "REGISTER_VERSION_FUNCTION_ARN": (
            "arn:aws:lambda:us-east-1:123456789012:function:cirrus-test-register-version"
        ),
        "PROFILE_BASELINE_FUNCTION_ARN": (
            "arn:aws:lambda:us-east-1:123456789012:function:cirrus-test-profile-baseline"
        ),
        "AWAIT_APPROVAL_FUNCTION_ARN": (
            "arn:aws:lambda:us-east-1:123456789012:function:cirrus-test-await-approval"
        ),
        "DEPLOYMENT_STATE_MACHINE_ARN": (
            "arn:aws:states:us-east-1:123456789012:stateMachine:cirrus-test-model-deployment"
        ),
        "SERVING_TABLE_NAME": TABLE_NAMES["ServingTable"],
        "CAPTURE_BUCKET": CAPTURE_BUCKET,
        "MONITORING_TABLE_NAME": TABLE_NAMES["MonitoringTable"],
        "MONITORING_BUCKET": MONITORING_BUCKET,
        "DATA_TABLE_NAME": TABLE_NAMES["DataTable"],
        "DATA_BUCKET": DATA_BUCKET,
        "FEATURE_ONLINE_TABLE_NAME": TABLE_NAMES["FeatureOnlineTable"],
        "DATA_SOURCE_SECRET_PREFIX": DATA_SOURCE_SECRET_PREFIX,
    }


def load_sample(name: str) -> dict[str, Any]:
    """A sample from events/samples (`api/register_model`, `eventbridge/model.registered`)."""
    return copy.deepcopy(json.loads((SAMPLES / f"{name}.json").read_text()))


def load_schema(detail_type: str, major: int = 1) -> dict[str, Any]:
    """The JSON Schema of an event's detail."""
    return dict(json.loads((SCHEMAS / f"{detail_type}.v{major}.json").read_text()))
