"""What the monitoring unit tests share: the monitoring functions' environment, moto's Step Functions
and EventBridge Scheduler as the template gives them, a registered version with a drift baseline, a
deployed environment, data capture in the SageMaker layout, and a guard for refusals.

moto's Step Functions here is its mock backend (executions are created RUNNING and never advance), so
the API tests see what the API starts; the drift monitor's steps are tested by calling them.
"""

from __future__ import annotations

import base64
import functools
import importlib
import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import boto3
import numpy as np

from cirrus_core.audit.log import AuditLog
from cirrus_core.audit.models import AuditRecord
from cirrus_core.monitoring import runner_wiring
from cirrus_core.monitoring import wiring as monitoring_wiring
from cirrus_core.monitoring.settings import get_monitoring_settings
from tests.support.api import ApiResponse, LambdaContextStub, call
from tests.support.aws import (
    ARTIFACT_BUCKET,
    CAPTURE_BUCKET,
    MONITORING_BUCKET,
    TABLE_NAMES,
    AwsResources,
    load_sample,
)
from tests.support.events import assert_valid_event
from tests.support.registry import MODEL_ID, RegistryDriver

REGION = "us-east-1"
ACCOUNT = "123456789012"
MONITORING_TABLE = TABLE_NAMES["MonitoringTable"]
DRIFT_STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:cirrus-test-drift-monitor"
SCHEDULE_GROUP = "cirrus-test-monitoring"
SCHEDULER_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/cirrus-test-monitoring-scheduler"
ENDPOINT = "cirrus-dev-fraud-detection-v2-prod"
# What the template gives the monitoring functions beyond the shared environment (tests/support/aws.py).
MONITORING_ENVIRONMENT = {
    "POWERTOOLS_SERVICE_NAME": "cirrus-monitoring",
    "DRIFT_STATE_MACHINE_ARN": DRIFT_STATE_MACHINE_ARN,
    "MONITORING_SCHEDULE_GROUP": SCHEDULE_GROUP,
    "MONITORING_SCHEDULER_ROLE_ARN": SCHEDULER_ROLE_ARN,
    # The smallest allowed: the read limits are tested with CaptureReader directly.
    "DRIFT_MAX_WINDOW_ROWS": "1000",
    "BASELINE_MAX_ROWS": "1000",
}
ADMIN = {"cognito:username": "ada@example.com"}  # the samples of system_config routes call as ada
# One session for the harness's clients: a client from a warm session costs milliseconds.
_SESSION = boto3.session.Session()

FEATURES = ("amount", "age", "channel")
CHANNELS = ("web", "app", "pos")
CHANNEL_SHARES = (0.5, 0.3, 0.2)


def clear_monitoring_wiring() -> None:
    get_monitoring_settings.cache_clear()
    monitoring_wiring.monitoring_service.cache_clear()
    runner_wiring.drift_runner.cache_clear()


# -- calling the functions --------------------------------------------------------------------------


def api(route: str, **parts: Any) -> ApiResponse:
    """Call `functions/monitoring/<route>.py` with its sample event, changed by `parts`."""
    return call(route, package="monitoring", **parts)


def step(name: str, event: dict[str, Any]) -> dict[str, Any]:
    """Call a drift monitor step (`functions/monitoring/steps/<name>.py`) as Step Functions would."""
    module = importlib.import_module(f"functions.monitoring.steps.{name}")
    result: dict[str, Any] = module.lambda_handler(event, LambdaContextStub())
    return result


def sample_body(route: str, **changes: Any) -> dict[str, Any]:
    """The body of the route's sample event with top-level fields changed (None removes one)."""
    body: dict[str, Any] = json.loads(load_sample(f"api/{route}")["body"])
    body.update(changes)
    return {key: value for key, value in body.items() if value is not None}


def ok(response: ApiResponse, status: int = 200) -> dict[str, Any]:
    assert response.status == status, f"{response.status} {response.body}"
    return dict(response.body)


# -- data ---------------------------------------------------------------------------------------------


def feature_rows(rows: int, seed: int, *, amount_shift: float = 0.0) -> list[dict[str, Any]]:
    """Rows of the three features: amount ~ N(100 + shift, 15), age ~ N(40, 8), channel by shares."""
    generator = np.random.default_rng(seed)
    amounts = generator.normal(100.0 + amount_shift, 15.0, rows)
    ages = generator.normal(40.0, 8.0, rows)
    channels = generator.choice(CHANNELS, size=rows, p=CHANNEL_SHARES)
    return [
        {"amount": round(float(a), 3), "age": round(float(b), 2), "channel": str(c)}
        for a, b, c in zip(amounts, ages, channels, strict=True)
    ]


