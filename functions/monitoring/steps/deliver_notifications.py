"""AlertDeliveryQueue consumer: one attempt per received delivery request (ReportBatchItemFailures).

A failed attempt delays its message by the backoff and is reported failed, so SQS redelivers it then;
the last failed attempt goes to AlertDeliveryDeadLetterQueue and is reported done. A record is only
taken up while the invocation has time for a whole attempt left (`AlertingSettings.reserve_seconds`);
the rest of the batch is reported failed untried and made visible again, without costing an attempt, so
one slow destination cannot time the function out with records in flight.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from cirrus_core.alerting.settings import get_alerting_settings
from cirrus_core.alerting.wiring import sender
from cirrus_core.observability import logger, tracer

# A batch whose items all failed is reported item by item too: each already has its backoff set.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def deliver(record: SQSRecord, lambda_context: LambdaContext) -> None:
    seconds_left = lambda_context.get_remaining_time_in_millis() / 1000
    if seconds_left < get_alerting_settings().reserve_seconds:
        sender().postpone(record.message_id, record.receipt_handle, seconds_left)
    receive_count = int(record.attributes.approximate_receive_count or 1)
    sender().handle(record.body, receive_count, record.receipt_handle)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response = process_partial_response(
        event=event, record_handler=deliver, processor=processor, context=context
    )
    return dict(response)
