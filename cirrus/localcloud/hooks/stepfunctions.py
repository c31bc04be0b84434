"""Step Functions: unique names for unnamed executions, and SageMaker's `.sync` job integrations.

Two gaps in moto 5.2.5's state machine executor (`moto.stepfunctions.parser`):

- `StepFunctionsParserBackend.start_execution` (parser/models.py) builds the execution ARN from
  the name it was given, so every execution started without one is `...:execution:<sm>:None` and
  the second fails. Ours names it with a uuid4, as AWS does.
- `Environment.set_stop` (StopExecution) leaves a task waiting on a task token blocked until its
  token is answered or its timeout passes, so a stopped run waiting for approval stayed RUNNING
  for days. Ours also interrupts the execution's callback endpoints (`callback_pool_manager`), and
  `Environment.set_error` leaves a stopped program stopped (the interrupted task's failure would
  otherwise turn ABORTED into FAILED).
- `StepFunctionResponse.send_task_failure` drops the request's `cause`, so a task failed through
  SendTaskFailure (a rejected approval) lost its reason. Ours passes it on.
- `arn:aws:states:::states:startExecution[.sync[:2]]` (nested executions) fails with
  `States.Runtime` `'StateMachineArn'`: `StateTaskServiceSfn` hands the ASL's field names
  (`StateMachineArn`, `Input`, `Name`) straight to boto3, whose Step Functions API spells them
  `stateMachineArn`, `input`, `name`; and it returns DescribeExecution's camelCase output where AWS
  gives the task `ExecutionArn`, `Name`, `Status`, `Output` .... Ours renames both ways (moto's base
  class `_normalise_parameters` / `_normalise_response` do nothing).
- `arn:aws:states:::sagemaker:create{Training,Transform,Processing}Job.sync` fails "Unsupported
  .sync callback procedure": the factory `state_task_service_for` maps `sagemaker` to
  `StateTaskServiceUnsupported`, which only forwards the request. `StateTaskServiceSageMaker` below
  forwards every optimised SageMaker action and, for `.sync`, polls the job's Describe call until a
  terminal status. `state_task_factory` imports the factory by name, so it is patched in both
  modules.

Errors follow Step Functions' conventions for its other `.sync` integrations (moto's Batch, Glue
and nested Step Functions tasks, which LocalStack checked against AWS): a job that ends Failed or
Stopped fails the state with `States.TaskFailed` and the Describe output, FailureReason included,
as the cause; a SageMaker API call that fails gives `SageMaker.<modelled exception>` or
`SageMaker.AmazonSageMakerException` (the Java SDK's base class name, which AWS reports and which
state machines retry on), with the Java SDK's cause text.
"""

from __future__ import annotations

import datetime
import time
import uuid
from typing import TYPE_CHECKING, Any, Final, cast

from botocore.exceptions import ClientError
from moto.core.responses import EmptyResult
from moto.stepfunctions.parser import models as parser_models
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_callback as callback,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_factory
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import ResourceCondition
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (
    StateTaskServiceSfn,
)
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str
from moto.stepfunctions.responses import StepFunctionResponse

from cirrus.localcloud.hooks._patching import combine, patch_attribute

if TYPE_CHECKING:
    from collections.abc import Callable

    from moto.stepfunctions.parser.asl.component.state.exec.state_task.credentials import StateCredentials
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
        ResourceRuntimePart,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
        StateTaskService,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    from cirrus.localcloud.hooks import HookContext, Undo

# moto polls a .sync job every 0.5 s; a local job finishes in well under a second, so poll faster.
POLL_INTERVAL_SECONDS = 0.05

# The actions of Step Functions' optimised SageMaker integration (lower-cased API action names).
SUPPORTED_ACTIONS: Final = frozenset(
    {
        "createendpoint",
        "createendpointconfig",
        "createhyperparametertuningjob",
        "createlabelingjob",
        "createmodel",
        "createprocessingjob",
        "createtrainingjob",
        "createtransformjob",
        "updateendpoint",
    }
)


class _JobKind:
    def __init__(self, describe: str, name_key: str, status_key: str) -> None:
        self.describe = describe
        self.name_key = name_key
        self.status_key = status_key


