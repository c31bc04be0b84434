"""Builds the authorizer and the policy service once per execution environment."""

from __future__ import annotations

import functools

import boto3

from cirrus_core.authz.engine import Authorizer
from cirrus_core.authz.service import PolicyService
from cirrus_core.authz.store import SecurityRepository
from cirrus_core.settings import get_settings


@functools.cache
def security_repository() -> SecurityRepository:
    """The security table's adapter of this execution environment."""
    return SecurityRepository(boto3.client("dynamodb"), get_settings().security_table)


@functools.cache
def authorizer() -> Authorizer:
    """The authorizer of this execution environment: its parsed policy set outlives requests."""
    return Authorizer(security_repository())


@functools.cache
def policy_service() -> PolicyService:
    """The policy API's service of this execution environment."""
    from cirrus_core.audit.wiring import audit_trail

    return PolicyService(security_repository(), authorizer(), audit_trail())