@functools.cache
def baseline_document() -> bytes:
    """The baseline of 600 reference rows, built by the science layer (once per session)."""
    from cirrus_science.drift.baseline import build_baseline

    rows = feature_rows(600, seed=0)
    columns = {name: [row[name] for row in rows] for name in FEATURES}
    return bytes(build_baseline(columns, n_bins=10, max_sample_size=600).to_json())


def csv_dataset(rows: Sequence[Mapping[str, Any]], *, target: bool = True) -> bytes:
    """The rows as a CSV file with a header row (and an `is_fraud` target column)."""
    names = [*FEATURES, *(["is_fraud"] if target else [])]
    lines = [",".join(names)]
    for index, row in enumerate(rows):
        cells = [str(row[name]) for name in FEATURES] + ([str(index % 2)] if target else [])
        lines.append(",".join(cells))
    return ("\n".join(lines) + "\n").encode()


def capture_record(moment: datetime, data: str, *, content_type: str = "application/json") -> dict[str, Any]:
    """One SageMaker data capture record (captureData.endpointInput/endpointOutput, eventMetadata)."""
    return {
        "captureData": {
            "endpointInput": {
                "observedContentType": content_type,
                "mode": "INPUT",
                "data": data,
                "encoding": "CSV" if content_type == "text/csv" else "JSON",
            },
            "endpointOutput": {
                "observedContentType": "application/json",
                "mode": "OUTPUT",
                "data": '{"predictions": [0.1]}',
                "encoding": "JSON",
            },
        },
        "eventMetadata": {
            "eventId": str(uuid.UUID(int=int(moment.timestamp() * 1000))),
            "inferenceTime": f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z",
        },
        "eventVersion": "0",
    }


def base64_record(moment: datetime, data: str) -> dict[str, Any]:
    record = capture_record(moment, "")
    record["captureData"]["endpointInput"].update(
        data=base64.b64encode(data.encode()).decode(), encoding="BASE64"
    )
    return record


def put_capture(
    s3: Any,
    records: Sequence[Mapping[str, Any]],
    *,
    endpoint: str = ENDPOINT,
    variant: str = "AllTraffic",
    name: str | None = None,
) -> str:
    """One capture object of `records` in the hour folder of the first record, as SageMaker writes it."""
    moment = datetime.strptime(records[0]["eventMetadata"]["inferenceTime"], "%Y-%m-%dT%H:%M:%S.%fZ")
    key = (
        f"capture/{endpoint}/{variant}/{moment:%Y/%m/%d/%H}/"
        f"{name or f'{moment:%M-%S-%f}-{uuid.uuid4()}'}.jsonl"
    )
    body = "\n".join(json.dumps(record) for record in records) + "\n"
    s3.put_object(Bucket=CAPTURE_BUCKET, Key=key, Body=body.encode())
    return key


# -- the world ------------------------------------------------------------------------------------------


