"""`Await approval` and its resumption: a run waits for a reviewer's decision on its version.

`Await approval` is a `lambda:invoke.waitForTaskToken` task: the Lambda stores the task token as
`APPROVAL#<model_id>#<version>` / `WAIT` and asks for a review; the execution then waits. When the
registry publishes `model.approved` or `model.rejected`, `resume_pipeline` finds the wait and sends
the decision: success with `{"decision": "approved", "by", "comment"}`, or failure with the error
`ApprovalRejected`. A version decided before the wait was stored is answered at once: the wait is
written first and the version read after, so a decision is never missed (at worst sent twice, and
Step Functions refuses the second).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from cirrus_core.caller import Caller
from cirrus_core.errors import CirrusError, PipelineStepError
from cirrus_core.observability import logger
from cirrus_core.registry.models import ApprovalStatus

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_stepfunctions import SFNClient

    from cirrus_core.pipelines.run_state import WorkingState
    from cirrus_core.registry.models import ModelVersion

REJECTED_ERROR = "ApprovalRejected"
WAIT_SORT_KEY = "WAIT"
# SendTask* answers for a token whose execution no longer waits on it (ended, timed out, stopped).
GONE_ERRORS = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})
MAX_CAUSE = 32_768


def wait_pk(model_id: str, version: int) -> str:
    return f"APPROVAL#{model_id}#{version}"


@dataclass(frozen=True, slots=True)
class ApprovalWait:
    """A run waiting on a version's review."""

    model_id: str
    version: int
    task_token: str
    execution_arn: str
    run_id: str
    pipeline_id: str
    expires_at: int


