"""Step Functions adapter: a pipeline's state machine, and its executions (the runs).

A pipeline's state machine is named `<PIPELINE_STATE_MACHINE_PREFIX><pipeline_id>`; a run's id is
its execution's name, so a run's execution ARN follows from the state machine's ARN and the run id.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from cirrus_core.arns import execution_arn_of

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

# Step Functions names: 1 to 80 characters.
MAX_NAME_LENGTH = 80
_HISTORY_PAGE = 1000


class InvalidListToken(Exception):
    """Step Functions refused a ListExecutions token (expired, or from another listing)."""


class ExecutionMissing(Exception):
    """The execution does not exist (any more)."""


@dataclass(frozen=True)
class Execution:
    """An execution as DescribeExecution tells it (`input` and `output` are JSON text)."""

    arn: str
    name: str
    status: str
    started_at: datetime
    stopped_at: datetime | None = None
    input: str | None = None
    output: str | None = None
    error: str | None = None
    cause: str | None = None


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def execution_arn(state_machine_arn: str, run_id: str) -> str:
    """The ARN of the execution named `run_id` of a state machine (an unqualified state machine ARN)."""
    return execution_arn_of(state_machine_arn, run_id)


class Orchestrator:
    """Creates and updates pipeline state machines and starts, lists, reads and stops their runs."""

    def __init__(self, client: SFNClient, role_arn: str, name_prefix: str, arn_base: str) -> None:
        """`arn_base` is the ARN of a state machine of this account and region without its name
        (`arn:aws:states:<region>:<account>:stateMachine:`)."""
        self._client = client
        self._role_arn = role_arn
        self._prefix = name_prefix
        self._arn_base = arn_base

    def state_machine_name(self, pipeline_id: str) -> str:
        """`<prefix><pipeline_id>`, shortened with a hash of the id when that exceeds 80 characters."""
        name = f"{self._prefix}{pipeline_id}"
        if len(name) <= MAX_NAME_LENGTH:
            return name
        digest = hashlib.sha256(pipeline_id.encode()).hexdigest()[:8]
        keep = MAX_NAME_LENGTH - len(self._prefix) - len(digest) - 1
        return f"{self._prefix}{pipeline_id[:keep]}-{digest}"

    def deploy(self, pipeline_id: str, definition: str, known_arn: str | None = None) -> str:
        """Create the pipeline's state machine with this definition, or update it; returns its ARN.

        A state machine left from an earlier attempt whose definition was never stored is updated
        in place, as is one that a concurrent first definition created a moment before.
        """
        name = self.state_machine_name(pipeline_id)
        arn = known_arn or f"{self._arn_base}{name}"
        if self._update(arn, definition):
            return arn
        try:
            response = self._client.create_state_machine(
                name=name,
                definition=definition,
                roleArn=self._role_arn,
                type="STANDARD",
                tags=[{"key": "cirrus:pipeline", "value": pipeline_id}],
            )
        except ClientError as error:
            if _code(error) != "StateMachineAlreadyExists" or not self._update(arn, definition):
                raise
            return arn
        return str(response["stateMachineArn"])

    def _update(self, arn: str, definition: str) -> bool:
        try:
            self._client.update_state_machine(
                stateMachineArn=arn, definition=definition, roleArn=self._role_arn
            )
        except ClientError as error:
            if _code(error) in {"StateMachineDoesNotExist", "InvalidArn"}:
                return False
            raise
        return True

    # -- runs -------------------------------------------------------------------------------------

    def start(self, state_machine_arn: str, run_id: str, execution_input: str) -> Execution:
        """Start the execution named `run_id`."""
        response = self._client.start_execution(
            stateMachineArn=state_machine_arn, name=run_id, input=execution_input
        )
        return Execution(
            arn=response["executionArn"],
            name=run_id,
            status="RUNNING",
            started_at=response["startDate"],
            input=execution_input,
        )

    def list_executions(
        self, state_machine_arn: str, status: str | None, limit: int, next_token: str | None
    ) -> tuple[list[Execution], str | None]:
        """One page of executions, newest first, and Step Functions' token for the next."""
        params: dict[str, Any] = {"stateMachineArn": state_machine_arn, "maxResults": limit}
        if status is not None:
            params["statusFilter"] = status
        if next_token is not None:
            params["nextToken"] = next_token
        try:
            response = self._client.list_executions(**params)
        except ClientError as error:
            if _code(error) == "InvalidToken":
                raise InvalidListToken(str(error)) from error
            if _code(error) == "StateMachineDoesNotExist":
                return [], None
            raise
        executions = [
            Execution(
                arn=item["executionArn"],
                name=item["name"],
                status=item["status"],
                started_at=item["startDate"],
                stopped_at=item.get("stopDate"),
            )
            for item in response.get("executions", [])
        ]
        return executions, response.get("nextToken") or None

    def describe(self, arn: str) -> Execution | None:
        """The execution, or None when there is none with this ARN."""
        try:
            response = self._client.describe_execution(executionArn=arn)
        except ClientError as error:
            if _code(error) in {"ExecutionDoesNotExist", "InvalidArn", "StateMachineDoesNotExist"}:
                return None
            raise
        return Execution(
            arn=response["executionArn"],
            name=response.get("name") or arn.rpartition(":")[2],
            status=response["status"],
            started_at=response["startDate"],
            stopped_at=response.get("stopDate"),
            input=response.get("input"),
            output=response.get("output"),
            error=response.get("error"),
            cause=response.get("cause"),
        )

    def history(self, arn: str) -> list[dict[str, Any]]:
        """Every event of the execution's history, oldest first (all pages)."""
        events: list[dict[str, Any]] = []
        params: dict[str, Any] = {"executionArn": arn, "maxResults": _HISTORY_PAGE, "reverseOrder": False}
        while True:
            response = self._client.get_execution_history(**params)
            events.extend(dict(event) for event in response.get("events", []))
            token = response.get("nextToken")
            if not token:
                return events
            params["nextToken"] = token

    def stop(self, arn: str, error: str, cause: str) -> datetime:
        """Stop a running execution; returns when it stopped."""
        try:
            response = self._client.stop_execution(executionArn=arn, error=error, cause=cause)
        except ClientError as failure:
            if _code(failure) == "ExecutionDoesNotExist":
                raise ExecutionMissing(arn) from failure
            raise
        answered: dict[str, Any] = dict(response)
        if "stopDate" in answered:
            return cast("datetime", answered["stopDate"])
        # Step Functions always answers with stopDate; moto's executor may stop the run a moment
        # after answering, so fall back to the execution's own record.
        described = self._client.describe_execution(executionArn=arn)
        return described.get("stopDate") or datetime.now(UTC)
