"""Builds the alert rules' service and the alert evaluator once per execution environment."""

from __future__ import annotations

import functools
from datetime import timedelta

import boto3
from pydantic import Field

from cirrus_core.alerting.evaluation import AlertEvaluator, MetricsPort
from cirrus_core.alerting.rules import AlertRulesService
from cirrus_core.alerting.rules_store import AlertRuleStore
from cirrus_core.audit.wiring import audit_trail
from cirrus_core.monitoring.settings import get_monitoring_settings
from cirrus_core.settings import EnvironmentSettings, get_settings

EVENT_SOURCE = "cirrus.monitoring"


class EvaluationSettings(EnvironmentSettings):
    """What the evaluator reads from its environment beyond the monitoring settings."""

    delivery_queue_url: str = Field(default="", alias="ALERT_DELIVERY_QUEUE_URL")
    # Lambda functions whose AWS/Lambda Errors count: those whose names start with this (the stack's).
    function_prefix: str = Field(default="", alias="ALERT_FUNCTION_PREFIX")
    # Comma-separated URLs of the stack's dead-letter queues.
    dead_letter_queue_urls: str = Field(default="", alias="ALERT_DEAD_LETTER_QUEUE_URLS")
    # Prepended to the API paths notifications link to (empty: the paths alone).
    api_base_url: str = Field(default="", alias="ALERT_API_BASE_URL")
    # Scheduled evaluations of one rule at least this many seconds apart.
    evaluation_spacing_seconds: int = Field(
        default=50, ge=1, le=3600, alias="ALERT_EVALUATION_SPACING_SECONDS"
    )

    @property
    def function_name_prefix(self) -> str:
        return self.function_prefix or f"cirrus-{get_settings().stage}-"


@functools.cache
def evaluation_settings() -> EvaluationSettings:
    return EvaluationSettings.from_environ()


@functools.cache
def alert_rules_service() -> AlertRulesService:
    """The alert rules API's service of this execution environment."""
    from cirrus_core.monitoring.adapters import RegistryAccess
    from cirrus_core.pipelines.scheduler import Schedules
    from cirrus_core.registry.repository import RegistryRepository
    from cirrus_core.registry.wiring import registry_service

    core = get_settings()
    settings = get_monitoring_settings()
    dynamodb = boto3.client("dynamodb")
    audit = audit_trail() if core.audit_table else None
    return AlertRulesService(
        AlertRuleStore(dynamodb, settings.monitoring_table, audit),
        RegistryAccess(RegistryRepository(dynamodb, core.registry_table), registry_service),
        Schedules(boto3.client("scheduler"), settings.scheduler_group, settings.scheduler_role_arn),
        drift_state_machine_arn=settings.drift_state_machine_arn,
        audit_enabled=audit is not None,
    )


def _metrics_reader() -> MetricsPort:
    from cirrus_core.metrics.wiring import metrics_reader

    return metrics_reader()


@functools.cache
def alert_evaluator() -> AlertEvaluator:
    """The evaluator of this execution environment (scheduled and event-driven functions)."""
    from cirrus_core.alerting.evaluation_sources import DeadLetterQueues, DriftRunsReader, LambdaErrors
    from cirrus_core.alerting.queue import DeliveryQueue
    from cirrus_core.events import EventPublisher
    from cirrus_core.monitoring.store import MonitoringStore
    from cirrus_core.observability import logger

    core = get_settings()
    monitoring = get_monitoring_settings()
    settings = evaluation_settings()
    dynamodb = boto3.client("dynamodb")
    sqs = boto3.client("sqs")
    return AlertEvaluator(
        AlertRuleStore(dynamodb, monitoring.monitoring_table),
        DriftRunsReader(MonitoringStore(dynamodb, monitoring.monitoring_table)),
        functools.cache(_metrics_reader),
        LambdaErrors(boto3.client("cloudwatch"), settings.function_name_prefix),
        DeadLetterQueues(sqs, [url.strip() for url in settings.dead_letter_queue_urls.split(",")]),
        DeliveryQueue(sqs, settings.delivery_queue_url),
        EventPublisher(
            boto3.client("events"),
            core.event_bus_name,
            EVENT_SOURCE,
            correlation_id=logger.get_correlation_id,
        ),
        api_base_url=settings.api_base_url,
        evaluation_spacing=timedelta(seconds=settings.evaluation_spacing_seconds),
    )