# The jobs whose .sync this hook runs: the Describe call, the name parameter, the status field.
SYNC_JOBS: Final = {
    "createtrainingjob": _JobKind("describe_training_job", "TrainingJobName", "TrainingJobStatus"),
    "createtransformjob": _JobKind("describe_transform_job", "TransformJobName", "TransformJobStatus"),
    "createprocessingjob": _JobKind("describe_processing_job", "ProcessingJobName", "ProcessingJobStatus"),
}
_TERMINAL_STATUSES: Final = frozenset({"Completed", "Failed", "Stopped"})
# SageMaker error codes the Java SDK models as their own exception classes; others surface as
# AmazonSageMakerException.
_MODELLED_ERRORS: Final = {
    "ResourceLimitExceeded": "ResourceLimitExceededException",
    "ResourceInUse": "ResourceInUseException",
    "ResourceNotFound": "ResourceNotFoundException",
    "ConflictException": "ConflictException",
}


class StateTaskServiceSageMaker(callback.StateTaskServiceCallback):
    """`arn:aws:states:::sagemaker:<action>[.sync]`: the request, and for jobs the wait for them."""

    def __init__(self) -> None:
        super().__init__(supported_integration_patterns={ResourceCondition(ResourceCondition.Sync)})

    def _validate_service_integration_is_supported(self) -> None:
        action = self.resource.api_action.lower()
        if action not in SUPPORTED_ACTIONS:
            raise ValueError(
                f"The resource provided {self.resource.resource_arn} not recognized. "
                "The value is not a valid resource ARN, or the resource is not available in this region."
            )
        if self.resource.condition is not None and (
            self.resource.condition != ResourceCondition.Sync or action not in SYNC_JOBS
        ):
            raise ValueError(
                f"Unsupported {self.resource.condition} callback procedure "
                f"in resource {self.resource.resource_arn}"
            )

    def _client(self, runtime_part: ResourceRuntimePart, credentials: StateCredentials) -> Any:
        return boto_client_for(region=runtime_part.region, service="sagemaker", state_credentials=credentials)

    def _eval_service_task(
        self,
        env: Environment,
        resource_runtime_part: ResourceRuntimePart,
        normalised_parameters: dict[str, Any],
        state_credentials: StateCredentials,
    ) -> None:
        client = self._client(resource_runtime_part, state_credentials)
        response = getattr(client, self._get_boto_service_action())(**normalised_parameters)
        response.pop("ResponseMetadata", None)
        env.stack.append(_json_ready(response))

    def _from_error(self, env: Environment, ex: Exception) -> FailureEvent:
        if not isinstance(ex, ClientError):
            return super()._from_error(env=env, ex=ex)
        code = ex.response["Error"]["Code"]
        metadata = ex.response["ResponseMetadata"]
        error_name = f"SageMaker.{_MODELLED_ERRORS.get(code, 'AmazonSageMakerException')}"
        details = "; ".join(
            [
                "Service: AmazonSageMaker",
                f"Status Code: {metadata['HTTPStatusCode']}",
                f"Error Code: {code}",
                f"Request ID: {metadata.get('RequestId', '')}",
                "Proxy: null",
            ]
        )
        return self._failure(env, error_name, f"{ex.response['Error']['Message']} ({details})", custom=True)

    def _failure(self, env: Environment, error: str, cause: str, *, custom: bool) -> FailureEvent:
        name = CustomErrorName(error) if custom else StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed)
        return FailureEvent(
            env=env,
            error_name=name,
            event_type=HistoryEventType.TaskFailed,
            # moto's EventDetails is a total TypedDict of every event kind; one kind is set at a time.
            event_details=cast(
                "EventDetails",
                {
                    "taskFailedEventDetails": TaskFailedEventDetails(
                        resource=self._get_sfn_resource(),
                        resourceType=self._get_sfn_resource_type(),
                        error=error,
                        cause=cause,
                    )
                },
            ),
        )

    def _build_sync_resolver(
        self,
        env: Environment,
        resource_runtime_part: ResourceRuntimePart,
        normalised_parameters: dict[str, Any],
        state_credentials: StateCredentials,
    ) -> Callable[[], Any]:
        job = SYNC_JOBS[self.resource.api_action.lower()]
        env.stack.pop()  # the Create call's response: the .sync output replaces it
        job_name = normalised_parameters[job.name_key]
        client = self._client(resource_runtime_part, state_credentials)

        def resolve() -> dict[str, Any] | None:
            description = getattr(client, job.describe)(**{job.name_key: job_name})
            description.pop("ResponseMetadata", None)
            status = description[job.status_key]
            if status not in _TERMINAL_STATUSES:
                return None
            output: dict[str, Any] = _json_ready(description)
            if status == "Completed":
                return output
            failed = StatesErrorNameType.StatesTaskFailed.to_name()
            raise FailureEventException(self._failure(env, failed, to_json_str(output), custom=False))

        return resolve

    def _eval_integration_pattern(
        self,
        env: Environment,
        resource_runtime_part: ResourceRuntimePart,
        normalised_parameters: dict[str, Any],
        state_credentials: StateCredentials,
    ) -> None:
        # moto 5.2.5's StateTaskServiceCallback._eval_integration_pattern ends with
        # `callback_endpoint.interrupt_all()`, which raises AttributeError for an integration that
        # has no waitForTaskToken endpoint (SageMaker has none), and it polls every 0.5 s.
        resolve = self._build_sync_resolver(
            env, resource_runtime_part, normalised_parameters, state_credentials
        )
        result = None
        while env.is_running():
            result = resolve()
            if result is not None:
                break
            time.sleep(POLL_INTERVAL_SECONDS)
        env.stack.append(result)


