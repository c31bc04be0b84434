"""Fixtures of the monitoring unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cirrus_core.monitoring.settings import get_monitoring_settings
from tests.support.aws import AwsResources
from tests.unit.monitoring.support import (
    MONITORING_ENVIRONMENT,
    MonitoringWorld,
    Untouched,
    clear_monitoring_wiring,
)


@pytest.fixture(scope="session")
def _monitoring_wiring_once() -> Iterator[None]:
    """The monitoring service and runner are built once, as in one execution environment (their boto3
    clients work under each test's own `mock_aws`); rebuilding them per test costs time for nothing."""
    clear_monitoring_wiring()
    yield
    clear_monitoring_wiring()


@pytest.fixture(autouse=True)
def monitoring_environment(monkeypatch: pytest.MonkeyPatch, _monitoring_wiring_once: None) -> None:
    """What the template gives the monitoring functions beyond the shared environment."""
    for name, value in MONITORING_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    get_monitoring_settings.cache_clear()


@pytest.fixture
def world(aws: AwsResources) -> MonitoringWorld:
    """The monitoring side of one moto-backed test; nothing registered, deployed or captured yet."""
    return MonitoringWorld(aws)


@pytest.fixture
def untouched(world: MonitoringWorld) -> Untouched:
    """A guard for refusals: `with untouched: response = api(...)`."""
    return Untouched(world)
