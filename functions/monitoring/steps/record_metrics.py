"""Metrics queue -> metrics table: a batch of predict observations aggregated exactly once.

An SQS event source (batches of up to 100, ReportBatchItemFailures). The batch is written first
(cirrus_core.metrics.recorder); then Powertools' BatchProcessor reports each message: recorded or
already recorded ones succeed, malformed ones and ones whose write failed are reported as item
failures, so SQS redelivers only those (and moves them to the dead-letter queue after maxReceiveCount).
"""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from cirrus_core.metrics.wiring import metrics_recorder
from cirrus_core.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.SQS)


class ObservationNotRecorded(Exception):
    """The message is malformed, or its write failed: SQS delivers it again."""


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records", [])
    outcome = metrics_recorder().record([(record["messageId"], record.get("body", "")) for record in records])
    unrecorded = set(outcome.malformed) | set(outcome.failed)
    logger.info(
        "Observations recorded",
        extra={
            "recorded": len(outcome.recorded),
            "duplicates": len(outcome.duplicates),
            "malformed": len(outcome.malformed),
            "failed": len(outcome.failed),
        },
    )
    metrics.add_metric(name="ObservationsRecorded", unit=MetricUnit.Count, value=len(outcome.recorded))
    metrics.add_metric(name="ObservationsRedelivered", unit=MetricUnit.Count, value=len(outcome.duplicates))
    metrics.add_metric(name="ObservationsNotRecorded", unit=MetricUnit.Count, value=len(unrecorded))

    def report(record: SQSRecord) -> None:
        if record.message_id in unrecorded:
            raise ObservationNotRecorded(record.message_id)

    response = process_partial_response(
        event=event, record_handler=report, processor=processor, context=context
    )
    return dict(response)
