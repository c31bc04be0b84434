"""Builds the feed service once per execution environment."""

from __future__ import annotations

import functools

import boto3

from cirrus_core.feed.pusher import ConnectionPusher
from cirrus_core.feed.service import FeedService
from cirrus_core.feed.settings import get_feed_settings
from cirrus_core.feed.store import ConnectionStore, RegisteredModels
from cirrus_core.feed.tokens import CognitoTokenVerifier, HttpJwks
from cirrus_core.settings import get_settings


@functools.cache
def feed_service() -> FeedService:
    """The live feed's service of this execution environment."""
    settings = get_feed_settings()
    dynamodb = boto3.client("dynamodb")
    return FeedService(
        ConnectionStore(dynamodb, settings.connections_table),
        RegisteredModels(dynamodb, get_settings().registry_table),
        verifier=token_verifier,
        pusher=connection_pusher,
        connection_ttl_seconds=settings.connection_ttl_seconds,
        max_subscriptions=settings.max_subscriptions,
    )


@functools.cache
def token_verifier() -> CognitoTokenVerifier:
    """The user pool's token checks; its keys are fetched on first use and kept."""
    settings = get_feed_settings()
    # The SDK's own endpoint for Cognito (AWS's, or the one AWS_ENDPOINT_URL names): the JWKS sits
    # at <endpoint>/<pool id>/.well-known/jwks.json, the issuer's URL on AWS.
    endpoint = boto3.client("cognito-idp", region_name=settings.region).meta.endpoint_url
    return CognitoTokenVerifier(
        issuer=settings.issuer,
        audiences=settings.token_audiences,
        keys=HttpJwks(f"{endpoint.rstrip('/')}/{settings.user_pool_id}/.well-known/jwks.json"),
    )


@functools.cache
def connection_pusher() -> ConnectionPusher:
    """API Gateway's management API of the feed's stage."""
    client = boto3.client("apigatewaymanagementapi", endpoint_url=get_feed_settings().callback_url)
    return ConnectionPusher(client)
