"""Fixtures of the live feed's unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from cirrus_core.authz import wiring as authz_wiring
from cirrus_core.feed import wiring
from cirrus_core.feed.settings import get_feed_settings
from cirrus_core.feed.tokens import CognitoTokenVerifier
from tests.support.tokens import TokenMinter
from tests.unit.feed.support import (
    CLIENT_ID,
    FEED_ENVIRONMENT,
    ISSUER,
    FeedWorld,
    MotoPoolKeys,
    create_tables,
)


@pytest.fixture(scope="session")
def minter() -> TokenMinter:
    return TokenMinter()


def _clear() -> None:
    get_feed_settings.cache_clear()
    wiring.feed_service.cache_clear()
    wiring.connection_pusher.cache_clear()
    authz_wiring.authorizer.cache_clear()
    authz_wiring.security_repository.cache_clear()


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, minter: TokenMinter) -> Iterator[FeedWorld]:
    """The feed's tables under moto, the feed's environment, and the pool's real keys (the JWKS moto
    serves for every pool: AWS's HTTPS fetch is what the verifier does there)."""
    for name, value in FEED_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    _clear()
    monkeypatch.setattr(
        wiring,
        "token_verifier",
        lambda: CognitoTokenVerifier(issuer=ISSUER, audiences=[CLIENT_ID], keys=MotoPoolKeys()),
    )
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(dynamodb)
        yield FeedWorld(dynamodb, minter)
    _clear()
