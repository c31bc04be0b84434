"""Builds the inference service once per execution environment, from settings and boto3 clients."""

from __future__ import annotations

import functools

import boto3
from botocore.config import Config

from cirrus_core.metrics.publisher import SqsObservationPublisher
from cirrus_core.metrics.settings import get_metrics_settings
from cirrus_core.observability import metrics
from cirrus_core.serving.environments import EnvironmentDirectory
from cirrus_core.serving.inference import InferenceService
from cirrus_core.serving.inference_adapters import InferenceMetricsRecorder, SageMakerRuntimeInvoker
from cirrus_core.serving.settings import get_serving_settings

# API Gateway gives up after 29 s; an answer later than that reaches nobody. Two attempts at most:
# a retried invocation is captured twice.
RUNTIME_CONFIG = Config(connect_timeout=2, read_timeout=25, retries={"max_attempts": 2, "mode": "standard"})
# The metrics queue must not hold an answer up: short timeouts, one retry; a lost observation is counted.
METRICS_QUEUE_CONFIG = Config(
    connect_timeout=1, read_timeout=2, retries={"max_attempts": 2, "mode": "standard"}
)


@functools.cache
def inference_service() -> InferenceService:
    """The inference service of this execution environment."""
    settings = get_serving_settings()
    return InferenceService(
        EnvironmentDirectory(boto3.client("dynamodb"), settings.serving_table),
        SageMakerRuntimeInvoker(boto3.client("sagemaker-runtime", config=RUNTIME_CONFIG)),
        InferenceMetricsRecorder(metrics),
        max_payload_bytes=settings.max_payload_bytes,
        observer=SqsObservationPublisher(
            boto3.client("sqs", config=METRICS_QUEUE_CONFIG),
            get_metrics_settings().metrics_queue_url,
            metrics,
        ),
    )
