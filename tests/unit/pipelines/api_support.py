"""What the pipelines API tests share: the sample pipeline, callers by role, moto's Step Functions
and EventBridge Scheduler set up as the template gives them, and a guard for refusals.

moto's Step Functions here is its mock backend (runs are created RUNNING and never advance), so a
test moves a run to the status it needs with `PipelineWorld.finish`.
"""

from __future__ import annotations

import copy
import functools
import json
from types import TracebackType
from typing import Any

import boto3
from moto.stepfunctions.models import stepfunctions_backends

from cirrus_core.audit.log import AuditLog
from cirrus_core.audit.models import AuditRecord
from cirrus_core.pipelines.compiler import builtin_training_definition, compile_definition, substitute
from cirrus_core.pipelines.settings import PipelineSettings
from tests.support.api import ApiResponse, call
from tests.support.authz import USERS, claims
from tests.support.aws import TABLE_NAMES, AwsResources, environment, load_sample

ACCOUNT = "123456789012"
REGION = "us-east-1"
PIPELINE_ID = "fraud_detection"  # the samples' pipeline
ENV = environment()
STATE_MACHINE_PREFIX = ENV["PIPELINE_STATE_MACHINE_PREFIX"]
TRAINING_ARN = ENV["TRAINING_PIPELINE_ARN"]
SCHEDULER_GROUP = ENV["SCHEDULER_GROUP_NAME"]
PIPELINES_TABLE = TABLE_NAMES["PipelinesTable"]

ADMIN = claims("admin")  # ada: the only role that defines pipelines (system_config)
ENGINEER = claims("ml_engineer")  # alice: the samples' caller of every other route
SCIENTIST = claims("data_scientist")
REVIEWER = claims("model_reviewer")
NOBODY = {"sub": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "cognito:username": "nobody@example.com"}
# One session for the harness's clients: a client from a warm session costs milliseconds.
_SESSION = boto3.session.Session()


@functools.cache
def _training_asl() -> str:
    """The built-in pipeline's state machine, as the template deploys it."""
    settings = PipelineSettings.from_environ(ENV)
    return json.dumps(substitute(compile_definition(builtin_training_definition()), settings.placeholders()))


def sample_definition(**changes: Any) -> dict[str, Any]:
    """The sample definition (events/samples/api/put_pipeline.json) with top-level fields changed."""
    body: dict[str, Any] = json.loads(load_sample("api/put_pipeline")["body"])
    return {**copy.deepcopy(body), **changes}


def sample_execute(**changes: Any) -> dict[str, Any]:
    """The sample execute payload with top-level fields changed."""
    body: dict[str, Any] = json.loads(load_sample("api/execute_pipeline")["body"])
    return {**copy.deepcopy(body), **changes}


def api(route: str, **parts: Any) -> ApiResponse:
    """Call `functions/pipelines/<route>.py` with its sample event, changed by `parts`."""
    return call(route, package="pipelines", **parts)


def state_machine_arn(pipeline_id: str = PIPELINE_ID) -> str:
    return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STATE_MACHINE_PREFIX}{pipeline_id}"


def run_path(run_id: str, pipeline_id: str = PIPELINE_ID) -> dict[str, str]:
    return {"pipeline_id": pipeline_id, "run_id": run_id}


def ok(response: ApiResponse, status: int) -> dict[str, Any]:
    assert response.status == status, f"{response.status} {response.body}"
    return dict(response.body)