def _json_ready(value: Any) -> Any:
    """SageMaker's response with timestamps as epoch milliseconds, as Step Functions outputs them."""
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_ready(item) for item in value]
    if isinstance(value, datetime.datetime):
        return int(value.timestamp() * 1000)
    return value


def install(context: HookContext) -> Undo:
    """Name unnamed executions and run SageMaker .sync tasks; the returned callable restores moto."""
    del context  # nothing here depends on where the emulator runs
    backend = parser_models.StepFunctionsParserBackend
    original_start = backend.start_execution
    original_factory = state_task_service_factory.state_task_service_for

    def start_execution(
        self: Any,
        state_machine_arn: str,
        name: str | None = None,
        execution_input: Any = None,
        trace_header: Any = None,
    ) -> Any:
        return original_start(
            self, state_machine_arn, name or str(uuid.uuid4()), execution_input, trace_header
        )

    def state_task_service_for(service_name: str) -> StateTaskService:
        if service_name == "sagemaker":
            return StateTaskServiceSageMaker()
        return original_factory(service_name)

    original_set_stop = Environment.set_stop

    def set_stop(self: Environment, stop_date: Any, cause: str | None, error: str | None) -> None:
        original_set_stop(self, stop_date=stop_date, cause=cause, error=error)
        # StopExecution must end a run waiting on a task token, as in AWS; moto's wait only ends
        # on the token's answer or the task's timeout (seven days for an approval).
        for endpoint in list(self.callback_pool_manager._pool.values()):
            endpoint.interrupt_all()

    original_set_error = Environment.set_error

    def set_error(self: Environment, error: Any) -> None:
        # The interrupted wait then fails its task; a stopped run stays ABORTED, as in AWS.
        if isinstance(self.program_state(), ProgramStopped):
            return
        original_set_error(self, error=error)

    def normalise_parameters(
        self: Any, parameters: dict[str, Any], boto_service_name: Any = None, service_action_name: Any = None
    ) -> None:
        original_sfn_parameters(self, parameters, boto_service_name, service_action_name)
        for key in list(parameters):
            if key[:1].isupper():
                parameters[key[0].lower() + key[1:]] = parameters.pop(key)

    def normalise_response(
        self: Any, response: Any, boto_service_name: Any = None, service_action_name: Any = None
    ) -> None:
        if isinstance(response, dict):
            for key in list(response):
                if key[:1].islower():
                    response[key[0].upper() + key[1:]] = response.pop(key)

    original_sfn_parameters = StateTaskServiceSfn._normalise_parameters

    def send_task_failure(self: StepFunctionResponse) -> Any:
        # The executing (parser) backend takes the cause; the base class's signature does not.
        backend: Any = self.stepfunction_backend
        backend.send_task_failure(
            self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
        )
        return EmptyResult()

    return combine(
        [
            patch_attribute(backend, "start_execution", start_execution),
            patch_attribute(Environment, "set_stop", set_stop),
            patch_attribute(Environment, "set_error", set_error),
            patch_attribute(StepFunctionResponse, "send_task_failure", send_task_failure),
            patch_attribute(StateTaskServiceSfn, "_normalise_parameters", normalise_parameters),
            patch_attribute(StateTaskServiceSfn, "_normalise_response", normalise_response),
            patch_attribute(state_task_service_factory, "state_task_service_for", state_task_service_for),
            patch_attribute(state_task_factory, "state_task_service_for", state_task_service_for),
        ]
    )
