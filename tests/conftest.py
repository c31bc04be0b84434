"""Fixtures every suite shares: a clean AWS environment, moto resources built from the template."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from cirrus_core import idempotency, ratelimit
from cirrus_core.authz import wiring as authz_wiring
from cirrus_core.registry import wiring
from cirrus_core.settings import get_settings
from tests.support.aws import AwsResources, create_resources, environment


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Integration tests last, marked: their session-wide local cloud patches moto process-wide,
    which the unit suites' `mock_aws` must never see."""
    integration = [item for item in items if "tests/integration/" in item.path.as_posix()]
    for item in integration:
        item.add_marker(pytest.mark.integration)
    others = [item for item in items if "tests/integration/" not in item.path.as_posix()]
    items[:] = others + integration


def _clear_cached_settings() -> None:
    get_settings.cache_clear()
    idempotency.idempotency_config.cache_clear()
    ratelimit.rate_limit_settings.cache_clear()


@pytest.fixture(scope="session", autouse=True)
def _fresh_wiring_per_session() -> Iterator[None]:
    """The registry service and the idempotency store are built once, as in one execution
    environment: every test gives them the same environment, and their boto3 clients work under
    each test's own `mock_aws` (moto intercepts at the botocore layer, whenever a client was made).
    Rebuilding them per test cost a fifth of a second each."""
    _clear_wiring()
    yield
    _clear_wiring()


def _clear_wiring() -> None:
    wiring.registry_service.cache_clear()
    idempotency._persistence.cache_clear()
    # The authorizer, policy service and their adapter, built once per execution environment.
    authz_wiring.policy_service.cache_clear()
    authz_wiring.authorizer.cache_clear()
    authz_wiring.security_repository.cache_clear()


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials and the registry's function environment; nothing reaches a real account."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment().items():
        monkeypatch.setenv(name, value)
    _clear_cached_settings()
    yield
    _clear_cached_settings()


@pytest.fixture
def aws() -> Iterator[AwsResources]:
    """moto-backed tables, bus, bucket and an event capture queue, as the template declares them."""
    with mock_aws():
        yield create_resources()