class ApprovalWaits:
    """Approval waits in the pipelines table."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def _key(self, model_id: str, version: int) -> dict[str, Any]:
        return {"pk": {"S": wait_pk(model_id, version)}, "sk": {"S": WAIT_SORT_KEY}}

    def put(self, wait: ApprovalWait) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={
                **self._key(wait.model_id, wait.version),
                "task_token": {"S": wait.task_token},
                "execution_arn": {"S": wait.execution_arn},
                "run_id": {"S": wait.run_id},
                "pipeline_id": {"S": wait.pipeline_id},
                "expires_at": {"N": str(wait.expires_at)},
            },
        )

    def get(self, model_id: str, version: int) -> ApprovalWait | None:
        item = self._client.get_item(
            TableName=self._table, Key=self._key(model_id, version), ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        return ApprovalWait(
            model_id=model_id,
            version=version,
            task_token=item["task_token"]["S"],
            execution_arn=item.get("execution_arn", {}).get("S", ""),
            run_id=item.get("run_id", {}).get("S", ""),
            pipeline_id=item.get("pipeline_id", {}).get("S", ""),
            expires_at=int(item.get("expires_at", {}).get("N", "0")),
        )

    def delete(self, model_id: str, version: int) -> None:
        self._client.delete_item(TableName=self._table, Key=self._key(model_id, version))


class TaskTokens(Protocol):
    """Answers a waiting task; False when its execution no longer waits on the token."""

    def succeed(self, task_token: str, output: dict[str, Any]) -> bool: ...

    def fail(self, task_token: str, error: str, cause: str) -> bool: ...


class StepFunctionsTokens:
    """TaskTokens on Step Functions (SendTaskSuccess, SendTaskFailure)."""

    def __init__(self, client: SFNClient) -> None:
        self._client = client

    def succeed(self, task_token: str, output: dict[str, Any]) -> bool:
        try:
            self._client.send_task_success(taskToken=task_token, output=json.dumps(output))
        except ClientError as error:
            return self._gone(error)
        return True

    def fail(self, task_token: str, error: str, cause: str) -> bool:
        try:
            self._client.send_task_failure(taskToken=task_token, error=error, cause=cause[:MAX_CAUSE])
        except ClientError as failure:
            return self._gone(failure)
        return True

    @staticmethod
    def _gone(error: ClientError) -> bool:
        code = error.response.get("Error", {}).get("Code", "")
        if code in GONE_ERRORS:
            logger.info("The execution no longer waits on this token", extra={"error": code})
            return False
        raise error


class DecisionData(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model_id: str
    version: int
    approval_status: Literal["Approved", "Rejected"]
    comment: str = ""


class DecisionMetadata(BaseModel):
    model_config = ConfigDict(extra="ignore")

    actor: str


class RegistryDecision(BaseModel):
    """The detail of a `model.approved` or `model.rejected` event (events/schemas)."""

    model_config = ConfigDict(extra="ignore")

    metadata: DecisionMetadata
    data: DecisionData


def rejection_cause(model_id: str, version: int, by: str, comment: str) -> str:
    """The cause a rejected approval fails the run with: who rejected it, and what they said."""
    said = f": {comment}" if comment else " (no comment)"
    return f"Version {version} of '{model_id}' was rejected by {by}{said}"


class Approvals:
    """Waiting for, and resuming on, review decisions."""

    def __init__(
        self,
        waits: ApprovalWaits,
        tokens: TaskTokens,
        read_version: Callable[[str, int, Caller], ModelVersion],
        request_review: Callable[[str, int, str, Caller], ModelVersion] | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._waits = waits
        self._tokens = tokens
        self._read_version = read_version
        self._request_review = request_review
        self._clock = clock

    def await_decision(self, task_token: str, state: WorkingState) -> dict[str, Any]:
        """Store the run's wait, ask for a review, and answer at once if the version is decided."""
        if state.registration is None:
            raise PipelineStepError("Await approval needs the registered version ($.registration).")
        model_id, version = state.registration.model_id, state.registration.version
        timeout = int(
            (state.approval or {}).get("timeout_seconds") or state.parameters["approval_timeout_seconds"]
        )
        self._waits.put(
            ApprovalWait(
                model_id=model_id,
                version=version,
                task_token=task_token,
                execution_arn=state.run.execution_arn,
                run_id=state.run.run_id,
                pipeline_id=state.pipeline.pipeline_id,
                expires_at=int((self._clock() + timedelta(seconds=timeout)).timestamp()),
            )
        )
        caller = Caller(state.principal, request_id=state.run.run_id)
        current = self._read_version(model_id, version, caller)
        review = current.review
        by, comment = (review.by, review.comment) if review is not None else ("", "")
        if current.approval_status is ApprovalStatus.APPROVED:
            self._tokens.succeed(task_token, {"decision": "approved", "by": by, "comment": comment})
            self._waits.delete(model_id, version)
            return {"model_id": model_id, "version": version, "decision": "approved"}
        if current.approval_status is ApprovalStatus.REJECTED:
            self._tokens.fail(task_token, REJECTED_ERROR, rejection_cause(model_id, version, by, comment))
            self._waits.delete(model_id, version)
            return {"model_id": model_id, "version": version, "decision": "rejected"}
        if current.review_request is None and self._request_review is not None:
            self._ask_for_review(self._request_review, model_id, version, state, caller)
        return {"model_id": model_id, "version": version, "decision": None, "waiting": True}

    @staticmethod
    def _ask_for_review(
        request_review: Callable[[str, int, str, Caller], ModelVersion],
        model_id: str,
        version: int,
        state: WorkingState,
        caller: Caller,
    ) -> None:
        comment = f"Pipeline {state.pipeline.pipeline_id}, run {state.run.run_id}, awaits this review."
        try:
            request_review(model_id, version, comment, caller)
        except CirrusError as error:  # the wait stands either way: reviewers can still decide
            logger.warning("Review not requested", extra={"error": error.code, "reason": error.message})

    def resume(self, decision: RegistryDecision) -> dict[str, Any]:
        """Send a review decision to the run waiting on the version, if one is."""
        model_id, version = decision.data.model_id, decision.data.version
        wait = self._waits.get(model_id, version)
        if wait is None:
            logger.info("No run waits on this version", extra={"model_id": model_id, "version": version})
            return {"model_id": model_id, "version": version, "resumed": False}
        by, comment = decision.metadata.actor, decision.data.comment
        if decision.data.approval_status == ApprovalStatus.APPROVED.value:
            delivered = self._tokens.succeed(
                wait.task_token, {"decision": "approved", "by": by, "comment": comment}
            )
        else:
            delivered = self._tokens.fail(
                wait.task_token, REJECTED_ERROR, rejection_cause(model_id, version, by, comment)
            )
        self._waits.delete(model_id, version)
        logger.info(
            "Run resumed" if delivered else "Run no longer waiting",
            extra={"model_id": model_id, "version": version, "run_id": wait.run_id},
        )
        return {"model_id": model_id, "version": version, "resumed": delivered, "run_id": wait.run_id}
