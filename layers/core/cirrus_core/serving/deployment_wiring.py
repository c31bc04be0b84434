"""Builds the deployment service (API functions) and the rollout (state machine tasks) once per
execution environment. Clients are built on first use, so each task function makes only its own."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import boto3

from cirrus_core.serving.settings import get_serving_settings
from cirrus_core.settings import get_settings

if TYPE_CHECKING:
    from cirrus_core.events import EventPublisher
    from cirrus_core.serving.containers import ServingContainers
    from cirrus_core.serving.deployment_service import DeploymentService
    from cirrus_core.serving.deployment_store import DeploymentStore
    from cirrus_core.serving.rollout import Rollout

EVENT_SOURCE = "cirrus.serving"


@functools.cache
def _client(service: str) -> Any:
    return boto3.client(service)  # type: ignore[call-overload]


@functools.cache
def deployment_store() -> DeploymentStore:
    from cirrus_core.audit.wiring import audit_trail
    from cirrus_core.serving.deployment_store import DeploymentStore

    return DeploymentStore(_client("dynamodb"), get_serving_settings().serving_table, audit_trail())


@functools.cache
def serving_containers() -> ServingContainers:
    from cirrus_core.serving.containers import ServingContainers

    return ServingContainers(_client("sagemaker"), _client("s3"), get_serving_settings())


@functools.cache
def serving_publisher() -> EventPublisher:
    from cirrus_core.events import EventPublisher
    from cirrus_core.observability import logger

    return EventPublisher(
        _client("events"),
        get_settings().event_bus_name,
        EVENT_SOURCE,
        correlation_id=logger.get_correlation_id,
    )


def _registry() -> Any:
    from cirrus_core.registry.wiring import registry_service

    return registry_service()


@functools.cache
def deployment_service() -> DeploymentService:
    """The deployments' API service of this execution environment."""
    from cirrus_core.serving.deployment_adapters import (
        Autoscaling,
        DeploymentExecutions,
        EndpointAlarms,
        Endpoints,
    )
    from cirrus_core.serving.deployment_service import DeploymentService

    settings = get_serving_settings()
    return DeploymentService(
        deployment_store(),
        _registry,
        serving_containers(),
        DeploymentExecutions(_client("stepfunctions"), settings.deployment_state_machine_arn),
        Endpoints(_client("sagemaker")),
        Autoscaling(_client("application-autoscaling")),
        EndpointAlarms(_client("cloudwatch")),
        serving_publisher(),
    )


@functools.cache
def rollout() -> Rollout:
    """The deployment state machine's tasks of this execution environment."""
    from cirrus_core.serving.deployment_adapters import (
        Autoscaling,
        EndpointAlarms,
        EndpointRuntime,
        Endpoints,
    )
    from cirrus_core.serving.rollout import Rollout, SampleReader

    return Rollout(
        settings=get_serving_settings(),
        store=deployment_store,
        registry=_registry,
        containers=serving_containers,
        endpoints=lambda: Endpoints(_client("sagemaker")),
        runtime=lambda: EndpointRuntime(_client("sagemaker-runtime")),
        autoscaling=lambda: Autoscaling(_client("application-autoscaling")),
        alarms=lambda: EndpointAlarms(_client("cloudwatch")),
        samples=lambda: SampleReader(_client("s3")),
        publisher=serving_publisher,
    )
