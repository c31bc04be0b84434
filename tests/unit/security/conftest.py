"""Fixtures of the security unit tests: the registry fixtures, for decisions on real versions."""

from __future__ import annotations

from tests.unit.registry.conftest import registry, unchanged

__all__ = ["registry", "unchanged"]
