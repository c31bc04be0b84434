"""Builds the channel, delivery and sender services once per execution environment."""

from __future__ import annotations

import functools

import boto3

from cirrus_core.alerting.delivery import Deliverer, Sender
from cirrus_core.alerting.queue import DeliveryQueue
from cirrus_core.alerting.service import ChannelService, DeliveryService
from cirrus_core.alerting.settings import get_alerting_settings
from cirrus_core.alerting.sqs import DeadLetterQueue, DeliveryVisibility
from cirrus_core.alerting.store import AlertRules, ChannelStore, DeliveryLog, EmailTopic, SecretVault
from cirrus_core.alerting.transport import HttpTransport
from cirrus_core.audit.wiring import audit_trail
from cirrus_core.monitoring.destinations import check_destination
from cirrus_core.settings import get_settings


def _vault() -> SecretVault:
    settings = get_alerting_settings()
    return SecretVault(boto3.client("secretsmanager"), get_settings().stage, settings.secrets_kms_key_id)


def _email_topic() -> EmailTopic:
    return EmailTopic(boto3.client("sns"), get_alerting_settings().email_topic_arn)


@functools.cache
def channel_service() -> ChannelService:
    """The channels API's service of this execution environment."""
    core = get_settings()
    settings = get_alerting_settings()
    audit = audit_trail() if core.audit_table else None
    receivers = settings.local_receivers
    return ChannelService(
        ChannelStore(boto3.client("dynamodb"), settings.monitoring_table, audit),
        _vault(),
        _email_topic,
        lambda url: check_destination(url, local_receivers=receivers),
        audit_enabled=audit is not None,
    )


@functools.cache
def delivery_service() -> DeliveryService:
    """The deliveries API's service (delivery log, test notifications)."""
    settings = get_alerting_settings()
    dynamodb = boto3.client("dynamodb")
    channels = ChannelStore(dynamodb, settings.monitoring_table)
    return DeliveryService(
        AlertRules(dynamodb, settings.monitoring_table),
        channels.channel,
        DeliveryLog(dynamodb, settings.monitoring_table),
        lambda: DeliveryQueue(boto3.client("sqs"), settings.delivery_queue_url),
    )


@functools.cache
def sender() -> Sender:
    """The delivery queue's consumer."""
    settings = get_alerting_settings()
    dynamodb = boto3.client("dynamodb")
    sqs = boto3.client("sqs")
    deliverer = Deliverer(
        ChannelStore(dynamodb, settings.monitoring_table),
        _vault(),
        HttpTransport(
            local_receivers=settings.local_receivers, timeout_seconds=settings.send_timeout_seconds
        ),
        _email_topic() if settings.email_topic_arn else None,
        DeliveryLog(dynamodb, settings.monitoring_table),
        DeadLetterQueue(sqs, settings.dead_letter_queue_url),
        max_attempts=settings.max_attempts,
        backoff_base_seconds=settings.backoff_seconds,
    )
    return Sender(deliverer, DeliveryVisibility(sqs, settings.delivery_queue_url))