class MonitoringWorld:
    """The registry (driven through its API), the monitoring and capture buckets, moto's Step Functions
    with a stand-in drift monitor, and the monitoring schedule group."""

    def __init__(self, aws: AwsResources) -> None:
        self.aws = aws
        self.registry = RegistryDriver(aws)
        self.sfn = _SESSION.client("stepfunctions", region_name=REGION)
        self.scheduler = _SESSION.client("scheduler", region_name=REGION)
        aws.s3.create_bucket(Bucket=MONITORING_BUCKET)
        aws.s3.create_bucket(Bucket=CAPTURE_BUCKET)
        self.scheduler.create_schedule_group(Name=SCHEDULE_GROUP)
        definition = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
        self.sfn.create_state_machine(
            name=DRIFT_STATE_MACHINE_ARN.rpartition(":")[2],
            definition=definition,
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/cirrus-test-drift-monitor",
        )

    # -- setting up -------------------------------------------------------------------------------------

    def put_baseline(self, key: str = "baselines/fraud_detection_v2/v1/seeded/baseline.json") -> str:
        """The seeded baseline in the monitoring bucket; its URI."""
        self.aws.s3.put_object(Bucket=MONITORING_BUCKET, Key=key, Body=baseline_document())
        return f"s3://{MONITORING_BUCKET}/{key}"

    def register(self, *, baseline_uri: str | None = None) -> int:
        """Register the next version of the sample model (with a baseline when given)."""
        body = json.loads(load_sample("api/register_model")["body"])
        if baseline_uri is not None:
            body["baseline_uri"] = baseline_uri
        response = call("register_model", body=body)
        assert response.status == 201, response.body
        return int(response.body["version"])

    def register_with_baseline(self) -> int:
        return self.register(baseline_uri=self.put_baseline())

    def deploy(self, version: int = 1, environment: str = "prod", *, endpoint_name: str = ENDPOINT) -> None:
        """The environment state item a deployment leaves in the serving table (docs/serving.md)."""
        self.aws.dynamodb.put_item(
            TableName=TABLE_NAMES["ServingTable"],
            Item={
                "pk": {"S": f"MODEL#{MODEL_ID}"},
                "sk": {"S": f"ENV#{environment}"},
                "environment": {"S": environment},
                "status": {"S": "deployed"},
                "version": {"N": str(version)},
                "endpoint_name": {"S": endpoint_name},
                "endpoint_config_name": {"S": f"{endpoint_name}-v{version}-0a1b2c3d"},
                "serverless": {"BOOL": False},
                "deployment_id": {"S": "0a1b2c3d4e5f40718293a4b5c6d7e8f9"},
                "updated_at": {"S": "2024-06-01T12:00:00+00:00"},
            },
        )

    # -- reading the emulated services ----------------------------------------------------------------

    def monitoring_items(self) -> list[dict[str, Any]]:
        return list(self.aws.dynamodb.scan(TableName=MONITORING_TABLE, ConsistentRead=True)["Items"])

    def executions(self) -> list[dict[str, Any]]:
        """Every execution of the drift monitor, as DescribeExecution tells it."""
        listed = self.sfn.list_executions(stateMachineArn=DRIFT_STATE_MACHINE_ARN)["executions"]
        return [dict(self.sfn.describe_execution(executionArn=item["executionArn"])) for item in listed]

    def schedules(self) -> dict[str, dict[str, Any]]:
        """Every schedule of the monitoring group by name, as GetSchedule tells it."""
        listed = self.scheduler.list_schedules(GroupName=SCHEDULE_GROUP)["Schedules"]
        names = [item["Name"] for item in listed]
        return {
            name: dict(self.scheduler.get_schedule(Name=name, GroupName=SCHEDULE_GROUP)) for name in names
        }

    def monitoring_objects(self) -> list[str]:
        listed = self.aws.s3.list_objects_v2(Bucket=MONITORING_BUCKET).get("Contents", [])
        return sorted(item["Key"] for item in listed)

    def monitoring_events(self) -> list[dict[str, Any]]:
        """The events the monitoring module published, each checked against its schema."""
        events = [event for event in self.aws.published_events() if event["source"] == "cirrus.monitoring"]
        for event in events:
            assert_valid_event(event)
        return events

    def audit_records(self, action: str) -> list[AuditRecord]:
        """The audit records of `action`, newest first."""
        return list(
            AuditLog(self.aws.dynamodb, TABLE_NAMES["AuditTable"]).query(action=action, limit=50).items
        )

    def snapshot(self) -> dict[str, Any]:
        return {
            "tables": self.aws.table_items(),
            "executions": [execution["executionArn"] for execution in self.executions()],
            "schedules": sorted(self.schedules()),
            "monitoring_objects": self.monitoring_objects(),
        }


class Untouched:
    """`with untouched:` fails the test when the block writes an item, starts an execution, creates a
    schedule, stores an object in the monitoring bucket or publishes an event."""

    def __init__(self, world: MonitoringWorld) -> None:
        self._world = world
        self._before: dict[str, Any] = {}
        self._events = 0

    def __enter__(self) -> None:
        self._before = self._world.snapshot()
        self._events = len(self._world.aws.published_events())

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is not None:
            return
        assert self._world.snapshot() == self._before, "the refused request changed something"
        published = self._world.aws.published_events()[self._events :]
        assert not published, f"the refused request published {[e['detail-type'] for e in published]}"


__all__ = ["ARTIFACT_BUCKET", "CAPTURE_BUCKET", "MODEL_ID", "MONITORING_BUCKET"]
