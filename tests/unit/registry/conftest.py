"""Fixtures of the registry's unit tests."""

from __future__ import annotations

import pytest

from tests.support.aws import AwsResources
from tests.support.registry import RegistryDriver, Unchanged


@pytest.fixture
def registry(aws: AwsResources) -> RegistryDriver:
    """The registry, empty, with helpers to set it up."""
    return RegistryDriver(aws)


@pytest.fixture
def unchanged(aws: AwsResources) -> Unchanged:
    """A guard for refusals: `with unchanged: response = call(...)`."""
    return Unchanged(aws)