class PipelineWorld:
    """moto's Step Functions and Scheduler with the built-in pipeline's state machine and the
    schedule group, and helpers that put pipelines and runs into a state through the API."""

    def __init__(self, aws: AwsResources) -> None:
        self.aws = aws
        self.sfn = _SESSION.client("stepfunctions", region_name=REGION)
        self.scheduler = _SESSION.client("scheduler", region_name=REGION)
        self.scheduler.create_schedule_group(Name=SCHEDULER_GROUP)
        self.sfn.create_state_machine(
            name=TRAINING_ARN.rpartition(":")[2],
            definition=_training_asl(),
            roleArn=ENV["PIPELINE_STATE_MACHINE_ROLE_ARN"],
        )

    # -- through the API ----------------------------------------------------------------------------

    def define(self, **changes: Any) -> dict[str, Any]:
        """Store the sample definition (changed by `changes`) as the admin; it must be a new version."""
        return ok(api("put_pipeline", body=sample_definition(**changes), claims=ADMIN), 201)

    def execute(self, pipeline_id: str = PIPELINE_ID, **changes: Any) -> dict[str, Any]:
        """Start a run as the samples' caller (alice, ml_engineer)."""
        return ok(api("execute_pipeline", body=sample_execute(pipeline_id=pipeline_id, **changes)), 202)

    def schedule(
        self, cron: str = "0 2 * * *", pipeline_id: str = PIPELINE_ID, **changes: Any
    ) -> dict[str, Any]:
        body = sample_execute(pipeline_id=pipeline_id, schedule=cron, **changes)
        return ok(api("execute_pipeline", body=body), 201)

    # -- straight from the emulated services ---------------------------------------------------------

    def state_machines(self) -> dict[str, dict[str, Any]]:
        """Every state machine by name, with its definition parsed."""
        found = {}
        for item in self.sfn.list_state_machines()["stateMachines"]:
            described = self.sfn.describe_state_machine(stateMachineArn=item["stateMachineArn"])
            found[item["name"]] = {**described, "definition": json.loads(described["definition"])}
        return found

    def executions(self, arn: str = "") -> list[dict[str, Any]]:
        """Every execution of a state machine (the sample pipeline's by default), newest first."""
        listed = self.sfn.list_executions(stateMachineArn=arn or state_machine_arn())["executions"]
        return [self.sfn.describe_execution(executionArn=item["executionArn"]) for item in listed]

    def execution_input(self, execution_arn: str) -> dict[str, Any]:
        described = self.sfn.describe_execution(executionArn=execution_arn)
        document: dict[str, Any] = json.loads(described["input"])
        return document

    def schedules(self) -> dict[str, dict[str, Any]]:
        """Every schedule of the group by name, as GetSchedule tells it."""
        names = [
            item["Name"] for item in self.scheduler.list_schedules(GroupName=SCHEDULER_GROUP)["Schedules"]
        ]
        return {name: self.scheduler.get_schedule(Name=name, GroupName=SCHEDULER_GROUP) for name in names}

    def finish(
        self,
        execution_arn: str,
        status: str,
        *,
        error: str | None = None,
        cause: str | None = None,
        output: dict[str, Any] | None = None,
    ) -> None:
        """Move a run to `status` (moto's mock backend never advances runs by itself)."""
        from datetime import UTC, datetime

        backend = stepfunctions_backends[ACCOUNT][REGION]
        for machine in backend.state_machines:
            for execution in machine.executions:
                if execution.execution_arn == execution_arn:
                    execution.status = status
                    execution.stop_date = datetime.now(UTC)
                    execution.error = error
                    execution.cause = cause
                    execution.output = None if output is None else json.dumps(output)
                    return
        raise AssertionError(f"no execution {execution_arn}")

    def items(self, prefix: str) -> list[dict[str, Any]]:
        """The pipelines table's items whose pk starts with `prefix`, in key order."""
        items = self.aws.dynamodb.scan(TableName=PIPELINES_TABLE, ConsistentRead=True)["Items"]
        found = [item for item in items if item["pk"]["S"].startswith(prefix)]
        return sorted(found, key=lambda item: (item["pk"]["S"], item["sk"]["S"]))

    def audit(self, action: str) -> list[AuditRecord]:
        """The audit records of one action, newest first."""
        return AuditLog(self.aws.dynamodb, TABLE_NAMES["AuditTable"]).query(action=action, limit=100).items

    def snapshot(self) -> dict[str, Any]:
        """Everything a refusal must leave alone: tables, state machines, runs, schedules, events."""
        machines = self.state_machines()
        return {
            "tables": self.aws.table_items(),
            "state_machines": {name: machine["definition"] for name, machine in machines.items()},
            "runs": {
                name: sorted(e["executionArn"] for e in self.executions(machine["stateMachineArn"]))
                for name, machine in machines.items()
            },
            "schedules": {name: schedule["Target"] for name, schedule in self.schedules().items()},
        }


class Untouched:
    """`with untouched:` fails the test when the block changes anything a refusal must leave alone."""

    def __init__(self, world: PipelineWorld) -> None:
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
        after = self._world.snapshot()
        for part, before in self._before.items():
            assert after[part] == before, f"the request changed {part}"
        published = self._world.aws.published_events()[self._events :]
        assert not published, f"the request published {[event['detail-type'] for event in published]}"


def subject(role: str) -> str:
    return USERS[role][0]
