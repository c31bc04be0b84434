"""Builds the pipeline service once per execution environment, from settings and boto3 clients."""

from __future__ import annotations

import functools

import boto3

from cirrus_core.audit.wiring import audit_trail
from cirrus_core.pipelines.orchestrator import Orchestrator
from cirrus_core.pipelines.scheduler import Schedules
from cirrus_core.pipelines.service import PipelineService
from cirrus_core.pipelines.settings import get_pipeline_settings
from cirrus_core.pipelines.store import PipelineStore


def state_machine_arn_base(known_arn: str) -> str:
    """`arn:<partition>:states:<region>:<account>:stateMachine:` taken from a state machine's ARN."""
    head, marker, _ = known_arn.partition(":stateMachine:")
    return f"{head}{marker}" if marker else ""


@functools.cache
def pipeline_service() -> PipelineService:
    """The pipeline service of this execution environment."""
    settings = get_pipeline_settings()
    return PipelineService(
        PipelineStore(boto3.client("dynamodb"), settings.pipelines_table, audit_trail()),
        Orchestrator(
            boto3.client("stepfunctions"),
            settings.state_machine_role_arn,
            settings.state_machine_prefix,
            state_machine_arn_base(settings.training_pipeline_arn),
        ),
        Schedules(boto3.client("scheduler"), settings.scheduler_group, settings.scheduler_role_arn),
        placeholders=settings.placeholders(),
        training_pipeline_arn=settings.training_pipeline_arn,
    )
