"""Fixtures of the serving deployments' unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cirrus_core.serving import deployment_wiring
from cirrus_core.serving.settings import get_serving_settings
from tests.support.aws import AwsResources
from tests.support.registry import Unchanged
from tests.unit.serving.support import STATE_MACHINE_NAME, Serving, create_serving

STATE_MACHINE_ARN = f"arn:aws:states:us-east-1:123456789012:stateMachine:{STATE_MACHINE_NAME}"


def _clear() -> None:
    get_serving_settings.cache_clear()
    for builder in (
        deployment_wiring._client,
        deployment_wiring.deployment_store,
        deployment_wiring.serving_containers,
        deployment_wiring.serving_publisher,
        deployment_wiring.deployment_service,
        deployment_wiring.rollout,
    ):
        builder.cache_clear()


@pytest.fixture(autouse=True)
def serving_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The deployment functions' environment; their services are rebuilt for each test's moto."""
    monkeypatch.setenv("DEPLOYMENT_STATE_MACHINE_ARN", STATE_MACHINE_ARN)
    monkeypatch.setenv("ENDPOINT_POLL_SECONDS", "4")
    _clear()
    yield
    _clear()


@pytest.fixture
def serving(aws: AwsResources) -> Serving:
    return create_serving(aws)


@pytest.fixture
def unchanged(aws: AwsResources) -> Unchanged:
    """A guard for refusals: `with unchanged: response = call(...)`."""
    return Unchanged(aws)
